export interface GroupCommitOptions {
  /** most items one write takes */
  maxBatch?: number;
  /** writes in progress at once (each takes the next items in submission order) */
  concurrency?: number;
  /**
   * When a write of several items fails: whether to write each of them again alone, so one bad
   * item fails only its own submitter. Given the error; default: never (the batch fails).
   */
  isolateFailures?: (err: unknown) => boolean;
}

/** Runs `fn` once at the end of this turn of the event loop (setImmediate), however often asked in the turn. */
function onceAtTurnEnd(fn: () => void): () => void {
  let due = false;
  return () => {
    if (due) return;
    due = true;
    setImmediate(() => {
      due = false;
      fn();
    });
  };
}

/**
 * Coalesces small writes: items submitted in one turn of the event loop, or while a write is in
 * progress, are written together by the next one (one statement or transaction, one commit).
 * `write` returns one result per item, in order (or nothing, for writes without results); each
 * submitter's promise settles with its result when the write holding its item has committed, or
 * with the write's error.
 *
 * A write starts at the end of the event loop's turn (setImmediate), not inside the submit or
 * the previous write's continuation: the messages a turn reads from its sockets (a node under
 * load reads dozens in one poll) all join one write, where starting at the first would write it
 * alone and leave the rest for the next. On an idle loop the turn ends at once, so a lone item
 * waits microseconds; under load the statements get fewer and larger, and each statement's
 * fixed cost (a round trip, a plan, a commit) is paid less often. (A test that fakes timers must
 * leave setImmediate real, or no write starts.)
 */
export class GroupCommit<T, R = void> {
  private queue: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  private running = 0;
  /** pump() runs at the end of the turn, never inside a submit or a write's continuation */
  private readonly pumpAtTurnEnd = onceAtTurnEnd(() => this.pump());
  private idle: (() => void)[] = [];
  private readonly maxBatch: number;
  private readonly concurrency: number;

  constructor(
    private readonly write: (items: T[]) => Promise<R[] | void>,
    private readonly options: GroupCommitOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1_000;
    this.concurrency = options.concurrency ?? 1;
  }

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pumpAtTurnEnd();
    });
  }

  /** Items waiting for a write, plus writes in progress. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  /** Resolves once everything submitted so far has been written (or has failed). */
  drain(): Promise<void> {
    if (!this.queue.length && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.running += 1;
      void this.run(batch).finally(() => {
        this.running -= 1;
        if (this.queue.length) this.pumpAtTurnEnd();
        if (!this.queue.length && !this.running) for (const done of this.idle.splice(0)) done();
      });
    }
  }

  private async run(batch: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[]): Promise<void> {
    try {
      const results = await this.write(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve((results ? results[i] : undefined) as R));
    } catch (err) {
      if (batch.length === 1 || !this.options.isolateFailures?.(err)) {
        for (const b of batch) b.reject(err);
        return;
      }
      for (const b of batch) {
        try {
          const results = await this.write([b.item]);
          b.resolve((results ? results[0] : undefined) as R);
        } catch (e) {
          b.reject(e);
        }
      }
    }
  }
}

/**
 * Coalesces lookups by key: keys asked for in one turn of the event loop, or while a lookup is
 * in progress, are looked up together by the next one (one query). A failed lookup fails only
 * the keys that cause it: when `isolate(err)` says the error may come from one key (bad data
 * rather than, say, the database being down), the batch is split in halves and retried until
 * the culprit stands alone, so one bad key costs its batch O(log n) extra queries and fails
 * only itself.
 */
export class BatchLoader<K, V> {
  private queue = new Map<K, Waiter<V>[]>();
  private running = false;
  /** as GroupCommit's: lookups start at the end of the turn */
  private readonly pumpAtTurnEnd = onceAtTurnEnd(() => this.pump());

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
      this.pumpAtTurnEnd();
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
      if (this.queue.size) this.pumpAtTurnEnd();
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
