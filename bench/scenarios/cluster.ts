import { createFixture, createStations, type Fixture } from '../lib/admin.ts';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { startCluster, type Cluster, type Gateway } from '../lib/gateway.ts';
import { checkLedger, energyCost, type Billed } from '../lib/ledger.ts';
import { closedLoop, openLoop, type LoadResult } from '../lib/load.ts';
import { cpuSeconds, cpuSecondsOf, cpuWindow, openFileCount, selfCpuSeconds, settledRss } from '../lib/proc.ts';
import { fmtFailures, fmtLatency, fmtRatio, ms } from '../lib/report.ts';
import { registerSessions, startSessions, type StartedSessions } from '../lib/sessions.ts';
import { closeAll, connectAll, identities, makeFleet, spreadOver, type BenchStation } from '../lib/station.ts';
import { percentiles } from '../lib/stats.ts';
import { log, now, pMap, round, sleep, waitUntil } from '../lib/util.ts';
import { DELTA_WH } from './steady.ts';
import pg from 'pg';
import { channelOf } from '../../src/cluster/node.ts';

const S6 = '6 cluster';
const ZERO_P99_TARGET_MS = 100;
const FAILOVER_TARGET_MS = 20_000;
const THROUGHPUT_TARGET = 0.9;
/** 100 Wh a MeterValues: 10 cents at 100 c/kWh */
const ZERO_DELTA_WH = 100;
const RICH = 50_000_000;

export interface ClusterPrep {
  cluster: Cluster;
  fx: Fixture;
  /** (iv) the same number of sessions: all on node 1, spread over every node, and over nodes 1 and 2 */
  single: StartedSessions;
  spread: StartedSessions;
  spreadTwo: StartedSessions;
  /** (i) two sessions per wallet, on two different nodes; the probes: the same, one wallet at a time */
  zero: StartedSessions;
  probes: StartedSessions;
  /** (ii) sessions on nodes 2…n and on node 1, to be stopped through node 1 */
  restRemote: StartedSessions;
  restLocal: StartedSessions;
  /** (iii) every station on the last node, which is killed: some charging, the rest idle */
  failoverSessions: StartedSessions;
  failoverIdle: BenchStation[];
  /** the last node's RSS and open descriptors before and after the idle failover stations connected */
  perConnection: { stations: number; rssBytes: number; fds: number; rssBefore: number; rssAfter: number };
}

/**
 * Scenario 6: n gateway nodes on one database. Everything is registered through node 1 (any node
 * would do), stations connect to the node the part needs, each with the other nodes as its
 * failover list.
 */
