import type { BenchStation } from './station.ts';
import { percentiles, type Percentiles } from './stats.ts';
import { now, sleep, waitUntil } from './util.ts';

export interface LoadResult {
  mode: 'open' | 'closed';
  /** MeterValues/s asked for (open loop) */
  offeredRate?: number;
  stations: number;
  durationS: number;
  /** open loop: sends the schedule asked for; shed = dropped because that station's backlog was full */
  scheduled: number;
  shed: number;
  /** still queued at a station when the run ended (never sent) */
  unsentAtEnd: number;
  sent: number;
  answered: number;
  errors: number;
  timeouts: number;
  /** MeterValues answered per second within the measuring window */
  throughput: number;
  /** ms; open loop: from the scheduled send time (queueing behind the station's previous call included) */
  latency: Percentiles;
  /** open loop: ms from the CALL actually sent to its CALLRESULT (no queueing) */
  serviceLatency?: Percentiles;
  /** open loop: latency (as `latency`) of the sends scheduled in each second of the run, in order */
  bySecond?: (Percentiles & { second: number })[];
  errorSamples: string[];
  cpu?: Record<string, number>;
}

interface Tally {
  sent: number;
  answered: number;
  answeredInWindow: number;
  errors: number;
  timeouts: number;
  latencies: number[];
  serviceLatencies: number[];
  /** open loop: latencies by the second (from the start) their send was scheduled in */
  perSecond: number[][];
  errorSamples: string[];
}

const newTally = (): Tally => ({
  sent: 0,
  answered: 0,
  answeredInWindow: 0,
  errors: 0,
  timeouts: 0,
  latencies: [],
  serviceLatencies: [],
  perSecond: [],
  errorSamples: [],
});

function noteError(t: Tally, timeout: boolean, error: string | undefined): void {
  if (timeout) t.timeouts++;
  else t.errors++;
  if (error && t.errorSamples.length < 5 && !t.errorSamples.includes(error)) t.errorSamples.push(error);
}

/**
 * ocpp-rpc builds a TimeoutError and an AbortController (whose abort makes a DOMException) for
 * every call; capturing their stack traces is a large part of the generator's CPU per call.
 * While load runs, errors carry no stack (nothing here needs one).
 */
let leanDepth = 0;
let savedLimit = Error.stackTraceLimit;
async function leanErrors<T>(run: () => Promise<T>): Promise<T> {
  // The generator's own garbage (10,000 closed stations, earlier scenarios' samples) is
  // collected before a window, not in it: a major GC of a 600 MB generator heap in the middle of
  // a 10 s window delayed ~200 answers by up to 130 ms and set scenario 4's p99. Needs
  // `node --expose-gc` (the bench scripts pass it); without it nothing happens.
  (globalThis as { gc?: () => void }).gc?.();
  if (leanDepth++ === 0) {
    savedLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  }
  try {
    return await run();
  } finally {
    if (--leanDepth === 0) Error.stackTraceLimit = savedLimit;
  }
}

export interface OpenLoopOptions {
  stations: readonly BenchStation[];
  ratePerS: number;
  durationMs: number;
  /** the first part of the run is not measured (latency by scheduled time, throughput by answer time) */
  warmupMs?: number;
  deltaWh: number;
  /** a station's queue of scheduled-but-unsent MeterValues is capped here; more are shed */
  maxBacklog?: number;
  /** how long to let backlogs drain after the schedule ends */
  drainMs?: number;
  /** stations to leave out of the schedule (e.g. stopping) */
  skip?: (s: BenchStation) => boolean;
  /** called with every answered MeterValues */
  onAnswer?: (s: BenchStation, end: number) => void;
  /** ends the schedule early once this is true (checked every few ms) */
  until?: () => boolean;
}

/**
 * Open-loop load: sends are scheduled at `ratePerS` round-robin over the stations, whatever
 * the answers do. A station keeps one call in flight (OCPP); sends due meanwhile wait in its
 * backlog, and their latency counts from the scheduled time (no coordinated omission).
 */
export function openLoop(o: OpenLoopOptions): Promise<LoadResult> {
  return leanErrors(() => runOpenLoop(o));
}

