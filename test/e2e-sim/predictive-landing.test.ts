/**
 * The soft landing of the predictive stop (issue 17), end to end with the bundled simulator at
 * real time: a 150 kW DC station is limited (SetChargingProfile, TxProfile) shortly before its
 * predicted stop, so the last cents are spent slowly and the stop, timed by a guessed stop delay,
 * costs little either way. A station without smart charging just gets the timed stop; a top-up
 * that arrives after the landing lifts the limit again (ClearChargingProfile).
 *
 * Real time, because a power limit is in the station's own watts: under a time scale the gateway
 * sees the register run ×scale and the limit would not mean the same to both.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimStation, type SimStationOptions } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { balanceOf, bootRecorded, energyCost, expectWalletConsistent, settled, type RecordedStation } from './sim.ts';
import { LANDING_PROFILE_ID_BASE } from '../../src/domain/sessions/predictive-stop.ts';

const INTERVAL_S = 4;
const POWER_W = 150_000;
const LANDING_KW = 30;
const PRICE = 400; // c/kWh: 150 kW ≈ 16.7 c/s, 30 kW ≈ 3.3 c/s
const STOP_DELAY_S = 1;

let gw: TestGateway;
let org: { _id: string };
const all: SimStation[] = [];

beforeAll(async () => {
  gw = await startGateway({
    env: {
      METER_VALUE_SAMPLE_INTERVAL_S: String(INTERVAL_S),
      BILLING_SWEEP_INTERVAL_S: '1',
      LOG_LEVEL: 'info',
      OCPP_CALL_TIMEOUT_S: '2',
      PREDICTIVE_STOP_DELAY_S: String(STOP_DELAY_S),
      PREDICTIVE_LANDING_POWER_KW: String(LANDING_KW),
      PREDICTIVE_LOW_SAMPLE_INTERVAL_S: '2',
    },
    stopRetryDelaysMs: [100, 100, 100],
  });
  org = await anOrganization(gw, { minimum_balance_to_start_session: 1 });
});
afterEach(async () => {
  const stations = all.splice(0);
  await Promise.allSettled(stations.map((s) => s.stop()));
});
afterAll(async () => {
  await gw?.stop();
});

type Inbound = RecordedStation['inbound'][number];

async function boot(options: Partial<SimStationOptions> = {}) {
  const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: PRICE }] });
  return bootRecorded(gw, all, rate._id, {
    connectors: 1,
    powerProfile: 'dc150',
    fixedPowerW: POWER_W,
    stopDelaySeconds: STOP_DELAY_S,
    meterValueSampleInterval: INTERVAL_S,
    rpcOptions: { callTimeoutMs: 10_000 },
    ...options,
  });
}

const landings = (inbound: Inbound[]) => inbound.filter((c) => c.action === 'SetChargingProfile');

describe('soft landing ahead of a predicted stop', () => {
  it('limits a 150 kW session to the landing power before the stop, and ends within a few cents of zero', async () => {
    const { station, record, inbound } = await boot();
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 250 });
    const stopped = station.waitFor('sessionStopped', () => true, 60_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    const [stop] = await stopped;
    expect(stop.reason).toBe('Remote');

    const [landing, ...more] = landings(inbound);
    expect(more).toEqual([]);
    expect(landing!.params).toMatchObject({
      connectorId: 1,
      csChargingProfiles: {
        chargingProfileId: LANDING_PROFILE_ID_BASE + 1,
        transactionId: started.transactionId,
        chargingProfilePurpose: 'TxProfile',
        chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: LANDING_KW * 1000 }] },
      },
    });
    const remoteStop = inbound.find((c) => c.action === 'RemoteStopTransaction')!;
    expect(landing!.at).toBeLessThan(remoteStop.at);

    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ termination: 'insufficient_balance', stopped_by: 'prediction' });
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, PRICE));
    // At 30 kW and 400 c/kWh a second of error in the guessed stop delay is 3.3 cents.
    const left = await balanceOf(gw, user._id);
    expect(left).toBeGreaterThanOrEqual(-4);
    expect(left).toBeLessThanOrEqual(6);
    await expectWalletConsistent(gw, user, wallet._id);
  }, 90_000);

  /** Sessions to the predicted stop at full power: its stop-delay error is worth 16.7 c/s, so a wider band than a landed one. */
  async function chargeUnlanded(b: Awaited<ReturnType<typeof boot>>, sessions: number) {
    for (let round = 0; round < sessions; round++) {
      const { user, token } = await aUserWithWallet(gw, { organization: org._id, balance: 200 });
      const stopped = b.station.waitFor('sessionStopped', () => true, 60_000);
      const started = await b.station.startSession(1, token.physicalId);
      if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
      await stopped;
      const s = await settled(gw, b.record._id, started.transactionId);
      expect(s).toMatchObject({ termination: 'insufficient_balance', stopped_by: 'prediction' });
      const left = await balanceOf(gw, user._id);
      expect(left).toBeGreaterThanOrEqual(-20);
      expect(left).toBeLessThanOrEqual(20);
    }
  }

  it('a station that refuses the limit gets the timed stop at full power, and is not asked again', async () => {
    const b = await boot({ answers: { SetChargingProfile: 'Rejected' } });
    await chargeUnlanded(b, 2);
    expect(landings(b.inbound)).toHaveLength(1);
    // A refusal of this limit (in W) is not "no smart charging": the station keeps its capability.
    const res = await gw.api<{ capabilities?: { smart_charging?: boolean | null } }>('GET', `/v1/chargestations/${b.record._id}`);
    expect(res.body.capabilities?.smart_charging).toBe(true);
  }, 120_000);

  it('a station whose SupportedFeatureProfiles lacks SmartCharging is not asked at all', async () => {
    const b = await boot({ features: ['Core', 'RemoteTrigger'] });
    await chargeUnlanded(b, 1);
    expect(landings(b.inbound)).toEqual([]);
  }, 90_000);

  it('a station that accepts the limit and keeps its power is caught by the next reading and stopped at its measured power', async () => {
    // Time ×10 at 15 kW: the gateway sees 150 kW, and a 30 kW limit (in the station's own watts)
    // changes nothing: to the gateway this station answers Accepted and ignores the limit. It
    // keeps its own 40 s (4 real s) sample interval: without the check after the landing, the
    // stop would wait for the next reading and come ~60 cents late.
    const { station, record, inbound } = await boot({
      timeScale: 10,
      fixedPowerW: POWER_W / 10,
      stopDelaySeconds: STOP_DELAY_S * 10,
      meterValueSampleInterval: 40,
      answers: { ChangeConfiguration: (p) => (p.key === 'MeterValueSampleInterval' ? 'Rejected' : undefined) },
    });
    const { user, token } = await aUserWithWallet(gw, { organization: org._id, balance: 300 });
    const stopped = station.waitFor('sessionStopped', () => true, 60_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    await stopped;
    expect(landings(inbound)).toHaveLength(1);
    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ termination: 'insufficient_balance', stopped_by: 'prediction' });
    expect(gw.logs.some((l) => l.includes('did not lower its power to it'))).toBe(true);
    const left = await balanceOf(gw, user._id);
    expect(left).toBeGreaterThanOrEqual(-20);
    expect(left).toBeLessThanOrEqual(20);
  }, 90_000);

  it('a top-up after the landing lifts the limit (ClearChargingProfile) and the session runs on', async () => {
    const { station, record, inbound } = await boot();
    const { wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 250 });
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    await eventually(() => landings(inbound).length === 1, 40_000);
    await eventually(() => station.limitW(1) === LANDING_KW * 1000, 5_000);
    await topUp(gw, wallet._id, 5_000);
    await eventually(() => inbound.some((c) => c.action === 'ClearChargingProfile'), 10_000);
    const clear = inbound.find((c) => c.action === 'ClearChargingProfile')!;
    expect(clear.params).toMatchObject({ id: LANDING_PROFILE_ID_BASE + 1 });
    await eventually(() => station.limitW(1) === undefined, 5_000);
    expect(inbound.some((c) => c.action === 'RemoteStopTransaction')).toBe(false);
    await station.stopSession(1, 'Local');
    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ termination: 'local', stop_reason: 'Local', stopped_by: null });
  }, 90_000);
});
