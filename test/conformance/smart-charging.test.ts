/** OCTT 1.6 Central System cases of the Smart Charging profile. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { aDriver, caseName, ChargePoints, conformanceGateway, eventually, ok, operation, sessionIn, started } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

function profile(id: number, purpose: string, extra: Record<string, unknown> = {}) {
  return {
    chargingProfileId: id,
    stackLevel: 0,
    chargingProfilePurpose: purpose,
    chargingProfileKind: 'Relative',
    chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6000 }] },
    ...extra,
  };
}

const inForce = async (stationId: string) => (await ok(gw, 'GET', `/v1/chargestations/${stationId}/charging_profiles`)).data;

describe('Smart Charging', () => {
  it(caseName('TC_056', 'Central smart charging, TxDefaultProfile'), async () => {
    const cp = await cps.boot();
    const body = { connector_id: 1, charging_profile: profile(11, 'TxDefaultProfile') };
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/charging_profiles`, body)).toEqual({ status: 'Accepted' });
    expect(cp.station.received('SetChargingProfile').at(-1)?.params).toEqual({ connectorId: 1, csChargingProfiles: body.charging_profile });
    expect(cp.station.chargingProfiles(1).map((p) => p.profile.chargingProfileId)).toEqual([11]);
    expect(await inForce(cp.id)).toEqual([
      expect.objectContaining({ charging_profile_id: 11, connector_id: 1, purpose: 'TxDefaultProfile', stack_level: 0, profile: body.charging_profile }),
    ]);
    const driver = await aDriver(gw);
    started(await cp.station.startSession(1, driver.idTag));
    await eventually(() => cp.station.limitW(1) === 6000);
  });

  it(caseName('TC_057', 'Central smart charging, TxProfile'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    const body = { connector_id: 1, charging_profile: profile(21, 'TxProfile', { transactionId: tx, stackLevel: 1 }) };
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/charging_profiles`, body)).toEqual({ status: 'Accepted' });
    expect(cp.station.limitW(1)).toBe(6000);
    expect((await inForce(cp.id)).map((p: any) => [p.charging_profile_id, p.transaction_id])).toEqual([[21, tx]]);
    await cp.station.stopSession(1);
    await sessionIn(gw, cp.id, tx, ['completed']);
    // A TxProfile ends with its transaction.
    await eventually(async () => (await inForce(cp.id)).length === 0);
  });

  it(caseName('TC_059', 'Remote start transaction with a charging profile'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const txProfile = profile(31, 'TxProfile');
    const res = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: cp.id, connector: 1, user: driver.user._id, charging_profile: txProfile });
    expect(res).toMatchObject({ status: 202, body: { status: 'Accepted' } });
    expect(cp.station.received('RemoteStartTransaction').at(-1)?.params).toEqual({ connectorId: 1, idTag: driver.idTag, chargingProfile: txProfile });
    await eventually(() => cp.station.hasSession(1) && cp.station.limitW(1) === 6000);
  });

  it(caseName('TC_066', 'Get composite schedule'), async () => {
    const cp = await cps.boot();
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/charging_profiles`, {
      connector_id: 0,
      charging_profile: { ...profile(41, 'ChargePointMaxProfile'), chargingProfileKind: 'Absolute', chargingSchedule: { chargingRateUnit: 'W', startSchedule: new Date().toISOString(), chargingSchedulePeriod: [{ startPeriod: 0, limit: 11000 }] } },
    });
    const answer = await operation(gw, 'GET', `/v1/chargestations/${cp.id}/composite_schedule?connector_id=1&duration_s=3600&charging_rate_unit=W`);
    expect(answer).toMatchObject({ status: 'Accepted', connectorId: 1, chargingSchedule: { chargingRateUnit: 'W' } });
    expect(answer.chargingSchedule.chargingSchedulePeriod[0].limit).toBe(11000);
    expect(cp.station.received('GetCompositeSchedule').at(-1)?.params).toEqual({ connectorId: 1, duration: 3600, chargingRateUnit: 'W' });
  });

  it(caseName('TC_067', 'Clear charging profile'), async () => {
    const cp = await cps.boot();
    const url = `/v1/chargestations/${cp.id}/charging_profiles`;
    await operation(gw, 'POST', url, { connector_id: 1, charging_profile: profile(51, 'TxDefaultProfile') });
    await operation(gw, 'POST', url, { connector_id: 1, charging_profile: profile(52, 'TxDefaultProfile', { stackLevel: 2 }) });
    expect(await operation(gw, 'DELETE', `${url}?charging_profile_id=51`)).toEqual({ status: 'Accepted' });
    expect(cp.station.received('ClearChargingProfile').at(-1)?.params).toEqual({ id: 51 });
    expect((await inForce(cp.id)).map((p: any) => p.charging_profile_id)).toEqual([52]);
    expect(await operation(gw, 'DELETE', `${url}?charging_profile_id=51`)).toEqual({ status: 'Unknown' });
    expect(await operation(gw, 'DELETE', `${url}?purpose=TxDefaultProfile`)).toEqual({ status: 'Accepted' });
    expect(await inForce(cp.id)).toEqual([]);
    expect(cp.station.chargingProfiles(1)).toEqual([]);
  });
});
