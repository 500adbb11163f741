import type { Db, Tx } from '../../db/index.ts';
import type { Session, SessionEnd } from '../../db/tables/sessions.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { implausibleAlert, recordAlerts, sessionAlert, type NewAlert } from './alerts.ts';
import {
  applyBilling, billingResultOf, lockSession, planBilling,
  type AppliedBilling, type BillingPlan, type BillingResult, type BillingWrite,
} from './billing.ts';
import { sessionStopped } from '../events/payloads.ts';
import type { Settle } from './settlements.ts';

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
/**
 * How far the gateway moved a session's start from the station's stamp of it (believedStart: 0
 * unless the station's clock could not be right). A time the station stamps on that session's
 * messages is moved by as much: its clock is the one the start was stamped on.
 */
export function clockShiftMs(s: Pick<Session, 'start_timestamp' | 'station_start_timestamp'>): number {
  return s.start_timestamp.getTime() - s.station_start_timestamp.getTime();
}

/**
 * A time a station stamped on a session's message, in the gateway's time: the later of the stamp
 * and the stamp moved as the session's start was (clockShiftMs), never after its arrival. A
 * clock reset to 2000 has every stamp moved forward with the start; a start that alone was
 * stamped wrong (2099) leaves the others as they are, so TIME is neither counted from decades
 * ago nor made free.
 */
export function onGatewayClock(s: Pick<Session, 'start_timestamp' | 'station_start_timestamp'>, stampedMs: number, arrivedMs: number): Date {
  return new Date(Math.min(arrivedMs, Math.max(stampedMs, stampedMs + clockShiftMs(s))));
}

export function isSettled(s: Pick<Session, 'stop_timestamp' | 'ended_by' | 'status'>): boolean {
  if (s.stop_timestamp === null) return false;
  return s.ended_by !== 'connector_status' && s.ended_by !== 'new_transaction';
}

export interface Ended {
  billing?: BillingResult;
  /** the session is held and was not settled (a station's stop does not settle a held session) */
  held: boolean;
}

/** What ending a session writes, planned from its row as read (or locked). */
interface EndingPlan {
  /** the billing write that settles it, records the end and carries its session.stopped event */
  write: BillingWrite;
  plan: BillingPlan;
  /** alerts to record with it (a meterStop below the highest reading, an implausible register) */
  alerts: NewAlert[];
}

function planEnding(row: Session, end: SessionEnding): EndingPlan {
  const termination = terminationOf(row, end);
  const floor = Math.max(row.start_timestamp.getTime(), row.last_reading_at?.getTime() ?? 0);
  const settleAt = end.at.getTime() < floor ? new Date(floor) : end.at;
  const operator = end.endedBy === 'operator';
  const plan = planBilling(row, {
    registersWh: [end.registerWh],
    at: settleAt,
    settle: true,
    ...(operator ? { trusted: true } : {}),
  });
  const events =
    row.status !== 'rejected' && !plan.implausible
      ? [sessionStopped(row, { ...end, at: settleAt, termination }, { energyWh: plan.energyWh, cost: plan.cost })]
      : [];
  const alerts: NewAlert[] = [];
  if (plan.backwardsWh.length && end.endedBy === 'station') {
    alerts.push(
      sessionAlert(
        row,
        'meter_stop_below_reading',
        `meterStop ${end.registerWh} Wh is below the ${row.meter_last} Wh already reported: settled on ${row.meter_last} Wh`,
        { meter_stop: end.meterStop, highest_wh: row.meter_last },
      ),
    );
  }
  if (plan.implausible) alerts.push(implausibleAlert(row, plan.implausible));
  const write: BillingWrite = {
    row,
    plan,
    ...(operator ? { note: `closed by an operator (API key ${end.closedBy ?? 'unknown'}), settled on ${Math.max(end.registerWh, row.meter_start)} Wh` } : {}),
    end: {
      meter_stop: end.meterStop,
      stop_timestamp: end.at,
      stop_reason: end.stopReason,
      termination,
      ended_by: end.endedBy,
      closed_by: end.closedBy ?? null,
    },
    events,
  };
  return { write, plan, alerts };
}

function endedOf(p: EndingPlan, applied: AppliedBilling): Ended {
  return { billing: billingResultOf(p.write.row, p.plan, applied), held: p.plan.implausible !== undefined };
}

/**
 * The termination to record: one the gateway set before (insufficient_balance, …) stays; one an
 * implicit end wrote gives way to the real end.
 */
function terminationOf(row: Session, end: SessionEnding): string {
  return row.termination !== null && !IMPLICIT_TERMINATIONS.has(row.termination) ? row.termination : end.termination;
}

/** A station's stop on a held session: recorded, nothing settled (an operator settles it). */
function recordHeldStop(ex: Db | Tx, row: Session, end: SessionEnding, now: Date) {
  return ex
    .updateTable('sessions')
    .set({
      meter_stop: end.meterStop,
      stop_timestamp: end.at,
      stop_reason: end.stopReason,
      termination: terminationOf(row, end),
      ended_by: end.endedBy,
      closed_by: end.closedBy ?? null,
      updated_at: now,
    })
    .where('id', '=', row.id);
}

