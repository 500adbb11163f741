import { createRequire } from 'node:module';
import ocppRpc from 'ocpp-rpc';
import type { Ocpp16ErrorCode } from './wire.ts';

const require = createRequire(import.meta.url);
const schemas16: JsonSchema[] = require('ocpp-rpc/lib/schemas/ocpp1_6.json');

interface JsonSchema {
  $id?: string;
  type?: string;
  format?: string;
  additionalProperties?: boolean;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  [k: string]: unknown;
}

/**
 * Lenient where the field needs it, strict where money is. The official 1.6 schemas refuse any
 * property they do not name (`additionalProperties: false`) and any timestamp without a time
 * zone; real firmware sends both (vendor extras, local-looking times). This copy of the schemas
 * allows extra properties and leaves date-time checking to the typed parse (messages.ts), which
 * drops the extras, reads a time without a zone as UTC, and reports both (counted, logged at
 * debug). Every field the schemas do name is checked as strictly as before.
 */
function lenient(schema: JsonSchema): JsonSchema {
  const copy: JsonSchema = { ...schema };
  if (copy.additionalProperties === false) delete copy.additionalProperties;
  if (copy.format === 'date-time') delete copy.format;
  if (copy.properties) {
    copy.properties = Object.fromEntries(Object.entries(copy.properties).map(([k, v]) => [k, lenient(v)]));
  }
  if (copy.items) copy.items = lenient(copy.items);
  return copy;
}

const base = ocppRpc.createValidator('ocpp1.6', schemas16.map(lenient));

/**
 * Which 1.6 CALLERROR a schema failure is (1.6 section 4.2.3): a payload that is not the PDU's
 * structure at all is a FormationViolation; a missing field or a wrong number of items an
 * OccurenceConstraintViolation; a field of the wrong type a TypeConstraintViolation; a field of
 * the right type with a value it may not have (too long, out of range, not in the enumeration,
 * not matching its pattern) a PropertyConstraintViolation.
 */
const BY_KEYWORD: Record<string, Ocpp16ErrorCode> = {
  required: 'OccurenceConstraintViolation',
  minItems: 'OccurenceConstraintViolation',
  maxItems: 'OccurenceConstraintViolation',
  type: 'TypeConstraintViolation',
  enum: 'PropertyConstraintViolation',
  const: 'PropertyConstraintViolation',
  maxLength: 'PropertyConstraintViolation',
  minLength: 'PropertyConstraintViolation',
  maximum: 'PropertyConstraintViolation',
  minimum: 'PropertyConstraintViolation',
  exclusiveMaximum: 'PropertyConstraintViolation',
  exclusiveMinimum: 'PropertyConstraintViolation',
  multipleOf: 'PropertyConstraintViolation',
  pattern: 'PropertyConstraintViolation',
  format: 'PropertyConstraintViolation',
};

export function errorCodeForSchemaFailure(error: { keyword?: string; instancePath?: string } | undefined): Ocpp16ErrorCode {
  if (!error?.keyword) return 'FormationViolation';
  // The payload itself is not an object (or an array where one is expected): not the PDU's shape.
  if (error.keyword === 'type' && !error.instancePath) return 'FormationViolation';
  return BY_KEYWORD[error.keyword] ?? 'FormationViolation';
}

/** ocpp-rpc's strict-mode validator for ocpp1.6, with the changes above; CALLERRORs do not echo the payload. */
export const ocpp16Validator = {
  subprotocol: 'ocpp1.6',
  validate(schemaId: string, params: unknown): unknown {
    try {
      return base.validate(schemaId, params);
    } catch (err) {
      const e = err as { rpcErrorCode?: string; message?: string; details?: { errors?: { keyword?: string; instancePath?: string }[] } };
      const first = e.details?.errors?.[0];
      const code = first ? errorCodeForSchemaFailure(first) : ((e.rpcErrorCode as Ocpp16ErrorCode | undefined) ?? 'FormationViolation');
      throw ocppRpc.createRPCError(code, e.message ?? 'invalid payload', {});
    }
  },
};
