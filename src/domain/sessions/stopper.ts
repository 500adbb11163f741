import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import { isDatabaseUnavailable, retryOnDeadlock } from '../../db/errors.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import type { GatewayMetrics } from '../../shared/metrics.ts';
import { emitEvent } from '../events/outbox.ts';
import { sessionStopFailed } from '../events/payloads.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { StationOfflineError, StationTimeoutError } from '../../shared/errors.ts';
import type { StationPort } from '../chargers/station-port.ts';
import { recordAlert } from './alerts.ts';
import { markStopping, pendingStops, type StopTarget } from './stop-marks.ts';
import type { LiveEvents } from '../../shared/events.ts';
import { alertRaised, sessionChanged } from '../live.ts';

/** Waits between RemoteStopTransaction attempts; after the last one the session is stop_failed. */
export const DEFAULT_STOP_RETRY_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 20_000, 40_000];
export const STOP_CALL_TIMEOUT_MS = 10_000;

interface InFlight {
  attempts: number;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  /** set when a reconnect asked for another attempt while one was running */
  again: boolean;
  /** the running attempt's station has answered (its attempt is being recorded) */
  answered: boolean;
  /** the running attempt's answer */
  sent: Promise<StopOutcome> | undefined;
  /** settles once the running attempt is recorded and `running` is false again */
  recorded: Promise<void> | undefined;
}

/** One ended attempt, as the session records it. */
interface AttemptRecord {
  sessionId: string;
  /** when the next attempt is due (null: none, the station accepted or the retries ran out) */
  nextAt: Date | null;
}

export type StopOutcome = 'Accepted' | 'Rejected' | 'offline' | 'timeout' | 'error' | 'already_stopped';

/**
 * Sends RemoteStopTransaction for sessions that must end (wallet at zero, operator stop,
 * rejected start) and keeps at it: a rejected, unanswered or undeliverable stop is retried
 * with backoff and again whenever the station reconnects. When the retries run out the
 * session becomes stop_failed (and is still billed for what the station reports).
 */
export class RemoteStopper {
  private readonly inFlight = new Map<string, InFlight>();
  /**
   * Attempts are recorded by group commit: a burst of stops (a thousand wallets at zero in one
   * second) is answered within milliseconds of each other, and one UPDATE and one commit per
   * answer would queue each behind the WAL flush of the one before.
   */
  private readonly records: GroupCommit<AttemptRecord>;
  private closed = false;
  /** told of every stop a station accepted, and when it was sent (the predictive stop learns delays from it) */
  onAccepted: ((target: StopTarget, sentAt: Date) => void) | undefined;

  constructor(
    private readonly deps: {
      db: Db;
      /**
       * Connections apart from the main pool for the mark that decides which sessions of a wallet
       * at zero to stop, so that it does not queue behind billing under a burst; default db.
       */
      urgentDb?: Db | undefined;
      clock: Clock;
      log: Logger;
      stations: StationPort;
      events?: LiveEvents | undefined;
      metrics?: GatewayMetrics | undefined;
    },
    private readonly retryDelaysMs: readonly number[] = DEFAULT_STOP_RETRY_DELAYS_MS,
  ) {
    this.records = new GroupCommit((items) => retryOnDeadlock(() => recordAttempts(this.deps.db, items)), {
      maxBatch: 500,
      // two at once: one statement waiting for a session's lock holds up only half of them
      concurrency: 2,
      isolateFailures: (err) => !isDatabaseUnavailable(err),
    });
  }

  /**
   * Marks every running session these wallets pay for as stopping, and stops the ones it marked:
   * whoever turns a session from active to stopping sends its stop, so a session is sent one stop
   * and never before its mark (a station answering at once finds its reason). The mark waits for
   * a session another transaction holds; if that is a MeterValues batch, the batch finds the wallet
   * at zero, marks and stops the session itself, and this mark finds nothing left to do. After a
   * batch took a wallet to zero its own statement marked every session it could lock, so what is
   * left here is those another writer held at that moment, or that started while it waited for the
   * wallet; a crash before this mark is covered by
   * each session's next debit, which finds the wallet at zero and marks it itself.
   */
  async stopWallets(walletIds: readonly string[], termination: string): Promise<void> {
    const targets = await markStopping(this.deps.urgentDb ?? this.deps.db, { walletIds }, termination, this.deps.clock.now());
    if (targets.length) {
      this.deps.log.info({ walletIds, sessions: targets.length, termination }, 'wallet at zero: stopping its sessions');
    }
    await Promise.all(targets.map((t) => this.request(t)));
  }

