import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, TEST_API_KEY, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';
import { ON_POSTGRES } from '../helpers/db.ts';

/**
 * No charger can mint or erase money (issue 12, items 6–10): readings beyond what a station can
 * deliver, balances outside the exact range, energy on ended transactions, replayed stops, charger
 * clocks, vanished stations, and idempotency keys across API keys of one tenant.
 */
let gw: TestGateway;
let org: { _id: string };
const chargers: Charger[] = [];

beforeAll(async () => {
  gw = await startGateway({ env: { BILLING_SWEEP_INTERVAL_S: '0' }, stopRetryDelaysMs: [100, 100, 100] });
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
});
afterEach(async () => {
  await Promise.allSettled(chargers.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await gw.stop();
});

async function setup(opts: { price_components?: unknown[]; balance?: number; station?: Record<string, unknown> } = {}) {
  const rate = await aRate(gw, { price_components: opts.price_components ?? [{ type: 'ENERGY', price: 50 }] });
  const station = await aStation(gw, { rate: rate._id, ...opts.station });
  const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
  chargers.push(charger);
  const who = await aUserWithWallet(gw, { organization: org._id, balance: opts.balance ?? 1_000 });
  return { rate, station, charger, ...who };
}

const balanceOf = async (userId: string) => (await gw.api('GET', `/v1/users/${userId}/wallet`)).body.wallet.balance as number;
const sessionByTx = async (transactionId: number) =>
  (await gw.api('GET', '/v1/sessions?limit=200')).body.data.find((s: any) => s.transaction_id === transactionId);
const alertsOf = async (kind: string, transactionId: number) =>
  (await gw.api('GET', `/v1/alerts?kind=${kind}&limit=200`)).body.data.filter((a: any) => a.transaction_id === transactionId);

describe('a reading beyond what the station can deliver', () => {
  it('2^53−1 Wh is not billed: the session is held, an alert raised, the station sent a stop, the wallet untouched', async () => {
    const { charger, user, wallet, token } = await setup({ balance: 1_000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 2_000); // 2 kWh in a second: within 400 kW + a minute of grace
    expect(await balanceOf(user._id)).toBe(900);

    await charger.meter(transactionId, '9007199254740991');
    await charger.waitForStop(transactionId);
    const s = await sessionByTx(transactionId);
    expect(s).toMatchObject({ status: 'held', termination: 'meter_implausible', meter_last: 2_000, cost: { debited: 100 } });
    expect(await balanceOf(user._id)).toBe(900);
    await eventually(async () => (await alertsOf('meter_implausible', transactionId)).length === 1);

    // Nothing more is billed on a held session, and its StopTransaction settles nothing by itself.
    await charger.meter(transactionId, 3_000);
    await charger.stop(transactionId, 3_000);
    expect(await sessionByTx(transactionId)).toMatchObject({ status: 'held', meter_stop: 3_000, cost: { debited: 100 } });
    expect(await balanceOf(user._id)).toBe(900);
    // the station retrying its stop of a held session is not energy after a stop (it is the operator's to settle)
    await charger.stop(transactionId, 3_000);
    expect(await alertsOf('energy_after_stop', transactionId)).toEqual([]);
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
  });

  it("a station's own maximum power applies to sessions started after it is set", async () => {
    const { charger, station, user, token } = await setup({ station: { max_power_kw: 1 }, balance: 1_000 });
    expect(station.max_power_kw).toBe(1);
    const { transactionId } = await charger.start(token.physicalId, 0);
    // 1 kW for (a second + 60 s of grace) is about 17 Wh: 500 Wh is not believed.
    await charger.meter(transactionId, 500);
    await charger.waitForStop(transactionId);
    expect(await sessionByTx(transactionId)).toMatchObject({ status: 'held' });
    expect(await balanceOf(user._id)).toBe(1_000);
  });
});

describe('balances stay inside the exact range', () => {
  it('a top-up that would take a balance past 2^53−1 is refused whole: no top-up, no entry, balance unchanged', async () => {
    const { user, wallet } = await aUserWithWallet(gw, { organization: org._id, balance: 0 });
    // Bring the wallet to the edge behind the ledger's back (the test's only way to get there).
    await sql`update wallets set balance = ${Number.MAX_SAFE_INTEGER - 10} where id = ${wallet._id}`.execute(gw.app.db);
    const res = await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount: 100 });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('amount_out_of_range');
    expect(await balanceOf(user._id)).toBe(Number.MAX_SAFE_INTEGER - 10);
    const entries = await gw.api('GET', `/v1/users/${user._id}/wallet/transactions`);
    expect(entries.status).toBe(200);
    expect(entries.body.data).toHaveLength(0);
    const topUps = await gw.app.db.selectFrom('top_ups').select('id').where('wallet_id', '=', wallet._id).execute();
    expect(topUps).toHaveLength(0);
  });
});

