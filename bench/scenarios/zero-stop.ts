import { createFixture } from '../lib/admin.ts';
import type { Gateway } from '../lib/gateway.ts';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { startGateway } from '../lib/gateway.ts';
import { checkLedger, energyCost } from '../lib/ledger.ts';
import { openLoop } from '../lib/load.ts';
import { fmtFailures, ms } from '../lib/report.ts';
import { registerSessions, startSessions, type StartedSessions } from '../lib/sessions.ts';
import { closeAll, type BenchStation } from '../lib/station.ts';
import { percentiles } from '../lib/stats.ts';
import { log, waitUntil } from '../lib/util.ts';

const S3 = '3 zero to stop';
const P99_TARGET_MS = 100;

export interface ZeroPrep {
  gw: Gateway;
  sessions: StartedSessions;
}

export async function prepareZeroStop({ cfg }: Ctx): Promise<ZeroPrep> {
  const gw = await startGateway({ database: 'postgres' });
  const fx = await createFixture(gw.api, 'Bench zero', PRICE_CENTS_PER_KWH);
  const registered = await registerSessions({ api: gw.api, fx, prefix: 'ZS-', count: cfg.zero.sessions, balance: cfg.zero.balance });
  return { gw, sessions: await startSessions(registered, gw.ocppUrl, cfg.callTimeoutMs) };
}

/**
 * Scenario 3: every wallet (one per session, a small balance) runs out during the run. Each
 * station must receive RemoteStopTransaction; the delay is measured from the CALLRESULT of the
 * MeterValues whose debit took the balance to ≤ 0 to the RemoteStopTransaction CALL.
 */
export async function runZeroStop({ cfg, report }: Ctx, { gw, sessions: prepared }: ZeroPrep): Promise<void> {
  const c = cfg.zero;
  const { stations } = prepared;
  try {
    const crossedAt = new Map<BenchStation, number>();
    const stopErrors: string[] = [];
    for (const s of stations) {
      s.onRemoteStop = (st) => {
        st.stopTransaction('Remote').catch((err) => void stopErrors.push(`${st.identity}: ${(err as Error).message}`));
      };
    }
    const perMv = energyCost(PRICE_CENTS_PER_KWH, c.deltaWh);
    const mvsToZero = Math.ceil(c.balance / perMv);
    // Long enough for every station to send a few more than it needs to reach zero.
    const durationMs = Math.ceil(((mvsToZero + 3) * c.sessions * 1000) / c.ratePerS);
    log(`${S3}: ${c.ratePerS} MV/s, each wallet at zero after ${mvsToZero} MeterValues`);
    const load = await openLoop({
      stations, ratePerS: c.ratePerS, durationMs, deltaWh: c.deltaWh,
      skip: (s) => s.stopping || s.remoteStopAt !== undefined,
      onAnswer: (s, end) => {
        if (!crossedAt.has(s) && energyCost(PRICE_CENTS_PER_KWH, s.answeredRegister - s.meterStart) >= c.balance) crossedAt.set(s, end);
      },
    });
    await waitUntil(() => stations.every((s) => s.stopAnswered || (s.remoteStopAt === undefined && !crossedAt.has(s))), c.waitMs, 50);

    const delays: number[] = [];
    let early = 0;
    for (const [s, at] of crossedAt) {
      if (s.remoteStopAt === undefined) continue;
      if (s.remoteStopAt < at) early++;
      delays.push(Math.max(0, s.remoteStopAt - at));
    }
    const stopped = stations.filter((s) => s.remoteStopAt !== undefined).length;
    const p = percentiles(delays);
    report.target(S3, 'RemoteStopTransaction received', `${stopped} / ${c.sessions} (${crossedAt.size} reached zero)`,
      'all', stopped === c.sessions && crossedAt.size === c.sessions);
    report.target(S3, 'MeterValues CALLRESULT → RemoteStopTransaction CALL',
      `p50 ${ms(p.p50)} / p95 ${ms(p.p95)} / p99 ${ms(p.p99)} / max ${ms(p.max)}` +
        (early ? ` (${early} stops arrived before the CALLRESULT, counted 0)` : ''),
      `p99 ≤ ${P99_TARGET_MS} ms`, p.count > 0 && p.p99 <= P99_TARGET_MS);
    report.add(S3, 'MeterValues load',
      `${c.ratePerS} MV/s offered, ${load.answered} answered; ${fmtFailures(load)}; ${stopErrors.length} StopTransaction errors`);

    const sessions = await gw.api.all<{ status: string; termination: string | null }>('/v1/sessions');
    const settled = sessions.filter((s) => s.status === 'completed' && s.termination === 'insufficient_balance').length;
    report.add(S3, 'sessions completed, termination insufficient_balance', `${settled} / ${sessions.length}`);
    const balances = prepared.billed.map(
      (b) => b.initialBalance - energyCost(PRICE_CENTS_PER_KWH, (b.station.meterStop ?? b.station.register) - b.station.meterStart),
    );
    report.add(S3, 'final balances (cents)',
      `min ${Math.min(...balances)}, max ${Math.max(...balances)} (energy delivered while stopping is owed)`);
    const { billed } = prepared;
    report.ledger(S3, await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed, pgUrl: gw.db!.url }));
    report.gatewayLogs(S3, '', gw.child.logs);
    report.details[S3] = { load, delays: p, stopped, crossed: crossedAt.size, early, stopErrors: stopErrors.slice(0, 5), settled };
  } finally {
    await closeAll(stations);
    await gw.close();
  }
}
