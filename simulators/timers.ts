/** Timer bookkeeping so that `stop()` can clear every pending timer of a station. */
import { setTimeout as sleepPromise } from 'node:timers/promises';

export class TimerRegistry {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly immediates = new Set<NodeJS.Immediate>();

  /** One-shot timer, forgotten once it fires. */
  timeout(fn: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, Math.max(0, ms));
    this.timers.add(timer);
    return timer;
  }

  /** Runs `fn` after the current I/O (e.g. after a CALLRESULT has been written). */
  immediate(fn: () => void): void {
    const handle = setImmediate(() => {
      this.immediates.delete(handle);
      fn();
    });
    this.immediates.add(handle);
  }

  clear(timer: NodeJS.Timeout | undefined): void {
    if (!timer) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  clearAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    for (const handle of this.immediates) clearImmediate(handle);
    this.timers.clear();
    this.immediates.clear();
  }

  get size(): number {
    return this.timers.size + this.immediates.size;
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (the timer is then cleared). */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleepPromise(Math.max(0, ms), undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
