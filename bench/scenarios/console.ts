import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { BENCH_API_KEY } from '../lib/gateway.ts';
import { checkLedger } from '../lib/ledger.ts';
import { openLoop, type LoadResult } from '../lib/load.ts';
import { fmtFailures, fmtLatency, ms } from '../lib/report.ts';
import { log } from '../lib/util.ts';
import { DELTA_WH, type SteadyState } from './steady.ts';

const SC = '1c console open';
const RATE = 2000;
/** closed/open pairs: the machine's own noise shows in the spread of each side */
const ROUNDS = 3;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Signs in and opens the page of a session that is being billed, live (server-sent events). */
async function openSessionPage(browser: Browser, baseUrl: string, sessionId: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${baseUrl}/console`);
  await page.getByLabel('Admin API key').fill(BENCH_API_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  await page.goto(`${baseUrl}/console#/sessions/${sessionId}`);
  await page.getByTestId('wallet-balance').waitFor();
  return page;
}

/**
 * Scenario 1's p99 at 2,000 MeterValues/s with the operator console open on a busy session's
 * page (headless Chromium, live over server-sent events) against the same load with no console,
 * on the same gateway, alternating closed/open. Chromium runs on the same machine as the
 * gateway, so the "open" figure also carries its CPU use.
 */
export async function runConsoleComparison({ cfg, report }: Ctx, steady: SteadyState): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    report.add(SC, 'skipped', `no Chromium at ${CHROMIUM} (apt-get install chromium)`);
    return;
  }
  const { gw, stations } = steady;
  const first = stations[0]!;
  const active = await gw.api.all<{ _id: string; transaction_id: number }>('/v1/sessions?status=active');
  const session = active.find((s) => s.transaction_id === first.transactionId);
  if (!session) throw new Error(`no active session for ${first.identity}`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const runs: { open: boolean; r: LoadResult; balances?: [string, string] }[] = [];
  try {
    const load = () =>
      openLoop({ stations, ratePerS: RATE, durationMs: cfg.steady.sweepMs, warmupMs: cfg.steady.warmupMs, deltaWh: DELTA_WH });
    for (let round = 0; round < ROUNDS; round++) {
      log(`${SC}: ${RATE} MV/s, console closed (round ${round + 1})`);
      runs.push({ open: false, r: await load() });
      const page = await openSessionPage(browser, gw.api.baseUrl, session._id);
      const before = (await page.getByTestId('wallet-balance').textContent()) ?? '';
      log(`${SC}: ${RATE} MV/s, console open on session ${first.transactionId} (round ${round + 1})`);
      const r = await load();
      const after = (await page.getByTestId('wallet-balance').textContent()) ?? '';
      runs.push({ open: true, r, balances: [before, after] });
      await page.context().close();
    }
  } finally {
    await browser.close();
  }
  const p99s = (open: boolean) => runs.filter((x) => x.open === open).map((x) => x.r.latency.p99);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const side = (open: boolean) => `${p99s(open).map(ms).join(', ')} (median ${ms(median(p99s(open)))})`;
  for (const [i, x] of runs.entries()) {
    const moved = x.balances ? `; on screen the balance went ${x.balances[0]} → ${x.balances[1]}` : '';
    report.add(SC, `${RATE} MV/s, ${x.open ? 'console open on a busy session page' : 'console closed'} (run ${i + 1})`,
      `${fmtLatency(x.r)}; ${fmtFailures(x.r)}${moved}`);
  }
  report.add(SC, `p99 at ${RATE} MV/s, same gateway, same run`, `console closed: ${side(false)}; console open: ${side(true)}`, {
    baseline: 'Chromium shares the 2 cores with the gateway and the load generator',
  });
  report.ledger(SC, await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: steady.billed, pgUrl: gw.db!.url }));
  report.details[SC] = runs.map((x) => ({ open: x.open, latency: x.r.latency, failures: fmtFailures(x.r), balances: x.balances }));
}