export async function prepareCluster({ cfg }: Ctx): Promise<ClusterPrep> {
  const c = cfg.cluster;
  // The stop at zero is what (i) measures: the predictive stop (scenario 7) would stop nearly
  // every session a reading before its wallet reaches zero, leaving (i) next to nothing to time.
  const cluster = await startCluster(c.nodes, { PREDICTIVE_STOP: 'off', ...(process.env.BENCH_DB_POOL_SIZE ? { DB_POOL_SIZE: process.env.BENCH_DB_POOL_SIZE } : {}) });
  try {
    const urls = cluster.nodes.map((n) => n.ocppUrl);
    const first = cluster.nodes[0]!;
    const fx = await createFixture(first.api, 'Bench cluster', PRICE_CENTS_PER_KWH);
    const last = urls.length - 1;
    const others = (skip: number) => urls.filter((_, k) => k !== skip);
    const [single, spread, spreadTwo, zero, probes, restRemote, restLocal, failover] = await Promise.all([
      registerSessions({ api: first.api, fx, prefix: 'C1-', count: c.throughputStations, balance: RICH }),
      registerSessions({ api: first.api, fx, prefix: 'CN-', count: c.throughputStations, balance: RICH }),
      registerSessions({ api: first.api, fx, prefix: 'C2-', count: c.throughputStations, balance: RICH }),
      registerSessions({ api: first.api, fx, prefix: 'ZC-', count: c.zeroSessions, balance: c.zeroBalance, perWallet: 2 }),
      // One MeterValues (10 c) takes a probe wallet to zero.
      registerSessions({ api: first.api, fx, prefix: 'ZP-', count: 2 * c.zeroProbes, balance: energyCost(PRICE_CENTS_PER_KWH, ZERO_DELTA_WH), perWallet: 2 }),
      registerSessions({ api: first.api, fx, prefix: 'RR-', count: c.restRemote, balance: RICH }),
      registerSessions({ api: first.api, fx, prefix: 'RL-', count: c.restLocal, balance: RICH }),
      registerSessions({ api: first.api, fx, prefix: 'FS-', count: c.failoverSessions, balance: RICH }),
      createStations(first.api, fx, identities('FO-', c.failoverStations - c.failoverSessions)),
    ]);
    // The killed node's stations fail over to the others, alternately, so both take half.
    const failoverList = (i: number) => [urls[last]!, ...(i % 2 ? others(last) : others(last).reverse())];
    const failoverIdle = makeFleet({
      url: urls[last]!, endpoints: failoverList, prefix: 'FO-', count: c.failoverStations - c.failoverSessions, callTimeoutMs: cfg.callTimeoutMs,
    });
    const prep: ClusterPrep = {
      cluster,
      fx,
      single: await startSessions(single, (_i) => [urls[0]!, ...others(0)], cfg.callTimeoutMs),
      spread: await startSessions(spread, (i) => spreadOver(urls, i), cfg.callTimeoutMs),
      spreadTwo: await startSessions(spreadTwo, (i) => spreadOver(urls.slice(0, 2), i), cfg.callTimeoutMs),
      // Wallet k pays for stations 2k and 2k+1, on nodes k and k+1 (mod n).
      zero: await startSessions(zero, (i) => spreadOver(urls, Math.floor(i / 2) + (i % 2)), cfg.callTimeoutMs),
      probes: await startSessions(probes, (i) => spreadOver(urls, Math.floor(i / 2) + (i % 2)), cfg.callTimeoutMs),
      restRemote: await startSessions(restRemote, (i) => spreadOver(others(0), i), cfg.callTimeoutMs),
      restLocal: await startSessions(restLocal, (_i) => [urls[0]!], cfg.callTimeoutMs),
      failoverSessions: await startSessions(failover, failoverList, cfg.callTimeoutMs),
      failoverIdle,
      perConnection: { stations: failoverIdle.length, rssBytes: 0, fds: 0, rssBefore: 0, rssAfter: 0 },
    };
    const pid = cluster.nodes[last]!.child.pid;
    const [rssBefore, fdsBefore] = [await settledRss(pid, 2_000), openFileCount(pid)];
    await connectAll(failoverIdle, 200);
    const [rssAfter, fdsAfter] = [await settledRss(pid, 2_000), openFileCount(pid)];
    prep.perConnection = {
      stations: failoverIdle.length,
      rssBytes: (rssAfter - rssBefore) / failoverIdle.length,
      fds: (fdsAfter - fdsBefore) / failoverIdle.length,
      rssBefore,
      rssAfter,
    };
    log(`  ${S6}: ${c.failoverStations} stations connected to node${c.nodes}`);
    return prep;
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

const nodeOf = (nodes: readonly Gateway[], s: BenchStation) => nodes.findIndex((n) => n.ocppUrl === s.currentUrl) + 1;

export async function runCluster(ctx: Ctx, prep: ClusterPrep): Promise<void> {
  const { report } = ctx;
  const { cluster } = prep;
  try {
    await runThroughput(ctx, prep);
    await runZero(ctx, prep);
    await runZeroProbes(ctx, prep);
    await runRestStops(ctx, prep);
    await runFailover(ctx, prep);
    for (const [i, n] of cluster.nodes.entries()) report.gatewayLogs(S6, `node${i + 1}`, n.child.logs);
  } finally {
    await closeAll([
      ...prep.single.stations, ...prep.spread.stations, ...prep.spreadTwo.stations, ...prep.zero.stations, ...prep.probes.stations, ...prep.restRemote.stations,
      ...prep.restLocal.stations, ...prep.failoverSessions.stations, ...prep.failoverIdle,
    ]);
    await cluster.close();
  }
}

interface BatchTotals { count: number; readings: number; seconds: number }
interface BatchStats { batches: number; meanSize: number; meanMs: number }

/** A node's MeterValues (or StopTransaction settlement) batch histograms (count, items, seconds), read from GET /metrics. */
async function meterBatchTotals(node: Gateway, kind: 'meter' | 'settlement' = 'meter'): Promise<BatchTotals> {
  const text = await node.api.text('/metrics');
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { count: value(`gateway_${kind}_batch_size_count`), readings: value(`gateway_${kind}_batch_size_sum`), seconds: value(`gateway_${kind}_batch_duration_seconds_sum`) };
}

function batchStats(before: BatchTotals[], after: BatchTotals[]): BatchStats {
  const d = (k: keyof BatchTotals) => after.reduce((a, x, i) => a + x[k] - before[i]![k], 0);
  const batches = d('count');
  return { batches, meanSize: round(d('readings') / Math.max(1, batches), 1), meanMs: round((1000 * d('seconds')) / Math.max(1, batches), 1) };
}

/**
 * A node's event loop delay since its last scrape (prom-client resets it at each), and its
 * garbage collection so far (seconds and count, by kind), read from GET /metrics.
 */
async function loopAndGc(node: Gateway): Promise<{ lagMaxMs: number; lagP99Ms: number; gc: Record<string, { s: number; n: number }> }> {
  const text = await node.api.text('/metrics');
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  const gc: Record<string, { s: number; n: number }> = {};
  for (const m of text.matchAll(/^gateway_nodejs_gc_duration_seconds_(sum|count)\{[^}]*kind="(\w+)"[^}]*\} (\S+)$/gm)) {
    const k = (gc[m[2]!] ??= { s: 0, n: 0 });
    if (m[1] === 'sum') k.s = Number(m[3]);
    else k.n = Number(m[3]);
  }
  return { lagMaxMs: round(1000 * value('gateway_nodejs_eventloop_lag_max_seconds'), 1), lagP99Ms: round(1000 * value('gateway_nodejs_eventloop_lag_p99_seconds'), 1), gc };
}

