import { describe, expect, it } from 'vitest';
import { booted, charging, inMs } from './harness.ts';
import { eventually } from '../helpers/station.ts';

const accepted = { status: 'Accepted' as const };

describe('Local Auth List Management', () => {
  it('keeps a versioned list: Full, Differential, VersionMismatch, Failed, and GetLocalListVersion', async () => {
    const { cs, station, id } = await booted({ configuration: { SendLocalListMaxLength: '3' } });
    expect(await cs.send(id, 'GetLocalListVersion', {})).toEqual({ listVersion: 0 });
    const full = await cs.send(id, 'SendLocalList', {
      listVersion: 5,
      updateType: 'Full',
      localAuthorizationList: [
        { idTag: 'GOOD', idTagInfo: accepted },
        { idTag: 'EMPTY', idTagInfo: { status: 'Blocked' } },
      ],
    });
    expect(full).toEqual({ status: 'Accepted' });
    expect(await cs.send(id, 'GetLocalListVersion', {})).toEqual({ listVersion: 5 });

    const stale = { listVersion: 5, updateType: 'Differential', localAuthorizationList: [{ idTag: 'NEW', idTagInfo: accepted }] };
    expect(await cs.send(id, 'SendLocalList', stale)).toEqual({ status: 'VersionMismatch' });
    const diff = await cs.send(id, 'SendLocalList', {
      listVersion: 6,
      updateType: 'Differential',
      localAuthorizationList: [{ idTag: 'EMPTY', idTagInfo: accepted }, { idTag: 'GOOD' }],
    });
    expect(diff).toEqual({ status: 'Accepted' });
    const tooMany = Array.from({ length: 4 }, (_, i) => ({ idTag: `T${i}`, idTagInfo: accepted }));
    expect(await cs.send(id, 'SendLocalList', { listVersion: 7, updateType: 'Full', localAuthorizationList: tooMany })).toEqual({
      status: 'Failed',
    });
    const { version, entries } = station.localList();
    expect(version).toBe(6);
    expect([...entries.entries()]).toEqual([['EMPTY', accepted]]);

    expect(await cs.send(id, 'SendLocalList', { listVersion: 8, updateType: 'Full', localAuthorizationList: [] })).toEqual(accepted);
    expect(await cs.send(id, 'GetLocalListVersion', {})).toEqual({ listVersion: 0 }); // an empty list is version 0
  });

  it('the list decides offline starts, and pre-authorizes online with LocalPreAuthorize', async () => {
    const { cs, station, id } = await booted({ configuration: { LocalPreAuthorize: 'true' }, connectors: 2 });
    await cs.send(id, 'SendLocalList', {
      listVersion: 1,
      updateType: 'Full',
      localAuthorizationList: [
        { idTag: 'DRY', idTagInfo: { status: 'Blocked' } },
        { idTag: 'OK', idTagInfo: accepted },
      ],
    });
    await charging(station, 'OK', 1);
    expect(cs.callsOf(id, 'Authorize')).toHaveLength(0); // pre-authorized from the list
    await station.goOffline();
    expect(await station.startSession(2, 'DRY')).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Blocked' });
    expect((await station.startSession(2, 'STRANGER')).outcome).toBe('Queued'); // AllowOfflineTxForUnknownId
  });

  it('the cache remembers answers when enabled, and ClearCache empties it', async () => {
    const { cs, station, id } = await booted({ configuration: { AuthorizationCacheEnabled: 'true' } }, { idTagStatus: (t) => (t === 'DRY' ? 'Blocked' : 'Accepted') });
    expect((await station.startSession(1, 'DRY')).outcome).toBe('NotAuthorized');
    expect(station.authorizationCache().get('DRY')).toEqual({ status: 'Blocked' });
    await station.goOffline();
    expect(await station.startSession(1, 'DRY')).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Blocked' });
    await station.goOnline();
    expect(await cs.send(id, 'ClearCache', {})).toEqual(accepted);
    expect(station.authorizationCache().size).toBe(0);
  });
});

