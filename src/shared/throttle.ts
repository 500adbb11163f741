/**
 * Counts failures per key (a source address, a source and identity pair) and backs a key off
 * when it fails too often: the first `limit - 1` failures cost nothing; the `limit`-th makes the
 * key wait 1 s before its next attempt, and each further failure doubles the wait, up to
 * `windowMs`. A key is forgotten `windowMs` after its last failure, or at once when it succeeds.
 *
 * It is a back-off, not a lock: a key that stops failing is free again after at most one wait,
 * and callers consult it only for attempts that would cost them something (a password hash),
 * never for credentials already known to be good.
 *
 * Memory stays bounded: expired keys are dropped as the map fills, and it never holds more than
 * `maxKeys` keys.
 */
export class FailureThrottle {
  private readonly keys = new Map<string, { failures: number; waitUntil: number; forgetAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** True while the key must wait before its next attempt. */
  blocked(key: string): boolean {
    return this.retryAfterMs(key) > 0;
  }

  /** Whole seconds until the key may try again (at least 1 while it is blocked; 0 when it is not). */
  retryAfterS(key: string): number {
    const ms = this.retryAfterMs(key);
    return ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0;
  }

  fail(key: string): void {
    const now = this.now();
    let entry = this.keys.get(key);
    if (!entry || entry.forgetAt <= now) {
      if (!entry && this.keys.size >= this.maxKeys) this.prune(now);
      entry = { failures: 0, waitUntil: 0, forgetAt: 0 };
      this.keys.set(key, entry);
    }
    entry.failures += 1;
    entry.forgetAt = now + this.windowMs;
    const over = entry.failures - this.limit;
    if (over >= 0) entry.waitUntil = now + Math.min(1000 * 2 ** Math.min(over, 30), this.windowMs);
  }

  /** The key proved itself (a password verified): its failures are forgotten. */
  succeeded(key: string): void {
    this.keys.delete(key);
  }

  private retryAfterMs(key: string): number {
    const entry = this.keys.get(key);
    if (!entry) return 0;
    const now = this.now();
    if (entry.forgetAt <= now) {
      this.keys.delete(key);
      return 0;
    }
    return Math.max(0, entry.waitUntil - now);
  }

  private prune(now: number): void {
    for (const [k, e] of this.keys) if (e.forgetAt <= now) this.keys.delete(k);
    // Still full (an attack from very many keys): forget the oldest half.
    if (this.keys.size >= this.maxKeys) {
      let drop = Math.floor(this.maxKeys / 2);
      for (const k of this.keys.keys()) {
        if (drop-- <= 0) break;
        this.keys.delete(k);
      }
    }
  }
}