/** CPU seconds used so far by each gateway node, PostgreSQL and this process (the load generator). */
function cpuSources(nodes: readonly Gateway[]): Record<string, () => number> {
  return Object.fromEntries([
    ...nodes.map((n, i) => [`node${i + 1}`, () => cpuSeconds(n.child.pid)] as const),
    ['postgres', () => cpuSecondsOf('postgres')] as const,
    ['generator', selfCpuSeconds] as const,
  ]);
}

/** (iv) Closed-loop MeterValues/s: the same number of stations on node 1 alone, then over every node. */
async function runThroughput({ cfg, report }: Ctx, prep: ClusterPrep): Promise<void> {
  const c = cfg.cluster;
  const { nodes } = prep.cluster;
  const cpu = cpuSources(nodes);
  type Side = 'one' | 'all' | 'two';
  const batches: Record<Side, BatchStats[]> = { one: [], all: [], two: [] };
  const results: Record<Side, LoadResult[]> = { one: [], all: [], two: [] };
  const measure = async (stations: BenchStation[], side: Side) => {
    const before = await Promise.all(nodes.map((n) => meterBatchTotals(n)));
    const stop = cpuWindow(cpu);
    const r = await closedLoop({ stations, durationMs: c.closedMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH });
    r.cpu = stop();
    const after = await Promise.all(nodes.map((n) => meterBatchTotals(n)));
    batches[side].push(batchStats(before, after));
    results[side].push(r);
  };
  // Alternated, twice each: the shared machine's load drifts, and every side should see the same.
  // Over two nodes as well as all three: what splitting the load costs depends on the share.
  for (let round = 1; round <= 2; round++) {
    log(`${S6}: (iv) closed loop, ${c.throughputStations} stations on node 1 (round ${round})`);
    await measure(prep.single.stations, 'one');
    log(`${S6}: (iv) closed loop, ${c.throughputStations} stations over ${nodes.length} nodes (round ${round})`);
    await measure(prep.spread.stations, 'all');
    if (nodes.length > 2) {
      log(`${S6}: (iv) closed loop, ${c.throughputStations} stations over nodes 1 and 2 (round ${round})`);
      await measure(prep.spreadTwo.stations, 'two');
    }
  }
  const mean = (rs: LoadResult[]) => Math.round(rs.reduce((a, r) => a + r.throughput, 0) / Math.max(1, rs.length));
  const ones = results.one;
  const oneMean = mean(ones);
  const one = ones[ones.length - 1]!;
  const cpuText = (r: LoadResult) => Object.entries(r.cpu ?? {}).map(([k, v]) => `${k} ${v}%`).join(', ');
  const sideText = (rs: LoadResult[]) => {
    const last = rs[rs.length - 1]!;
    return `${mean(rs)} MV/s (rounds ${rs.map((r) => r.throughput).join(', ')}; last: ${fmtLatency(last)}; ${fmtFailures(last)}; CPU ${cpuText(last)})`;
  };
  const oneText = `one node: ${oneMean} MV/s (rounds ${ones.map((r) => r.throughput).join(', ')}; last: ${fmtLatency(one)}; CPU ${cpuText(one)})`;
  const ratio = mean(results.all) / Math.max(1, oneMean);
  report.target(S6, `(iv) MeterValues/s, closed loop, ${c.throughputStations} stations over ${nodes.length} nodes vs on one node`,
    sideText(results.all), `≥ ${THROUGHPUT_TARGET} × one node`, ratio >= THROUGHPUT_TARGET, oneText, fmtRatio(ratio, THROUGHPUT_TARGET));
  const ratioTwo = mean(results.two) / Math.max(1, oneMean);
  if (results.two.length) {
    report.target(S6, `(iv) the same over 2 of the ${nodes.length} nodes vs on one node`,
      sideText(results.two), `≥ ${THROUGHPUT_TARGET} × one node`, ratioTwo >= THROUGHPUT_TARGET, oneText, fmtRatio(ratioTwo, THROUGHPUT_TARGET));
  }
  const batchText = (b: BatchStats[]) => b.map((x) => `${x.batches} batches of ${x.meanSize} readings, ${x.meanMs} ms each`).join('; ');
  report.add(S6, '(iv) MeterValues batches (gateway_meter_batch_size and _duration_seconds, all nodes, per round)',
    `over ${nodes.length} nodes: ${batchText(batches.all)}${batches.two.length ? `; over 2 nodes: ${batchText(batches.two)}` : ''}`,
    { baseline: `on node 1: ${batchText(batches.one)}` });
  const ledger = await checkLedger({
    api: nodes[0]!.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: [...prep.single.billed, ...prep.spread.billed, ...prep.spreadTwo.billed], pgUrl: prep.cluster.db.url,
  });
  report.ledger(`${S6} (iv)`, ledger);
  report.details[`${S6} (iv)`] = { oneNode: ones, cluster: results.all, twoNodes: results.two, ratio: round(ratio, 3), ratioTwo: round(ratioTwo, 3), batches };
}

