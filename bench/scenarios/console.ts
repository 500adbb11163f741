import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { BENCH_API_KEY } from '../lib/gateway.ts';
import { checkLedger } from '../lib/ledger.ts';
import { openLoop, type LoadResult } from '../lib/load.ts';
import { cpuSeconds, cpuWindow } from '../lib/proc.ts';
import { fmtFailures, fmtLatency, ms } from '../lib/report.ts';
import { log } from '../lib/util.ts';
import { DELTA_WH, type SteadyState } from './steady.ts';

const SC = '1c console open';
const RATE = 2000;
/** rounds of (closed, browser, stream): the machine's own noise shows in the spread of each */
const ROUNDS = 3;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

type Mode = 'closed' | 'browser' | 'stream';
const LABEL: Record<Mode, string> = {
  closed: 'console closed',
  browser: 'console open on a busy session page (headless Chromium)',
  stream: "that page's event stream alone (no browser)",
};

/** Signs in and opens the page of a session that is being billed, live (server-sent events). */
async function openSessionPage(browser: Browser, baseUrl: string, sessionId: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (msg) => void (msg.type() === 'error' && problems.push(msg.text())));
  try {
    await page.goto(`${baseUrl}/console`);
    await page.getByLabel('Admin API key').fill(BENCH_API_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.goto(`${baseUrl}/console#/sessions/${sessionId}`);
    const balance = page.getByTestId('wallet-balance');
    await balance.waitFor({ timeout: 60_000 });
    await page.waitForFunction((el) => !!el && el.textContent !== '–', await balance.elementHandle(), { timeout: 60_000 });
    return page;
  } catch (err) {
    const shown = await page.locator('body').innerText().catch(() => '?');
    throw new Error(`the console did not open the session page: ${(err as Error).message}\npage: ${shown.slice(0, 500)}\nconsole: ${problems.join(' | ')}`);
  }
}

/** The session page's event stream read by a plain HTTP client: the gateway's side of an open console. */
async function openStream(baseUrl: string, sessionId: string) {
  const ctl = new AbortController();
  const res = await fetch(`${baseUrl}/v1/events/stream?types=session,wallet,alert&session=${sessionId}`, {
    headers: { authorization: `Bearer ${BENCH_API_KEY}` },
    signal: ctl.signal,
  });
  if (res.status !== 200) throw new Error(`event stream: ${res.status}`);
  let events = 0;
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) events += decoder.decode(chunk as Uint8Array).split('event: session').length - 1;
  })().catch(() => {});
  return {
    events: () => events,
    close: async () => {
      ctl.abort();
      await reading;
    },
  };
}

interface Run {
  mode: Mode;
  r: LoadResult;
  gatewayCpu: number;
  seen: string;
}

/**
 * Scenario 1's p99 at 2,000 MeterValues/s with the operator console open on a busy session's
 * page against the same load with no console, on the same gateway, in alternating rounds. A
 * third mode reads only that page's event stream, without a browser: Chromium runs on the same
 * 2 cores as the gateway, so the browser runs also carry its CPU use, and the stream runs show
 * the gateway's own share.
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
  const runs: Run[] = [];
  const load = async () => {
    const cpu = cpuWindow({ gateway: () => cpuSeconds(gw.child.pid) });
    const r = await openLoop({ stations, ratePerS: RATE, durationMs: cfg.steady.sweepMs, warmupMs: cfg.steady.warmupMs, deltaWh: DELTA_WH });
    return { r, gatewayCpu: cpu().gateway ?? 0 };
  };
  try {
    // The first window after scenario 1's baselines and ledger check ran slow every time, open or
    // closed: it warms up, unmeasured.
    log(`${SC}: ${RATE} MV/s warm-up, not measured`);
    await load();
    for (let round = 1; round <= ROUNDS; round++) {
      log(`${SC}: ${RATE} MV/s, console closed (round ${round})`);
      runs.push({ mode: 'closed', ...(await load()), seen: '' });

      const page = await openSessionPage(browser, gw.api.baseUrl, session._id);
      const before = (await page.getByTestId('wallet-balance').textContent()) ?? '';
      log(`${SC}: ${RATE} MV/s, console open on session ${first.transactionId} (round ${round})`);
      const open = await load();
      const after = (await page.getByTestId('wallet-balance').textContent()) ?? '';
      runs.push({ mode: 'browser', ...open, seen: `; on screen the balance went ${before} → ${after}` });
      await page.context().close();

      const stream = await openStream(gw.api.baseUrl, session._id);
      log(`${SC}: ${RATE} MV/s, the session page's event stream alone (round ${round})`);
      const streamed = await load();
      runs.push({ mode: 'stream', ...streamed, seen: `; ${stream.events()} session events received` });
      await stream.close();
    }
  } finally {
    await browser.close();
  }
  for (const [i, x] of runs.entries()) {
    report.add(SC, `${RATE} MV/s, ${LABEL[x.mode]} (run ${i + 1})`, `${fmtLatency(x.r)}; gateway CPU ${x.gatewayCpu}%; ${fmtFailures(x.r)}${x.seen}`);
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const of = (mode: Mode) => runs.filter((x) => x.mode === mode);
  const side = (mode: Mode) =>
    `${of(mode).map((x) => ms(x.r.latency.p99)).join(', ')} (median ${ms(median(of(mode).map((x) => x.r.latency.p99)))}, ` +
    `gateway CPU median ${median(of(mode).map((x) => x.gatewayCpu))}%)`;
  report.add(SC, `p99 at ${RATE} MV/s, same gateway, same run`,
    `closed: ${side('closed')}; browser open: ${side('browser')}; stream only: ${side('stream')}`,
    { baseline: 'Chromium shares the 2 cores with the gateway and the load generator' });
  report.ledger(SC, await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: steady.billed, pgUrl: gw.db!.url }));
  report.details[SC] = runs.map((x) => ({ mode: x.mode, latency: x.r.latency, gatewayCpu: x.gatewayCpu, failures: fmtFailures(x.r), seen: x.seen }));
}
