/**
 * Coalesces small writes: items submitted while a write is in progress are written together by
 * the next one (one statement, one commit). Each submitter's promise settles when the write
 * holding its item has committed, or failed. Writes run one at a time, in submission order.
 */
export class GroupCommit<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxBatch = 1_000,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Resolves once everything submitted so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private pump(): void {
    if (this.running || !this.queue.length) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.running = this.write(batch.map((b) => b.item)).then(
      () => batch.forEach((b) => b.resolve()),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    ).finally(() => {
      this.running = undefined;
      this.pump();
    });
  }
}

/**
 * Coalesces lookups by key: keys asked for while a lookup is in progress are looked up
 * together by the next one (one query). A failed lookup fails only the keys that cause it:
 * when `isolate(err)` says the error may come from one key (bad data rather than, say, the
 * database being down), the batch is split in halves and retried until the culprit stands
 * alone, so one bad key costs its batch O(log n) extra queries and fails only itself.
 */
export class BatchLoader<K, V> {
  private queue = new Map<K, Waiter<V>[]>();
  private running = false;

  constructor(
    private readonly load: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 1_000,
    private readonly isolate: (err: unknown) => boolean = () => true,
  ) {}

  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.queue.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else this.queue.set(key, [{ resolve, reject }]);
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || !this.queue.size) return;
    const batch = new Map<K, Waiter<V>[]>();
    for (const [key, waiting] of this.queue) {
      if (batch.size >= this.maxBatch) break;
      batch.set(key, waiting);
      this.queue.delete(key);
    }
    this.running = true;
    void this.settle(batch).finally(() => {
      this.running = false;
      this.pump();
    });
  }

  private async settle(batch: Map<K, Waiter<V>[]>): Promise<void> {
    let found: Map<K, V>;
    try {
      found = await this.load([...batch.keys()]);
    } catch (err) {
      if (batch.size > 1 && this.isolate(err)) {
        const entries = [...batch];
        const half = Math.ceil(entries.length / 2);
        await this.settle(new Map(entries.slice(0, half)));
        await this.settle(new Map(entries.slice(half)));
      } else {
        for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
      }
      return;
    }
    for (const [key, waiting] of batch) for (const w of waiting) w.resolve(found.get(key));
  }
}

interface Waiter<V> {
  resolve: (v: V | undefined) => void;
  reject: (err: unknown) => void;
}
