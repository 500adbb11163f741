import { measureDebitCeiling } from '../baseline/pg-debits.ts';
import { createFixture, type Fixture } from '../lib/admin.ts';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { startBaselineServer, startGateway, type BaselineServer, type Gateway } from '../lib/gateway.ts';
import { checkLedger, type Billed } from '../lib/ledger.ts';
import { closedLoop, openLoop, type LoadResult } from '../lib/load.ts';
import { cpuSeconds, cpuSecondsOf, cpuWindow, selfCpuSeconds } from '../lib/proc.ts';
import { failuresOf, fmtFailures, fmtLatency, fmtRatio, ms } from '../lib/report.ts';
import { registerSessions, startSessions, type StartedSessions } from '../lib/sessions.ts';
import { closeAll, connectAll, makeFleet, type BenchStation } from '../lib/station.ts';
import { log, pMap } from '../lib/util.ts';

export const S1 = '1 steady debits';
/** Each MeterValues raises the register 10 Wh: 1 cent at 100 c/kWh. */
export const DELTA_WH = 10;
const BALANCE = 50_000_000;
const HOT_BALANCE = 100_000_000;
const P99_TARGET_MS = 50;

export interface SteadyPrep {
  gw: Gateway;
  base: BaselineServer;
  fx: Fixture;
  sessions: StartedSessions;
  /** baseline (a)'s stations, connected with a session each */
  aStations: BenchStation[];
  /** scenario 4's sessions, paid by one driver, on the same gateway */
  hot: StartedSessions | undefined;
}

/** The gateway scenario 1 (and 4) run on, the bare server of baseline (a), stations with running sessions. */
export async function prepareSteady({ cfg }: Ctx, withHotWallet: boolean): Promise<SteadyPrep> {
  const [gw, base] = await Promise.all([startGateway({ database: 'postgres' }), startBaselineServer()]);
  const fx = await createFixture(gw.api, 'Bench steady', PRICE_CENTS_PER_KWH);
  const [registered, hot] = await Promise.all([
    registerSessions({ api: gw.api, fx, prefix: 'ST-', count: cfg.steady.stations, balance: BALANCE }),
    withHotWallet
      ? registerSessions({ api: gw.api, fx, prefix: 'HOT-', count: cfg.hot.sessions, balance: HOT_BALANCE, sharedWallet: true })
      : undefined,
  ]);
  const aStations = makeFleet({ url: base.ocppUrl, prefix: 'BA-', count: cfg.steady.stations, width: 4, callTimeoutMs: cfg.callTimeoutMs });
  await connectAll(aStations, 100);
  await pMap(aStations, 50, (s, i) => s.startTransaction(`BA${i}`, 0));
  return {
    gw,
    base,
    fx,
    sessions: await startSessions(registered, gw.ocppUrl, cfg.callTimeoutMs),
    aStations,
    hot: hot ? await startSessions(hot, gw.ocppUrl, cfg.callTimeoutMs) : undefined,
  };
}

export interface SteadyState {
  gw: Gateway;
  stations: BenchStation[];
  billed: Billed[];
  hot: StartedSessions | undefined;
}

const withCpu = async (pids: Record<string, () => number>, run: () => Promise<LoadResult>) => {
  const stop = cpuWindow({ ...pids, generator: selfCpuSeconds });
  const r = await run();
  r.cpu = stop();
  return r;
};