describe('energy on a transaction the gateway considers ended', () => {
  it('a StartTransaction replayed after its stop is not a new session; the energy after it is alerted, stopped and never billed', async () => {
    const { charger, user, wallet, token } = await setup({ balance: 2_000 });
    const started = new Date().toISOString();
    const first = await charger.start(token.physicalId, 1_000, 1, started);
    await charger.meter(first.transactionId, 2_000);
    await charger.stop(first.transactionId, 2_000);
    expect(await balanceOf(user._id)).toBe(1_950);

    const replay = await charger.start(token.physicalId, 1_000, 1, started);
    expect(replay).toEqual({ transactionId: first.transactionId, idTagInfo: { status: 'Invalid' } });
    await charger.waitForStop(first.transactionId);
    // Alerts are written after the answers, off the billing path: on a loaded CI machine that can
    // take longer than eventually()'s default 5 s.
    await eventually(async () => (await alertsOf('start_after_stop', first.transactionId)).length === 1, 20_000);

    charger.remoteStops.length = 0;
    await charger.meter(first.transactionId, 12_000); // 10 kWh more on the ended transaction
    await charger.waitForStop(first.transactionId);
    await eventually(async () => (await alertsOf('energy_after_stop', first.transactionId)).length === 1, 20_000);
    expect(await balanceOf(user._id)).toBe(1_950);
    expect(await sessionByTx(first.transactionId)).toMatchObject({ status: 'completed', meter_last: 2_000, cost: { debited: 50 } });
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
  });
});

describe('a StopTransaction after the operator closed its session', () => {
  it('reports the energy past what was settled in an alert, and bills nothing more; its replay adds nothing', async () => {
    const { charger, user, wallet, token } = await setup({ price_components: [{ type: 'ENERGY', price: 100 }], balance: 1_000 });
    const { transactionId } = await charger.start(token.physicalId, 1_000);
    await charger.meter(transactionId, 2_000); // 1 kWh: 100 c
    const s = await sessionByTx(transactionId);
    const closed = await gw.api('POST', `/v1/sessions/${s._id}/close`, { meter_stop: 2_000 });
    expect(closed.status).toBe(200);
    expect(await balanceOf(user._id)).toBe(900);

    await charger.stop(transactionId, 4_000); // the station's own stop, 2 kWh later
    const [alert] = await eventually(async () => {
      const found = await alertsOf('energy_after_stop', transactionId);
      return found.length ? found : undefined;
    });
    expect(alert).toMatchObject({ count: 1, details: { reported_wh: 4_000, settled_wh: 2_000, meter_stop: 4_000 } });
    expect(await balanceOf(user._id)).toBe(900);
    expect(await sessionByTx(transactionId)).toMatchObject({ status: 'completed', cost: { debited: 100 } });

    // a stop carrying nothing past the settlement raises nothing
    const other = await setup({ price_components: [{ type: 'ENERGY', price: 100 }], balance: 1_000 });
    const second = await other.charger.start(other.token.physicalId, 0);
    await other.charger.meter(second.transactionId, 500);
    await other.charger.stop(second.transactionId, 500);
    await other.charger.stop(second.transactionId, 500); // replayed
    await new Promise((r) => setTimeout(r, 200));
    expect(await alertsOf('energy_after_stop', second.transactionId)).toEqual([]);
    await assertLedgerConsistent(gw.app.db, [wallet._id, other.wallet._id]);
  });
});