  /**
   * Stops one session (operator stop), also one already stopping or stop_failed. Returns the
   * station's first answer; retries go on in the background. `requestedBy`: the API key that
   * asked, named in the command log (absent: the gateway's own stop).
   */
  async stopSession(sessionId: string, termination: string, requestedBy?: string): Promise<StopOutcome> {
    const [target] = await markStopping(this.deps.db, { sessionIds: [sessionId] }, termination, this.deps.clock.now(), {
      alsoUnconfirmed: true,
    });
    if (!target) return 'error';
    return this.request(requestedBy ? { ...target, requestedBy } : target);
  }

  /**
   * Sessions the caller's committed transaction already marked for stopping (markStopping):
   * ones whose wallet a debit took to zero, or a start the gateway refused.
   */
  async stopMarked(target: StopTarget): Promise<void> {
    await this.request(target);
  }

  /** On reconnect: every stop that has not been confirmed gets another attempt now. */
  async onStationConnected(identity: string): Promise<void> {
    await this.resendOwed([identity]);
  }

  /** Every stop owed to these stations (connected here) that is not being sent gets another attempt now. */
  async resendOwed(identities: readonly string[]): Promise<void> {
    for (let i = 0; i < identities.length && !this.closed; i += 1_000) await this.resend(await pendingStops(this.deps.db, identities.slice(i, i + 1_000)));
  }

