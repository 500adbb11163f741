import type { Ctx } from '../lib/config.ts';
import { openLoop, type LoadResult } from '../lib/load.ts';
import { cpuSeconds, cpuSecondsOf, cpuWindow, freePort, spawnNode, waitHttpOk } from '../lib/proc.ts';
import { fmtFailures, fmtLatency, ms } from '../lib/report.ts';
import { log } from '../lib/util.ts';
import { DELTA_WH, type SteadyState } from './steady.ts';

const SW = '1w webhooks';
/**
 * offered MeterValues/s: the 2,000, and 1,000 (below what a busy shared machine sustains);
 * BENCH_WEBHOOK_RATES=500,2000 picks others
 */
const RATES = (process.env.BENCH_WEBHOOK_RATES ?? '1000,2000').split(',').map(Number).filter((n) => n > 0);
/** wallets the events are spread over: deliveries of one wallet go one at a time, in order */
const WALLETS = 32;
/** how long the receiver takes to answer each delivery */
const RECEIVER_DELAY_MS = 2000;
/** events made during every window (top-ups through the admin API), with or without an endpoint */
const EVENTS_PER_S = 20;
/** rounds per rate (BENCH_WEBHOOK_ROUNDS): each is a no-endpoint and a slow-receiver window, in alternating order */
const ROUNDS = Math.max(1, Number(process.env.BENCH_WEBHOOK_ROUNDS ?? 2));
/** each window lasts several receiver answers, whatever the run's sweep length */
const MIN_WINDOW_MS = 8_000;

type Mode = 'none' | 'slow';
const LABEL: Record<Mode, string> = {
  none: 'no webhook endpoint',
  slow: `an endpoint for every event whose receiver answers in ${RECEIVER_DELAY_MS / 1000} s`,
};

/**
 * A receiver that answers every delivery 200 after RECEIVER_DELAY_MS, in a child process of its
 * own: its sockets and timers are not the load generator's (bench/baseline/slow-receiver.ts).
 */
async function slowReceiver() {
  const port = await freePort();
  const child = spawnNode('webhook-receiver', 'bench/baseline/slow-receiver.ts', { HOST: '127.0.0.1', PORT: String(port), DELAY_MS: String(RECEIVER_DELAY_MS) });
  const base = `http://127.0.0.1:${port}`;
  await waitHttpOk(`${base}/healthz`, child, 30_000);
  return {
    url: `${base}/hook`,
    received: async () => Number(await (await fetch(`${base}/count`)).text()),
    close: () => child.stop(2_000),
  };
}

/**
 * Scenario 1's p99 at 1,000 and 2,000 MeterValues/s with a webhook endpoint whose receiver answers in 2 s,
 * against the same load with no endpoint, on the same gateway, in alternating rounds. Both kinds
 * of window make the same events (top-ups, EVENTS_PER_S); with the endpoint, the gateway also
 * delivers them (16 in flight, each held 2 s: the queue grows all window long). Billing only
 * writes outbox rows when a wallet crosses a line; delivery runs beside it, never in its path.
 */