/**
 * (i) Every wallet pays for two sessions on two different nodes and runs out during the run. From
 * the CALLRESULT of the MeterValues whose debit took the wallet to ≤ 0 (client side) to the
 * RemoteStopTransaction CALL at each of its stations: the one on the node that billed it, and
 * the one on another node (the forwarded stop, the figure with a target).
 */
async function runZero({ cfg, report }: Ctx, prep: ClusterPrep): Promise<void> {
  const c = cfg.cluster;
  const { nodes } = prep.cluster;
  const { stations, billed } = prep.zero;
  const walletOf = new Map<BenchStation, string>(billed.map((b) => [b.station, b.walletId]));
  const pairs = new Map<string, BenchStation[]>();
  for (const b of billed) pairs.set(b.walletId, [...(pairs.get(b.walletId) ?? []), b.station]);
  const spent = (w: string) => pairs.get(w)!.reduce((a, s) => a + energyCost(PRICE_CENTS_PER_KWH, s.answeredRegister - s.meterStart), 0);
  const crossed = new Map<string, { at: number; by: BenchStation }>();
  const stopErrors: string[] = [];
  for (const s of stations) {
    s.onRemoteStop = (st) => void st.stopTransaction('Remote').catch((err) => void stopErrors.push(`${st.identity}: ${(err as Error).message}`));
  }
  const perMv = energyCost(PRICE_CENTS_PER_KWH, ZERO_DELTA_WH);
  const mvsPerStation = Math.ceil(c.zeroBalance / perMv / 2);
  const durationMs = Math.ceil(((mvsPerStation + 3) * c.zeroSessions * 1000) / c.zeroRatePerS);
  log(`${S6}: (i) ${c.zeroRatePerS} MV/s over ${c.zeroSessions} sessions; each wallet (two sessions, two nodes) at zero after ~${mvsPerStation * 2} MeterValues`);
  // CPU of each process, second by second: the seconds in which wallets reach zero are the busy ones.
  const cpuBySecond: Record<string, number>[] = [];
  let window = cpuWindow(cpuSources(nodes));
  const sampler = setInterval(() => {
    cpuBySecond.push(window());
    window = cpuWindow(cpuSources(nodes));
  }, 1_000);
  // The stop notices the nodes send each other, heard here too: when each handed-over session's
  // notice was delivered (the late stops either came that way or by the mark after the commit).
  const noticeAt = new Map<number, number>();
  const tap = new pg.Client({ connectionString: prep.cluster.db.url });
  await tap.connect();
  tap.on('notification', (msg) => {
    const at = now();
    const notice = msg.payload ? (JSON.parse(msg.payload) as { t: string; s?: [string, number, string, string][] }) : undefined;
    if (notice?.t === 'stop') for (const [, transactionId] of notice.s ?? []) if (!noticeAt.has(transactionId)) noticeAt.set(transactionId, at);
  });
  for (let i = 0; i < nodes.length; i++) await tap.query(`listen "${channelOf(`node${i + 1}`)}"`);
  const loopBefore = await Promise.all(nodes.map(loopAndGc)); // also resets each node's loop delay
  const settledBefore = await Promise.all(nodes.map((n) => meterBatchTotals(n, 'settlement')));
  const started = now();
  const load = await openLoop({
    stations, ratePerS: c.zeroRatePerS, durationMs, deltaWh: ZERO_DELTA_WH,
    skip: (s) => s.stopping || s.remoteStopAt !== undefined,
    onAnswer: (s, end) => {
      const w = walletOf.get(s)!;
      if (!crossed.has(w) && spent(w) >= c.zeroBalance) crossed.set(w, { at: end, by: s });
    },
  });
  await waitUntil(() => stations.every((s) => s.stopAnswered || (s.remoteStopAt === undefined && !crossed.has(walletOf.get(s)!))), 20_000, 50);
  clearInterval(sampler);
  // When each holder made its RemoteStopTransaction call: the command log's created_at (the
  // node's clock, ms), written after the station answered. Splits a late stop's notice → station
  // time into the holder's part and the part after the call left (socket, the generator's loop).
  await sleep(1_000);
  const calledAt = new Map<number, number>();
  for (const r of (await tap.query<{ tx: string; at: Date }>(
    `select payload->>'transactionId' as tx, created_at as at from station_commands where action = 'RemoteStopTransaction'`,
  )).rows) {
    const t = Number(r.tx);
    const at = r.at.getTime() - performance.timeOrigin; // on the generator's performance.now() scale
    if (!calledAt.has(t) || at < calledAt.get(t)!) calledAt.set(t, at);
  }
  await tap.end().catch(() => {});
  const loopAfter = await Promise.all(nodes.map(loopAndGc));
  /** the StopTransactions' settlements: how many statements, of how many each (group commit) */
  const settlements = batchStats(settledBefore, await Promise.all(nodes.map((n) => meterBatchTotals(n, 'settlement'))));
  /** per node, during (i): the event loop's longest delay, and the garbage collection (ms, count) by kind */
  const nodeLoops = loopAfter.map((a, i) => ({
    lagMaxMs: a.lagMaxMs,
    lagP99Ms: a.lagP99Ms,
    gc: Object.fromEntries(Object.entries(a.gc).map(([k, v]) => [k, { ms: round(1000 * (v.s - (loopBefore[i]!.gc[k]?.s ?? 0)), 1), n: v.n - (loopBefore[i]!.gc[k]?.n ?? 0) }])),
  }));

  const local: number[] = [];
  const remote: number[] = [];
  /** the cross-node stops by the second of the run their wallet crossed zero in */
  const remoteBySecond: number[][] = [];
  let early = 0;
  /**
   * Cross-node stops later than the target, and of those, how many came with the answer to the
   * station's own MeterValues (one in flight when the stop arrived, answered within 10 ms of it):
   * the stop left with that station's own batch, not with the debit that crossed zero.
   */
  const late = {
    count: 0, withOwnBatch: 0, byNotice: 0, noticeDelays: [] as number[], holderDelays: [] as number[],
    /** of holderDelays: notice (heard here) → the holder's call, and the call → the station heard it */
    holderCallDelays: [] as number[], afterCallDelays: [] as number[],
  };
  for (const [w, x] of crossed) {
    for (const s of pairs.get(w)!) {
      if (s.remoteStopAt === undefined) continue;
      if (s.remoteStopAt < x.at) early++;
      const delay = Math.max(0, s.remoteStopAt - x.at);
      if (nodeOf(nodes, s) === nodeOf(nodes, x.by)) local.push(delay);
      else {
        remote.push(delay);
        (remoteBySecond[Math.floor((x.at - started) / 1000)] ??= []).push(delay);
        if (delay > ZERO_P99_TARGET_MS) {
          late.count++;
          if (s.meterInFlightAtStop > 0 && s.answerAfterStopAt !== undefined && s.answerAfterStopAt - s.remoteStopAt <= 10) late.withOwnBatch++;
          const heardAt = noticeAt.get(s.transactionId!);
          if (heardAt !== undefined) {
            late.byNotice++;
            // zero → notice delivered here, and notice → the stop at the station
            late.noticeDelays.push(round(heardAt - x.at, 1));
            late.holderDelays.push(round(s.remoteStopAt - heardAt, 1));
            const called = calledAt.get(s.transactionId!);
            if (called !== undefined) {
              late.holderCallDelays.push(round(called - heardAt, 1));
              late.afterCallDelays.push(round(s.remoteStopAt - called, 1));
            }
          }
        }
      }
    }
  }
  const stopped = stations.filter((s) => s.remoteStopAt !== undefined).length;
  const pr = percentiles(remote);
  const pl = percentiles(local);
  const fmt = (p: typeof pr) => `p50 ${ms(p.p50)} / p95 ${ms(p.p95)} / p99 ${ms(p.p99)} / max ${ms(p.max)} (${p.count} stops)`;
  report.target(S6, '(i) RemoteStopTransaction received, every session of every wallet at zero',
    `${stopped} / ${c.zeroSessions} (${crossed.size} of ${pairs.size} wallets reached zero)`, 'all', stopped === c.zeroSessions && crossed.size === pairs.size);
  report.target(S6, '(i) zero → RemoteStopTransaction, session on another node than the debit', fmt(pr),
    `p99 ≤ ${ZERO_P99_TARGET_MS} ms`, pr.count > 0 && pr.p99 <= ZERO_P99_TARGET_MS,
    `same node as the debit: ${fmt(pl)}${early ? `; ${early} stops arrived before the CALLRESULT (counted 0)` : ''}` +
      `; ${late.count} cross-node stops over ${ZERO_P99_TARGET_MS} ms, ${late.withOwnBatch} of them with the answer to the station's own MeterValues, ` +
      `${late.byNotice} handed over by a notice`);
  report.add(S6, '(i) MeterValues load', `${c.zeroRatePerS} MV/s offered, ${load.answered} answered (${fmtLatency(load)}); ${fmtFailures(load)}; ${stopErrors.length} StopTransaction errors`);
  report.add(S6, '(i) StopTransaction settlements (gateway_settlement_batch_size, all nodes)',
    `${settlements.batches} statements of ${settlements.meanSize} settlements, ${settlements.meanMs} ms each`);
  const ledger = await checkLedger({ api: nodes[0]!.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed, pgUrl: prep.cluster.db.url });
  report.ledger(`${S6} (i)`, ledger);
  report.details[`${S6} (i)`] = {
    load, remote: pr, local: pl, stopped, crossed: crossed.size, early, late, nodeLoops, settlements, stopErrors: stopErrors.slice(0, 5),
    remoteBySecond: Array.from(remoteBySecond, (l, second) => ({ second, ...percentiles(l ?? []) })),
    cpuBySecond,
  };
}

