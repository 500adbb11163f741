/** Many SimStations in one process: bounded-concurrency start-up, aggregate stats, storms. */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { StopReason } from './ocpp-types.ts';
import { endpointList } from './connection.ts';
import { SimStation, type SimStationOptions, type StartSessionResult } from './station.ts';
import { CallStats, type ActionStats, type LatencySummary } from './stats.ts';
import { sleep } from './timers.ts';

export type StationTemplate = Omit<SimStationOptions, 'url' | 'identity' | 'password' | 'log'>;

export interface FleetOptions {
  /**
   * Central system endpoint(s). With several, station i starts on URL i mod n and moves on to
   * the others (in order) when its node fails.
   */
  url: string | readonly string[];
  /** Number of stations. */
  stations: number;
  /** Identity prefix (default 'SIM'); ids are `${prefix}${n}` with n zero-padded. */
  prefix?: string;
  /** First station number (default 1). */
  startIndex?: number;
  /** Digits of the zero-padded number (default: max(4, digits of the last number)). */
  padWidth?: number;
  /** One password for all, or one per identity. */
  password?: string | ((identity: string) => string | undefined);
  /** Stations connecting+booting at the same time (default 200). */
  concurrency?: number;
  /** Options shared by every station. */
  station?: StationTemplate;
  /** Per-station overrides (e.g. misbehaviour for a subset). */
  configure?: (identity: string, index: number) => Partial<StationTemplate>;
  /** Keep retrying stations whose first connect failed (default true). */
  retryFailedConnects?: boolean;
  log?: Logger;
}

export interface FleetStats {
  stations: number;
  started: number;
  connected: number;
  booted: number;
  offline: number;
  connectFailures: number;
  disconnects: number;
  sessionsStarted: number;
  sessionsStopped: number;
  sessionsActive: number;
  queuedMessages: number;
  inboundCalls: number;
  warnings: number;
  calls: { sent: number; ok: number; errors: number };
  /** CALL→CALLRESULT latency over all actions. */
  latency: LatencySummary;
  byAction: Record<string, ActionStats>;
}

export interface FleetStartResult {
  started: number;
  failed: number;
  elapsedMs: number;
}

export function stationIdentity(prefix: string, n: number, padWidth: number): string {
  return `${prefix}${String(n).padStart(padWidth, '0')}`;
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function runPool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker);
  await Promise.all(workers);
  return results;
}

export class Fleet {
  readonly stations: SimStation[];
  private readonly byIdentity = new Map<string, SimStation>();
  private readonly callStats = new CallStats();
  private readonly concurrency: number;
  private readonly retryFailedConnects: boolean;
  private readonly log: Logger | undefined;
  private abort = new AbortController();
  private running = false;
  private readonly startedSet = new Set<SimStation>();
  private counters = {
    connectFailures: 0,
    disconnects: 0,
    sessionsStarted: 0,
    sessionsStopped: 0,
    inboundCalls: 0,
    warnings: 0,
  };