describe('every settlement happens once', () => {
  it('a refused session with a TIME rate is settled by its first StopTransaction only', async () => {
    // 3,600 c/hour of TIME; the balance is below the minimum, so the start is refused (but billed if it charges).
    const { charger, user, wallet, token } = await setup({ price_components: [{ type: 'TIME', price: 3_600 }], balance: 50 });
    const start = new Date(Date.now() - 3_600_000);
    const { transactionId, idTagInfo } = await charger.start(token.physicalId, 0, 1, start.toISOString());
    expect(idTagInfo.status).toBe('Blocked');
    await charger.meter(transactionId, 100); // bills the hour of TIME the refused session ran
    const afterReading = await balanceOf(user._id);
    expect(afterReading).toBeLessThan(50 - 3_500);

    // A stop claiming it ended at its start would refund the hour; the stop is clamped to the reading.
    await charger.stop(transactionId, 100, 'Local', { timestamp: start.toISOString() });
    const settled = await balanceOf(user._id);
    expect(settled).toBe(afterReading);
    // Replays, with any timestamp, move nothing.
    await charger.stop(transactionId, 100, 'Local', { timestamp: new Date(Date.now() + 60_000).toISOString() });
    await charger.stop(transactionId, 100, 'Local', { timestamp: start.toISOString() });
    expect(await balanceOf(user._id)).toBe(settled);
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
  });
});

