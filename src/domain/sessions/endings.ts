import { sql } from 'kysely';
import type { Db, Tx } from '../../db/index.ts';
import type { Session, SessionEnd } from '../../db/tables/sessions.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { implausibleAlert, recordAlert, sessionAlert } from './alerts.ts';
import { billLocked, lockSession, type BillingResult } from './billing.ts';
import { emitEvent } from '../events/outbox.ts';
import { sessionStopped } from '../events/payloads.ts';

/**
 * The one way a session ends, whatever ends it: its StopTransaction (`station`), its connector
 * reporting Available or Preparing for someone else (`connector_status`), a new StartTransaction
 * on its connector (`new_transaction`), or an operator closing it by hand (`operator`).
 */
export interface SessionEnding {
  endedBy: SessionEnd;
  /** the register to settle on */
  registerWh: number;
  /** the meterStop to record (the station's, or the operator's) */
  meterStop: number;
  /** when it ended, as the station (or the operator) says */
  at: Date;
  stopReason: string;
  /** what to record as the session's termination, unless the gateway already set one */
  termination: string;
  /** the API key of an operator who closed it */
  closedBy?: string | undefined;
}

const IMPLICIT_TERMINATIONS = new Set(['ended_by_connector_status', 'replaced_by_new_transaction']);

/** Statuses a session can still be ended from (a refused start that was never stopped included). */
const ENDABLE = ['active', 'stopping', 'stop_failed', 'held', 'rejected'] as const;

/**
 * True when the session has been settled for good. A session ended by its connector's status or
 * by a new transaction was settled on what had been reported; its own StopTransaction, if it
 * arrives late, may still settle it once with the real final register.
 */
export function isSettled(s: Pick<Session, 'stop_timestamp' | 'ended_by' | 'status'>): boolean {
  if (s.stop_timestamp === null) return false;
  return s.ended_by !== 'connector_status' && s.ended_by !== 'new_transaction';
}

export interface Ended {
  billing?: BillingResult;
  /** the session is held and was not settled (a station's stop does not settle a held session) */
  held: boolean;
}

/**
 * Ends a session the caller's transaction has locked: settles it (step sizes apply, TIME billed
 * past the end is refunded) and records how it ended. A held session is settled only by an
 * operator; a station's stop on it is recorded and nothing more. The settlement time is never
 * before the start nor before the latest reading the station sent (an operator's is now).
 */
export async function endSession(tx: Tx, locked: Session, end: SessionEnding, now: Date): Promise<Ended> {
  // A termination the gateway set before (insufficient_balance, …) stays; one an implicit end
  // wrote gives way to the real end.
  const keep = locked.termination !== null && !IMPLICIT_TERMINATIONS.has(locked.termination);
  const stopped = {
    meter_stop: end.meterStop,
    stop_timestamp: end.at,
    stop_reason: end.stopReason,
    termination: keep ? locked.termination : end.termination,
    ended_by: end.endedBy,
    closed_by: end.closedBy ?? null,
    updated_at: now,
  };
  if (locked.status === 'held' && end.endedBy !== 'operator') {
    await tx.updateTable('sessions').set(stopped).where('id', '=', locked.id).execute();
    return { held: true };
  }
  const floor = Math.max(locked.start_timestamp.getTime(), locked.last_reading_at?.getTime() ?? 0);
  const settleAt = end.at.getTime() < floor ? new Date(floor) : end.at;
  const operator = end.endedBy === 'operator';
  const billing = await billLocked(tx, locked, {
    registerWh: end.registerWh,
    at: settleAt,
    settle: true,
    ...(operator
      ? { trusted: true, note: `closed by an operator (API key ${end.closedBy ?? 'unknown'}), settled on ${Math.max(end.registerWh, locked.meter_start)} Wh` }
      : {}),
  });
  await tx
    .updateTable('sessions')
    .set({
      ...stopped,
      // A refused start stays refused; a held session closed by an operator is completed.
      status: sql`case when status = 'rejected' or (status = 'held' and ${!operator}) then status else 'completed' end`,
    })
    .where('id', '=', locked.id)
    .execute();
  if (locked.status !== 'rejected' && !billing.implausible) {
    await emitEvent(
      tx,
      sessionStopped(locked, { ...end, at: settleAt, termination: stopped.termination }, { energyWh: billing.energyWh, cost: billing.cost }),
      now,
    );
  }
  if (billing.meterWentBackwards && end.endedBy === 'station') {
    await recordAlert(
      tx,
      sessionAlert(
        locked,
        'meter_stop_below_reading',
        `meterStop ${end.registerWh} Wh is below the ${locked.meter_last} Wh already reported: settled on ${locked.meter_last} Wh`,
        { meter_stop: end.meterStop, highest_wh: locked.meter_last },
      ),
      now,
    );
  }
  if (billing.implausible) await recordAlert(tx, implausibleAlert(locked, billing.implausible), now);
  return { billing, held: billing.implausible !== undefined };
}

