/**
 * Shared pieces of the simulator-driven end-to-end suite: the real gateway (startGateway) and
 * SimStations from simulators/, talking real OCPP 1.6J over sockets. No hand-written frames.
 */
import { expect } from 'vitest';
import { SimStation, type SimStationOptions } from '../../simulators/index.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { aStation } from '../helpers/builders.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';
import { eventually } from '../helpers/station.ts';

/** MeterValueSampleInterval the gateway pushes (simulated seconds; 60× time → every 250 ms). */
export const SAMPLE_INTERVAL_S = 15;

/** Gateway settings for this suite: fast samples, a quick sweep, short RemoteStop retries. */
/**
 * The simulator squeezes hours into seconds, so its energy arrives faster than any real station
 * could deliver it: the gateway's plausibility check (MAX_STATION_POWER_KW) is off for it.
 */
export const SIMULATED_TIME_ENV = { MAX_STATION_POWER_KW: '0' };

export function simGatewayOptions(extra: Record<string, string> = {}) {
  return {
    env: {
      METER_VALUE_SAMPLE_INTERVAL_S: String(SAMPLE_INTERVAL_S),
      BILLING_SWEEP_INTERVAL_S: '1',
      LOG_LEVEL: 'info',
      ...SIMULATED_TIME_ENV,
      ...extra,
    },
    stopRetryDelaysMs: [100, 100, 100] as const,
  };
}

/**
 * ENERGY cost in cents as SPEC 4 defines it: exact, then rounded half-up once.
 * `price` in cents per kWh, `tax` in percent (integers here).
 */
export function energyCost(wh: number, price: number, tax = 0): number {
  const num = BigInt(wh) * BigInt(price) * BigInt(100 + tax);
  const den = 1000n * 100n;
  return Number((2n * num + den) / (2n * den));
}

/** Simulated stations created by a test; stopAll() in afterEach. */
export class Stations {
  readonly all: SimStation[] = [];

  /**
   * Registers a charge station with `rate` on the gateway, connects a SimStation to it, and
   * waits until the gateway has set its MeterValueSampleInterval (so sampling runs at the
   * suite's pace before any session starts).
   */
  async boot(gw: TestGateway, rate: string, options: Partial<SimStationOptions> = {}) {
    const record = await aStation(gw, { rate });
    const station = this.create(gw, record.ocpp_id, options);
    const configured = station.waitFor('configurationChanged', (c) => c.key === 'MeterValueSampleInterval', 10_000);
    await station.start();
    await configured;
    expect(station.meterValueSampleInterval).toBe(SAMPLE_INTERVAL_S);
    return { station, record: record as { _id: string; ocpp_id: string } };
  }

  create(gw: TestGateway, identity: string, options: Partial<SimStationOptions> = {}): SimStation {
    const station = new SimStation({
      url: gw.ocppUrl,
      identity,
      connectors: 1,
      timeScale: 60,
      powerProfile: 'dc50', // 50 kW × 60 ≈ 833 Wh per real second, ~208 Wh per sample
      rpcOptions: { callTimeoutMs: 10_000 },
      ...options,
    });
    this.all.push(station);
    return station;
  }

  async stopAll(): Promise<void> {
    const stations = this.all.splice(0);
    await Promise.allSettled(stations.map((s) => s.stop()));
    for (const s of stations) expect(s.pendingTimers, `${s.identity} timers`).toBe(0);
  }
}

export type Session = {
  _id: string;
  transaction_id: number;
  status: string;
  energy_wh: number;
  meter_start: number;
  meter_last: number;
  meter_stop: number | null;
  stop_reason: string | null;
  termination: string | null;
  ended_by: string | null;
  stopped_by: 'prediction' | null;
  started_at: string;
  stopped_at: string | null;
  wallet: string | null;
  cost: { amount: number; debited: number; currency: string };
};

export type LedgerEntry = {
  _id: string;
  type: 'credit' | 'debit';
  amount: number;
  balance_after: number;
  session: string | null;
  top_up: string | null;
};

export async function sessionOf(gw: TestGateway, chargestation: string, transactionId: number): Promise<Session> {
  const res = await gw.api('GET', `/v1/sessions?chargestation=${chargestation}&limit=200`);
  expect(res.status).toBe(200);
  const found = res.body.data.find((s: Session) => s.transaction_id === transactionId);
  if (!found) throw new Error(`no session for transaction ${transactionId}`);
  return found;
}

