/**
 * The arithmetic of the predictive stop (issue 17), pure: no I/O, no timers. When will a wallet's
 * balance reach zero, given the sessions it funds, their power and their rates; and when must
 * each session's RemoteStopTransaction leave so that its charger has stopped by then.
 *
 * Floats are fine here: they decide *when* to stop, never how much is posted. Every cent that
 * moves is still computed exactly by computeCost at the next reading or at settlement.
 */
import type { PriceComponent } from '../billing/cost.ts';

/** A station clock further than this from ours is not believed: readings are placed by when they arrived. */
export const MAX_PLAUSIBLE_SKEW_MS = 24 * 3_600_000;
/** Clock-offset samples a station keeps (the smallest wins: see StationClock). */
const OFFSET_SAMPLES = 16;

/**
 * Where a station's clock stands against ours. Every message stamped by the station and received
 * by us gives one sample `received − stamped` = skew + transport delay + how long the station held
 * it back; the smallest recent sample is the best estimate of the skew alone (a reading can never
 * arrive before it was taken). Readings held back for a while, or sent in bursts, are therefore
 * placed at the time they were taken, as long as *some* message (a StartTransaction, a triggered
 * reading) came promptly.
 */
export class StationClock {
  private readonly samples: number[] = [];

  observe(stationMs: number, receivedMs: number): void {
    const offset = receivedMs - stationMs;
    if (!Number.isFinite(offset) || Math.abs(offset) > MAX_PLAUSIBLE_SKEW_MS) return;
    this.samples.push(offset);
    if (this.samples.length > OFFSET_SAMPLES) this.samples.shift();
  }

  /** received − stamped, at best; undefined before any plausible sample. */
  get offsetMs(): number | undefined {
    if (!this.samples.length) return undefined;
    let min = this.samples[0]!;
    for (const s of this.samples) if (s < min) min = s;
    return min;
  }

  /**
   * Our time of a moment the station stamped `stationMs` and we received at `receivedMs`: the
   * stamp moved by the clock offset, never later than its arrival. Without a plausible stamp,
   * the arrival time.
   */
  toGateway(stationMs: number | undefined, receivedMs: number): number {
    const offset = this.offsetMs;
    if (stationMs === undefined || offset === undefined || Math.abs(receivedMs - stationMs) > MAX_PLAUSIBLE_SKEW_MS) return receivedMs;
    return Math.min(receivedMs, stationMs + offset);
  }
}

/** Cents per Wh and per second of a rate, tax included (floats: for timing only). */
export interface RateSlopes {
  centsPerWh: number;
  centsPerS: number;
}

export function rateSlopes(components: readonly PriceComponent[]): RateSlopes {
  let centsPerWh = 0;
  let centsPerS = 0;
  for (const c of components) {
    const tax = 1 + c.tax_e4 / 1_000_000;
    if (c.type === 'ENERGY') centsPerWh += (c.price_e4 / 10_000 / 1_000) * tax;
    else if (c.type === 'TIME') centsPerS += (c.price_e4 / 10_000 / 3_600) * tax;
  }
  return { centsPerWh, centsPerS };
}

/** One register reading: the station's stamp (if usable) and when we received it. */
export interface RegisterPoint {
  wh: number;
  stationMs: number | undefined;
  receivedMs: number;
}

/** Spans shorter than this give no slope unless enough energy moved to measure it well. */
const MIN_SPAN_MS = 5_000;
/** A slope over a shorter span needs at least this many Wh (a whole-Wh register: ≤ 5 % error). */
const MIN_SLOPE_WH = 20;
/** …and at least this span. */
const MIN_SHORT_SPAN_MS = 100;

/**
 * A session's power, measured as the slope of its energy register between readings, by the
 * station's own timestamps (Δ Wh / Δ station time): a reading that arrives late or in a burst
 * still carries the time it was taken. Only when a stamp is missing is the arrival time used,
 * for both ends. Reported power (Power.Active.Import) stands in until there is a slope.
 */
export class PowerMeter {
  private anchor: RegisterPoint;
  private slopeW: number | undefined;
  private reportedW: number | undefined;
  /** the spacing of the station's readings, as last seen (ms of its clock) */
  intervalMs: number | undefined;
  private last: RegisterPoint;

  constructor(start: RegisterPoint) {
    this.anchor = start;
    this.last = start;
  }