/**
 * Ends, on what was reported, every session still open on a connector that has moved on: it
 * reported Available (or Preparing) after the session started, or a new transaction started
 * there. Returns the sessions ended (their stops are no longer owed).
 */
export async function endOpenOnConnector(
  tx: Tx,
  where: { stationId: string; connectorId: number; startedBefore: Date; exceptSessionId?: string },
  endedBy: 'connector_status' | 'new_transaction',
  now: Date,
): Promise<{ session: Session; ended: Ended }[]> {
  let q = tx
    .selectFrom('sessions')
    .selectAll()
    .where('station_id', '=', where.stationId)
    .where('connector_id', '=', where.connectorId)
    .where('status', 'in', [...ENDABLE])
    .where('stop_timestamp', 'is', null)
    .where('start_timestamp', '<', where.startedBefore);
  if (where.exceptSessionId) q = q.where('id', '<>', where.exceptSessionId);
  // All of them locked first, in id order, before any wallet is touched: sessions before wallets,
  // as every writer takes them (ending one posts to its wallet; locking the next after that could
  // wait for a batch that holds the next session and waits for that wallet).
  const open = await q.orderBy('id').forNoKeyUpdate().execute();
  const out: { session: Session; ended: Ended }[] = [];
  for (const locked of open) {
    if (locked.stop_timestamp !== null) continue;
    const ended = await endSession(
      tx,
      locked,
      {
        endedBy,
        registerWh: locked.meter_last,
        meterStop: locked.meter_last,
        at: where.startedBefore.getTime() > now.getTime() ? now : where.startedBefore,
        stopReason: endedBy === 'connector_status' ? 'ConnectorAvailable' : 'NewTransaction',
        termination: endedBy === 'connector_status' ? 'ended_by_connector_status' : 'replaced_by_new_transaction',
      },
      now,
    );
    out.push({ session: locked, ended });
  }
  return out;
}

/** POST /v1/sessions/:id/close: an operator settles a session by hand, on a register of their choosing. */
export async function closeByOperator(
  db: Db,
  now: Date,
  sessionId: string,
  input: { meterStop?: number | undefined; closedBy: string },
): Promise<{ session: Session; ended: Ended }> {
  return db.transaction().execute(async (tx) => {
    const found = await tx.selectFrom('sessions').select('id').where('id', '=', sessionId).executeTakeFirst();
    if (!found) throw new NotFoundError('session', sessionId);
    const locked = await lockSession(tx, sessionId);
    if (isSettled(locked) && locked.status !== 'held') {
      throw new ConflictError('session_settled', `session ${sessionId} is already settled (${locked.status})`);
    }
    const register = input.meterStop ?? locked.meter_last;
    const ended = await endSession(
      tx,
      locked,
      {
        endedBy: 'operator',
        registerWh: register,
        meterStop: locked.meter_stop ?? register,
        // A station that stopped (a held session) is settled to its stop, not to now.
        at: locked.stop_timestamp ?? now,
        stopReason: locked.stop_reason ?? 'ClosedByOperator',
        termination: 'closed_by_operator',
        closedBy: input.closedBy,
      },
      now,
    );
    const session = await tx.selectFrom('sessions').selectAll().where('id', '=', sessionId).executeTakeFirstOrThrow();
    return { session, ended };
  });
}
