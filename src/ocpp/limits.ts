import { createRPCError, NOREPLY } from './rpc.ts';
import type { Ocpp16ErrorCode } from './wire.ts';

export interface CallLimitOptions {
  /** calls from one station that may wait behind the one being handled */
  maxQueued: number;
  /** calls refused (queue full) since the queue was last empty, before the station is disconnected; 0 = never */
  maxRefused: number;
  /** highest connectorId accepted in StatusNotification, StartTransaction and MeterValues */
  maxConnectorId: number;
  /** refused StartTransactions per station per minute before further starts get a CALLERROR; 0 = no limit */
  refusedStartsPerMinute: number;
}

function callError(code: Ocpp16ErrorCode, message: string): Error {
  return createRPCError(code, message, {}) as Error;
}

const WITH_CONNECTOR = new Set(['StatusNotification', 'StartTransaction', 'MeterValues']);

// Built once: a flood is refused by the thousand, and an error's stack trace is its main cost.
const QUEUE_FULL = callError('GenericError', 'too many calls at once: OCPP-J allows one call in flight; wait for the answers');
const STARTS_SPENT = callError('GenericError', 'too many refused StartTransaction from this station; retry later');

/**
 * How many StartTransactions a station may have refused: a token bucket per station (it
 * survives reconnects), `perMinute` deep and refilled at `perMinute` a minute. A refused start
 * costs a session row, a transaction id and a RemoteStopTransaction; a station replaying unknown
 * tags as fast as it can would otherwise mint them by the hundred per second. While a station's
 * bucket is empty its StartTransactions get a CALLERROR and nothing is recorded; a charger
 * retries a transaction message that failed, so the start is recorded once the bucket refills.
 */
export class RefusedStartBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** False while the station has used up its refused starts. */
  allows(stationId: string): boolean {
    return this.perMinute === 0 || this.refill(stationId).tokens >= 1;
  }

  refused(stationId: string): void {
    if (this.perMinute === 0) return;
    this.refill(stationId).tokens -= 1;
  }

  private refill(stationId: string) {
    const now = this.now();
    const bucket = this.buckets.get(stationId) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) / 60_000) * this.perMinute);
    bucket.at = now;
    this.buckets.set(stationId, bucket);
    return bucket;
  }
}

/**
 * One station connection's inbound calls. OCPP-J lets a charger have one CALL in flight; the
 * gateway handles a station's calls one at a time, in order, lets `maxQueued` more wait, and
 * answers any beyond that at once with a CALLERROR (GenericError), before any database work.
 * So one station holds at most one database connection and a bounded amount of memory,
 * whatever it sends, and other stations' calls do not wait behind its flood. A station that
 * keeps the queue full past `maxRefused` refusals is disconnected (`onFlood`); whatever it
 * still sends before the socket is gone gets no answer at all.
 */
export class StationCallLimits {
  private busy = false;
  private readonly queue: (() => void)[] = [];
  private refusedInFlood = 0;
  /** set once the station is being disconnected for flooding: what it still sends gets no answer */
  private dropped = false;

  constructor(
    private readonly options: CallLimitOptions,
    private readonly station: { stationId: string },
    private readonly starts: RefusedStartBudget,
    private readonly onFlood: () => void,
  ) {}

  async run<T>(action: string, params: unknown, handle: () => Promise<T>): Promise<T> {
    if (this.dropped) return NOREPLY as T;
    if (!this.busy) this.busy = true;
    else if (this.queue.length < this.options.maxQueued) await new Promise<void>((resolve) => this.queue.push(resolve));
    else throw this.refuse();
    try {
      this.checkConnector(action, params);
      return action === 'StartTransaction' ? await this.start(handle) : await handle();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else {
        this.busy = false;
        this.refusedInFlood = 0;
      }
    }
  }

  private checkConnector(action: string, params: unknown): void {
    if (!WITH_CONNECTOR.has(action)) return;
    const connectorId = (params as { connectorId?: unknown } | null)?.connectorId;
    if (typeof connectorId === 'number' && connectorId > this.options.maxConnectorId) {
      throw callError(
        'PropertyConstraintViolation',
        `connectorId: must be at most ${this.options.maxConnectorId} (OCPP_MAX_CONNECTOR_ID)`,
      );
    }
  }

  private refuse(): Error {
    this.refusedInFlood += 1;
    if (this.options.maxRefused > 0 && this.refusedInFlood === this.options.maxRefused) {
      this.dropped = true;
      this.onFlood();
    }
    return QUEUE_FULL;
  }

  private async start<T>(handle: () => Promise<T>): Promise<T> {
    const { stationId } = this.station;
    if (!this.starts.allows(stationId)) {
      throw STARTS_SPENT;
    }
    const result = await handle();
    const status = (result as { idTagInfo?: { status?: string } }).idTagInfo?.status;
    if (status !== 'Accepted') this.starts.refused(stationId);
    return result;
  }
}