describe('Reservation', () => {
  it('reserves a connector; the idTag starts with the reservationId; others are refused', async () => {
    const { cs, station, id } = await booted();
    // an hour ahead: 6 s at 600× (expiry is scaled like every duration)
    const reserve = { connectorId: 1, expiryDate: inMs(3_600_000), idTag: 'MINE', reservationId: 42 };
    expect(await cs.send(id, 'ReserveNow', reserve)).toEqual(accepted);
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.status === 'Reserved');
    expect(station.snapshot(1).reservationId).toBe(42);

    expect(await station.startSession(1, 'OTHER')).toEqual({ outcome: 'Unavailable', status: 'Reserved' });
    expect(station.connectorStatus(1)).toBe('Reserved');
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'OTHER' })).toEqual({ status: 'Rejected' });

    await charging(station, 'MINE');
    const [start] = cs.callsOf(id, 'StartTransaction');
    expect(start!.params).toMatchObject({ idTag: 'MINE', reservationId: 42 });
    expect(station.reservations()).toEqual([]);
    expect(await cs.send(id, 'ReserveNow', { ...reserve, reservationId: 43 })).toEqual({ status: 'Occupied' });
  });

  it('expires (time scaled like every interval), and is cancelled', async () => {
    const { cs, station, id } = await booted();
    const expired = station.waitFor('reservation', (e) => e.state === 'Expired');
    // 60 simulated seconds at 600× ≈ 100 ms
    await cs.send(id, 'ReserveNow', { connectorId: 1, expiryDate: inMs(60_000), idTag: 'A', reservationId: 1 });
    await expired;
    expect(station.connectorStatus(1)).toBe('Available');

    await cs.send(id, 'ReserveNow', { connectorId: 1, expiryDate: inMs(3_600_000), idTag: 'B', reservationId: 2 });
    expect(await cs.send(id, 'CancelReservation', { reservationId: 2 })).toEqual(accepted);
    expect(await cs.send(id, 'CancelReservation', { reservationId: 2 })).toEqual({ status: 'Rejected' });
    expect(station.connectorStatus(1)).toBe('Available');
  });

  it('answers Faulted, Unavailable, Rejected as the connector is', async () => {
    const { cs, station, id } = await booted({ connectors: 2, configuration: { ReserveConnectorZeroSupported: { value: 'false' } } });
    const reserve = (connectorId: number, reservationId: number) =>
      cs.send(id, 'ReserveNow', { connectorId, expiryDate: inMs(3_600_000), idTag: 'X', reservationId });
    station.setError(1, { errorCode: 'GroundFailure' });
    expect(await reserve(1, 1)).toEqual({ status: 'Faulted' });
    await cs.send(id, 'ChangeAvailability', { connectorId: 2, type: 'Inoperative' });
    expect(await reserve(2, 2)).toEqual({ status: 'Unavailable' });
    expect(await reserve(0, 3)).toEqual({ status: 'Rejected' });
    expect(await reserve(7, 4)).toEqual({ status: 'Rejected' });
  });
});

