import { createRequire } from 'node:module';
import ocppRpc from 'ocpp-rpc';
import type { Ocpp16ErrorCode } from './wire.ts';

const require = createRequire(import.meta.url);
const schemas16 = require('ocpp-rpc/lib/schemas/ocpp1_6.json');

/**
 * ocpp-rpc's strict-mode validator for ocpp1.6, built from its bundled schemas, with two
 * changes: a value outside an enumeration is a PropertyConstraintViolation (ocpp-rpc calls it a
 * format violation), and the CALLERROR does not echo the whole payload back in its details.
 */
const base = ocppRpc.createValidator('ocpp1.6', schemas16);

const BY_KEYWORD: Record<string, Ocpp16ErrorCode> = {
  enum: 'PropertyConstraintViolation',
  const: 'PropertyConstraintViolation',
};

export const ocpp16Validator = {
  subprotocol: 'ocpp1.6',
  validate(schemaId: string, params: unknown): unknown {
    try {
      return base.validate(schemaId, params);
    } catch (err) {
      const e = err as { rpcErrorCode?: string; message?: string; details?: { errors?: { keyword?: string }[] } };
      const keyword = e.details?.errors?.[0]?.keyword;
      const code = (keyword && BY_KEYWORD[keyword]) || e.rpcErrorCode || 'FormationViolation';
      throw ocppRpc.createRPCError(code, e.message ?? 'invalid payload', {});
    }
  },
};
