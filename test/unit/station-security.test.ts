import { describe, expect, it } from 'vitest';
import { reachedProfile, type UpgradeRequest } from '../../src/ocpp/handshake.ts';
import { fundsAccepted } from '../../src/domain/chargers/local-list-sync.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';

const request = (r: Partial<UpgradeRequest>): UpgradeRequest => ({ identity: 'CP-1', password: undefined, ...r });

describe('the security profile a handshake reached', () => {
  it('3 needs TLS and a verified client certificate naming the station; 2 TLS and a password; 1 a password', () => {
    expect(reachedProfile(request({ tls: true, clientCertificateCn: 'cp-1' }), 'CP-1', false)).toBe(3);
    expect(reachedProfile(request({ tls: true, clientCertificateCn: 'CP-2' }), 'CP-1', true)).toBe(2);
    expect(reachedProfile(request({ tls: true }), 'CP-1', true)).toBe(2);
    expect(reachedProfile(request({ tls: false }), 'CP-1', true)).toBe(1);
    expect(reachedProfile(request({ tls: true }), 'CP-1', false)).toBe(0);
  });
});

describe('local list status of a wallet', () => {
  it('Accepted at or above the minimum and above zero, as Authorize decides', () => {
    expect(fundsAccepted(100, 100)).toBe(true);
    expect(fundsAccepted(99, 100)).toBe(false);
    expect(fundsAccepted(0, 0)).toBe(false);
    expect(fundsAccepted(1, 0)).toBe(true);
  });
});

describe('configuration of the field and security settings', () => {
  it('has defaults, reads every variable, and wants the CA certificate and key together', () => {
    expect(loadConfig({})).toMatchObject({
      offlineAuthorization: 'cache',
      authExpiryS: 900,
      localListSync: false,
      securityCa: undefined,
      tlsClientCaFile: undefined,
    });
    expect(
      loadConfig({
        OCPP_OFFLINE_AUTHORIZATION: 'none',
        OCPP_AUTH_EXPIRY_S: '60',
        LOCAL_AUTH_LIST_SYNC: 'on',
        SECURITY_CA_CERT_FILE: '/ca.pem',
        SECURITY_CA_KEY_FILE: '/ca.key',
      }),
    ).toMatchObject({
      offlineAuthorization: 'none',
      authExpiryS: 60,
      localListSync: true,
      securityCa: { certFile: '/ca.pem', keyFile: '/ca.key' },
      tlsClientCaFile: '/ca.pem',
    });
    expect(() => loadConfig({ SECURITY_CA_CERT_FILE: '/ca.pem' })).toThrow(ConfigError);
    expect(() => loadConfig({ OCPP_OFFLINE_AUTHORIZATION: 'sometimes' })).toThrow(/OCPP_OFFLINE_AUTHORIZATION/);
  });
});