  constructor(options: FleetOptions) {
    if (!Number.isInteger(options.stations) || options.stations < 1) {
      throw new Error(`stations must be a positive integer, got ${options.stations}`);
    }
    const prefix = options.prefix ?? 'SIM';
    const first = options.startIndex ?? 1;
    const last = first + options.stations - 1;
    const padWidth = options.padWidth ?? Math.max(4, String(last).length);
    this.concurrency = Math.max(1, options.concurrency ?? 200);
    this.retryFailedConnects = options.retryFailedConnects ?? true;
    this.log = options.log;

    this.stations = [];
    const urls = endpointList(options.url);
    for (let i = 0; i < options.stations; i++) {
      const identity = stationIdentity(prefix, first + i, padWidth);
      const password = typeof options.password === 'function' ? options.password(identity) : options.password;
      const station = new SimStation({
        ...options.station,
        ...options.configure?.(identity, i),
        url: Fleet.urlsFor(urls, i),
        identity,
        ...(password !== undefined ? { password } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
      this.observe(station);
      this.stations.push(station);
      this.byIdentity.set(identity, station);
    }
  }

  /** The URLs station `index` uses, its own first. */
  static urlsFor(urls: readonly string[], index: number): string[] {
    const first = index % urls.length;
    return [...urls.slice(first), ...urls.slice(0, first)];
  }

  station(identity: string): SimStation | undefined {
    return this.byIdentity.get(identity);
  }

  /**
   * Connects and boots every station, `concurrency` at a time. Resolves when each station has
   * connected (or failed its first attempt; failures keep retrying in the background).
   */
  async start(): Promise<FleetStartResult> {
    if (this.running) throw new Error('fleet already started');
    this.running = true;
    this.abort = new AbortController();
    const t0 = performance.now();
    let failed = 0;
    await runPool(this.stations, this.concurrency, async (station) => {
      if (!this.running) {
        failed++;
        return;
      }
      if (await this.startOne(station)) return;
      failed++;
      if (this.retryFailedConnects) void this.retryStart(station);
    });
    return { started: this.stations.length - failed, failed, elapsedMs: performance.now() - t0 };
  }

  /** Stops every station (see SimStation#stop). */
  async stop(options: { endSessions?: boolean; reason?: StopReason; flushTimeoutMs?: number } = {}): Promise<void> {
    this.running = false;
    this.abort.abort();
    await runPool(this.stations, Math.max(this.concurrency, 500), (station) => station.stop(options));
    this.startedSet.clear();
  }

  /** Starts a session on every connector of every booted station. */
  async startSessions(
    idTag: string | ((station: SimStation, connectorId: number) => string),
  ): Promise<StartSessionResult[]> {
    const jobs: Array<{ station: SimStation; connectorId: number }> = [];
    for (const station of this.stations) {
      if (!station.booted) continue;
      for (let c = 1; c <= station.connectorCount; c++) jobs.push({ station, connectorId: c });
    }
    return runPool(jobs, this.concurrency, ({ station, connectorId }) =>
      station
        .startSession(connectorId, typeof idTag === 'function' ? idTag(station, connectorId) : idTag)
        .catch((error: unknown): StartSessionResult => ({ outcome: 'Failed', error })),
    );
  }

  /** Stops every running session. */
  async stopSessions(reason: StopReason = 'Local'): Promise<void> {
    const jobs: Array<{ station: SimStation; connectorId: number }> = [];
    for (const station of this.stations) {
      for (let c = 1; c <= station.connectorCount; c++) {
        if (station.hasSession(c)) jobs.push({ station, connectorId: c });
      }
    }
    await runPool(jobs, this.concurrency, async ({ station, connectorId }) => {
      await station.stopSession(connectorId, reason).catch(() => undefined);
    });
  }

  /**
   * Reconnect storm: `count` connected stations (chosen at random) drop their socket and all
   * reconnect at the same moment, without the start-up concurrency bound.
   */
  async reconnectStorm(count: number, options: { reboot?: boolean } = {}): Promise<{ stations: number; elapsedMs: number }> {
    const candidates = this.stations.filter((s) => s.connected && !s.offline);
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    const chosen = candidates.slice(0, Math.max(0, count));
    const t0 = performance.now();
    await Promise.all(chosen.map((s) => s.reconnect(options).catch(() => undefined)));
    return { stations: chosen.length, elapsedMs: performance.now() - t0 };
  }

  stats(): FleetStats {
    let connected = 0;
    let booted = 0;
    let offline = 0;
    let queuedMessages = 0;
    let sessionsActive = 0;
    for (const station of this.stations) {
      if (station.connected) connected++;
      if (station.booted) booted++;
      if (station.offline) offline++;
      queuedMessages += station.queueLength;
      for (let c = 1; c <= station.connectorCount; c++) {
        if (station.hasSession(c)) sessionsActive++;
      }
    }
    return {
      stations: this.stations.length,
      started: this.startedSet.size,
      connected,
      booted,
      offline,
      ...this.counters,
      sessionsActive,
      queuedMessages,
      calls: this.callStats.totals(),
      latency: this.callStats.overall(),
      byAction: this.callStats.byAction(),
    };
  }

  private async startOne(station: SimStation): Promise<boolean> {
    try {
      await station.start();
      this.startedSet.add(station);
      return true;
    } catch (err) {
      this.counters.connectFailures++;
      this.log?.debug({ err, station: station.identity }, 'connect failed');
      return false;
    }
  }

  private async retryStart(station: SimStation): Promise<void> {
    for (let attempt = 1; this.running; attempt++) {
      const delay = Math.min(30_000, 1_000 * 2 ** Math.min(attempt - 1, 5)) * (0.75 + Math.random() * 0.5);
      if (!(await sleep(delay, this.abort.signal))) return;
      if (!this.running) return;
      if (await this.startOne(station)) return;
    }
  }

  private observe(station: SimStation): void {
    station.on('call', ({ action }) => this.callStats.sent(action));
    station.on('callResult', ({ action, latencyMs }) => {
      if (Number.isFinite(latencyMs)) this.callStats.result(action, latencyMs);
    });
    station.on('callError', ({ action }) => this.callStats.error(action));
    station.on('disconnected', () => {
      if (station.started) this.counters.disconnects++; // not the ones stop() causes
    });
    station.on('sessionStarted', () => this.counters.sessionsStarted++);
    station.on('sessionStopped', () => this.counters.sessionsStopped++);
    station.on('inboundCall', () => this.counters.inboundCalls++);
    station.on('warning', () => this.counters.warnings++);
  }
}
