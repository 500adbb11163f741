import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { checkLedger } from '../lib/ledger.ts';
import { openLoop } from '../lib/load.ts';
import { failuresOf, fmtFailures, fmtLatency } from '../lib/report.ts';
import { closeAll } from '../lib/station.ts';
import { log } from '../lib/util.ts';
import { DELTA_WH, type SteadyState } from './steady.ts';

const S4 = '4 hot wallet';
const P99_TARGET_MS = 50;

/** Scenario 4: many sessions paying from ONE wallet, on top of scenario 1's stations as background load. */
export async function runHotWallet({ cfg, report }: Ctx, steady: SteadyState): Promise<void> {
  const c = cfg.hot;
  if (!steady.hot) throw new Error('scenario 4 was not prepared');
  const { hot } = steady;
  try {
    log(`${S4}: ${c.hotRatePerS} MV/s on the hot wallet + ${c.backgroundRatePerS} MV/s background`);
    const [background, hotLoad] = await Promise.all([
      openLoop({ stations: steady.stations, ratePerS: c.backgroundRatePerS, durationMs: c.durationMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH }),
      openLoop({ stations: hot.stations, ratePerS: c.hotRatePerS, durationMs: c.durationMs, warmupMs: c.warmupMs, deltaWh: DELTA_WH }),
    ]);
    const pass = hotLoad.latency.p99 <= P99_TARGET_MS && failuresOf(hotLoad) === 0;
    report.target(S4, `${c.sessions} sessions on one wallet, ${c.hotRatePerS} MV/s`, `${fmtLatency(hotLoad)}; ${fmtFailures(hotLoad)}`,
      `p99 ≤ ${P99_TARGET_MS} ms, no error or timeout`, pass,
      `background ${steady.stations.length} stations at ${c.backgroundRatePerS} MV/s: ${fmtLatency(background)}; ${fmtFailures(background)}`);
    const ledger = await checkLedger({
      api: steady.gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: [...steady.billed, ...hot.billed], pgUrl: steady.gw.db!.url,
    });
    report.ledger(S4, ledger);
    report.gatewayLogs(S4, '(scenarios 1 and 4)', steady.gw.child.logs);
    report.details[S4] = { hot: hotLoad, background };
  } finally {
    await closeAll(hot.stations);
  }
}
