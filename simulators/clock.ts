/**
 * The station's sense of time: the time scale that shortens every interval, and the clock its
 * messages are stamped with (which may run off true time, and may be written without a zone).
 */

/** `utc`: ISO 8601 with `Z`; `no-zone`: the same UTC wall time without any zone designator. */
export type TimestampFormat = 'utc' | 'no-zone';

export interface ClockOptions {
  /** 10 → a simulated minute passes in 6 real seconds (default 1). */
  timeScale?: number;
  /** The station's clock runs this many real seconds ahead (negative: behind) of true time. */
  skewSeconds?: number;
  timestampFormat?: TimestampFormat;
}

export class SimClock {
  readonly timeScale: number;
  readonly skewMs: number;
  readonly format: TimestampFormat;

  constructor(options: ClockOptions = {}) {
    const timeScale = options.timeScale ?? 1;
    if (!(timeScale > 0)) throw new Error(`timeScale must be > 0, got ${timeScale}`);
    this.timeScale = timeScale;
    this.skewMs = Math.round((options.skewSeconds ?? 0) * 1000);
    this.format = options.timestampFormat ?? 'utc';
  }

  /** What the station's clock reads now. */
  now(): Date {
    return new Date(Date.now() + this.skewMs);
  }

  /** A timestamp as the station writes it in its messages. */
  stamp(date: Date = this.now()): string {
    const iso = date.toISOString();
    return this.format === 'no-zone' ? iso.slice(0, -1) : iso;
  }

  /** Real milliseconds for a simulated duration (at least 1 ms). */
  simToRealMs(simSeconds: number): number {
    return Math.max(1, (simSeconds * 1000) / this.timeScale);
  }

  /**
   * Real milliseconds until a moment the central system named, as the station's clock sees it.
   * The time left is a duration, so it is scaled like every other interval.
   */
  realMsUntil(moment: Date): number {
    const remainingMs = moment.getTime() - this.now().getTime();
    return remainingMs <= 0 ? 0 : remainingMs / this.timeScale;
  }
}
