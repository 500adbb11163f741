import { sql } from 'kysely';
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
  const rows = events.map((e, n) => ({
    n,
    id: newId(at),
    type: e.type,
    key: e.orderingKey,
    station_id: e.stationId ?? null,
    wallet_id: e.walletId ?? null,
    organization_id: e.organizationId ?? null,
    data: e.data,
  }));
  await sql`
    insert into outbox_events (id, type, ordering_key, organizations, data, created_at)
    select e.id, e.type, e.key,
      array_remove(array[
        e.organization_id,
        (select c.organization_id from charge_stations c where c.id = e.station_id),
        (select u.organization_id from wallets w join users u on u.id = w.user_id where w.id = e.wallet_id)
      ], null),
      e.data::jsonb, ${at}
    from json_to_recordset(${JSON.stringify(rows)}::json)
      as e(n int, id text, type text, key text, station_id text, wallet_id text, organization_id text, data json)
    order by e.n`.execute(db);
}

export function emitEvent(db: Db | Tx, event: NewEvent, at: Date): Promise<void> {
  return emitEvents(db, [event], at);
}
