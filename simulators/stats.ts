/** Latency bookkeeping: a bounded uniform sample per action, percentiles on demand. */

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export class LatencyRecorder {
  private readonly samples: number[] = [];
  private seen = 0;
  private total = 0;
  private maxValue = 0;

  constructor(private readonly capacity = 50_000) {}

  record(ms: number): void {
    this.seen++;
    this.total += ms;
    if (ms > this.maxValue) this.maxValue = ms;
    if (this.samples.length < this.capacity) {
      this.samples.push(ms);
      return;
    }
    // Reservoir sampling keeps a uniform sample of everything seen.
    const slot = Math.floor(Math.random() * this.seen);
    if (slot < this.capacity) this.samples[slot] = ms;
  }

  summary(): LatencySummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    return {
      count: this.seen,
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99),
      max: this.maxValue,
      mean: this.seen === 0 ? 0 : this.total / this.seen,
    };
  }
}

/** Nearest-rank percentile of an ascending array (0 when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

export interface ActionStats {
  sent: number;
  ok: number;
  errors: number;
  latency: LatencySummary;
}

/** Counts calls per action and their CALL→CALLRESULT latencies. */
export class CallStats {
  private readonly actions = new Map<string, { sent: number; ok: number; errors: number; latency: LatencyRecorder }>();
  private readonly all = new LatencyRecorder();

  private entry(action: string) {
    let entry = this.actions.get(action);
    if (!entry) {
      entry = { sent: 0, ok: 0, errors: 0, latency: new LatencyRecorder() };
      this.actions.set(action, entry);
    }
    return entry;
  }

  sent(action: string): void {
    this.entry(action).sent++;
  }

  result(action: string, latencyMs: number): void {
    const entry = this.entry(action);
    entry.ok++;
    entry.latency.record(latencyMs);
    this.all.record(latencyMs);
  }

  /** Latency over every action. */
  overall(): LatencySummary {
    return this.all.summary();
  }

  error(action: string): void {
    this.entry(action).errors++;
  }

  totals(): { sent: number; ok: number; errors: number } {
    let sent = 0;
    let ok = 0;
    let errors = 0;
    for (const entry of this.actions.values()) {
      sent += entry.sent;
      ok += entry.ok;
      errors += entry.errors;
    }
    return { sent, ok, errors };
  }

  byAction(): Record<string, ActionStats> {
    const out: Record<string, ActionStats> = {};
    for (const [action, entry] of [...this.actions.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      out[action] = { sent: entry.sent, ok: entry.ok, errors: entry.errors, latency: entry.latency.summary() };
    }
    return out;
  }
}
