import { describe, expect, it } from 'vitest';
import { managedKeys, planConfiguration, sameValue, type Reported } from '../../src/domain/chargers/configuration.ts';
import { idTagInfoOf, walletGroupTag } from '../../src/domain/sessions/authorization.ts';

const wanted = managedKeys({ meterValueSampleIntervalS: 30, offlineAuthorization: 'cache' });
const at = '2026-11-27T00:00:00.000Z';

describe('managed configuration keys', () => {
  it('cache policy: ask online, the cache offline, refuse unknown idTags offline', () => {
    expect(Object.fromEntries(wanted.map((k) => [k.key, k.value]))).toEqual({
      MeterValueSampleInterval: '30',
      StopTransactionOnInvalidId: 'true',
      LocalPreAuthorize: 'false',
      AuthorizationCacheEnabled: 'true',
      LocalAuthorizeOffline: 'true',
      AllowOfflineTxForUnknownId: 'false',
    });
    const none = managedKeys({ meterValueSampleIntervalS: 30, offlineAuthorization: 'none' });
    expect(none.find((k) => k.key === 'LocalAuthorizeOffline')?.value).toBe('false');
    expect(managedKeys({ meterValueSampleIntervalS: 30, offlineAuthorization: 'unmanaged' }).map((k) => k.key)).toEqual([
      'MeterValueSampleInterval',
      'StopTransactionOnInvalidId',
    ]);
  });

  it('writes only the keys whose reported value differs; unknown keys are recorded as NotSupported', () => {
    const reported: Reported = new Map<string, { value: string; readonly: boolean } | 'unknown'>([
      ['MeterValueSampleInterval', { value: ' 30', readonly: false }],
      ['StopTransactionOnInvalidId', { value: 'True', readonly: false }],
      ['LocalPreAuthorize', { value: 'true', readonly: false }],
      ['AuthorizationCacheEnabled', 'unknown'],
      ['LocalAuthorizeOffline', { value: 'true', readonly: false }],
    ]);
    const plan = planConfiguration(wanted, {}, reported);
    expect(plan.write.map((w) => w.key)).toEqual(['LocalPreAuthorize', 'AllowOfflineTxForUnknownId']);
    expect(plan.record).toEqual([
      { key: 'MeterValueSampleInterval', value: '30', status: 'Matches' },
      { key: 'StopTransactionOnInvalidId', value: 'true', status: 'Matches' },
      { key: 'AuthorizationCacheEnabled', value: 'true', status: 'NotSupported' },
      { key: 'LocalAuthorizeOffline', value: 'true', status: 'Matches' },
    ]);
  });

  it('respects NotSupported always and Rejected for the same value', () => {
    const recorded = {
      StopTransactionOnInvalidId: { value: 'true', status: 'NotSupported', at },
      MeterValueSampleInterval: { value: '30', status: 'Rejected', at },
      LocalPreAuthorize: { value: 'true', status: 'Rejected', at }, // refused another value
    };
    const plan = planConfiguration(wanted, recorded, new Map());
    expect(plan.respected).toEqual(['MeterValueSampleInterval', 'StopTransactionOnInvalidId']);
    expect(plan.write.map((w) => w.key)).toContain('LocalPreAuthorize');
  });

  it('without a GetConfiguration answer, writes what earlier boots did not confirm', () => {
    const recorded = {
      MeterValueSampleInterval: { value: '30', status: 'Accepted', at },
      StopTransactionOnInvalidId: { value: 'true', status: 'station_timeout', at },
      LocalPreAuthorize: { value: 'false', status: 'Matches', at },
      AuthorizationCacheEnabled: { value: 'false', status: 'Accepted', at }, // another value
    };
    const plan = planConfiguration(wanted, recorded, undefined);
    expect(plan.write.map((w) => w.key)).toEqual(['StopTransactionOnInvalidId', 'AuthorizationCacheEnabled', 'LocalAuthorizeOffline', 'AllowOfflineTxForUnknownId']);
    expect(plan.record).toEqual([]);
  });

  it('compares values as chargers spell them', () => {
    expect(sameValue('TRUE', 'true')).toBe(true);
    expect(sameValue('030', '30')).toBe(true);
    expect(sameValue('30', '31')).toBe(false);
  });
});

describe('idTagInfo of a wallet token', () => {
  const now = new Date('2026-11-27T10:00:00Z');
  it('expires soon, or at the token expiry if sooner; carries the wallet group', () => {
    const group = walletGroupTag('65f0a1b2c3d4e5f60718293a');
    expect(group).toMatch(/^W[0-9A-F]{19}$/);
    expect(idTagInfoOf({ status: 'Accepted', group }, now, 600)).toEqual({
      status: 'Accepted',
      expiryDate: '2026-11-27T10:10:00.000Z',
      parentIdTag: group,
    });
    expect(idTagInfoOf({ status: 'Blocked', group, expiryDate: new Date('2026-11-27T10:01:00Z') }, now, 600).expiryDate).toBe(
      '2026-11-27T10:01:00.000Z',
    );
    // no wallet: nothing to group, only the token's own expiry
    expect(idTagInfoOf({ status: 'Invalid' }, now, 600)).toEqual({ status: 'Invalid' });
    expect(idTagInfoOf({ status: 'Accepted', group }, now, 0)).toEqual({ status: 'Accepted', parentIdTag: group });
  });
});