/**
 * Waits until the session has been settled by its StopTransaction (committed). A session its
 * connector's Available ended first is `completed` already, but not by the station's own stop.
 */
export function settled(gw: TestGateway, chargestation: string, transactionId: number, ms = 10_000): Promise<Session> {
  return eventually(async () => {
    const s = await sessionOf(gw, chargestation, transactionId);
    return (s.status === 'completed' || s.status === 'rejected') && s.ended_by === 'station' ? s : undefined;
  }, ms);
}

export async function balanceOf(gw: TestGateway, userId: string): Promise<number> {
  const res = await gw.api('GET', `/v1/users/${userId}/wallet`);
  expect(res.status).toBe(200);
  return res.body.wallet.balance;
}

export async function ledgerOf(gw: TestGateway, userId: string): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: any } = await gw.api(
      'GET',
      `/v1/users/${userId}/wallet/transactions?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    entries.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return entries;
}

export async function sessionsOfUser(gw: TestGateway, userId: string): Promise<Session[]> {
  const out: Session[] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: any } = await gw.api(
      'GET',
      `/v1/sessions?user=${userId}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return out;
}

/**
 * The wallet invariants: balance == sum of its ledger entries (each balance_after chaining),
 * and == top-ups − the final cost of each of its settled sessions; each session's ledger
 * entries net to its cost. Returns the figures for further checks.
 */
export async function expectWalletConsistent(gw: TestGateway, user: { _id: string }, walletId: string) {
  await assertLedgerConsistent(gw.app.db, [walletId]);
  const [balance, ledger, sessions] = await Promise.all([
    balanceOf(gw, user._id),
    ledgerOf(gw, user._id),
    sessionsOfUser(gw, user._id),
  ]);
  const signed = (e: LedgerEntry) => (e.type === 'credit' ? e.amount : -e.amount);
  expect(ledger.reduce((sum, e) => sum + signed(e), 0), 'balance == sum of ledger entries').toBe(balance);
  for (const s of sessions) {
    expect(['completed', 'rejected'], `session ${s.transaction_id} settled`).toContain(s.status);
    const net = -ledger.filter((e) => e.session === s._id).reduce((sum, e) => sum + signed(e), 0);
    expect(net, `session ${s.transaction_id}: ledger == cost`).toBe(s.cost.amount);
    expect(s.cost.debited).toBe(s.cost.amount);
  }
  const topUps = ledger.filter((e) => e.top_up !== null).reduce((sum, e) => sum + signed(e), 0);
  const costs = sessions.reduce((sum, s) => sum + s.cost.amount, 0);
  expect(balance, 'balance == top-ups − session costs').toBe(topUps - costs);
  return { balance, ledger, sessions, topUps, costs };
}

/** A station booted by bootRecorded, with what it received and measured. */
export interface RecordedStation {
  station: SimStation;
  record: { _id: string; ocpp_id: string };
  inbound: { action: string; params: Record<string, unknown>; at: number }[];
  samples: { registerWh: number; at: number }[];
  remoteStops: { transactionId: number; status: string; at: number }[];
}

/**
 * A new station record at `rate` and its simulated charger (`options`), booted, recording every
 * call it receives, every reading and every RemoteStop; returned once the boot's configuration
 * pass (a GetConfiguration, then a ChangeConfiguration only for keys that differ) is over, so
 * that nothing the test changes is overwritten by it. `all` collects it for stopping.
 */
export async function bootRecorded(
  gw: TestGateway,
  all: SimStation[],
  rate: string,
  options: Omit<SimStationOptions, 'url' | 'identity'>,
): Promise<RecordedStation> {
  const record = (await aStation(gw, { rate })) as { _id: string; ocpp_id: string };
  const station = new SimStation({ url: gw.ocppUrl, identity: record.ocpp_id, ...options });
  all.push(station);
  const out: RecordedStation = { station, record, inbound: [], samples: [], remoteStops: [] };
  station.on('inboundCall', (c) => out.inbound.push({ action: c.action, params: c.params, at: Date.now() }));
  station.on('meterSample', (m) => out.samples.push({ registerWh: m.registerWh, at: Date.now() }));
  station.on('remoteStop', (r) => out.remoteStops.push({ ...r, at: Date.now() }));
  const booted = station.waitFor('booted', () => true, 10_000);
  await station.start();
  await booted;
  await eventually(() => out.inbound.some((c) => c.action === 'GetConfiguration'), 10_000);
  await new Promise((r) => setTimeout(r, 500));
  return out;
}