describe('Smart Charging', () => {
  const txProfile = (limit: number, extra: Record<string, unknown> = {}) => ({
    chargingProfileId: 7,
    stackLevel: 1,
    chargingProfilePurpose: 'TxProfile',
    chargingProfileKind: 'Relative',
    chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
    ...extra,
  });

  it('a TxProfile lowers the power of the running transaction, and goes with it', async () => {
    const { cs, station, id } = await booted({ powerProfile: 'dc150' });
    expect(await cs.send(id, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: txProfile(50_000) })).toEqual({
      status: 'Rejected', // no transaction to limit
    });
    const transactionId = await charging(station);
    expect(station.powerW(1)).toBe(150_000);
    expect(
      await cs.send(id, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: txProfile(40_000, { transactionId: transactionId + 1 }) }),
    ).toEqual({ status: 'Rejected' }); // another transaction
    expect(await cs.send(id, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: txProfile(40_000, { transactionId }) })).toEqual(accepted);
    expect(station.powerW(1)).toBe(40_000);
    expect(station.limitW(1)).toBe(40_000);
    const [meter] = await cs.waitForCalls(id, 'MeterValues', 1, (c) => c.at > 0 && c.params.meterValue[0].sampledValue.some((s: any) => s.measurand === 'Power.Active.Import' && s.value === '40000'));
    expect(meter!.params.transactionId).toBe(transactionId);

    await station.stopSession(1);
    expect(station.chargingProfiles()).toEqual([]);
  });

  it('a RemoteStartTransaction may carry the TxProfile of the transaction it starts; any other purpose is refused', async () => {
    const { cs, station, id } = await booted({ powerProfile: 'dc150' });
    const wrong = { ...txProfile(20_000), chargingProfilePurpose: 'TxDefaultProfile' };
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'TAG', chargingProfile: wrong })).toEqual({ status: 'Rejected' });
    expect(station.hasSession(1)).toBe(false);
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'TAG', chargingProfile: txProfile(20_000) })).toEqual(accepted);
    await eventually(() => station.chargingProfiles(1).length === 1);
    const [installed] = station.chargingProfiles(1);
    expect(installed!.profile.transactionId).toBe(station.transactionId(1));
    expect(station.powerW(1)).toBe(20_000);
  });

  it('a limit of 0 suspends the session (SuspendedEVSE); clearing the profile resumes it', async () => {
    const { cs, station, id } = await booted();
    await charging(station);
    await cs.send(id, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: txProfile(0) });
    expect(station.connectorStatus(1)).toBe('SuspendedEVSE');
    const frozen = station.registerWh(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(station.registerWh(1)).toBe(frozen);
    expect(await cs.send(id, 'ClearChargingProfile', { id: 99 })).toEqual({ status: 'Unknown' });
    expect(await cs.send(id, 'ClearChargingProfile', { id: 7 })).toEqual(accepted);
    expect(station.connectorStatus(1)).toBe('Charging');
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.status === 'SuspendedEVSE');
  });

  it('follows schedule periods in simulated time, in amperes too', async () => {
    const { cs, station, id } = await booted({ powerProfile: 'ac22' });
    await charging(station);
    // 11 A × 230 V × 3 phases = 7,590 W for the first 60 simulated seconds (100 ms), then 16 A = 11,040 W
    const profile = txProfile(0, {
      chargingSchedule: {
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [
          { startPeriod: 0, limit: 11 },
          { startPeriod: 60, limit: 16 },
        ],
      },
    });
    await cs.send(id, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: profile });
    expect(station.powerW(1)).toBe(7_590);
    await station.waitFor('chargingLimit', (e) => e.limitW === 11_040, 2_000);
    expect(station.powerW(1)).toBe(11_040);
  });

  it('TxDefaultProfile on connector 0 and ChargePointMaxProfile bound every session; GetCompositeSchedule shows it', async () => {
    const { cs, station, id } = await booted({ connectors: 2, powerProfile: 'ac22' });
    const absolute = (id_: number, purpose: string, periods: Array<{ startPeriod: number; limit: number }>) => ({
      chargingProfileId: id_,
      stackLevel: 0,
      chargingProfilePurpose: purpose,
      chargingProfileKind: 'Absolute',
      chargingSchedule: { startSchedule: new Date().toISOString(), chargingRateUnit: 'W', chargingSchedulePeriod: periods },
    });
    expect(
      await cs.send(id, 'SetChargingProfile', { connectorId: 0, csChargingProfiles: absolute(1, 'TxDefaultProfile', [{ startPeriod: 0, limit: 16_000 }]) }),
    ).toEqual(accepted);
    expect(
      await cs.send(id, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: absolute(2, 'ChargePointMaxProfile', [{ startPeriod: 0, limit: 1 }]) }),
    ).toEqual({ status: 'Rejected' }); // only on connector 0
    expect(
      await cs.send(id, 'SetChargingProfile', {
        connectorId: 0,
        csChargingProfiles: absolute(3, 'ChargePointMaxProfile', [
          { startPeriod: 0, limit: 20_000 },
          { startPeriod: 3_600, limit: 12_000 },
        ]),
      }),
    ).toEqual(accepted);
    await charging(station, 'A', 2);
    expect(station.powerW(2)).toBe(16_000);

    const composite = await cs.send(id, 'GetCompositeSchedule', { connectorId: 2, duration: 7_200, chargingRateUnit: 'W' });
    expect(composite).toMatchObject({ status: 'Accepted', connectorId: 2, chargingSchedule: { duration: 7_200, chargingRateUnit: 'W' } });
    const periods = composite.chargingSchedule.chargingSchedulePeriod as Array<{ startPeriod: number; limit: number }>;
    expect(periods[0]).toEqual({ startPeriod: 0, limit: 16_000 });
    expect(periods.at(-1)!.limit).toBe(12_000);
    expect(periods.at(-1)!.startPeriod).toBeGreaterThan(3_000); // an hour after the profile was set, less the time since
    expect(periods.at(-1)!.startPeriod).toBeLessThanOrEqual(3_600);
    expect(await cs.send(id, 'ClearChargingProfile', { chargingProfilePurpose: 'ChargePointMaxProfile' })).toEqual(accepted);
    expect(station.chargingProfiles().map((p) => p.profile.chargingProfileId)).toEqual([1]);
    expect(cs.validationFailures).toEqual([]);
  });
});