  private async resend(open: readonly StopTarget[]): Promise<void> {
    if (this.closed) return;
    for (const t of open) {
      const state = this.inFlight.get(t.sessionId);
      if (state?.running) {
        state.again = true;
      } else {
        if (state?.timer) clearTimeout(state.timer);
        this.inFlight.delete(t.sessionId);
        void this.request(t);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const s of this.inFlight.values()) if (s.timer) clearTimeout(s.timer);
    this.inFlight.clear();
  }

  /** Resolves once every attempt recorded so far is written (graceful stop, after close). */
  drain(): Promise<void> {
    return this.records.drain();
  }

  private async request(target: StopTarget): Promise<StopOutcome> {
    this.deps.events?.publish(sessionChanged({ id: target.sessionId, station_id: target.stationId, wallet_id: null }));
    let state = this.inFlight.get(target.sessionId);
    if (state?.running) {
      // A stop on its way to the station covers this request: its answer is this one's. One the
      // station has answered does not (energy after an accepted stop means the station went on),
      // so this request goes out once that attempt is recorded.
      if (!state.answered && state.sent) return state.sent;
      return (state.recorded ?? Promise.resolve()).then(() => this.request(target));
    }
    if (state?.timer) clearTimeout(state.timer);
    state = { attempts: state?.attempts ?? 0, timer: undefined, running: false, again: false, answered: false, sent: undefined, recorded: undefined };
    this.inFlight.set(target.sessionId, state);
    return this.attempt(target, state);
  }

  /** True once the station has sent StopTransaction for it: nothing left to stop. */
  private async ended(target: StopTarget): Promise<boolean> {
    const row = await this.deps.db
      .selectFrom('sessions')
      .select(['status', 'stop_timestamp'])
      .where('id', '=', target.sessionId)
      .executeTakeFirst()
      .catch((err: unknown) => {
        this.deps.log.warn({ err, sessionId: target.sessionId }, 'could not read a session being stopped; trying the stop again');
        return undefined;
      });
    return !!row && (row.status === 'completed' || row.stop_timestamp !== null);
  }

  private async attempt(target: StopTarget, state: InFlight): Promise<StopOutcome> {
    if (this.closed) return 'error';
    if (state.attempts > 0) {
      const ended = await this.ended(target);
      // a reconnect started a fresh request meanwhile: it owns the retries now
      if (this.inFlight.get(target.sessionId) !== state) return ended ? 'already_stopped' : 'error';
      if (ended) {
        this.inFlight.delete(target.sessionId);
        return 'already_stopped';
      }
    }
    state.running = true;
    state.answered = false;
    state.attempts += 1;
    let answer!: (o: StopOutcome) => void;
    let recorded!: () => void;
    state.sent = new Promise((r) => (answer = r));
    state.recorded = new Promise((r) => (recorded = r));
    let outcome: StopOutcome;
    const sentAt = this.deps.clock.now();
    try {
      const conf = await this.deps.stations.call(
        target.identity,
        'RemoteStopTransaction',
        { transactionId: target.transactionId },
        { urgent: true, timeoutMs: STOP_CALL_TIMEOUT_MS, requestedBy: target.requestedBy, reason: target.reason ?? 'stop' },
      );
      outcome = conf.status;
      if (outcome === 'Accepted') this.onAccepted?.(target, sentAt);
    } catch (err) {
      outcome = err instanceof StationOfflineError ? 'offline' : err instanceof StationTimeoutError ? 'timeout' : 'error';
      if (outcome === 'error') this.deps.log.warn({ err, identity: target.identity }, 'RemoteStopTransaction failed');
    }
    state.answered = true;
    answer(outcome);
    this.deps.metrics?.remoteStop(outcome);
    // When the next attempt is due, durably: if this process dies, another node takes over.
    const delay = outcome === 'Accepted' ? undefined : this.retryDelaysMs[state.attempts - 1];
    const nextAt = delay === undefined ? null : new Date(this.deps.clock.now().getTime() + delay);
    await this.records
      .submit({ sessionId: target.sessionId, nextAt })
      .catch((err: unknown) => {
        this.deps.log.warn({ err, sessionId: target.sessionId }, 'could not count a stop attempt');
      });
    this.deps.events?.publish(sessionChanged({ id: target.sessionId, station_id: target.stationId, wallet_id: null }));
    // Running until here: a reconnect meanwhile asks this chain for another attempt (`again`)
    // rather than starting a second one.
    state.running = false;
    recorded();
    this.deps.log.info(
      { identity: target.identity, transactionId: target.transactionId, outcome, attempt: state.attempts },
      'RemoteStopTransaction',
    );
    // Defensive: if a fresh request replaced this state anyway, that request owns the retries.
    const current = this.inFlight.get(target.sessionId) === state;
    if (outcome === 'Accepted') {
      if (current) this.inFlight.delete(target.sessionId);
      return outcome;
    }
    if (this.closed || !current) return outcome;
    if (state.again) {
      state.again = false;
      void this.attempt(target, state);
      return outcome;
    }
    if (delay === undefined) {
      this.inFlight.delete(target.sessionId);
      // The station may have stopped by itself meanwhile (and rejected our stop for that reason).
      if (!(await this.ended(target))) await this.giveUp(target, outcome);
      return outcome;
    }
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.attempt(target, state);
    }, delay);
    state.timer.unref?.();
    return outcome;
  }

  private async giveUp(target: StopTarget, last: StopOutcome): Promise<void> {
    const now = this.deps.clock.now();
    try {
      // One transaction: whoever sees the session stop_failed also sees its alert.
      await this.deps.db.transaction().execute(async (tx) => {
        const failed = await tx
          .updateTable('sessions')
          .set({ status: 'stop_failed', updated_at: now })
          .where('id', '=', target.sessionId)
          .where('status', '=', 'stopping')
          .returning(['id', 'transaction_id', 'station_id', 'wallet_id', 'stop_attempts'])
          .executeTakeFirst();
        if (failed) await emitEvent(tx, sessionStopFailed(failed, failed.stop_attempts), now);
        await recordAlert(
          tx,
          {
            kind: 'remote_stop_failed',
            stationId: target.stationId,
            sessionId: target.sessionId,
            transactionId: target.transactionId,
            message: `station ${target.identity} did not accept RemoteStopTransaction for transaction ${target.transactionId}; retrying when it reconnects`,
            details: { identity: target.identity, last_outcome: last },
          },
          now,
        );
      });
      this.deps.log.warn({ identity: target.identity, transactionId: target.transactionId, last }, 'remote stop failed after retries');
      this.deps.events?.publish(alertRaised({ stationId: target.stationId, sessionId: target.sessionId, kind: 'remote_stop_failed' }));
    } catch (err) {
      this.deps.log.error({ err }, 'could not record a failed remote stop');
    }
  }
}

/**
 * Counts one attempt for each session and sets when its next one is due, in one statement. The
 * sessions are locked first, in id order, as every writer of sessions locks them. A session
 * appears once per call: an attempt is recorded before the next one of its session starts.
 */
async function recordAttempts(db: Db, items: readonly AttemptRecord[]): Promise<void> {
  const rows = JSON.stringify(items.map((r) => ({ id: r.sessionId, next_at: r.nextAt?.toISOString() ?? null })));
  await sql`
    with v as (select * from json_to_recordset(${rows}::json) as v(id text, next_at timestamptz)),
    locked as materialized (
      select s.id from sessions s where s.id = any(array(select id from v)) order by s.id for no key update
    )
    update sessions s set stop_attempts = s.stop_attempts + 1, stop_retry_at = v.next_at
    from v
    where s.id = v.id and s.id = any(array(select id from locked))`.execute(db);
}
