import { sql, type RawBuilder } from 'kysely';
import type { Db, Tx } from '../../db/index.ts';
import { newId } from '../../shared/ids.ts';
import type { NewEvent } from './types.ts';

/**
 * Writes events to the outbox with the caller's executor: inside the transaction of the change
 * they describe, so an event exists exactly when its change committed (a rolled-back change
 * leaves no event). One statement; the organizations that may see each event are read from its
 * station and wallet in the same statement. Delivery happens later, elsewhere (dispatcher.ts).
 */
export async function emitEvents(db: Db | Tx, events: readonly NewEvent[], at: Date): Promise<void> {
  if (!events.length) return;
  await insertEvents(events.map((event) => ({ event })), at).execute(db);
}

/**
 * The INSERT that writes events to the outbox, for emitEvents or as a step of a larger statement
 * (billing writes a session's events in the statement that changes it). Each event may carry a
 * `sessionId`; `where` (over `e`, with `e.session_id`) keeps only some of them, e.g. those of the
 * sessions the statement wrote.
 */
export function insertEvents(events: readonly { event: NewEvent; sessionId?: string | undefined }[], at: Date, where?: RawBuilder<boolean>) {
  const rows = events.map(({ event: e, sessionId }, n) => ({
    n,
    id: newId(at),
    type: e.type,
    key: e.orderingKey,
    station_id: e.stationId ?? null,
    wallet_id: e.walletId ?? null,
    organization_id: e.organizationId ?? null,
    session_id: sessionId ?? null,
    data: e.data,
  }));
  return sql`
    insert into outbox_events (id, type, ordering_key, organizations, data, created_at)
    select e.id, e.type, e.key,
      array_remove(array[
        e.organization_id,
        (select c.organization_id from charge_stations c where c.id = e.station_id),
        (select u.organization_id from wallets w join users u on u.id = w.user_id where w.id = e.wallet_id)
      ], null),
      e.data::jsonb, ${at}
    from json_to_recordset(${JSON.stringify(rows)}::json)
      as e(n int, id text, type text, key text, station_id text, wallet_id text, organization_id text, session_id text, data json)
    ${where ? sql`where ${where}` : sql``}
    order by e.n`;
}

export function emitEvent(db: Db | Tx, event: NewEvent, at: Date): Promise<void> {
  return emitEvents(db, [event], at);
}