describe('charger clocks and vanished stations', () => {
  it('a StopTransaction stamped at the start does not refund TIME billed up to the last reading', async () => {
    const { charger, user, token } = await setup({ price_components: [{ type: 'TIME', price: 3_600 }], balance: 10_000 });
    const start = new Date(Date.now() - 1_800_000); // half an hour ago: 1,800 c of TIME
    const { transactionId } = await charger.start(token.physicalId, 0, 1, start.toISOString());
    await charger.meter(transactionId, 100);
    const billed = 10_000 - (await balanceOf(user._id));
    expect(billed).toBeGreaterThanOrEqual(1_800);
    await charger.stop(transactionId, 100, 'Local', { timestamp: start.toISOString() });
    expect(10_000 - (await balanceOf(user._id))).toBe(billed);
    expect((await sessionByTx(transactionId)).status).toBe('completed');
  });

  it('a start stamped in 2000 (a clock reset) is billed from its arrival, with an alert; readings and the stop on that clock too', async () => {
    // 60 c/h of TIME: counted from 2000 that would be ~13.7 million cents
    const { charger, user, wallet, token } = await setup({ price_components: [{ type: 'TIME', price: 60 }, { type: 'ENERGY', price: 50 }], balance: 1_000 });
    const arrived = Date.now();
    const { transactionId, idTagInfo } = await charger.start(token.physicalId, 0, 1, '2000-01-01T00:00:00Z');
    expect(idTagInfo).toMatchObject({ status: 'Accepted', parentIdTag: expect.any(String) });
    const s = await sessionByTx(transactionId);
    expect(Date.parse(s.started_at)).toBeGreaterThanOrEqual(arrived - 1_000);
    expect(Date.parse(s.started_at)).toBeLessThanOrEqual(Date.now());
    const [alert] = await eventually(async () => {
      const found = await alertsOf('start_time_adjusted', transactionId);
      return found.length ? found : undefined;
    });
    expect(alert).toMatchObject({ details: { session: s._id, reported: '2000-01-01T00:00:00.000Z', reason: 'too_old' } });

    // its readings are stamped on the same clock: taken as of their arrival, billed, not held
    await charger.meter(transactionId, 1_000, { timestamp: '2000-01-01T00:05:00Z' });
    expect(await sessionByTx(transactionId)).toMatchObject({ status: 'active', meter_last: 1_000 });
    // a replay of the same StartTransaction (the station's own timestamp) is the same transaction,
    // answered with the same idTagInfo (its group and expiry included)
    const replay = await charger.start(token.physicalId, 0, 1, '2000-01-01T00:00:00Z');
    expect(replay.transactionId).toBe(transactionId);
    expect(Object.keys(replay.idTagInfo).sort()).toEqual(Object.keys(idTagInfo).sort());
    expect(replay.idTagInfo).toMatchObject({ status: 'Accepted', parentIdTag: (idTagInfo as { parentIdTag?: string }).parentIdTag });
    // and its stop, stamped 2000 too, settles as of its arrival: energy billed, seconds of TIME
    await charger.stop(transactionId, 1_500, 'Local', { timestamp: '2000-01-01T00:10:00Z' });
    const ended = await sessionByTx(transactionId);
    expect(ended).toMatchObject({ status: 'completed', meter_stop: 1_500 });
    expect(Date.parse(ended.stopped_at)).toBeGreaterThanOrEqual(Date.parse(ended.started_at));
    const paid = 1_000 - (await balanceOf(user._id));
    expect(paid).toBeGreaterThanOrEqual(75); // 1.5 kWh at 50 c
    expect(paid).toBeLessThanOrEqual(76); // and under a cent of TIME
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
    expect(await alertsOf('meter_implausible', transactionId)).toEqual([]);
  });

  it('an offline start delivered late, with a reading stamped just before it, is billed for its own duration', async () => {
    const { charger, user, token } = await setup({ price_components: [{ type: 'TIME', price: 3_600 }], balance: 100_000 }); // 1 c/s
    const start = Date.now() - 1_800_000; // started 30 min ago, offline
    const { transactionId } = await charger.start(token.physicalId, 0, 1, new Date(start).toISOString());
    expect(Date.parse((await sessionByTx(transactionId)).started_at)).toBe(start); // within OCPP_MAX_START_AGE_H: the station's time
    // a Transaction.Begin sample stamped half a second before the start (whole seconds against milliseconds)
    await charger.meter(transactionId, 10, { timestamp: new Date(start - 500).toISOString() });
    await charger.stop(transactionId, 20, 'Local', { timestamp: new Date(start + 600_000).toISOString() }); // 10 min later
    const paid = 100_000 - (await balanceOf(user._id));
    expect(paid).toBeGreaterThanOrEqual(600);
    expect(paid).toBeLessThanOrEqual(601); // 10 min of TIME, not the 30 min until its delivery
  });

  it('a queued Available stamped days before a newer start does not end that session', async () => {
    const { charger, token } = await setup();
    const { transactionId } = await charger.start(token.physicalId, 0, 1, new Date(Date.now() - 10 * 3_600_000).toISOString()); // 10 h ago
    await charger.client.call('StatusNotification', {
      connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: new Date(Date.now() - 80 * 3_600_000).toISOString(), // 80 h ago
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await sessionByTx(transactionId)).status).toBe('active');
  });

  it('a status stamped in the future does not outrank the reports after it', async () => {
    const { charger, station } = await setup();
    const status = (s: string, timestamp?: string) =>
      charger.client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: s, ...(timestamp ? { timestamp } : {}) });
    const connector = async () => (await gw.api('GET', `/v1/chargestations/${station._id}`)).body.connectors.find((c: any) => c.connector_id === 1);
    await status('Charging', '2099-01-01T00:00:00Z');
    expect(Date.parse((await connector()).status_at)).toBeLessThanOrEqual(Date.now());
    await status('Available', new Date().toISOString());
    expect((await connector()).status).toBe('Available');
    await status('Faulted', '2099-01-01T00:00:00Z');
    await status('Available'); // no timestamp: as of its arrival, the newest
    expect((await connector()).status).toBe('Available');
  });

  it('a start stamped in the future is billed from its arrival, and a connector reporting Available later ends it', async () => {
    const { charger, user, token } = await setup({ price_components: [{ type: 'TIME', price: 360_000 }], balance: 100_000 }); // 100 c/s
    const { transactionId } = await charger.start(token.physicalId, 0, 1, '2099-01-01T00:00:00Z');
    const s = await sessionByTx(transactionId);
    expect(Date.parse(s.started_at)).toBeLessThanOrEqual(Date.now());
    await eventually(async () => (await alertsOf('start_time_adjusted', transactionId)).length === 1);
    await new Promise((r) => setTimeout(r, 1_100));
    await charger.meter(transactionId, 10);
    expect(100_000 - (await balanceOf(user._id))).toBeGreaterThanOrEqual(100); // TIME is not free
    // the connector reports Available now: the transaction the gateway thinks runs there ends
    await charger.client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: new Date().toISOString() });
    await eventually(async () => (await sessionByTx(transactionId)).status === 'completed', 5_000);
  });
});

