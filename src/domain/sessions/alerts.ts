import type { Db } from '../../db/index.ts';
import { newId } from '../../shared/ids.ts';

export type AlertKind =
  | 'unknown_transaction'
  | 'meter_backwards'
  | 'meter_values_without_session'
  | 'remote_stop_failed'
  | 'transaction_station_mismatch';

/** Something a station did that an operator should look at; listed by GET /v1/alerts. */
export async function recordAlert(
  db: Db,
  alert: {
    kind: AlertKind;
    stationId?: string | undefined;
    sessionId?: string | undefined;
    transactionId?: number | undefined;
    message: string;
    details?: Record<string, unknown>;
  },
  at: Date,
): Promise<void> {
  await db
    .insertInto('alerts')
    .values({
      id: newId(at),
      kind: alert.kind,
      station_id: alert.stationId ?? null,
      session_id: alert.sessionId ?? null,
      transaction_id: alert.transactionId ?? null,
      message: alert.message,
      details: JSON.stringify(alert.details ?? {}),
      created_at: at,
    })
    .execute();
}
