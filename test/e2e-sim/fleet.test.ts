/**
 * 200 simulated stations charging at once against one gateway, on a mix of separate and
 * shared wallets, some rich and some that run dry mid-run. At the end: nothing is left open,
 * every session is billed exactly for the energy its station reported, and every wallet's
 * ledger adds up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { Fleet, runPool, type SessionStoppedEvent } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aToken, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { energyCost, expectWalletConsistent, SIMULATED_TIME_ENV, type Session } from './sim.ts';

const STATIONS = 200;
/** Samples every 30 simulated s at 30× time: one MeterValues per station per real second. */
const TIME_SCALE = 30;
const SAMPLE_INTERVAL_S = 30;
const RICH = 100_000;

let gw: TestGateway;
let fleet: Fleet | undefined;

beforeAll(async () => {
  gw = await startGateway({
    env: {
      METER_VALUE_SAMPLE_INTERVAL_S: String(SAMPLE_INTERVAL_S),
      BILLING_SWEEP_INTERVAL_S: '2',
      LOG_LEVEL: 'warn',
      HEARTBEAT_INTERVAL_S: '600',
      ...SIMULATED_TIME_ENV,
      // This file is about 200 stations at once and every wallet adding up. At 30× simulated time a
      // loaded machine's timer lag is worth tens of cents to a predictive stop, so it is off here:
      // its precision is test/e2e-sim/predictive-stop.test.ts's and bench scenario 7's.
      PREDICTIVE_STOP: 'off',
    },
    stopRetryDelaysMs: [200, 500, 1_000, 2_000],
  });
});
afterAll(async () => {
  await fleet?.stop();
  await gw?.stop();
});

interface WalletPlan {
  kind: 'rich-solo' | 'small-solo' | 'rich-shared' | 'small-shared';
  balance: number;
  stations: number;
}

/** 40 + 40 + 20×4 + 10×4 = 200 stations on 110 wallets. */
function plan(): WalletPlan[] {
  const wallets: WalletPlan[] = [];
  for (let i = 0; i < 40; i++) wallets.push({ kind: 'rich-solo', balance: RICH, stations: 1 });
  for (let i = 0; i < 40; i++) wallets.push({ kind: 'small-solo', balance: 150 + 5 * i, stations: 1 });
  for (let i = 0; i < 20; i++) wallets.push({ kind: 'rich-shared', balance: RICH, stations: 4 });
  for (let i = 0; i < 10; i++) wallets.push({ kind: 'small-shared', balance: 400 + 10 * i, stations: 4 });
  return wallets;
}

