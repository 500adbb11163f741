import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { Alert } from '../../db/tables/sessions.ts';
import { newId } from '../../shared/ids.ts';
import { isInt32 } from '../../shared/storable.ts';
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
  | 'transaction_ended_by_status'
  | 'security_event'
  | 'start_time_adjusted';

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

/**
 * Alerts that repeat the same thing collapse: while an alert of a kind is open for a station
 * (and session, for session alerts), a repeat adds to its `count` and moves its `last_seen_at`
 * (message and details become the latest) instead of adding a row. An acknowledged alert is
 * closed: the next repeat opens a new one. Session-less alerts therefore make one open alert per
 * kind and station; session alerts one per session, because each session needs its own look.
 */
export function openKey(alert: NewAlert): string | null {
  return alert.stationId ? `${alert.kind}|${alert.stationId}|${alert.sessionId ?? ''}` : null;
}

/** Several alerts in one statement (repeats within the batch and of open alerts collapsed), and their alert.created events, in one transaction. */
export async function recordAlerts(db: Db, alerts: readonly NewAlert[], at: Date): Promise<void> {
  if (!alerts.length) return;
  // One row per key: ON CONFLICT cannot touch a row twice in one statement.
  const rows = new Map<string, { alert: NewAlert; count: number }>();
  let unkeyed = 0;
  for (const alert of alerts) {
    const key = openKey(alert) ?? `unkeyed:${unkeyed++}`;
    const seen = rows.get(key);
    rows.set(key, { alert, count: (seen?.count ?? 0) + 1 });
  }
  const values = [...rows.values()].map(({ alert, count }) => ({
    id: newId(at),
    kind: alert.kind,
    station_id: alert.stationId ?? null,
    session_id: alert.sessionId ?? null,
    // A station's id beyond int32 (one the gateway never issued) stays in the message and details.
    transaction_id: alert.transactionId !== undefined && isInt32(alert.transactionId) ? alert.transactionId : null,
    message: alert.message,
    details: JSON.stringify(
      alert.transactionId !== undefined && !isInt32(alert.transactionId) ? { ...alert.details, transactionId: alert.transactionId } : (alert.details ?? {}),
    ),
    created_at: at,
    last_seen_at: at,
    count,
    open_key: openKey(alert),
  }));
  // The alerts and their alert.created events commit together (in the caller's transaction, if
  // any); a repeat folded into an open alert is not a new alert and emits no event.
  const write = async (ex: Db) => {
    const written = await ex
      .insertInto('alerts')
      .values(values)
      .onConflict((oc) =>
        oc.column('open_key').doUpdateSet((eb) => ({
          count: eb('alerts.count', '+', eb.ref('excluded.count')),
          last_seen_at: eb.ref('excluded.last_seen_at'),
          message: eb.ref('excluded.message'),
          details: eb.ref('excluded.details'),
          // the repeat's transaction; one beyond int32 (null in the column, kept in the details) too
          transaction_id: sql<number | null>`case when excluded.details ? 'transactionId' and excluded.transaction_id is null
            then null else coalesce(excluded.transaction_id, alerts.transaction_id) end`,
        })),
      )
      .returning(['id', 'kind', 'station_id', 'session_id', 'transaction_id', 'message', sql<boolean>`(xmax = 0)`.as('inserted')])
      .execute();
    // the details as stored (an id beyond int32 is in them)
    const detailsOf = new Map(values.map((v) => [v.id, JSON.parse(v.details) as Record<string, unknown>]));
    const created = written.filter((r) => r.inserted);
    await emitEvents(ex, created.map((r) => alertCreated({ ...r, details: detailsOf.get(r.id) ?? {} })), at);
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
      open_key: null,
    }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!alert) throw new NotFoundError('alert', id);
  return alert;
}
