/**
 * Network loss and uncooperative chargers, driven by the charge point simulator: offline
 * replay, RemoteStopTransaction rejected / ignored / undeliverable, and remote start and stop
 * through the admin API.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimStation } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aToken, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import {
  balanceOf,
  energyCost,
  expectWalletConsistent,
  ledgerOf,
  sessionOf,
  settled,
  simGatewayOptions,
  Stations,
} from './sim.ts';

let gw: TestGateway;
let org: { _id: string };
const stations = new Stations();

beforeAll(async () => {
  // Stop retries over 1.4 s rather than 0.3 s: the 'stopped by itself' case below needs the
  // station's StopTransaction to land before they run out, even on a slow, busy machine.
  gw = await startGateway({ ...simGatewayOptions(), stopRetryDelaysMs: [200, 400, 800] });
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
});
afterEach(async () => {
  await stations.stopAll();
});
afterAll(async () => {
  await gw?.stop();
});

function recordCalls(station: SimStation) {
  const calls: Array<{ action: string; params: any; at: number }> = [];
  station.on('call', (c) => calls.push({ action: c.action, params: c.params, at: Date.now() }));
  return calls;
}

function energyOfCall(params: any): number {
  const values = (params.meterValue ?? params.transactionData ?? [])
    .flatMap((mv: any) => mv.sampledValue)
    .filter((v: any) => v.measurand === 'Energy.Active.Import.Register');
  return values.reduce((sum: number, v: any) => sum + Number(v.value), 0);
}

describe('offline', () => {
  it('a station that loses the network mid-session keeps charging and replays its MeterValues and StopTransaction in order', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 40 }] });
    const { station, record } = await stations.boot(gw, rate._id, { initialRegisterWh: 1_000 });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 5000 });
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    await eventually(async () => (await sessionOf(gw, record._id, started.transactionId)).energy_wh > 0);

    await station.goOffline();
    expect(station.connected).toBe(false);
    await eventually(() => station.queueLength >= 4, 5_000); // charging on, samples queue up
    const stop = await station.stopSession(1, 'Local');
    if (stop.outcome !== 'Queued') throw new Error(`expected the stop to be queued, got ${stop.outcome}`);
    const queued = station.queueLength;
    const beforeReplay = await sessionOf(gw, record._id, started.transactionId);
    expect(beforeReplay.status).toBe('active');
    expect(beforeReplay.meter_last).toBeLessThan(stop.meterStop); // the gateway has not seen the offline energy

    const reconnectedAt = Date.now();
    const replay = recordCalls(station);
    await station.goOnline();
    expect(await station.flush(10_000)).toBe(true);

    const tx = replay.filter((c) => c.action === 'MeterValues' || c.action === 'StopTransaction');
    expect(tx).toHaveLength(queued);
    expect(tx.at(-1)!.action).toBe('StopTransaction');
    expect(tx.slice(0, -1).every((c) => c.action === 'MeterValues')).toBe(true);
    // in order, with the transactionId filled in, and carrying the times they were taken
    const registers = tx.map((c) => (c.action === 'StopTransaction' ? c.params.meterStop : energyOfCall(c.params)));
    expect(registers).toEqual([...registers].sort((a, b) => a - b));
    const times = tx.map((c) => Date.parse(c.action === 'StopTransaction' ? c.params.timestamp : c.params.meterValue[0].timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times.every((t) => t < reconnectedAt)).toBe(true);
    expect(tx.every((c) => c.params.transactionId === started.transactionId)).toBe(true);

    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'Local', meter_start: 1_000, meter_stop: stop.meterStop });
    expect(Date.parse(s.stopped_at!)).toBe(times.at(-1)); // the station's stop time, not the replay time
    expect(s.cost.amount).toBe(energyCost(stop.meterStop - 1_000, 40));
    expect(await balanceOf(gw, user._id)).toBe(5000 - s.cost.amount);
    // replayed in order: every debit is a step up, none refunded, nothing went "backwards"
    const ledger = await ledgerOf(gw, user._id);
    expect(ledger.filter((e) => e.session === s._id).every((e) => e.type === 'debit')).toBe(true);
    const alerts = await gw.api('GET', `/v1/alerts?chargestation=${record._id}`);
    expect(alerts.body.data).toEqual([]);
    await expectWalletConsistent(gw, user, wallet._id);
  });

  it('a whole session charged offline is accepted, billed from its own timestamps and settled on reconnect', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 45, tax: 5 }] });
    // A charger that keeps starting unknown idTags offline (it refuses the gateway's
    // AllowOfflineTxForUnknownId=false): the offline session must still be billed when it comes.
    const { station, record } = await stations.boot(gw, rate._id, {
      configuration: { AllowOfflineTxForUnknownId: { value: 'true', onChange: 'Rejected' } },
    });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 3000 });
    await station.goOffline();
    const calls = recordCalls(station);
    const started = await station.startSession(1, token.physicalId); // local authorisation, no Authorize
    expect(started.outcome).toBe('Queued');
    await eventually(() => station.queueLength >= 4, 5_000);
    const stop = await station.stopSession(1, 'EVDisconnected');
    if (stop.outcome !== 'Queued') throw new Error(`expected the stop to be queued, got ${stop.outcome}`);
    expect(calls).toEqual([]); // nothing reached the gateway
    const list = await gw.api('GET', `/v1/sessions?chargestation=${record._id}`);
    expect(list.body.data).toEqual([]);

    const sessionStarted = station.waitFor('sessionStarted', () => true, 10_000);
    await station.goOnline();
    const [ev] = await sessionStarted;
    expect(ev.idTagStatus).toBe('Accepted');
    expect(await station.flush(10_000)).toBe(true);
    const s = await settled(gw, record._id, ev.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'EVDisconnected', meter_stop: stop.meterStop, energy_wh: stop.meterStop });
    expect(calls.map((c) => c.action)).not.toContain('Authorize');
    expect(Date.parse(s.started_at)).toBe(Date.parse(calls.find((c) => c.action === 'StartTransaction')!.params.timestamp));
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 45, 5));
    expect(await balanceOf(gw, user._id)).toBe(3000 - s.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);
  });

  it('a station offline at the zero crossing is stopped when it reconnects, and its offline energy is billed', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
    const a = await stations.boot(gw, rate._id);
    const b = await stations.boot(gw, rate._id, { powerProfile: 'ac22' });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 200 });
    const tb = await b.station.startSession(1, token.physicalId);
    if (tb.outcome !== 'Started') throw new Error(`b not started: ${tb.outcome}`);
    await b.station.goOffline();

    const stopA = a.station.waitFor('sessionStopped', () => true, 20_000);
    const second = await aToken(gw, user._id); // one idTag per transaction; one wallet for both
    const ta = await a.station.startSession(1, second.physicalId);
    if (ta.outcome !== 'Started') throw new Error(`a not started: ${ta.outcome}`);
    const [sa] = await stopA;
    expect(sa.reason).toBe('Remote');
    // b cannot be reached: the retries run out and the session is stop_failed, still open
    const failed = await eventually(async () => {
      const s = await sessionOf(gw, b.record._id, tb.transactionId);
      return s.status === 'stop_failed' ? s : undefined;
    }, 10_000);
    expect(failed.termination).toBe('insufficient_balance');
    const alerts = await gw.api('GET', '/v1/alerts?kind=remote_stop_failed&limit=200');
    expect(alerts.body.data.filter((x: any) => x.session === failed._id)).toHaveLength(1);
    expect(b.station.hasSession(1)).toBe(true); // still charging, offline

    const remoteStop = b.station.waitFor('remoteStop', () => true, 10_000);
    const stopB = b.station.waitFor('sessionStopped', () => true, 10_000);
    await b.station.goOnline();
    const [[rs], [sb]] = await Promise.all([remoteStop, stopB]);
    expect(rs).toEqual({ transactionId: tb.transactionId, status: 'Accepted' });
    expect(sb.reason).toBe('Remote');
    expect(await b.station.flush(10_000)).toBe(true);

    const [fa, fb] = await Promise.all([settled(gw, a.record._id, ta.transactionId), settled(gw, b.record._id, tb.transactionId)]);
    expect(fa).toMatchObject({ status: 'completed', stop_reason: 'Remote', termination: 'insufficient_balance', meter_stop: sa.meterStop });
    expect(fb).toMatchObject({ status: 'completed', stop_reason: 'Remote', termination: 'insufficient_balance', meter_stop: sb.meterStop });
    expect(fa.cost.amount).toBe(energyCost(sa.meterStop, 50));
    expect(fb.cost.amount).toBe(energyCost(sb.meterStop, 50));
    expect(await balanceOf(gw, user._id)).toBe(200 - fa.cost.amount - fb.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);
  });
});

describe('chargers that do not stop when asked', () => {
  it("'rejectFirst': the gateway retries RemoteStopTransaction and the session ends", async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 100 }] });
    const { station, record } = await stations.boot(gw, rate._id, { remoteStop: 'rejectFirst' });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const answers: Array<{ status: string; at: number }> = [];
    station.on('remoteStop', (r) => answers.push({ status: r.status, at: Date.now() }));
    const stopped = station.waitFor('sessionStopped', () => true, 20_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    const [stop] = await stopped;
    expect(stop.reason).toBe('Remote');
    expect(answers.map((a) => a.status)).toEqual(['Rejected', 'Accepted']);
    expect(answers[1]!.at - answers[0]!.at).toBeGreaterThanOrEqual(190); // the first retry delay (200 ms)

    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'Remote', termination: 'insufficient_balance', meter_stop: stop.meterStop });
    // the energy delivered while the stop was being retried is billed too
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 100));
    expect(await balanceOf(gw, user._id)).toBe(150 - s.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);
  });

  it("'ignore': the gateway keeps billing what the charger reports until it stops by itself", async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 100 }] });
    const { station, record } = await stations.boot(gw, rate._id, { remoteStop: 'ignore' });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const ignored = station.waitFor('remoteStop', () => true, 20_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    const [rs] = await ignored;
    expect(rs).toEqual({ transactionId: started.transactionId, status: 'Ignored' });
    expect(station.hasSession(1)).toBe(true);

    // still charging: every reading is billed, far past zero
    await eventually(async () => (await balanceOf(gw, user._id)) < -60, 10_000);
    const running = await sessionOf(gw, record._id, started.transactionId);
    expect(running).toMatchObject({ status: 'stopping', termination: 'insufficient_balance' });

    const stop = await station.stopSession(1, 'Local'); // the driver gives up and unplugs
    expect(stop).toMatchObject({ outcome: 'Stopped', delivered: true });
    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'Local', termination: 'insufficient_balance' });
    if (stop.outcome !== 'Stopped') return;
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 100));
    expect(await balanceOf(gw, user._id)).toBe(150 - s.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);
  });
  it("'ignore', then a reconnect: the gateway asks again on reconnect and the stop arrives", async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 100 }] });
    const { station, record } = await stations.boot(gw, rate._id, { remoteStop: 'ignore' });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const answers: string[] = [];
    station.on('remoteStop', (r) => answers.push(r.status));
    const ignored = station.waitFor('remoteStop', () => true, 20_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    await ignored;
    // the charger's link is half-dead: it drops, charges on offline, and comes back healthy
    await station.goOffline();
    await eventually(() => station.queueLength >= 2, 5_000);
    expect(answers).toEqual(['Ignored']);
    station.setRemoteStopMode('accept');
    const stopped = station.waitFor('sessionStopped', () => true, 10_000);
    await station.goOnline();
    const [stop] = await stopped;
    expect(stop.reason).toBe('Remote');
    expect(answers).toEqual(['Ignored', 'Accepted']);
    expect(await station.flush(10_000)).toBe(true);

    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'Remote', termination: 'insufficient_balance', meter_stop: stop.meterStop });
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 100)); // the offline energy included
    expect(await balanceOf(gw, user._id)).toBe(150 - s.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);
  });
});

describe('remote start and stop through the admin API', () => {
  it('POST /v1/sessions starts a session on the simulator; POST /v1/sessions/:id/stop ends it', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 25 }] });
    const { station, record } = await stations.boot(gw, rate._id);
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 2000 });
    const sessionStarted = station.waitFor('sessionStarted', () => true, 10_000);
    const res = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: record._id, connector: 1, user: user._id });
    expect(res).toEqual({ status: 202, body: { status: 'Accepted' } });
    const [ev] = await sessionStarted;
    expect(ev).toMatchObject({ connectorId: 1, idTag: token.physicalId, idTagStatus: 'Accepted' });

    const running = await eventually(async () => {
      const s = await sessionOf(gw, record._id, ev.transactionId);
      return s.energy_wh > 0 ? s : undefined;
    });
    expect(running).toMatchObject({ status: 'active', user: user._id, wallet: wallet._id });
    // the connector is busy now: the gateway knows it and does not ask the station
    const busy = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: record._id, connector: 1, user: user._id });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('connector_busy');

    const stopped = station.waitFor('sessionStopped', () => true, 10_000);
    const stopRes = await gw.api('POST', `/v1/sessions/${running._id}/stop`);
    expect(stopRes).toEqual({ status: 202, body: { status: 'Accepted' } });
    const [stop] = await stopped;
    expect(stop).toMatchObject({ reason: 'Remote', transactionId: ev.transactionId });
    const s = await settled(gw, record._id, ev.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'Remote', termination: 'remote', meter_stop: stop.meterStop });
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 25));
    expect(await balanceOf(gw, user._id)).toBe(2000 - s.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);

    // a settled session cannot be stopped again; a poor wallet or an offline station cannot start
    expect((await gw.api('POST', `/v1/sessions/${s._id}/stop`)).status).toBe(409);
    const poor = await aUserWithWallet(gw, { organization: org._id, balance: 99 });
    const refused = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: record._id, connector: 1, user: poor.user._id });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('insufficient_balance');
    await station.goOffline();
    const offline = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: record._id, connector: 1, user: user._id });
    expect(offline.status).toBe(409);
    expect(offline.body.error.code).toBe('station_offline');
  });
});

describe('RemoteStop bookkeeping', () => {
  /** A wallet driven to zero on a station that always rejects RemoteStopTransaction. */
  async function rejectingStationAtZero() {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 100 }] });
    const booted = await stations.boot(gw, rate._id, { remoteStop: 'reject' });
    const who = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const answers: string[] = [];
    booted.station.on('remoteStop', (r) => answers.push(r.status));
    const firstReject = booted.station.waitFor('remoteStop', () => true, 20_000);
    const started = await booted.station.startSession(1, who.token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    await firstReject;
    return { ...booted, ...who, started, answers };
  }

  it('a charger that rejects every stop ends stop_failed, is still billed, and settles when it stops by itself', async () => {
    const { station, record, user, wallet, started, answers } = await rejectingStationAtZero();
    const failed = await eventually(async () => {
      const s = await sessionOf(gw, record._id, started.transactionId);
      return s.status === 'stop_failed' ? s : undefined;
    }, 10_000);
    expect(answers).toEqual(['Rejected', 'Rejected', 'Rejected', 'Rejected']); // 1 + 3 retries
    const alerts = await gw.api('GET', '/v1/alerts?kind=remote_stop_failed&limit=200');
    expect(alerts.body.data.filter((a: any) => a.session === failed._id)).toHaveLength(1);
    // still billed while stop_failed
    const billedBefore = failed.cost.debited;
    await eventually(async () => (await sessionOf(gw, record._id, started.transactionId)).cost.debited > billedBefore + 20);
    const stop = await station.stopSession(1, 'Local');
    if (stop.outcome !== 'Stopped') throw new Error(`not stopped: ${stop.outcome}`);
    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({ status: 'completed', stop_reason: 'Local', termination: 'insufficient_balance' });
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 100));
    await expectWalletConsistent(gw, user, wallet._id);
  });

  it('the remote_stop_failed alert is listed under its charge station', async () => {
    const { record, started } = await rejectingStationAtZero();
    const failed = await eventually(async () => {
      const s = await sessionOf(gw, record._id, started.transactionId);
      return s.status === 'stop_failed' ? s : undefined;
    }, 10_000);
    const alerts = await gw.api('GET', `/v1/alerts?chargestation=${record._id}&kind=remote_stop_failed`);
    expect(alerts.body.data.map((a: any) => a.session)).toEqual([failed._id]);
  });

  // Once the station has sent StopTransaction, retries stop and no failure is reported.
  it('once the charger has stopped by itself, the gateway stops asking and raises no remote_stop_failed alert', async () => {
    const { station, record, started, answers } = await rejectingStationAtZero();
    // the driver unplugs right after the first rejected stop, before the retries run out
    const stop = await station.stopSession(1, 'Local');
    expect(stop.outcome).toBe('Stopped');
    const s = await settled(gw, record._id, started.transactionId);
    const answeredBeforeSettle = answers.length;
    // give the retry schedule (200 + 400 + 800 ms) time to run out
    await new Promise((r) => setTimeout(r, 2_000));
    expect(answers.length - answeredBeforeSettle, 'RemoteStopTransaction after the session was settled').toBe(0);
    const alerts = await gw.api('GET', '/v1/alerts?kind=remote_stop_failed&limit=200');
    expect(alerts.body.data.filter((a: any) => a.session === s._id), 'remote_stop_failed alerts').toEqual([]);
  });
});