  /** Folds in a reading; readings older than the newest one seen only refine nothing. */
  observe(point: RegisterPoint, reportedW?: number): void {
    if (reportedW !== undefined && Number.isFinite(reportedW) && reportedW >= 0) this.reportedW = reportedW;
    const span = spanMs(this.last, point);
    if (span === undefined || span <= 0) return;
    if (point.wh < this.last.wh) return; // a meter going backwards measures nothing
    if (span >= 1_000) this.intervalMs = span;
    this.last = point;
    const anchorSpan = spanMs(this.anchor, point);
    if (anchorSpan === undefined || anchorSpan <= 0) {
      this.anchor = point;
      return;
    }
    const wh = point.wh - this.anchor.wh;
    if (anchorSpan >= MIN_SPAN_MS || (wh >= MIN_SLOPE_WH && anchorSpan >= MIN_SHORT_SPAN_MS)) {
      this.slopeW = (wh * 3_600_000) / anchorSpan;
      this.anchor = point;
    }
  }

  /** The power to extrapolate with, W; undefined while nothing tells. */
  get powerW(): number | undefined {
    return this.slopeW ?? this.reportedW;
  }

  get latest(): RegisterPoint {
    return this.last;
  }
}

/** ms between two points: by the station's stamps when both have one, else by arrival. */
function spanMs(a: RegisterPoint, b: RegisterPoint): number | undefined {
  if (a.stationMs !== undefined && b.stationMs !== undefined) return b.stationMs - a.stationMs;
  return b.receivedMs - a.receivedMs;
}

/** One session as the wallet's prediction sees it. */
export interface SpendingSession {
  /** cents of cost already incurred (as of `sinceMs`) but not yet debited */
  pendingCents: number;
  /** cents per second it spends from `sinceMs` on */
  centsPerS: number;
  /** our time of its latest reading */
  sinceMs: number;
}

/**
 * Our time at which the balance reaches `targetCents`, the sessions spending as they do now:
 * balance − Σ pending − Σ rate × (t − since) = target. `undefined` when nothing is being spent
 * (it never does); a time in the past when it already has.
 */
export function crossingMs(balanceCents: number, sessions: readonly SpendingSession[], targetCents: number): number | undefined {
  let rate = 0;
  let level = balanceCents - targetCents;
  for (const s of sessions) {
    rate += s.centsPerS;
    level += s.centsPerS * (s.sinceMs / 1000) - s.pendingCents;
  }
  if (!(rate > 0)) return balanceCents - sumPending(sessions) <= targetCents ? -Infinity : undefined;
  return (level / rate) * 1000;
}

function sumPending(sessions: readonly SpendingSession[]): number {
  let sum = 0;
  for (const s of sessions) sum += s.pendingCents;
  return sum;
}

/** How long after its RemoteStopTransaction a station has stopped costing money. */
export interface StopDelay {
  /** energy it still delivers, in seconds at the power it had (a stop that ramps down counts half) */
  energyS: number;
  /** until its StopTransaction's time (what TIME is billed to) */
  timeS: number;
}

/**
 * Seconds before the crossing at which a session's stop must leave: its stop delay, weighted by
 * what the session spends on energy and on time.
 */
export function leadS(delay: StopDelay, energyCentsPerS: number, timeCentsPerS: number): number {
  const total = energyCentsPerS + timeCentsPerS;
  if (!(total > 0)) return delay.timeS;
  return (delay.energyS * energyCentsPerS + delay.timeS * timeCentsPerS) / total;
}

/**
 * A station's delay learnt from one stop: from the RemoteStopTransaction (sent at `sentMs`, when
 * the register stood at `whAtSend` by the model) to its StopTransaction (`stoppedMs` our time,
 * register `meterStop`), at `powerW`. Undefined parts could not be measured.
 */
export function measuredDelay(
  m: { sentMs: number; whAtSend: number; powerW: number | undefined; stoppedMs: number; meterStop: number },
  maxS: number,
): Partial<StopDelay> {
  const out: Partial<StopDelay> = {};
  const timeS = (m.stoppedMs - m.sentMs) / 1000;
  if (Number.isFinite(timeS) && timeS >= 0 && timeS <= maxS) out.timeS = timeS;
  if (m.powerW !== undefined && m.powerW > 0) {
    const energyS = ((m.meterStop - m.whAtSend) * 3600) / m.powerW;
    if (Number.isFinite(energyS)) out.energyS = Math.min(maxS, Math.max(0, energyS));
  }
  return out;
}

/** Moves a learnt value towards a new measurement (the newest counts most: firmware changes). */
export function blend(previous: number | undefined, measured: number | undefined): number | undefined {
  if (measured === undefined) return previous;
  if (previous === undefined) return measured;
  return previous * 0.3 + measured * 0.7;
}