export async function runWebhookComparison({ cfg, report }: Ctx, steady: SteadyState): Promise<void> {
  const { gw, stations } = steady;
  const receiver = await slowReceiver();
  const org = await gw.api.create('/v1/organizations', { name: 'Bench webhooks', minimum_balance_to_start_session: 0 });
  const wallets: string[] = [];
  for (let i = 0; i < WALLETS; i++) {
    const user = await gw.api.create('/v1/users', { firstname: 'Hook', lastname: `Bench ${i}`, email: `hooks-${i}-${Date.now()}@bench.example`, organization: org._id });
    wallets.push((await gw.api.get(`/v1/users/${user._id}/wallet`)).wallet._id);
  }
  const hook = await gw.api.create('/v1/webhooks', { url: receiver.url, events: ['*'], active: false });
  const runs: { mode: Mode; rate: number; r: LoadResult; cpu: Record<string, number>; events: number; delivered: number }[] = [];

  const window = async (mode: Mode, rate: number) => {
    await gw.api.request('PATCH', `/v1/webhooks/${hook._id}`, { active: mode === 'slow' });
    const deliveredBefore = await receiver.received();
    let events = 0;
    let making = true;
    const maker = (async () => {
      const every = 1000 / EVENTS_PER_S;
      while (making) {
        const t = Date.now();
        const res = await gw.api.request('POST', '/v1/top_up', { type: 'manual', wallet: wallets[events % WALLETS], amount: 1 });
        if (res.status === 201) events += 1;
        await new Promise((r) => setTimeout(r, Math.max(0, every - (Date.now() - t))));
      }
    })();
    const stop = cpuWindow({ gateway: () => cpuSeconds(gw.child.pid), postgres: () => cpuSecondsOf('postgres') });
    const durationMs = Math.max(cfg.steady.sweepMs, MIN_WINDOW_MS);
    const r = await openLoop({ stations, ratePerS: rate, durationMs, warmupMs: cfg.steady.warmupMs, deltaWh: DELTA_WH });
    const cpu = stop();
    making = false;
    await maker;
    runs.push({ mode, rate, r, cpu, events, delivered: (await receiver.received()) - deliveredBefore });
  };

  try {
    log(`${SW}: ${RATES[0]} MV/s warm-up, not measured`);
    await window('none', RATES[0]!);
    runs.length = 0;
    for (const rate of RATES) {
      for (let round = 1; round <= ROUNDS; round++) {
        // none-slow, slow-none, …: a drift of the machine over the run weighs on both modes alike.
        for (const mode of round % 2 ? (['none', 'slow'] as const) : (['slow', 'none'] as const)) {
          log(`${SW}: ${rate} MV/s, ${LABEL[mode]} (round ${round})`);
          await window(mode, rate);
        }
      }
    }
    const pending = (await gw.api.get(`/v1/webhooks/${hook._id}/deliveries?status=pending&limit=200`)).data.length;
    report.add(SW, 'deliveries waiting at the end (a 2 s receiver takes at most 8 a second at 16 in flight)', `${pending}${pending === 200 ? '+' : ''}`);
  } finally {
    await gw.api.request('PATCH', `/v1/webhooks/${hook._id}`, { active: false });
    await receiver.close();
  }
  for (const [i, x] of runs.entries()) {
    report.add(
      SW,
      `${x.rate} MV/s, ${LABEL[x.mode]} (run ${i + 1})`,
      `${fmtLatency(x.r)}; ${fmtFailures(x.r)}; CPU gateway ${x.cpu.gateway}%, postgres ${x.cpu.postgres}%; ` +
        `${x.events} events made, ${x.delivered} delivered in the window`,
    );
  }
  const median = (v: number[]) => {
    const sorted = [...v].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return Number.isInteger(mid) ? (sorted[mid - 1]! + sorted[mid]!) / 2 : sorted[Math.floor(mid)]!;
  };
  for (const rate of RATES) {
    const side = (mode: Mode) => {
      const of = runs.filter((x) => x.mode === mode && x.rate === rate);
      const med = (k: 'p50' | 'p95' | 'p99') => ms(median(of.map((x) => x.r.latency[k])));
      return `p99 ${of.map((x) => ms(x.r.latency.p99)).join(', ')} (medians of the windows: p50 ${med('p50')} / p95 ${med('p95')} / p99 ${med('p99')})`;
    };
    report.add(SW, `billing p99 at ${rate} MV/s, same gateway, same run`, `no endpoint: ${side('none')}; slow receiver: ${side('slow')}`, {
      baseline: 'absolute figures on a shared 2-core machine',
    });
  }
  report.details[SW] = runs.map((x) => ({
    mode: x.mode, rate: x.rate, latency: x.r.latency, cpu: x.cpu, failures: fmtFailures(x.r), events: x.events, delivered: x.delivered,
  }));
}