describe('TIME for a station that is gone', () => {
  it('accrues only up to the cap after its last sign of life', async () => {
    const { ManualClock } = await import('../../src/shared/clock.ts');
    const clock = new ManualClock(new Date());
    const own = await startGateway({ clock, env: { BILLING_SWEEP_INTERVAL_S: '0', TIME_BILLING_SILENCE_CAP_S: '600' } });
    try {
      const o = await anOrganization(own, { minimum_balance_to_start_session: 100 });
      const rate = await aRate(own, { price_components: [{ type: 'TIME', price: 3_600 }] }); // 1 c per second
      const station = await aStation(own, { rate: rate._id });
      const charger = await aCharger(own.ocppUrl, station.ocpp_id);
      const { user, token } = await aUserWithWallet(own, { organization: o._id, balance: 100_000 });
      const { transactionId } = await charger.start(token.physicalId, 0, 1, clock.now().toISOString());
      await charger.close(); // the station vanishes
      await eventually(() => !own.app.ocpp.connections.isOnline(station.ocpp_id));
      clock.advance(3 * 3_600_000);
      await own.app.sessions.sweep();
      const s = (await own.api('GET', '/v1/sessions?limit=10')).body.data.find((x: any) => x.transaction_id === transactionId);
      expect(s.status).toBe('active');
      // 600 s of silence allowed after the start (its last sign of life), not 3 hours.
      expect(s.cost.debited).toBe(600);
      expect((await own.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(100_000 - 600);
    } finally {
      await own.stop();
    }
  });
});

describe('idempotency keys belong to the tenant', () => {
  it('the same Idempotency-Key through two API keys of one organization credits once', async () => {
    const { user, wallet } = await aUserWithWallet(gw, { organization: org._id, balance: 0 });
    const scoped = await gw.api('POST', '/v1/api_keys', { name: 'tenant key', organization: org._id });
    expect(scoped.status).toBe(201);
    const body = { type: 'manual', wallet: wallet._id, amount: 700 };
    const a = await gw.api('POST', '/v1/top_up', body, { 'idempotency-key': 'pay-42' });
    const b = await gw.api('POST', '/v1/top_up', body, { 'idempotency-key': 'pay-42', authorization: `Bearer ${scoped.body.key}` });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body._id).toBe(a.body._id);
    expect(await balanceOf(user._id)).toBe(700);
    expect(TEST_API_KEY).not.toBe(scoped.body.key);
  });

  it("a 409 on another organization's ocpp_id says only that it cannot be used", async () => {
    const other = await anOrganization(gw);
    const taken = await aStation(gw, { organization: other._id });
    const scoped = await gw.api('POST', '/v1/api_keys', { name: 'tenant key 2', organization: org._id });
    const res = await gw.api('POST', '/v1/chargestations', { ocpp_id: taken.ocpp_id }, { authorization: `Bearer ${scoped.body.key}` });
    expect(res.status).toBe(409);
    expect(JSON.stringify(res.body)).not.toContain(other._id);
    expect(JSON.stringify(res.body)).not.toContain(taken._id);
    expect(res.body.error).toEqual({ code: 'ocpp_id_taken', message: 'this ocpp_id is not available; choose another', details: { field: 'ocpp_id' } });
  });

  it(`runs on ${ON_POSTGRES ? 'PostgreSQL' : 'PGlite'}`, async () => {
    expect(gw.app.context.config.databaseUrl === undefined).toBe(!ON_POSTGRES);
    await topUp(gw, (await aUserWithWallet(gw, { organization: org._id })).wallet._id, 1);
  });
});