describe('a fleet of 200 stations', () => {
  it('charges on shared and separate wallets at once; every wallet adds up and nothing is left open', { timeout: 120_000 }, async () => {
    const t0 = Date.now();
    const org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
    // 300 c/kWh, and 250 c/kWh + 10 % tax: ~55 c per station per real second (22 kW at 30×)
    const rates = [
      { rate: await aRate(gw, { price_components: [{ type: 'ENERGY', price: 300 }] }), price: 300, tax: 0 },
      { rate: await aRate(gw, { price_components: [{ type: 'ENERGY', price: 250, tax: 10 }] }), price: 250, tax: 10 },
    ];
    const wallets = await runPool(plan(), 8, async (p) => ({ ...p, ...(await aUserWithWallet(gw, { organization: org._id, balance: p.balance })) }));
    expect(wallets.reduce((n, w) => n + w.stations, 0)).toBe(STATIONS);

    const prefix = `FL${process.pid}${Date.now().toString(36)}-`;
    fleet = new Fleet({
      url: gw.ocppUrl,
      stations: STATIONS,
      prefix,
      concurrency: 50,
      station: { connectors: 1, timeScale: TIME_SCALE, powerProfile: 'ac22', rpcOptions: { callTimeoutMs: 30_000 } },
    });
    // station n → its wallet and rate
    const assignment = new Map<string, { wallet: (typeof wallets)[number]; rate: (typeof rates)[number]; stationId: string; idTag: string }>();
    let next = 0;
    const jobs: Array<{ identity: string; wallet: (typeof wallets)[number]; rate: (typeof rates)[number] }> = [];
    for (const wallet of wallets) {
      for (let k = 0; k < wallet.stations; k++, next++) {
        jobs.push({ identity: fleet.stations[next]!.identity, wallet, rate: rates[next % 2]! });
      }
    }
    await runPool(jobs, 8, async (j) => {
      const res = await gw.api('POST', '/v1/chargestations', { ocpp_id: j.identity, rate: j.rate.rate._id });
      expect(res.status).toBe(201);
      // Each station's driver has a token of their own; a shared wallet funds them all.
      const token = await aToken(gw, j.wallet.user._id);
      assignment.set(j.identity, { wallet: j.wallet, rate: j.rate, stationId: res.body._id, idTag: token.physicalId });
    });
    const setupMs = Date.now() - t0;

    const stops = new Map<string, SessionStoppedEvent>();
    for (const station of fleet.stations) station.on('sessionStopped', (e) => stops.set(station.identity, e));
    // CALLERRORs or timeouts from the gateway (calls cut short by our own disconnects are not)
    const gatewayErrors: string[] = [];
    for (const station of fleet.stations) {
      station.on('callError', (e) => {
        const own = e.error instanceof Error && e.error.name === 'AbortError';
        if (!own) gatewayErrors.push(`${station.identity} ${e.action}: ${String(e.error)}`);
      });
    }
    const configured = Promise.all(
      fleet.stations.map((s) => s.waitFor('configurationChanged', (c) => c.key === 'MeterValueSampleInterval', 30_000)),
    );
    const started = await fleet.start();
    expect(started).toMatchObject({ started: STATIONS, failed: 0 });
    await configured;

    // everyone plugs in at once
    const results = await fleet.startSessions((station) => assignment.get(station.identity)!.idTag);
    expect(results.map((r) => r.outcome)).toEqual(Array(STATIONS).fill('Started'));
    const refused = results.filter((r, i) => {
      if (r.outcome !== 'Started' || r.idTagStatus === 'Accepted') return false;
      // a small shared wallet may drop below the minimum before its last station has started
      expect(assignment.get(fleet!.stations[i]!.identity)!.wallet.kind).toBe('small-shared');
      return true;
    });
    const chargingFrom = Date.now();

    // the small wallets run dry and the gateway stops their stations; the rich ones keep going
    const small = fleet.stations.filter((s) => assignment.get(s.identity)!.wallet.kind.startsWith('small'));
    const rich = fleet.stations.filter((s) => !assignment.get(s.identity)!.wallet.kind.startsWith('small'));
    await eventually(() => small.every((s) => !s.hasSession(1)), 30_000);
    expect(rich.every((s) => s.hasSession(1))).toBe(true);
    const chargingMs = Date.now() - chargingFrom;

    // the end of the run: every station stops its session and disconnects
    await fleet.stop({ endSessions: true, reason: 'Local', flushTimeoutMs: 20_000 });
    const stats = fleet.stats();
    fleet = undefined;
    expect(gatewayErrors).toEqual([]);
    for (const action of ['BootNotification', 'Authorize', 'StartTransaction', 'MeterValues', 'StopTransaction']) {
      expect(stats.byAction[action], action).toMatchObject({ errors: 0 });
      expect(stats.byAction[action]!.ok, action).toBe(stats.byAction[action]!.sent);
    }
    expect(stats.queuedMessages).toBe(0);
    expect(stops.size).toBe(STATIONS);

    // nothing is left open
    for (const status of ['active', 'stopping', 'stop_failed']) {
      const open = await gw.api('GET', `/v1/sessions?status=${status}&limit=1`);
      expect(open.body.data, `${status} sessions`).toEqual([]);
    }

    // every session is billed exactly for what its station reported, and stopped for the right reason
    const sessions: Session[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: any } = await gw.api('GET', `/v1/sessions?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      sessions.push(...page.body.data);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(sessions).toHaveLength(STATIONS);
    const byStation = new Map(sessions.map((s: any) => [s.chargestation as string, s]));
    for (const station of jobs) {
      const a = assignment.get(station.identity)!;
      const s = byStation.get(a.stationId)!;
      const stop = stops.get(station.identity)!;
      expect(s.meter_stop, station.identity).toBe(stop.meterStop);
      expect(s.energy_wh, station.identity).toBe(stop.meterStop);
      expect(s.cost.amount, station.identity).toBe(energyCost(stop.meterStop, a.rate.price, a.rate.tax));
      if (s.status === 'rejected') continue;
      expect(s.status).toBe('completed');
      if (a.wallet.kind.startsWith('small')) {
        expect(s, station.identity).toMatchObject({ stop_reason: 'Remote', termination: 'insufficient_balance' });
        expect(stop.reason).toBe('Remote');
      } else {
        expect(s, station.identity).toMatchObject({ stop_reason: 'Local', termination: 'local' });
      }
    }
    expect(sessions.filter((s) => s.status === 'rejected')).toHaveLength(refused.length);

    // every wallet adds up: balance == ledger == top-ups − session costs
    let totalCost = 0;
    await runPool(wallets, 8, async (w) => {
      const { balance, costs } = await expectWalletConsistent(gw, w.user, w.wallet._id);
      totalCost += costs;
      // run dry: stopped by the stop at zero
      if (w.kind.startsWith('small')) expect(balance, w.kind).toBeLessThanOrEqual(0);
      else expect(balance, w.kind).toBeGreaterThan(RICH / 2);
    });
    // and over the whole run: all debits == all session costs (no refunds, nothing unaccounted)
    const sums = await gw.app.db
      .selectFrom('ledger_entries')
      .select([
        sql<number>`coalesce(sum(case when type = 'debit' then amount else 0 end), 0)::int8`.as('debits'),
        sql<number>`coalesce(sum(case when type = 'credit' and session_id is not null then amount else 0 end), 0)::int8`.as('refunds'),
      ])
      .executeTakeFirstOrThrow();
    expect(sums.refunds).toBe(0);
    expect(sums.debits).toBe(totalCost);
    expect(sessions.reduce((n, s) => n + s.cost.amount, 0)).toBe(totalCost);
    console.log(
      `fleet: setup ${setupMs} ms, charging ${chargingMs} ms, ${stats.byAction.MeterValues?.sent ?? '?'} MeterValues ` +
        `(p95 ${Math.round(stats.byAction.MeterValues?.latency.p95 ?? 0)} ms), ${refused.length} refused starts, ` +
        `total ${Date.now() - t0} ms`,
    );
  });
});
