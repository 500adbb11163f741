import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aToken, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

let gw: TestGateway;
let org: { _id: string };
const chargers: Charger[] = [];

beforeAll(async () => {
  // Hand-written readings come milliseconds apart (absurd power): these tests are of the stop at
  // zero itself, with the predictive stop off (see test/e2e-sim/predictive-stop.test.ts).
  gw = await startGateway({ env: { BILLING_SWEEP_INTERVAL_S: '1', PREDICTIVE_STOP: 'off' }, stopRetryDelaysMs: [100, 100, 100] });
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
});
afterEach(async () => {
  await Promise.allSettled(chargers.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await gw.stop();
});

async function setup(opts: { price_components?: unknown[]; balance?: number; stopPolicy?: 'Accepted' | 'Rejected' | 'rejectFirst' | 'silent' } = {}) {
  const rate = await aRate(gw, { price_components: opts.price_components ?? [{ type: 'ENERGY', price: 50 }] });
  const station = await aStation(gw, { rate: rate._id });
  const charger = await aCharger(gw.ocppUrl, station.ocpp_id, { stopPolicy: opts.stopPolicy ?? 'Accepted' });
  chargers.push(charger);
  const who = await aUserWithWallet(gw, { organization: org._id, balance: opts.balance ?? 200 });
  return { rate, station, charger, ...who };
}

const balanceOf = async (userId: string) => (await gw.api('GET', `/v1/users/${userId}/wallet`)).body.wallet.balance as number;
const ledgerOf = async (userId: string) =>
  (await gw.api('GET', `/v1/users/${userId}/wallet/transactions?limit=200`)).body.data.map((e: any) => [e.type, e.amount, e.balance_after]);
const sessionByTx = async (transactionId: number) => {
  const all = await gw.api('GET', '/v1/sessions?limit=200');
  return all.body.data.find((s: any) => s.transaction_id === transactionId);
};

describe('a prepaid session from start to zero', () => {
  it('debits as the meter runs, stops at zero, bills the energy after the crossing, and settles exactly', async () => {
    // 50 c/kWh = 0.05 c/Wh; 200 c buys 4000 Wh.
    const { charger, user, wallet, token } = await setup({ balance: 200 });
    const { transactionId, idTagInfo } = await charger.start(token.physicalId, 1000);
    expect(idTagInfo.status).toBe('Accepted');
    expect(Number.isInteger(transactionId)).toBe(true);

    await charger.meter(transactionId, 3000); // 2000 Wh → 100 c
    expect(await balanceOf(user._id)).toBe(100);
    let s = await sessionByTx(transactionId);
    expect(s).toMatchObject({ status: 'active', energy_wh: 2000, meter_start: 1000, meter_last: 3000, cost: { amount: 100, debited: 100, currency: 'USD' } });

    await charger.meter(transactionId, 5000); // 4000 Wh → 200 c: the balance reaches 0
    await charger.waitForStop(transactionId);
    expect(await balanceOf(user._id)).toBe(0);
    s = await sessionByTx(transactionId);
    expect(s).toMatchObject({ status: 'stopping', termination: 'insufficient_balance' });

    await charger.meter(transactionId, 5100); // energy after the crossing is billed: 4100 Wh → 205 c
    const stopped = await charger.stop(transactionId, 5200, 'Remote', { idTag: token.physicalId }); // 4200 Wh → 210 c
    expect(stopped).toMatchObject({ idTagInfo: { status: 'Blocked' } });
    expect(await balanceOf(user._id)).toBe(-10);
    s = await sessionByTx(transactionId);
    expect(s).toMatchObject({
      status: 'completed',
      stop_reason: 'Remote',
      termination: 'insufficient_balance',
      meter_stop: 5200,
      energy_wh: 4200,
      cost: { amount: 210, debited: 210 },
    });
    expect(await ledgerOf(user._id)).toEqual([
      ['credit', 200, 200],
      ['debit', 100, 100],
      ['debit', 100, 0],
      ['debit', 5, -5],
      ['debit', 5, -10],
    ]);
    // the next top-up pays the debt first
    await topUp(gw, wallet._id, 1000);
    expect(await balanceOf(user._id)).toBe(990);
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
  });
});

describe('what a charger may send', () => {
  it('duplicate MeterValues bill once', async () => {
    const { charger, user, token } = await setup({ balance: 5000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    const ts = new Date().toISOString();
    await charger.meter(transactionId, 1000, { timestamp: ts });
    await charger.meter(transactionId, 1000, { timestamp: ts });
    await Promise.all([charger.meter(transactionId, 2000), charger.meter(transactionId, 2000)]);
    expect(await balanceOf(user._id)).toBe(5000 - 100);
    expect((await ledgerOf(user._id)).filter((e: any[]) => e[0] === 'debit').map((e: any[]) => e[1])).toEqual([50, 50]);
  });

  it('kWh values are converted exactly; phase-only registers are summed', async () => {
    const { charger, user, token } = await setup({ balance: 5000 });
    const { transactionId } = await charger.start(token.physicalId, 500);
    await charger.meter(transactionId, '2.500', { unit: 'kWh' }); // 2000 Wh → 100 c
    expect(await balanceOf(user._id)).toBe(4900);
    await charger.client.call('MeterValues', {
      connectorId: 1,
      transactionId,
      meterValue: [
        {
          timestamp: new Date().toISOString(),
          sampledValue: [
            { value: '1500', measurand: 'Energy.Active.Import.Register', phase: 'L1', unit: 'Wh' },
            { value: '1500', measurand: 'Energy.Active.Import.Register', phase: 'L2', unit: 'Wh' },
            { value: '1500', measurand: 'Energy.Active.Import.Register', phase: 'L3', unit: 'Wh' },
            { value: '7400', measurand: 'Power.Active.Import', unit: 'W' },
            { value: 'c2lnbmVk', format: 'SignedData', measurand: 'Energy.Active.Import.Register' },
          ],
        },
      ],
    }); // 4500 Wh register → 4000 Wh → 200 c
    expect(await balanceOf(user._id)).toBe(4800);
    expect((await sessionByTx(transactionId)).power_w).toBe(7400);
  });

  it('a replayed StartTransaction returns the same id and creates nothing; a replayed stop bills nothing more', async () => {
    const { charger, user, token } = await setup({ balance: 5000 });
    const ts = new Date(Date.now() - 60_000).toISOString();
    const a = await charger.start(token.physicalId, 100, 1, ts);
    const b = await charger.start(token.physicalId, 100, 1, ts);
    expect(b.transactionId).toBe(a.transactionId);
    const mine = (await gw.api('GET', `/v1/sessions?user=${user._id}`)).body.data;
    expect(mine).toHaveLength(1);
    await charger.stop(a.transactionId, 2100);
    await charger.stop(a.transactionId, 2100);
    expect(await balanceOf(user._id)).toBe(4900);
    // a different start (new timestamp) is a new transaction
    const c = await charger.start(token.physicalId, 2100);
    expect(c.transactionId).not.toBe(a.transactionId);
  });

  it('a start below the minimum is recorded as rejected and gets a RemoteStopTransaction', async () => {
    const { charger, user, token } = await setup({ balance: 99 });
    const { transactionId, idTagInfo } = await charger.start(token.physicalId, 0);
    expect(idTagInfo.status).toBe('Blocked');
    expect(Number.isInteger(transactionId)).toBe(true);
    await charger.waitForStop(transactionId);
    const s = await sessionByTx(transactionId);
    expect(s).toMatchObject({ status: 'rejected', refusal_reason: 'insufficient_balance', user: user._id });
    // the charger ignored it and charged anyway: the energy is still billed
    await charger.meter(transactionId, 1000);
    await charger.stop(transactionId, 1000, 'DeAuthorized');
    expect(await balanceOf(user._id)).toBe(99 - 50);
    expect((await sessionByTx(transactionId)).status).toBe('rejected');
  });

  it('an unknown idTag starts nothing billable and is stopped', async () => {
    const { charger } = await setup();
    const { transactionId, idTagInfo } = await charger.start('NOBODY-KNOWS', 0);
    expect(idTagInfo.status).toBe('Invalid');
    await charger.waitForStop(transactionId);
    expect(await charger.meter(transactionId, 5000)).toEqual({});
  });

  it('an offline transaction delivered hours later is billed from its own timestamps', async () => {
    // A gateway without the TIME sweep: on this file's gateway a sweep landing between the start
    // and the first reading would bill the three hours up to now (settled exactly at the stop,
    // but the reading's own debit would no longer be visible on its own).
    const quiet = await startGateway({ env: { BILLING_SWEEP_INTERVAL_S: '0' } });
    try {
      const rate = await aRate(quiet, {
        price_components: [
          { type: 'ENERGY', price: 30 },
          { type: 'TIME', price: 60, step_size: 900 },
        ],
      });
      const station = await aStation(quiet, { rate: rate._id });
      const charger = await aCharger(quiet.ocppUrl, station.ocpp_id);
      chargers.push(charger);
      const { user, token } = await aUserWithWallet(quiet, { balance: 5000 });
      const balance = async () => (await quiet.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance as number;
      const started = new Date(Date.now() - 3 * 3600_000);
      const { transactionId } = await charger.start(token.physicalId, 10_000, 1, started.toISOString());
      await charger.meter(transactionId, 15_000, { timestamp: new Date(started.getTime() + 1800_000).toISOString() });
      // 5000 Wh × 0.03 = 150 c; 30 min × 1 c/min = 30 c
      expect(await balance()).toBe(5000 - 180);
      await charger.client.call('StopTransaction', {
        transactionId,
        meterStop: 20_000,
        timestamp: new Date(started.getTime() + 3600_000 + 60_000).toISOString(), // 61 min
        reason: 'Local',
      });
      // 10 000 Wh × 0.03 = 300 c; 61 min rounded up to 75 min (step 900 s) = 75 c
      expect(await balance()).toBe(5000 - 375);
      const sessions = (await quiet.api('GET', '/v1/sessions?limit=10')).body.data;
      expect(sessions.find((x: any) => x.transaction_id === transactionId).cost).toMatchObject({ amount: 375, debited: 375 });
    } finally {
      await Promise.allSettled(chargers.splice(0).map((c) => c.close()));
      await quiet.stop();
    }
  });

  it('transactionId -1 or absent means the open session on that connector', async () => {
    const { charger, user, token, station } = await setup({ balance: 5000 });
    await charger.start(token.physicalId, 0, 2);
    await charger.meter(-1, 1000, { connectorId: 2 });
    expect(await balanceOf(user._id)).toBe(4950);
    await charger.meter(undefined, 2000, { connectorId: 2 });
    expect(await balanceOf(user._id)).toBe(4900);
    // nothing open on connector 3: an idle connector's reading, nothing billed, nothing to report
    expect(await charger.meter(-1, 9000, { connectorId: 3 })).toEqual({});
    expect(await balanceOf(user._id)).toBe(4900);
    // a transactionId the gateway never gave: recorded for the operator (after the answer: it
    // bills nothing, so nothing waits for it); the idle connector's reading raised nothing
    expect(await charger.meter(2_000_000_000, 9000, { connectorId: 3 })).toEqual({});
    const alerts = await eventually(async () => {
      const data = (await gw.api('GET', `/v1/alerts?kind=meter_values_without_session&chargestation=${station._id}`)).body.data;
      return data.length ? data : undefined;
    });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ transaction_id: 2_000_000_000, count: 1 });
  });

  it('a meter that goes backwards bills nothing and is recorded', async () => {
    const { charger, user, token, station } = await setup({ balance: 5000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 2000);
    await charger.meter(transactionId, 1500);
    expect(await balanceOf(user._id)).toBe(4900);
    await charger.meter(transactionId, 2400);
    expect(await balanceOf(user._id)).toBe(4880);
    const alerts = await gw.api('GET', `/v1/alerts?chargestation=${station._id}&kind=meter_backwards`);
    expect(alerts.body.data).toHaveLength(1);
  });

  it('a StopTransaction for an unknown transaction is answered {} and recorded', async () => {
    const { charger, station } = await setup();
    expect(await charger.stop(987654, 100)).toEqual({});
    const alerts = await gw.api('GET', `/v1/alerts?chargestation=${station._id}`);
    expect(alerts.body.data[0]).toMatchObject({ kind: 'unknown_transaction', transaction_id: 987654 });
  });

  it('MeterValues payload checks the schemas miss answer CALLERROR and bill nothing', async () => {
    const { charger, user, token } = await setup({ balance: 5000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    const now = new Date().toISOString();
    await expect(charger.client.call('MeterValues', { connectorId: 1, transactionId, meterValue: [] })).rejects.toMatchObject({
      rpcErrorCode: 'OccurenceConstraintViolation',
    });
    await expect(
      charger.client.call('MeterValues', { connectorId: 1, transactionId, meterValue: [{ timestamp: now, sampledValue: [{ value: 'lots' }] }] }),
    ).rejects.toMatchObject({ rpcErrorCode: 'PropertyConstraintViolation' });
    expect(await balanceOf(user._id)).toBe(5000);
    await charger.meter(transactionId, 1000);
    expect(await balanceOf(user._id)).toBe(4950);
  });
});

describe('stopping at zero', () => {
  const fiftyCentsPerKwh = () => aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });

  it('two stations on one wallet are both stopped', async () => {
    const rate = await fiftyCentsPerKwh();
    const [s1, s2] = [await aStation(gw, { rate: rate._id }), await aStation(gw, { rate: rate._id })];
    const c1 = await aCharger(gw.ocppUrl, s1.ocpp_id);
    const c2 = await aCharger(gw.ocppUrl, s2.ocpp_id);
    chargers.push(c1, c2);
    const { user, token } = await aUserWithWallet(gw, { organization: org._id, balance: 300 });
    const second = await aToken(gw, user._id); // one idTag per transaction; one wallet for both
    const t1 = (await c1.start(token.physicalId, 0)).transactionId;
    const t2 = (await c2.start(second.physicalId, 0)).transactionId;
    await c1.meter(t1, 2000); // 100
    await c2.meter(t2, 4000); // 200 → 0
    await c1.waitForStop(t1);
    await c2.waitForStop(t2);
    expect(await balanceOf(user._id)).toBe(0);
    for (const t of [t1, t2]) expect((await sessionByTx(t)).termination).toBe('insufficient_balance');
  });

  it('a station that rejects the first RemoteStop gets it again and accepts', async () => {
    const { charger, token } = await setup({ balance: 200, stopPolicy: 'rejectFirst' });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 4000);
    await eventually(() => charger.remoteStops.filter((t) => t === transactionId).length >= 2);
    await charger.stop(transactionId, 4000, 'Remote');
    expect((await sessionByTx(transactionId)).status).toBe('completed');
  });

  it('a station that never accepts ends stop_failed, is still billed, and is asked again on reconnect', async () => {
    const { charger, station, user, token } = await setup({ balance: 200, stopPolicy: 'Rejected' });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 4000);
    await eventually(async () => (await sessionByTx(transactionId)).status === 'stop_failed');
    expect(charger.remoteStops.filter((t) => t === transactionId).length).toBe(4); // 1 + 3 retries
    await charger.meter(transactionId, 5000);
    expect(await balanceOf(user._id)).toBe(-50);
    const again = await aCharger(gw.ocppUrl, station.ocpp_id);
    chargers.push(again);
    await again.waitForStop(transactionId);
    const alerts = await gw.api('GET', '/v1/alerts?kind=remote_stop_failed');
    expect(alerts.body.data.some((a: any) => a.transaction_id === transactionId)).toBe(true);
  });

  it('a station offline when its wallet hits zero gets the stop when it reconnects', async () => {
    const rate = await fiftyCentsPerKwh();
    const [s1, s2] = [await aStation(gw, { rate: rate._id }), await aStation(gw, { rate: rate._id })];
    const online = await aCharger(gw.ocppUrl, s1.ocpp_id);
    let offline = await aCharger(gw.ocppUrl, s2.ocpp_id);
    chargers.push(online, offline);
    const { user, token } = await aUserWithWallet(gw, { organization: org._id, balance: 200 });
    const second = await aToken(gw, user._id);
    const t1 = (await online.start(token.physicalId, 0)).transactionId;
    const t2 = (await offline.start(second.physicalId, 0)).transactionId;
    await offline.close();
    await eventually(() => !gw.app.ocpp.connections.isOnline(s2.ocpp_id));
    await online.meter(t1, 4000); // → 0
    await online.waitForStop(t1);
    // t1's stop leaves with the debit's commit; t2, on another station, is marked just after.
    // Its station is offline, so the (short, in this file) retries may already have run out.
    const marked = await eventually(async () => {
      const s = await sessionByTx(t2);
      return s.status === 'stopping' || s.status === 'stop_failed' ? s : undefined;
    });
    expect(marked).toMatchObject({ termination: 'insufficient_balance', stopped_at: null });
    offline = await aCharger(gw.ocppUrl, s2.ocpp_id);
    chargers.push(offline);
    await offline.waitForStop(t2);
  });

  it('a slow answer to another call does not hold the stop back', async () => {
    const rate = await fiftyCentsPerKwh();
    const station = await aStation(gw, { rate: rate._id });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id, { startDelayMs: 4000 });
    chargers.push(charger);
    const events: string[] = [];
    const { user, token } = await aUserWithWallet(gw, { organization: org._id, balance: 200 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await aToken(gw, user._id); // the remote start uses a token of the wallet that is not in a transaction
    // An operator remote-start on connector 2: the station takes 4 s to answer it.
    const pendingStart = gw
      .api('POST', '/v1/sessions', { type: 'wallet', chargestation: station._id, connector: 2, user: user._id })
      .then((r) => {
        events.push('remote start answered');
        return r;
      });
    await eventually(() => charger.remoteStarts.length === 1);
    await charger.meter(transactionId, 4000); // → 0
    await charger.waitForStop(transactionId, 10_000);
    events.push('stop received');
    expect((await pendingStart).status).toBe(202);
    // the stop went out while the slow call was still waiting for its answer
    expect(events).toEqual(['stop received', 'remote start answered']);
  });

  it('TIME cost accrues without MeterValues and can drive a wallet to zero', async () => {
    // 360 000 c/h = 100 c/s; 250 c lasts 2.5 s
    const { charger, user, token } = await setup({ balance: 250, price_components: [{ type: 'TIME', price: 360000 }] });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.waitForStop(transactionId, 10_000);
    expect(await balanceOf(user._id)).toBeLessThanOrEqual(0);
    expect((await sessionByTx(transactionId)).termination).toBe('insufficient_balance');
  });
});

describe('remote start and stop through the admin API', () => {
  it('POST /v1/sessions checks the balance and the station, then RemoteStartTransaction', async () => {
    const { charger, station, user, token } = await setup({ balance: 5000 });
    const res = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: station._id, connector: 1, user: user._id });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'Accepted' });
    expect(charger.remoteStarts).toEqual([{ connectorId: 1, idTag: token.physicalId }]);

    const { transactionId } = await charger.start(token.physicalId, 0);
    const session = await sessionByTx(transactionId);
    const stop = await gw.api('POST', `/v1/sessions/${session._id}/stop`);
    expect(stop.status).toBe(202);
    expect(stop.body).toEqual({ status: 'Accepted' });
    expect(charger.remoteStops).toContain(transactionId);
    await charger.stop(transactionId, 100, 'Remote');
    const done = await gw.api('GET', `/v1/sessions/${session._id}`);
    expect(done.body).toMatchObject({ status: 'completed', termination: 'remote', stop_reason: 'Remote' });
    expect((await gw.api('POST', `/v1/sessions/${session._id}/stop`)).status).toBe(409);
  });

  it('409 insufficient_balance, 409 station_offline, 404 unknown, 400 bad body', async () => {
    const { station, user } = await setup({ balance: 50 });
    const poor = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: station._id, connector: 1, user: user._id });
    expect(poor.status).toBe(409);
    expect(poor.body.error.code).toBe('insufficient_balance');

    const rate = await aRate(gw);
    const offline = await aStation(gw, { rate: rate._id });
    const rich = await aUserWithWallet(gw, { organization: org._id, balance: 5000 });
    const off = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: offline._id, connector: 1, user: rich.user._id });
    expect(off.status).toBe(409);
    expect(off.body.error.code).toBe('station_offline');

    const none = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: '0123456789abcdef01234567', connector: 1, user: rich.user._id });
    expect(none.status).toBe(404);
    const bad = await gw.api('POST', '/v1/sessions', { type: 'card', chargestation: station._id, connector: 0, user: user._id });
    expect(bad.status).toBe(400);
    expect((await gw.api('GET', '/v1/sessions/0123456789abcdef01234567')).status).toBe(404);
  });

  it('lists sessions with filters and shows live energy and cost', async () => {
    const { charger, station, user, token } = await setup({ balance: 5000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 1234);
    const byUser = await gw.api('GET', `/v1/sessions?user=${user._id}&status=active`);
    expect(byUser.body.data).toHaveLength(1);
    expect(byUser.body.data[0]).toMatchObject({ transaction_id: transactionId, energy_wh: 1234, cost: { amount: 62 }, chargestation: station._id });
    const byStation = await gw.api('GET', `/v1/sessions?chargestation=${station._id}`);
    expect(byStation.body.data.map((s: any) => s.transaction_id)).toEqual([transactionId]);
    expect((await gw.api('GET', '/v1/sessions?status=bogus')).status).toBe(400);
  });
});
