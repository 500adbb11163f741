import { createFixture } from '../lib/admin.ts';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { startGateway, type Gateway } from '../lib/gateway.ts';
import { checkLedger } from '../lib/ledger.ts';
import { closedLoop, openLoop } from '../lib/load.ts';
import { cpuSeconds, cpuWindow, selfCpuSeconds } from '../lib/proc.ts';
import { fmtFailures, fmtLatency } from '../lib/report.ts';
import { registerSessions, startSessions, type StartedSessions } from '../lib/sessions.ts';
import { closeAll } from '../lib/station.ts';
import { log } from '../lib/util.ts';

const S5 = '5 embedded (PGlite)';

export interface EmbeddedPrep {
  gw: Gateway;
  sessions: StartedSessions;
}

export async function prepareEmbedded({ cfg }: Ctx): Promise<EmbeddedPrep> {
  log(`${S5}: starting the gateway on PGlite (fresh DATA_DIR)`);
  const gw = await startGateway({ database: 'pglite' });
  const fx = await createFixture(gw.api, 'Bench embedded', PRICE_CENTS_PER_KWH);
  const registered = await registerSessions({ api: gw.api, fx, prefix: 'EM-', count: cfg.embedded.stations, balance: 50_000_000 });
  return { gw, sessions: await startSessions(registered, gw.ocppUrl, cfg.callTimeoutMs) };
}

/** Scenario 5: scenario 1 (i) and a small open-loop sweep on the embedded database. Figures only. */
export async function runEmbedded({ cfg, report }: Ctx, { gw, sessions }: EmbeddedPrep): Promise<void> {
  const c = cfg.embedded;
  const { stations, billed } = sessions;
  try {
    report.add(S5, 'gateway start (PGlite, fresh DATA_DIR in the temp dir, to /healthz)',
      `${gw.startMs} ms (started alongside the other scenarios' processes)`);
    log(`${S5}: closed loop, ${c.stations} stations`);
    const cpu = cpuWindow({ gateway: () => cpuSeconds(gw.child.pid), generator: selfCpuSeconds });
    const closed = await closedLoop({ stations, durationMs: c.closedMs, warmupMs: c.warmupMs, deltaWh: 10 });
    closed.cpu = cpu();
    report.add(S5, `(i) max throughput, closed loop, ${c.stations} stations`,
      `${closed.throughput} MV/s (${fmtLatency(closed)}; ${fmtFailures(closed)}; CPU gateway ${closed.cpu.gateway}%)`);
    const sweep = [];
    for (const rate of c.sweep) {
      log(`${S5}: open loop at ${rate} MV/s`);
      const r = await openLoop({ stations, ratePerS: rate, durationMs: c.sweepMs, warmupMs: c.warmupMs, deltaWh: 10 });
      report.point('gateway (PGlite)', r);
      report.add(S5, `(ii) open loop ${rate} MV/s`, `${fmtLatency(r)}; ${r.throughput} MV/s answered; ${fmtFailures(r)}`);
      sweep.push(r);
    }
    log(`${S5}: ledger check through the admin API`);
    report.ledger(S5, await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed }));
    report.gatewayLogs(S5, '', gw.child.logs);
    report.details[S5] = { closed, sweep };
  } finally {
    await closeAll(stations);
    await gw.close();
  }
}