/** Scenario 1 on PostgreSQL, with baselines (a) and (b). Leaves the gateway running for scenario 4. */
export async function runSteady({ cfg, report }: Ctx, prep: SteadyPrep): Promise<SteadyState> {
  const c = cfg.steady;
  const { gw, base, aStations } = prep;
  report.add(S1, 'gateway start (PostgreSQL, to /healthz)', `${gw.startMs} ms (started alongside the other scenarios' processes)`);

  const { stations, billed } = prep.sessions;
  const gwCpu = { gateway: () => cpuSeconds(gw.child.pid), postgres: () => cpuSecondsOf('postgres') };
  log(`${S1}: closed loop on the gateway, ${c.stations} stations`);
  const closed = await withCpu(gwCpu, () => closedLoop({ stations, durationMs: c.closedMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH }));
  const sweep: LoadResult[] = [];
  for (const rate of c.sweep) {
    log(`${S1}: open loop on the gateway at ${rate} MV/s`);
    const r = await withCpu(gwCpu, () => openLoop({ stations, ratePerS: rate, durationMs: c.sweepMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH }));
    report.point('gateway (PostgreSQL)', r);
    sweep.push(r);
  }
  log(`${S1}: ledger check`);
  const ledger = await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed, pgUrl: gw.db!.url });

  log(`${S1}: baseline (b), raw PostgreSQL debits`);
  const debits = await measureDebitCeiling({
    url: gw.db!.url, wallets: c.debitWallets, concurrency: c.debitConcurrency, durationMs: c.debitMs, warmupMs: c.warmupMs,
  });

  log(`${S1}: baseline (a), bare RPCServer`);
  let aClosed: LoadResult;
  const aSweep: LoadResult[] = [];
  try {
    const aCpu = { server: () => cpuSeconds(base.child.pid) };
    aClosed = await withCpu(aCpu, () => closedLoop({ stations: aStations, durationMs: c.closedMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH }));
    for (const rate of c.sweep) {
      const r = await withCpu(aCpu, () => openLoop({ stations: aStations, ratePerS: rate, durationMs: c.sweepMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH }));
      report.point('baseline (a) bare RPCServer', r);
      aSweep.push(r);
    }
  } finally {
    await closeAll(aStations);
    await base.close();
  }

  const ratioA = closed.throughput / Math.max(1, aClosed.throughput);
  const ratioB = closed.throughput / Math.max(1, debits.debitsPerS);
  const cpu = closed.cpu ?? {};
  const aCpu = aClosed.cpu ?? {};
  const closedValue =
    `${closed.throughput} MV/s (${fmtLatency(closed)}; ${fmtFailures(closed)}; ` +
    `CPU gateway ${cpu.gateway}%, postgres ${cpu.postgres}%, generator ${cpu.generator}%)`;
  const aValue =
    `(a) bare RPCServer: ${aClosed.throughput} MV/s (CPU server ${aCpu.server}%, generator ${aCpu.generator}%` +
    `${(aCpu.generator ?? 0) >= 90 ? ': bound by the load generator, the true ceiling is higher' : ''})`;
  const bValue =
    `(b) raw PostgreSQL: ${debits.debitsPerS} debits/s (pool 10, ${debits.concurrency} concurrent, ` +
    `${debits.errors} errors${debits.consistent ? '' : ', INCONSISTENT'})`;
  const title = `(i) max throughput, closed loop, ${c.stations} stations`;
  report.target(S1, `${title}, vs (a)`, closedValue, 'target ≥ 0.5', ratioA >= 0.5, aValue, fmtRatio(ratioA, 0.5));
  report.target(S1, `${title}, vs (b)`, `${closed.throughput} MV/s`, 'target ≥ 1.5', ratioB >= 1.5, bValue, fmtRatio(ratioB, 1.5));
  for (const [i, r] of sweep.entries()) {
    const a = aSweep[i]!;
    const value = `${fmtLatency(r)}; ${r.throughput} MV/s answered; ${fmtFailures(r)}`;
    const baseline = `(a) ${fmtLatency(a)}`;
    if (r.offeredRate === 2000) {
      const pass = r.latency.p99 <= P99_TARGET_MS && failuresOf(r) === 0;
      report.target(S1, `(ii) open loop ${r.offeredRate} MV/s`, value, `p99 ≤ ${P99_TARGET_MS} ms, no errors`, pass, baseline);
    } else {
      report.add(S1, `(ii) open loop ${r.offeredRate} MV/s`, value, { baseline });
    }
  }
  report.ledger(S1, ledger);
  if (!prep.hot) report.gatewayLogs(S1, '', gw.child.logs);
  report.details[S1] = { closed, sweep, baselineA: { closed: aClosed, sweep: aSweep }, baselineB: debits };
  return { gw, stations, billed, hot: prep.hot };
}
