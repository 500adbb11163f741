/**
 * What the gateway learns of a charger survives a restart: a station that does not answer
 * TriggerMessage MeterValues, takes a shorter MeterValueSampleInterval, has no Smart Charging and
 * a measured stop delay is shown so in GET /v1/chargestations/:id before and after the restart,
 * and the restarted gateway acts on it (no TriggerMessage is tried again). The predictive stop's
 * own calls are in the command log with their reasons.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimStation } from '../../simulators/index.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { balanceOf, settled } from './sim.ts';

const TIME_SCALE = 30;
const INTERVAL_S = 60; // simulated: a reading every 2 real seconds
const STOP_DELAY_S = 3;
const ENV = {
  METER_VALUE_SAMPLE_INTERVAL_S: String(INTERVAL_S),
  MAX_STATION_POWER_KW: '0', // simulated time delivers more than any real station could
  BILLING_SWEEP_INTERVAL_S: '1',
  LOG_LEVEL: 'info',
  OCPP_CALL_TIMEOUT_S: '1',
  PREDICTIVE_STOP_DELAY_S: String(STOP_DELAY_S / TIME_SCALE),
  PREDICTIVE_LOW_SAMPLE_INTERVAL_S: '10',
};

function simStation(gw: TestGateway, identity: string) {
  return new SimStation({
    url: gw.ocppUrl,
    identity,
    connectors: 1,
    timeScale: TIME_SCALE,
    powerProfile: 'ac22',
    fixedPowerW: 11_000,
    stopDelaySeconds: STOP_DELAY_S,
    meterValueSampleInterval: INTERVAL_S,
    rpcOptions: { callTimeoutMs: 10_000 },
    answers: { TriggerMessage: { status: 'NotImplemented' } },
    // a charger without Smart Charging: RemoteTrigger is listed, yet it does not trigger MeterValues
    features: ['Core', 'RemoteTrigger'],
  });
}

/** Boots the station, runs one session on a fresh wallet until the predictive stop ends it. */
async function chargeToPredictedStop(gw: TestGateway, station: SimStation, record: { _id: string }, org: string) {
  const inbound: string[] = [];
  station.on('inboundCall', (c) => inbound.push(c.action));
  await station.start();
  await eventually(() => inbound.includes('GetConfiguration'), 10_000);
  await new Promise((r) => setTimeout(r, 500)); // the boot's ChangeConfiguration follows at once
  const { user, token } = await aUserWithWallet(gw, { organization: org, balance: 250 });
  const stopped = station.waitFor('sessionStopped', () => true, 30_000);
  const started = await station.startSession(1, token.physicalId);
  if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
  await stopped;
  const s = await settled(gw, record._id, started.transactionId);
  expect(s).toMatchObject({ termination: 'insufficient_balance', stopped_by: 'prediction' });
  expect(Math.abs(await balanceOf(gw, user._id))).toBeLessThanOrEqual(10);
  return { inbound };
}

describe('learnt station capabilities', () => {
  it('are kept per station, shown, and used again after a gateway restart', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-capabilities-'));
    const env = { ...ENV, DATA_DIR: dataDir };
    let gw = await startGateway({ database, env, stopRetryDelaysMs: [100, 100, 100] });
    let station: SimStation | undefined;
    try {
      const org = (await anOrganization(gw, { minimum_balance_to_start_session: 1 }))._id as string;
      const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 400 }] });
      const record = (await aStation(gw, { rate: rate._id })) as { _id: string; ocpp_id: string };
      const fresh = (await gw.api('GET', `/v1/chargestations/${record._id}`)).body;
      expect(fresh.capabilities).toEqual({
        trigger_meter_values: null,
        sample_interval_change: null,
        smart_charging: null,
        stop_delay_s: { energy: null, time: null },
        updated_at: null,
      });

      station = simStation(gw, record.ocpp_id);
      const first = await chargeToPredictedStop(gw, station, record, org);
      expect(first.inbound).toContain('TriggerMessage');
      const learnt = await eventually(async () => {
        const c = (await gw.api('GET', `/v1/chargestations/${record._id}`)).body.capabilities;
        return c.trigger_meter_values === false && c.sample_interval_change === true && c.stop_delay_s.time !== null ? c : undefined;
      }, 10_000);
      // its SupportedFeatureProfiles (Core,RemoteTrigger), read in the boot's configuration pass
      expect(learnt).toMatchObject({ smart_charging: false, updated_at: expect.any(String) });
      expect(learnt.stop_delay_s.time).toBeGreaterThan(0);
      expect(learnt.stop_delay_s.time).toBeLessThan(1);

      // The predictive stop's calls are in the command log, by the gateway, with why.
      const log = (await gw.api('GET', `/v1/chargestations/${record._id}/commands?limit=100&requested_by=gateway`)).body.data as any[];
      const reasons = new Set(log.map((e) => `${e.action}:${e.reason}`));
      expect(reasons).toContain('TriggerMessage:predictive_reading');
      expect(reasons).toContain('ChangeConfiguration:predictive_sample_interval');
      expect(reasons).toContain('RemoteStopTransaction:predictive_stop');
      expect(reasons).toContain('GetConfiguration:boot_configuration');

      await station.stop();
      station = undefined;
      await gw.app.stop();

      gw = await startGateway({ database, env, stopRetryDelaysMs: [100, 100, 100] });
      const after = (await gw.api('GET', `/v1/chargestations/${record._id}`)).body.capabilities;
      expect(after).toEqual(learnt);

      // The restarted gateway knows the station will not answer TriggerMessage: it goes straight
      // to the shorter sample interval, and still stops at zero.
      station = simStation(gw, record.ocpp_id);
      const second = await chargeToPredictedStop(gw, station, record, org);
      expect(second.inbound).not.toContain('TriggerMessage');
      expect(gw.app.sessions.predictor!.stationInfo(record.ocpp_id)).toMatchObject({ trigger: 'no', interval: 'yes' });
    } finally {
      await station?.stop();
      await gw.app.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
