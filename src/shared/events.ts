/**
 * Live events: what changed, told to whoever watches (the operator console) after the change
 * has committed. A port: the domain publishes, adapters subscribe. Publishing costs nothing
 * when nobody watches, and a busy subject (a session billed several times a second) reaches
 * watchers at most once per flush interval, its changes merged.
 *
 * One process holds the only publisher today (LocalLiveEvents). A multi-node deployment feeds
 * the same interface from every node (e.g. PostgreSQL LISTEN/NOTIFY); publishers and
 * subscribers do not change.
 */

export type LiveEventType = 'session' | 'station' | 'wallet' | 'alert';

export interface LiveEvent {
  type: LiveEventType;
  /** the subject's id (a session, station, wallet or alert id) */
  id: string;
  /** the charge station the subject belongs to (whose organization may see it) */
  station?: string | null;
  /** the wallet the subject belongs to (whose owner's organization may see it) */
  wallet?: string | null;
  /** what is known of the subject's new state */
  data?: Record<string, unknown>;
  /** more changed than `data` says: a watcher reads the subject again */
  refresh?: boolean;
}

export interface LiveEvents {
  /** False when nobody watches: publishers may skip building an event. */
  readonly watched: boolean;
  /** The event is the publisher's no more: it must not be changed after this call. */
  publish(event: LiveEvent): void;
  /** The listener gets each flush's events (one per subject); returns the unsubscribe function. */
  subscribe(listener: (batch: readonly LiveEvent[]) => void): () => void;
  close(): void;
}

export function subjectOf(e: Pick<LiveEvent, 'type' | 'id'>): string {
  return `${e.type}:${e.id}`;
}

/**
 * Merges an event into the pending one of its subject: later data wins, `refresh` sticks. The
 * first event of a subject is kept as it is and later ones are merged into a copy, so the
 * objects handed to listeners are never changed afterwards.
 */
export function coalesce(pending: Map<string, LiveEvent>, event: LiveEvent): void {
  const key = subjectOf(event);
  const first = pending.get(key);
  if (!first) {
    pending.set(key, event);
    return;
  }
  const prev = { ...first };
  pending.set(key, prev);
  if (event.data) prev.data = { ...prev.data, ...event.data };
  if (event.refresh) prev.refresh = true;
  prev.station = event.station ?? prev.station;
  prev.wallet = event.wallet ?? prev.wallet;
}

/** The in-process publisher: coalesces per subject and flushes every `flushMs`. */
export class LocalLiveEvents implements LiveEvents {
  private readonly listeners = new Set<(batch: readonly LiveEvent[]) => void>();
  private pending = new Map<string, LiveEvent>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly onListenerError: (err: unknown) => void,
    private readonly flushMs = 250,
  ) {}

  get watched(): boolean {
    return this.listeners.size > 0;
  }

  publish(event: LiveEvent): void {
    if (this.listeners.size === 0) return;
    coalesce(this.pending, event);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  subscribe(listener: (batch: readonly LiveEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.drop();
    };
  }

  close(): void {
    this.listeners.clear();
    this.drop();
  }

  private drop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private flush(): void {
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
