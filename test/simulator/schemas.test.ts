import ocppRpc from 'ocpp-rpc';
import { describe, expect, it } from 'vitest';
import { ocpp16Schemas, schemaId, SECURITY_EXTENSION_ACTIONS } from '../../src/ocpp/schemas/index.ts';
import { INBOUND_ACTIONS } from '../../simulators/ocpp-types.ts';

describe('the OCPP 1.6 schema set (Security extension included)', () => {
  const validator = ocppRpc.createValidator('ocpp1.6', ocpp16Schemas as unknown as Record<string, unknown>[]);
  const ids = new Set(ocpp16Schemas.map((s) => s.$id));

  it('has a request and a response schema for every message, keyed as ocpp-rpc looks them up', () => {
    for (const action of [...SECURITY_EXTENSION_ACTIONS, ...INBOUND_ACTIONS, 'BootNotification', 'StatusNotification']) {
      expect(ids.has(schemaId(action, 'req')), action).toBe(true);
      expect(ids.has(schemaId(action, 'conf')), action).toBe(true);
    }
    expect(schemaId('SignCertificate', 'req')).toBe('urn:SignCertificate.req');
  });

  it("checks the whitepaper's fields and limits", () => {
    const fails = (action: string, payload: unknown) => () => validator.validate(schemaId(action, 'req'), payload);
    expect(fails('SecurityEventNotification', { type: 'StartupOfTheDevice' })).toThrow(); // timestamp required
    expect(fails('SecurityEventNotification', { type: 'x'.repeat(51), timestamp: new Date().toISOString() })).toThrow();
    expect(fails('SignCertificate', { csr: 'x'.repeat(5_501) })).toThrow();
    expect(fails('CertificateSigned', { certificateChain: 'x'.repeat(10_001) })).toThrow();
    expect(fails('ExtendedTriggerMessage', { requestedMessage: 'DiagnosticsStatusNotification' })).toThrow(); // not in the extended set
    expect(validator.validate(schemaId('ExtendedTriggerMessage', 'req'), { requestedMessage: 'SignChargePointCertificate' })).toBe(true);
    expect(
      validator.validate(schemaId('GetLog', 'req'), { logType: 'SecurityLog', requestId: 1, log: { remoteLocation: 'https://x/' } }),
    ).toBe(true);
    expect(validator.validate(schemaId('SignedFirmwareStatusNotification', 'req'), { status: 'InvalidSignature', requestId: 3 })).toBe(true);
  });
});
