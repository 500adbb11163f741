/**
 * The OCPP 1.6J message schemas, Security extension (OCPP 1.6 security whitepaper, edition 3)
 * included, in the form ocpp-rpc's `createValidator('ocpp1.6', schemas)` takes: draft-07 JSON
 * schemas whose `$id` is `urn:<Action>.req` / `urn:<Action>.conf`, the keys ocpp-rpc looks up.
 *
 * ocpp-rpc 2.x already ships the eleven Security-extension messages in its 1.6 set (with the
 * whitepaper's field limits: csr ≤ 5500, certificateChain ≤ 10000, SecurityEventNotification
 * type ≤ 50 / techInfo ≤ 255, …), so this module serves that set rather than a second copy:
 * two schemas with one `$id` cannot live in one validator anyway. It checks at load that every
 * message of the extension is there, so an ocpp-rpc that dropped them fails loudly here.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface MessageSchema {
  $id: string;
  [keyword: string]: unknown;
}

/** Messages the 1.6 security whitepaper adds, both directions. */
export const SECURITY_EXTENSION_ACTIONS = [
  'CertificateSigned',
  'DeleteCertificate',
  'ExtendedTriggerMessage',
  'GetInstalledCertificateIds',
  'GetLog',
  'InstallCertificate',
  'LogStatusNotification',
  'SecurityEventNotification',
  'SignCertificate',
  'SignedFirmwareStatusNotification',
  'SignedUpdateFirmware',
] as const;

export type SecurityExtensionAction = (typeof SECURITY_EXTENSION_ACTIONS)[number];

/** The schema id ocpp-rpc validates a request (`req`) or a response (`conf`) against. */
export function schemaId(action: string, kind: 'req' | 'conf'): string {
  return `urn:${action}.${kind}`;
}

function load(): readonly MessageSchema[] {
  const schemas = require('ocpp-rpc/lib/schemas/ocpp1_6.json') as MessageSchema[];
  const ids = new Set(schemas.map((s) => s.$id));
  const missing = SECURITY_EXTENSION_ACTIONS.flatMap((action) =>
    (['req', 'conf'] as const).map((kind) => schemaId(action, kind)).filter((id) => !ids.has(id)),
  );
  if (missing.length > 0) {
    throw new Error(`ocpp-rpc's OCPP 1.6 schemas lack Security extension messages: ${missing.join(', ')}`);
  }
  return Object.freeze(schemas);
}

/** Core, the feature profiles and the Security extension: every OCPP 1.6J message, both directions. */
export const ocpp16Schemas: readonly MessageSchema[] = load();
