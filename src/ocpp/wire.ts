/**
 * OCPP 1.6J CALLERROR codes, spelled as the 1.6 specification spells them.
 *
 * ocpp-rpc speaks several OCPP versions and, on some paths, puts 2.0 codes on the wire of a
 * 1.6 connection: `FormatViolation` (1.6: `FormationViolation`), `OccurrenceConstraintViolation`
 * (1.6: `OccurenceConstraintViolation`; ocpp-rpc even rewrites the 1.6 spelling to the 2.0
 * one), and `RpcFrameworkError` / `MessageTypeNotSupported`, which 1.6 does not have. Every
 * frame a station receives passes through `sendRaw`, so that is where we fix the spelling.
 */
export const OCPP16_ERROR_CODES = [
  'NotImplemented',
  'NotSupported',
  'InternalError',
  'ProtocolError',
  'SecurityError',
  'FormationViolation',
  'PropertyConstraintViolation',
  'OccurenceConstraintViolation',
  'TypeConstraintViolation',
  'GenericError',
] as const;
export type Ocpp16ErrorCode = (typeof OCPP16_ERROR_CODES)[number];

const REWRITES: Record<string, Ocpp16ErrorCode> = {
  FormatViolation: 'FormationViolation',
  OccurrenceConstraintViolation: 'OccurenceConstraintViolation',
  // A frame that is not a valid OCPP-J message (not JSON, not an array, no message id).
  RpcFrameworkError: 'FormationViolation',
  // A message type number other than 2, 3 or 4.
  MessageTypeNotSupported: 'NotSupported',
};

const VALID = new Set<string>(OCPP16_ERROR_CODES);

export function toOcpp16ErrorCode(code: string): Ocpp16ErrorCode {
  if (VALID.has(code)) return code as Ocpp16ErrorCode;
  return REWRITES[code] ?? 'GenericError';
}

/** Rewrites the error code of an outbound CALLERROR frame; other frames pass unchanged. */
export function rewriteOutboundFrame(frame: string): string {
  // Cheap test first: CALLERROR frames start with `[4,` (whitespace allowed by JSON).
  if (!/^\s*\[\s*4\s*,/.test(frame)) return frame;
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame);
  } catch {
    return frame;
  }
  if (!Array.isArray(parsed) || parsed[0] !== 4 || typeof parsed[2] !== 'string') return frame;
  const fixed = toOcpp16ErrorCode(parsed[2]);
  if (fixed === parsed[2]) return frame;
  parsed[2] = fixed;
  return JSON.stringify(parsed);
}

interface RawSender {
  sendRaw(message: string | Buffer): void;
}

/** Makes every frame this connection sends use OCPP 1.6 error codes. */
export function enforceOcpp16ErrorSpelling(client: RawSender): void {
  const original = client.sendRaw.bind(client);
  client.sendRaw = (message: string | Buffer) =>
    original(typeof message === 'string' ? rewriteOutboundFrame(message) : message);
}