/**
 * (i) again, one wallet at a time with nothing else running: the cost of the forwarding itself.
 * Station 2k's MeterValues takes wallet k to zero on its node; station 2k+1, on the next node,
 * must get the stop. From the first one's CALLRESULT to the second one's RemoteStopTransaction.
 */
async function runZeroProbes({ cfg, report }: Ctx, prep: ClusterPrep): Promise<void> {
  const { nodes } = prep.cluster;
  const { stations, billed } = prep.probes;
  const delays: number[] = [];
  let missing = 0;
  log(`${S6}: (i) ${cfg.cluster.zeroProbes} wallets at zero one at a time, nothing else running`);
  for (let k = 0; k < stations.length; k += 2) {
    const [debited, other] = [stations[k]!, stations[k + 1]!];
    for (const s of [debited, other]) s.onRemoteStop = (st) => void st.stopTransaction('Remote').catch(() => {});
    const r = await debited.meter(ZERO_DELTA_WH);
    if (!r.ok || !(await waitUntil(() => other.remoteStopAt !== undefined, 5_000, 1))) {
      missing++;
      continue;
    }
    delays.push(Math.max(0, other.remoteStopAt! - r.end));
    await waitUntil(() => debited.stopAnswered && other.stopAnswered, 5_000, 5);
  }
  const p = percentiles(delays);
  const crossNode = stations.every((s, i) => i % 2 === 1 || nodeOf(nodes, s) !== nodeOf(nodes, stations[i + 1]!));
  report.add(S6, '(i) the same, one wallet at a time, no other load',
    `p50 ${ms(p.p50)} / p95 ${ms(p.p95)} / p99 ${ms(p.p99)} / max ${ms(p.max)} (${p.count} forwarded stops${missing ? `, ${missing} missing` : ''}${crossNode ? '' : '; NOT all cross-node'})`);
  const ledger = await checkLedger({ api: nodes[0]!.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed, pgUrl: prep.cluster.db.url });
  report.ledger(`${S6} (i) probes`, ledger);
  report.details[`${S6} (i) probes`] = { delays: p, missing };
}

