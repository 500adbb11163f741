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
  /** scenario 7: stations (half AC, half DC), sessions each one after the other, simulated time × */
  predict: { stations: number; sessionsPerStation: number; timeScale: number };
  hot: { sessions: number; hotRatePerS: number; backgroundRatePerS: number; durationMs: number; warmupMs: number };
  embedded: {
    stations: number;
    closedMs: number;
    warmupMs: number;
    sweep: number[];
    sweepMs: number;
  };
  cluster: {
    nodes: number;
    /** (i) wallets at zero: sessions (two per wallet, on two nodes), MeterValues/s, each wallet's balance */
    zeroSessions: number;
    zeroRatePerS: number;
    zeroBalance: number;
    /** (i) then, one wallet at a time with nothing else running: this many wallets (two sessions each) */
    zeroProbes: number;
    /** (ii) REST stops through node 1: of stations on the other nodes, and on node 1 itself */
    restRemote: number;
    restLocal: number;
    /** (iii) stations on the node that is killed, how many with a running session, their MeterValues/s */
    failoverStations: number;
    failoverSessions: number;
    failoverRatePerS: number;
    failoverTimeoutMs: number;
    /** (iv) closed-loop stations, on one node and then spread over the cluster */
    throughputStations: number;
    closedMs: number;
    warmupMs: number;
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
  predict: { stations: 500, sessionsPerStation: 2, timeScale: 10 },
  hot: { sessions: 100, hotRatePerS: 200, backgroundRatePerS: 1_000, durationMs: 10_000, warmupMs: 1_000 },
  embedded: { stations: 500, closedMs: 10_000, warmupMs: 2_000, sweep: [100, 250, 500, 1000], sweepMs: 6_000 },
  cluster: {
    nodes: 3,
    zeroSessions: 1_000,
    zeroRatePerS: 1_000,
    zeroBalance: 100,
    zeroProbes: 100,
    restRemote: 200,
    restLocal: 100,
    failoverStations: 3_000,
    failoverSessions: 300,
    failoverRatePerS: 300,
    failoverTimeoutMs: 60_000,
    throughputStations: 500,
    closedMs: 10_000,
    warmupMs: 2_000,
  },
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
  predict: { stations: 100, sessionsPerStation: 2, timeScale: 10 },
  hot: { sessions: 100, hotRatePerS: 200, backgroundRatePerS: 1_000, durationMs: 1_200, warmupMs: 200 },
  embedded: { stations: 50, closedMs: 1_200, warmupMs: 200, sweep: [100, 250], sweepMs: 1_200 },
  cluster: {
    nodes: 3,
    zeroSessions: 200,
    zeroRatePerS: 500,
    zeroBalance: 100,
    zeroProbes: 20,
    restRemote: 40,
    restLocal: 20,
    failoverStations: 600,
    failoverSessions: 60,
    failoverRatePerS: 100,
    failoverTimeoutMs: 30_000,
    throughputStations: 100,
    closedMs: 1_500,
    warmupMs: 300,
  },
};

/** The rate every scenario bills with: whole cents per kWh, ENERGY only, no tax, no step. */
export const PRICE_CENTS_PER_KWH = 100;

export interface Ctx {
  cfg: BenchConfig;
  report: Report;
}
