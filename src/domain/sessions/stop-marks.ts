import { sql, type Expression, type RawBuilder } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { SessionStatus } from '../../db/tables/sessions.ts';

/** A session that must be sent RemoteStopTransaction, and where. */
export interface StopTarget {
  sessionId: string;
  transactionId: number;
  identity: string;
  stationId: string;
  /** why it is stopped, for the command log (`wallet_at_zero`, `predictive_stop`, `operator_stop`, …) */
  reason?: string;
  /** the API key that asked (an operator's stop); absent: the gateway's own stop */
  requestedBy?: string;
}

/** The command log's reason for a stop, from the session's termination and who decided it. */
export function stopReason(termination: string | null, stoppedBy: string | null): string {
  if (stoppedBy === 'prediction') return 'predictive_stop';
  if (termination === 'insufficient_balance') return 'wallet_at_zero';
  if (termination === 'remote') return 'operator_stop';
  return termination ?? 'stop';
}

/**
 * Hands a zero wallet's running sessions on stations other processes hold to those processes,
 * from inside the statement that marked them (billAndMark): the nodes holding them are told at
 * its commit and send the RemoteStopTransaction themselves, with no query or round trip after
 * the commit. The marks, committed by that statement, are what make each stop durable.
 */
export interface StopRelay {
  /**
   * Steps for a statement that has a CTE `stop_marked` (session_id, transaction_id, identity,
   * station_id: sessions it has just marked stopping): they define `handed` (session_id), those
   * whose station another live node holds, and tell each such node of its sessions (delivered at
   * commit, never on rollback). The text must not vary between calls (a prepared statement).
   */
  handOverSteps(): RawBuilder<unknown>;
}

/**
 * Records the intent to stop sessions: a running session becomes `stopping` with its
 * termination (kept if one was set) and the time the stop was asked for. The one writer of that
 * intent, for every reason but one: a wallet at zero (its sessions), an operator's stop. The
 * exception is the MeterValues statement (billAndMark), which marks the sessions of the wallets
 * it takes to zero itself, with the same values. Sessions already stopping or stop_failed are matched
 * too when `alsoUnconfirmed` is set (an operator asking again). Returns where to send the stops.
 * Runs on the pool or in the caller's transaction; a stop marked in the same transaction as
 * the debit that caused it survives a crash (a reconnecting station is sent it again).
 */
export async function markStopping(
  db: Db,
  which: { walletIds?: readonly string[]; sessionIds?: readonly string[] },
  termination: string,
  now: Date,
  options: {
    alsoUnconfirmed?: boolean;
    /** who decided the stop (sessions.stopped_by), e.g. 'prediction' */
    stoppedBy?: string;
  } = {},
): Promise<StopTarget[]> {
  if ((which.walletIds && !which.walletIds.length) || (which.sessionIds && !which.sessionIds.length)) return [];
  const statuses: SessionStatus[] = options.alsoUnconfirmed ? ['active', 'stopping', 'stop_failed'] : ['active'];
  // The sessions are locked first, in id order as every writer of sessions locks them (a batch
  // holding some of them waits for their wallets, never for another session: no cycle). A writer
  // that holds wallets must not wait here: the billing statement marks with SKIP LOCKED itself.
  const q = db
    .with(
      (cte) => cte('locked').materialized(),
      (qb) => {
        let l = qb.selectFrom('sessions as f').select('f.id').where('f.status', 'in', statuses);
        if (which.walletIds) l = l.where('f.wallet_id', 'in', [...which.walletIds]);
        if (which.sessionIds) l = l.where('f.id', 'in', [...which.sessionIds]);
        return l.orderBy('f.id').forNoKeyUpdate();
      },
    )
    .updateTable('sessions as s')
    .from('charge_stations as c')
    .set((eb) => ({
      status: sql<SessionStatus>`case when s.status = 'active' then 'stopping' else s.status end`,
      termination: eb.fn.coalesce('s.termination', eb.val(termination)),
      stop_requested_at: now,
      stop_retry_at: now,
      updated_at: now,
      ...(options.stoppedBy ? { stopped_by: options.stoppedBy } : {}),
    }))
    .whereRef('c.id', '=', 's.station_id')
    .where('s.status', 'in', statuses)
    .where('s.id', 'in', (eb) => eb.selectFrom('locked').select('locked.id'));
  const rows = await q
    .returning(['s.id as sessionId', 's.transaction_id as transactionId', 'c.ocpp_id as identity', 'c.id as stationId', 's.stopped_by'])
    .execute();
  return rows.map(({ stopped_by, ...t }) => ({ ...t, reason: stopReason(termination, stopped_by) }));
}

/** A session (alias `s`, inside this module's queries) that owes its station a RemoteStopTransaction. */
const OWES_STOP = sql<boolean>`s.stop_timestamp is null
  and (s.status in ('stopping', 'stop_failed') or (s.status in ('rejected', 'held') and s.stop_requested_at is not null))`;

/**
 * True when the station `stationId` (a column or value of the caller's query) has a session
 * that still owes it a RemoteStopTransaction: marked for a stop and not ended by the station yet.
 */
export function stopPendingAt(stationId: Expression<string>) {
  return sql<boolean>`exists (select 1 from sessions s where s.station_id = ${stationId} and ${OWES_STOP})`;
}

/** The sessions on a station that still owe it a RemoteStopTransaction (see stopPendingAt). */
export async function pendingStops(db: Db, identity: string | readonly string[]): Promise<StopTarget[]> {
  const ids = typeof identity === 'string' ? [identity] : [...identity];
  if (!ids.length) return [];
  return withReasons(stopTargets(db).where('c.ocpp_id', 'in', ids).where(OWES_STOP).execute());
}

/**
 * Stopping sessions whose next RemoteStopTransaction attempt was due before `overdueBefore` and
 * was not made: the node that was retrying them is gone (a live retry moves stop_retry_at on).
 */
export async function overdueStops(db: Db, overdueBefore: Date): Promise<StopTarget[]> {
  return withReasons(
    stopTargets(db).where('s.status', '=', 'stopping').where('s.stop_retry_at', '<', overdueBefore).orderBy('s.stop_retry_at').limit(1_000).execute(),
  );
}

/** Sessions (`s`) with their station (`c`), selected as StopTargets. */
function stopTargets(db: Db) {
  return db
    .selectFrom('sessions as s')
    .innerJoin('charge_stations as c', 'c.id', 's.station_id')
    .select(['s.id as sessionId', 's.transaction_id as transactionId', 'c.ocpp_id as identity', 'c.id as stationId', 's.termination', 's.stopped_by']);
}

async function withReasons(
  rows: Promise<(Omit<StopTarget, 'reason' | 'requestedBy'> & { termination: string | null; stopped_by: string | null })[]>,
): Promise<StopTarget[]> {
  return (await rows).map(({ termination, stopped_by, ...t }) => ({ ...t, reason: stopReason(termination, stopped_by) }));
}