/** (ii) POST /v1/sessions/:id/stop sent to node 1, one at a time: stations on the other nodes, and on node 1. */
async function runRestStops({ report }: Ctx, prep: ClusterPrep): Promise<void> {
  const api = prep.cluster.nodes[0]!.api;
  const byTx = new Map<number, string>();
  for (const s of await api.all<{ _id: string; transaction_id: number }>('/v1/sessions?status=active')) byTx.set(s.transaction_id, s._id);
  const stopAll = async (sessions: StartedSessions) => {
    const latencies: number[] = [];
    const refused: string[] = [];
    for (const s of sessions.stations) {
      s.onRemoteStop = (st) => void st.stopTransaction('Remote').catch(() => {});
      const t0 = now();
      const res = await api.request<{ status: string }>('POST', `/v1/sessions/${byTx.get(s.transactionId!)}/stop`);
      latencies.push(now() - t0);
      if (res.status !== 202 || res.body.status !== 'Accepted') refused.push(`${s.identity}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    await waitUntil(() => sessions.stations.every((s) => s.stopAnswered), 10_000, 20);
    return { latency: percentiles(latencies), refused };
  };
  log(`${S6}: (ii) REST remote stops through node 1`);
  const remote = await stopAll(prep.restRemote);
  const local = await stopAll(prep.restLocal);
  const fmt = (p: typeof remote.latency) => `p50 ${ms(p.p50)} / p95 ${ms(p.p95)} / p99 ${ms(p.p99)} / max ${ms(p.max)} (${p.count} requests)`;
  report.add(S6, '(ii) POST /v1/sessions/:id/stop to node 1, station on another node (HTTP round trip, one at a time)',
    `${fmt(remote.latency)}; ${remote.refused.length} not Accepted`, { baseline: `station on node 1: ${fmt(local.latency)}` });
  const ledger = await checkLedger({
    api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: [...prep.restRemote.billed, ...prep.restLocal.billed], pgUrl: prep.cluster.db.url,
  });
  report.ledger(`${S6} (ii)`, ledger);
  report.details[`${S6} (ii)`] = { remote, local };
}

/**
 * (iii) SIGKILL of the node holding every failover station (some of them charging, with
 * MeterValues flowing through the kill): time until each has reconnected to another node and its
 * BootNotification was answered; then the presence the API shows, and the ledger.
 */
async function runFailover({ cfg, report }: Ctx, prep: ClusterPrep): Promise<void> {
  const c = cfg.cluster;
  const { nodes } = prep.cluster;
  const victim = nodes[nodes.length - 1]!;
  const survivors = nodes.slice(0, -1);
  const charging = prep.failoverSessions.stations;
  const fleet = [...charging, ...prep.failoverIdle];
  const onVictim = fleet.filter((s) => s.currentUrl === victim.ocppUrl).length;
  log(`${S6}: (iii) ${onVictim} stations on node${nodes.length}; ${charging.length} charging at ${c.failoverRatePerS} MV/s; SIGKILL in 2 s`);
  let done = false;
  const load = openLoop({
    stations: charging, ratePerS: c.failoverRatePerS, durationMs: 2_000 + c.failoverTimeoutMs, deltaWh: DELTA_WH, until: () => done,
  });
  let tKill = 0;
  let all = false;
  try {
    await sleep(2_000);
    tKill = now();
    await victim.child.kill();
    all = await waitUntil(() => fleet.every((s) => s.lastBootAt > tKill && s.online), c.failoverTimeoutMs, 20);
  } finally {
    // The load stops once every station is back (or the time is up).
    done = true;
  }
  const back = fleet.filter((s) => s.lastBootAt > tKill);
  const lastBoot = Math.max(...back.map((s) => s.lastBootAt));
  const elapsed = Math.round(lastBoot - tKill);
  const onNode = survivors.map((n) => fleet.filter((s) => s.currentUrl === n.ocppUrl).length);
  const loadResult = await load;
  // What the API shows (any node): every station online, on a surviving node.
  const api = survivors[0]!.api;
  const shown = await api.all<{ ocpp_id: string; online: boolean; node: string | null }>(`/v1/chargestations?organization=${prep.fx.organizationId}`);
  const failoverIds = new Set(fleet.map((s) => s.identity));
  const views = shown.filter((s) => failoverIds.has(s.ocpp_id));
  const onlineElsewhere = views.filter((s) => s.online && s.node !== `node${nodes.length}`).length;
  const pc = prep.perConnection;
  report.add(S6, `(iii) a node's cost per idle connection (${pc.stations} stations, presence included)`,
    `${round(pc.rssBytes / 1024, 1)} KiB RSS (${round(pc.rssBefore / 2 ** 20)} → ${round(pc.rssAfter / 2 ** 20)} MiB), ${round(pc.fds, 2)} file descriptors`);
  report.target(S6, `(iii) failover: SIGKILL the node holding ${onVictim} stations → all booted on the others`,
    `${elapsed} ms (${back.length} / ${fleet.length} back; per surviving node ${onNode.join(' / ')})`, `≤ ${FAILOVER_TARGET_MS / 1000} s, all`,
    all && elapsed <= FAILOVER_TARGET_MS, `API (node1) after: ${onlineElsewhere} / ${fleet.length} online on a surviving node`);
  // Sessions end where their station is now; the ledger counts what was answered, and what may have been.
  await pMap(charging, 50, (s) => s.stopTransaction('Local').catch(() => {}));
  const ledger = await checkLedger({ api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: prep.failoverSessions.billed as Billed[], pgUrl: prep.cluster.db.url });
  report.ledger(`${S6} (iii)`, ledger);
  report.add(S6, '(iii) MeterValues through the kill', `${c.failoverRatePerS} MV/s offered, ${loadResult.answered} answered; ${fmtFailures(loadResult)} (the killed node's unanswered ones are resent or settled by StopTransaction)`);
  report.details[`${S6} (iii)`] = { perConnection: pc, stations: fleet.length, onVictim, elapsedMs: elapsed, back: back.length, onNode, apiOnlineElsewhere: onlineElsewhere, load: loadResult };
}
