/**
 * Counts failures per key (a source address, a station identity) in a fixed window and says
 * when a key has failed too often. Memory stays bounded: old windows are dropped as they
 * expire and the map never holds more than `maxKeys` keys.
 */
export class FailureThrottle {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** True when the key has used up its failures for the current window. */
  blocked(key: string): boolean {
    const w = this.windows.get(key);
    if (!w) return false;
    if (w.resetAt <= this.now()) {
      this.windows.delete(key);
      return false;
    }
    return w.count >= this.limit;
  }

  fail(key: string): void {
    const now = this.now();
    const w = this.windows.get(key);
    if (w && w.resetAt > now) {
      w.count += 1;
      return;
    }
    if (this.windows.size >= this.maxKeys) this.prune(now);
    this.windows.set(key, { count: 1, resetAt: now + this.windowMs });
  }

  /** Seconds until the key may try again. */
  retryAfterS(key: string): number {
    const w = this.windows.get(key);
    return w ? Math.max(1, Math.ceil((w.resetAt - this.now()) / 1000)) : 0;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    // Still full (an attack from very many keys): forget the oldest half.
    if (this.windows.size >= this.maxKeys) {
      let drop = Math.floor(this.maxKeys / 2);
      for (const k of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(k);
      }
    }
  }
}