/**
 * Ends a session the caller's transaction has locked: settles it (step sizes apply, TIME billed
 * past the end is refunded) and records how it ended, in one statement with its session.stopped
 * event (then its alerts, if any). A held session is settled only by an operator; a station's
 * stop on it is recorded and nothing more. The settlement time is never before the start nor
 * before the latest reading the station sent (an operator's is now).
 */
export async function endSession(tx: Tx, locked: Session, end: SessionEnding, now: Date): Promise<Ended> {
  return (await endSessions(tx, [{ locked, end }], now))[0]!;
}

/**
 * endSession for several sessions the caller's transaction has locked, in one billing statement
 * (which posts to their wallets in wallet id order, as every writer does), then their alerts.
 */
async function endSessions(tx: Tx, endings: readonly { locked: Session; end: SessionEnding }[], now: Date): Promise<Ended[]> {
  const out: (Ended | EndingPlan)[] = [];
  for (const { locked, end } of endings) {
    if (locked.status === 'held' && end.endedBy !== 'operator') {
      await recordHeldStop(tx, locked, end, now).execute();
      out.push({ held: true });
    } else {
      out.push(planEnding(locked, end));
    }
  }
  const plans = out.filter((e): e is EndingPlan => 'write' in e);
  const applied = await applyBilling(tx, plans.map((p) => p.write), now);
  const missed = plans.find((p) => !applied.applied.has(p.write.row.id));
  if (missed) throw new Error(`session ${missed.write.row.id} is locked but its settlement did not apply`);
  await recordAlerts(tx, plans.flatMap((p) => p.alerts), now);
  return out.map((e) => ('write' in e ? endedOf(e, applied) : e));
}

/**
 * endSession without a transaction, for a session read without a lock (a StopTransaction): one
 * statement, committed on its own (`settle`: alone, or with other settlements by group commit),
 * that applies only if the session still is as it was read (billStatement's compare-and-set), so
 * no row stays locked between round trips. Returns
 * `changed` when another writer got there first (read it again), and `lock` for an ending that
 * needs endSession in a transaction (a held session, or one that raises an alert).
 */
export async function endSessionAsRead(settle: Settle, row: Session, end: SessionEnding, now: Date): Promise<Ended | 'changed' | 'lock'> {
  if (row.status === 'held') return 'lock';
  const p = planEnding(row, end);
  if (p.alerts.length) return 'lock';
  const applied = await settle(p.write, now);
  return applied.applied.has(row.id) ? endedOf(p, applied) : 'changed';
}

/**
 * Ends, on what was reported, every session still open on a connector that has moved on: it
 * reported Available (or Preparing) after the session started, or a new transaction started
 * there. Returns the sessions ended (their stops are no longer owed).
 */
export async function endOpenOnConnector(
  tx: Tx,
  where: {
    stationId: string;
    connectorId: number;
    startedBefore: Date;
    exceptSessionId?: string;
    /** `startedBefore` is a station's stamp: compared with its own stamp of each start (clockShift) */
    onStationClock?: boolean;
  },
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
    .where((eb) =>
      where.onStationClock
        ? // after the start on the station's clock, or (one bad stamp of the start) on the gateway's
          eb.or([eb('station_start_timestamp', '<', where.startedBefore), eb('start_timestamp', '<', new Date(Math.min(where.startedBefore.getTime(), now.getTime())))])
        : eb('start_timestamp', '<', where.startedBefore),
    );
  if (where.exceptSessionId) q = q.where('id', '<>', where.exceptSessionId);
  // All of them locked first, in id order, before any wallet is touched: sessions before wallets,
  // as every writer takes them; then ended in one statement, which locks their wallets in id order
  // (ending them one by one would lock the wallets in session order: two such endings on two
  // connectors could each hold the wallet the other waits for).
  const open = (await q.orderBy('id').forNoKeyUpdate().execute()).filter((locked) => locked.stop_timestamp === null);
  const atOf = (s: Session) => (where.onStationClock ? onGatewayClock(s, where.startedBefore.getTime(), now.getTime()) : new Date(Math.min(now.getTime(), where.startedBefore.getTime())));
  const ended = await endSessions(
    tx,
    open.map((locked) => ({
      locked,
      end: {
        endedBy,
        registerWh: locked.meter_last,
        meterStop: locked.meter_last,
        at: atOf(locked),
        stopReason: endedBy === 'connector_status' ? 'ConnectorAvailable' : 'NewTransaction',
        termination: endedBy === 'connector_status' ? 'ended_by_connector_status' : 'replaced_by_new_transaction',
      },
    })),
    now,
  );
  return open.map((session, i) => ({ session, ended: ended[i]! }));
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
