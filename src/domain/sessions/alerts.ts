import type { Db } from '../../db/index.ts';
import type { Alert } from '../../db/tables/sessions.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { emitEvents } from '../events/outbox.ts';
import { alertCreated } from '../events/payloads.ts';

export type AlertKind =
  | 'unknown_transaction'
  | 'meter_backwards'
  | 'meter_values_without_session'
  | 'remote_stop_failed'
  | 'transaction_station_mismatch'
  | 'meter_implausible'
  | 'meter_stop_below_reading'
  | 'energy_after_stop'
  | 'start_after_stop'
  | 'transaction_replaced'
  | 'transaction_ended_by_status';

export interface NewAlert {
  kind: AlertKind;
  stationId?: string | undefined;
  sessionId?: string | undefined;
  transactionId?: number | undefined;
  message: string;
  details?: Record<string, unknown>;
}

type SessionRef = { id: string; station_id: string; transaction_id: number };

/** An alert about one session. */
export function sessionAlert(session: SessionRef, kind: AlertKind, message: string, details: Record<string, unknown>): NewAlert {
  return { kind, stationId: session.station_id, sessionId: session.id, transactionId: session.transaction_id, message, details };
}

/** A reading that implies more power than the station can deliver (planBilling's `implausible`). */
export function implausibleAlert(
  session: SessionRef,
  i: { reportedWh: number; energyWh: number; elapsedS: number; maxPowerW: number },
): NewAlert {
  return sessionAlert(
    session,
    'meter_implausible',
    `register ${i.reportedWh} Wh implies ${i.energyWh} Wh in ${i.elapsedS} s, more than ${i.maxPowerW} W could deliver: ` +
      'nothing billed, session held for the operator',
    { reported_wh: i.reportedWh, energy_wh: i.energyWh, elapsed_s: i.elapsedS, max_power_w: i.maxPowerW },
  );
}

/** Something a station did that an operator should look at; listed by GET /v1/alerts. */
export async function recordAlert(db: Db, alert: NewAlert, at: Date): Promise<void> {
  await recordAlerts(db, [alert], at);
}

/** Several alerts in one statement, and their alert.created events, in one transaction. */
export async function recordAlerts(db: Db, alerts: readonly NewAlert[], at: Date): Promise<void> {
  if (!alerts.length) return;
  const rows = alerts.map((alert) => ({
    id: newId(at),
    kind: alert.kind,
    station_id: alert.stationId ?? null,
    session_id: alert.sessionId ?? null,
    transaction_id: alert.transactionId ?? null,
    message: alert.message,
    details: JSON.stringify(alert.details ?? {}),
    created_at: at,
  }));
  // The alerts and their alert.created events commit together (in the caller's transaction, if any).
  const write = async (ex: Db) => {
    await ex.insertInto('alerts').values(rows).execute();
    await emitEvents(ex, rows.map((r, i) => alertCreated({ ...r, details: alerts[i]!.details ?? {} })), at);
  };
  await (db.isTransaction ? write(db) : db.transaction().execute(write));
}

/**
 * Alerts, newest first; `organization` keeps those of that organization's stations, `open`
 * those not acknowledged yet (false: only acknowledged ones).
 */
export async function listAlerts(
  db: Db,
  q: {
    limit: number;
    cursor?: string | undefined;
    chargestation?: string | undefined;
    session?: string | undefined;
    kind?: string | undefined;
    open?: boolean | undefined;
    organization?: string | undefined;
  },
): Promise<Page<Alert>> {
  let query = db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
  const before = decodeCursor(q.cursor);
  if (before) query = query.where('id', '<', before);
  if (q.chargestation) query = query.where('station_id', '=', q.chargestation);
  if (q.session) query = query.where('session_id', '=', q.session);
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (q.open !== undefined) query = query.where('acknowledged_at', q.open ? 'is' : 'is not', null);
  if (q.organization) {
    const org = q.organization;
    query = query.where('station_id', 'in', db.selectFrom('charge_stations').select('id').where('organization_id', '=', org));
  }
  return toPage(await query.execute(), q.limit, (a) => a.id);
}

/** Marks an alert as seen by an operator (the first acknowledgement stays). */
export async function acknowledgeAlert(db: Db, id: string, at: Date, by: string | null): Promise<Alert> {
  const alert = await db
    .updateTable('alerts')
    .set((eb) => ({
      acknowledged_at: eb.fn.coalesce('acknowledged_at', eb.val(at)),
      acknowledged_by: eb.fn.coalesce('acknowledged_by', eb.val(by)),
    }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!alert) throw new NotFoundError('alert', id);
  return alert;
}
