/**
 * The station's strict mode: every message in and out is checked against the OCPP 1.6J schemas
 * (Security extension included), except payloads the station deliberately sends as a vendor's
 * firmware would (extra properties, timestamps without a zone), which are marked to go unchecked.
 */
import ocppRpc from 'ocpp-rpc';
import { ocpp16Schemas, schemaId } from '../src/ocpp/schemas/index.ts';

const schemas = ocppRpc.createValidator('ocpp1.6', ocpp16Schemas as unknown as Record<string, unknown>[]);

/** Payload objects the validator lets through unchecked (each one is sent once, then forgotten). */
const unchecked = new WeakSet<object>();

/** Marks a payload to go out without outbound validation (the central system still sees it all). */
export function uncheckedPayload<T extends object>(payload: T): T {
  unchecked.add(payload);
  return payload;
}

/** Throws ocpp-rpc's validation error when `payload` does not fit the action's request schema. */
export function checkRequest(action: string, payload: unknown): void {
  schemas.validate(schemaId(action, 'req'), payload);
}

/** ocpp-rpc strict-mode validator for ocpp1.6 that honours uncheckedPayload(). */
export const stationValidator = {
  subprotocol: 'ocpp1.6',
  validate(id: string, params: unknown): unknown {
    if (params !== null && typeof params === 'object' && unchecked.has(params)) return true;
    return schemas.validate(id, params);
  },
};