async function runOpenLoop(o: OpenLoopOptions): Promise<LoadResult> {
  const n = o.stations.length;
  const maxBacklog = o.maxBacklog ?? 20;
  const interval = 1000 / o.ratePerS;
  const total = Math.floor((o.durationMs / 1000) * o.ratePerS);
  const queues = o.stations.map(() => [] as number[]);
  const busy = new Array<boolean>(n).fill(false);
  const t = newTally();
  let scheduled = 0;
  let shed = 0;
  let draining = true;
  const t0 = now();
  const tEnd = t0 + o.durationMs;
  const warmupMs = Math.min(o.warmupMs ?? 0, o.durationMs / 2);
  const tWarm = t0 + warmupMs;

  const pump = (i: number) => {
    const s = o.stations[i]!;
    if (o.skip?.(s)) {
      // The station stopped meanwhile: what it still had queued is not sent, and is no failure.
      scheduled -= queues[i]!.length;
      queues[i]!.length = 0;
      return;
    }
    const sched = queues[i]!.shift();
    if (sched === undefined) return;
    busy[i] = true;
    t.sent++;
    const sentAt = now();
    void s.meter(o.deltaWh).then((r) => {
      busy[i] = false;
      if (r.ok) {
        t.answered++;
        if (sched >= tWarm) {
          t.latencies.push(r.end - sched);
          t.serviceLatencies.push(r.end - sentAt);
          (t.perSecond[Math.floor((sched - t0) / 1000)] ??= []).push(r.end - sched);
        }
        if (r.end >= tWarm && r.end <= tEnd) t.answeredInWindow++;
        o.onAnswer?.(s, r.end);
      } else noteError(t, r.timeout, r.error);
      if (draining) pump(i);
    });
  };

  let k = 0;
  while (k < total && !o.until?.()) {
    const due = Math.min(total, Math.floor((now() - t0) / interval) + 1);
    for (; k < due; k++) {
      const i = k % n;
      const s = o.stations[i]!;
      if (o.skip?.(s)) continue;
      scheduled++;
      if (queues[i]!.length >= maxBacklog) {
        shed++;
        continue;
      }
      queues[i]!.push(t0 + k * interval);
      if (!busy[i]) pump(i);
    }
    await sleep(2);
  }
  await waitUntil(() => busy.every((b) => !b) && queues.every((q) => q.length === 0), o.drainMs ?? 3_000);
  draining = false;
  const unsentAtEnd = queues.reduce((a, q) => a + q.length, 0);
  for (const q of queues) q.length = 0;
  await waitUntil(() => busy.every((b) => !b), 60_000);
  return {
    mode: 'open',
    offeredRate: o.ratePerS,
    stations: n,
    durationS: o.durationMs / 1000,
    scheduled,
    shed,
    unsentAtEnd,
    sent: t.sent,
    answered: t.answered,
    errors: t.errors,
    timeouts: t.timeouts,
    throughput: Math.round(t.answeredInWindow / ((o.durationMs - warmupMs) / 1000)),
    latency: percentiles(t.latencies),
    serviceLatency: percentiles(t.serviceLatencies),
    bySecond: Array.from(t.perSecond, (l, second) => ({ second, ...percentiles(l ?? []) })),
    errorSamples: t.errorSamples,
  };
}

export interface ClosedLoopOptions {
  stations: readonly BenchStation[];
  durationMs: number;
  /** answers before this are not counted */
  warmupMs: number;
  deltaWh: number;
}

/** Closed-loop load: every station sends its next MeterValues as soon as the last is answered. */
export function closedLoop(o: ClosedLoopOptions): Promise<LoadResult> {
  return leanErrors(() => runClosedLoop(o));
}

async function runClosedLoop(o: ClosedLoopOptions): Promise<LoadResult> {
  const t = newTally();
  const t0 = now();
  const tMeasure = t0 + o.warmupMs;
  const tEnd = tMeasure + o.durationMs;
  await Promise.all(
    o.stations.map(async (s) => {
      while (now() < tEnd) {
        const start = now();
        t.sent++;
        const r = await s.meter(o.deltaWh);
        const inWindow = r.end >= tMeasure && r.end <= tEnd;
        if (r.ok) {
          t.answered++;
          if (inWindow) {
            t.answeredInWindow++;
            t.latencies.push(r.end - start);
          }
        } else {
          noteError(t, r.timeout, r.error);
          if (!r.timeout) await sleep(20); // e.g. disconnected: do not spin
        }
      }
    }),
  );
  return {
    mode: 'closed',
    stations: o.stations.length,
    durationS: o.durationMs / 1000,
    scheduled: t.sent,
    shed: 0,
    unsentAtEnd: 0,
    sent: t.sent,
    answered: t.answered,
    errors: t.errors,
    timeouts: t.timeouts,
    throughput: Math.round(t.answeredInWindow / (o.durationMs / 1000)),
    latency: percentiles(t.latencies),
    errorSamples: t.errorSamples,
  };
}
