/**
 * Ordered, persistent delivery of transaction-related messages (StartTransaction, MeterValues,
 * StopTransaction). Messages keep the timestamps they were built with; while the station cannot
 * send they wait here and are replayed in order. MeterValues/StopTransaction are tied to a local
 * session reference and get the central system's transactionId filled in at send time, so messages
 * queued before their StartTransaction was answered carry the real id.
 */
import type {
  MeterValuesReq,
  StartTransactionReq,
  StopTransactionReq,
  TransactionAction,
} from './ocpp-types.ts';
import { isTimeoutError, rpcErrorCode } from './rpc.ts';
import { sleep } from './timers.ts';

/** MeterValues / StopTransaction bodies before the transactionId is known. */
export type PendingMeterValues = Omit<MeterValuesReq, 'transactionId'>;
export type PendingStopTransaction = Omit<StopTransactionReq, 'transactionId'>;

export type TxPayload =
  | { action: 'StartTransaction'; body: StartTransactionReq }
  | { action: 'MeterValues'; body: PendingMeterValues }
  | { action: 'StopTransaction'; body: PendingStopTransaction };

export type TxOutcome =
  | { delivered: true; result: unknown; payload: unknown }
  | { delivered: false; reason: 'dropped' | 'unresolved' | 'stopped'; error?: unknown };

export interface TxMessage {
  readonly seq: number;
  readonly connectorId: number;
  /** Local reference of the session this message belongs to. */
  readonly sessionRef: number;
  readonly payload: TxPayload;
  attempts: number;
  readonly done: Promise<TxOutcome>;
}

interface InternalMessage extends TxMessage {
  settled: boolean;
  settle(outcome: TxOutcome): void;
}

export interface TxQueueDeps {
  /** Connected and booted (and not deliberately offline). */
  canSend(): boolean;
  call(action: TransactionAction, payload: unknown): Promise<unknown>;
  /** The central system's transactionId for a session reference, once known. */
  transactionIdFor(sessionRef: number): number | undefined;
  /** Called after a CALLRESULT, before the next message is sent. */
  onDelivered(message: TxMessage, result: unknown): void;
  /** Send this action a second time after each successful delivery (misbehaviour). */
  duplicate(action: TransactionAction): boolean;
  /** TransactionMessageAttempts. */
  maxAttempts(): number;
  /** Real milliseconds to wait before attempt `attempt + 1`. */
  retryDelayMs(attempt: number): number;
  /** Aborts waits when the station stops. */
  signal(): AbortSignal;
  warn(message: string, error?: unknown): void;
}

/** A CALLERROR or a timeout: the central system saw the message (or might have). */
function isDeliveryFailure(err: unknown): boolean {
  return rpcErrorCode(err) !== undefined || isTimeoutError(err);
}

export class TxQueue {
  private readonly items: InternalMessage[] = [];
  private seq = 0;
  private pumping = false;
  /** The message on the wire, awaiting its answer. */
  private inFlight: InternalMessage | undefined;
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly deps: TxQueueDeps) {}

  get length(): number {
    return this.items.length;
  }

  get busy(): boolean {
    return this.pumping;
  }

  /** Snapshot of what is waiting, oldest first. */
  pending(): readonly TxMessage[] {
    return [...this.items];
  }

  enqueue(connectorId: number, sessionRef: number, payload: TxPayload): TxMessage {
    let settle!: (outcome: TxOutcome) => void;
    const done = new Promise<TxOutcome>((resolve) => {
      settle = resolve;
    });
    const message: InternalMessage = {
      seq: ++this.seq,
      connectorId,
      sessionRef,
      payload,
      attempts: 0,
      done,
      settled: false,
      settle(outcome) {
        if (this.settled) return;
        this.settled = true;
        settle(outcome);
      },
    };
    this.items.push(message);
    void this.pump();
    return message;
  }

  /**
   * Removes the messages of a session that were not sent yet (the station let go of it). A
   * message already on the wire stays: its answer is still awaited.
   */
  discard(sessionRef: number): void {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!;
      if (item.sessionRef !== sessionRef || item === this.inFlight) continue;
      this.items.splice(i, 1);
      item.settle({ delivered: false, reason: 'dropped' });
    }
  }

  /** Resolves true once the queue is empty and idle, false after `timeoutMs` or when aborted. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.items.length === 0 && !this.pumping) return true;
    const signal = this.deps.signal();
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let waiter: (() => void) | undefined;
    try {
      const emptied = new Promise<boolean>((resolve) => {
        waiter = () => resolve(true);
        this.drainWaiters.push(waiter);
      });
      return await Promise.race([emptied, sleep(timeoutMs, ac.signal).then(() => false)]);
    } finally {
      ac.abort();
      signal.removeEventListener('abort', onAbort);
      this.drainWaiters = this.drainWaiters.filter((w) => w !== waiter);
    }
  }

  /** Resolves every waiting caller with "stopped"; the messages stay queued for a later start. */
  releaseWaiters(): void {
    for (const item of this.items) item.settle({ delivered: false, reason: 'stopped' });
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Sends queued messages, in order, for as long as the station can send. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.items.length > 0 && this.deps.canSend()) {
        const head = this.items[0]!;
        const payload = this.materialise(head);
        if (payload === undefined) {
          this.items.shift();
          this.deps.warn(`dropping ${head.payload.action}: its StartTransaction was never accepted`);
          head.settle({ delivered: false, reason: 'unresolved' });
          continue;
        }
        try {
          this.inFlight = head;
          const result = await this.deps.call(head.payload.action, payload);
          this.inFlight = undefined;
          this.items.shift();
          this.deps.onDelivered(head, result);
          if (head.payload.action !== 'StartTransaction' && this.deps.duplicate(head.payload.action)) {
            await this.deps.call(head.payload.action, payload).catch((err: unknown) => {
              this.deps.warn(`duplicate ${head.payload.action} failed`, err);
            });
          }
          head.settle({ delivered: true, result, payload });
        } catch (err) {
          this.inFlight = undefined;
          if (!isDeliveryFailure(err)) break; // connection gone: wait for the next pump (reconnect)
          head.attempts++;
          if (head.attempts >= Math.max(1, this.deps.maxAttempts())) {
            this.items.shift();
            this.deps.warn(`giving up on ${head.payload.action} after ${head.attempts} attempts`, err);
            head.settle({ delivered: false, reason: 'dropped', error: err });
            continue;
          }
          const waited = await sleep(this.deps.retryDelayMs(head.attempts), this.deps.signal());
          if (!waited) break;
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.items.length === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  /** The wire payload, with the transactionId filled in; undefined when it cannot be sent. */
  private materialise(message: TxMessage): unknown {
    const { payload } = message;
    if (payload.action === 'StartTransaction') return payload.body;
    const transactionId = this.deps.transactionIdFor(message.sessionRef);
    if (payload.action === 'MeterValues') {
      return transactionId === undefined ? payload.body : { ...payload.body, transactionId };
    }
    if (transactionId === undefined) return undefined;
    return { ...payload.body, transactionId };
  }
}
