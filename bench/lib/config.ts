import type { Report } from './report.ts';

/** Sizes and durations of a run; `--quick` shrinks everything to stay under a minute. */
export interface BenchConfig {
  mode: 'full' | 'quick';
  /** a station's call timeout (an unanswered MeterValues counts as a timeout) */
  callTimeoutMs: number;
  steady: {
    stations: number;
    closedMs: number;
    warmupMs: number;
    /** open-loop offered loads (MeterValues/s) */
    sweep: number[];
    sweepMs: number;
    debitMs: number;
    debitWallets: number;
    debitConcurrency: number;
  };
  idle: {
    stations: number;
    heartbeatS: number;
    settleMs: number;
    /** spread sockets over this many source addresses 127.0.0.2… (0 = the default address) */
    sourceAddresses: number;
    reconnectTimeoutMs: number;
    /** connect the fleets and measure RSS while the other scenarios prepare (quick runs) */
    memoryInPrepare: boolean;
  };
  zero: { sessions: number; ratePerS: number; balance: number; deltaWh: number; waitMs: number };
  hot: { sessions: number; hotRatePerS: number; backgroundRatePerS: number; durationMs: number; warmupMs: number };
  embedded: {
    stations: number;
    closedMs: number;
    warmupMs: number;
    sweep: number[];
    sweepMs: number;
  };
}

export const FULL: BenchConfig = {
  mode: 'full',
  callTimeoutMs: 10_000,
  steady: {
    stations: 500,
    closedMs: 15_000,
    warmupMs: 2_000,
    sweep: [250, 500, 1000, 2000, 3000],
    sweepMs: 10_000,
    debitMs: 10_000,
    debitWallets: 1_000,
    debitConcurrency: 64,
  },
  idle: { stations: 10_000, heartbeatS: 60, settleMs: 5_000, sourceAddresses: 0, reconnectTimeoutMs: 120_000, memoryInPrepare: false },
  zero: { sessions: 1_000, ratePerS: 1_000, balance: 50, deltaWh: 100, waitMs: 20_000 },
  hot: { sessions: 100, hotRatePerS: 200, backgroundRatePerS: 1_000, durationMs: 10_000, warmupMs: 1_000 },
  embedded: { stations: 500, closedMs: 10_000, warmupMs: 2_000, sweep: [100, 250, 500, 1000], sweepMs: 6_000 },
};

export const QUICK: BenchConfig = {
  mode: 'quick',
  callTimeoutMs: 5_000,
  steady: {
    stations: 100,
    closedMs: 1_200,
    warmupMs: 200,
    sweep: [250, 1000, 2000],
    sweepMs: 1_200,
    debitMs: 1_200,
    debitWallets: 1_000,
    debitConcurrency: 64,
  },
  idle: { stations: 2_000, heartbeatS: 30, settleMs: 3_000, sourceAddresses: 0, reconnectTimeoutMs: 30_000, memoryInPrepare: true },
  zero: { sessions: 200, ratePerS: 500, balance: 50, deltaWh: 100, waitMs: 10_000 },
  hot: { sessions: 100, hotRatePerS: 200, backgroundRatePerS: 1_000, durationMs: 1_200, warmupMs: 200 },
  embedded: { stations: 50, closedMs: 1_200, warmupMs: 200, sweep: [100, 250], sweepMs: 1_200 },
};

/** The rate every scenario bills with: whole cents per kWh, ENERGY only, no tax, no step. */
export const PRICE_CENTS_PER_KWH = 100;

export interface Ctx {
  cfg: BenchConfig;
  report: Report;
}
