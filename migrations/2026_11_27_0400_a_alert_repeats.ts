import { sql, type Kysely } from 'kysely';

/**
 * Repeated alerts collapse (issue 13 item 3): one open alert per kind, station and session
 * (session-less alerts: per kind and station) carries how often it happened and when last.
 *
 * `open_key` is that identity while the alert is open and null once acknowledged, so a unique
 * index on it lets one INSERT … ON CONFLICT either add an alert or count a repeat, and an
 * acknowledged alert never absorbs a new one. Existing open duplicates keep their rows; only the
 * newest of each gets the key.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('alerts')
    .addColumn('count', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('last_seen_at', 'timestamptz')
    .addColumn('open_key', 'text')
    .execute();
  await sql`update alerts set last_seen_at = created_at`.execute(db);
  await sql`alter table alerts alter column last_seen_at set not null`.execute(db);
  await sql`
    update alerts a set open_key = a.kind || '|' || a.station_id || '|' || coalesce(a.session_id, '')
    where a.acknowledged_at is null and a.station_id is not null
      and a.id = (select max(b.id) from alerts b
                  where b.kind = a.kind and b.station_id = a.station_id
                    and b.session_id is not distinct from a.session_id and b.acknowledged_at is null)`.execute(db);
  await sql`create unique index alerts_open_key on alerts (open_key)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index alerts_open_key`.execute(db);
  await db.schema.alterTable('alerts').dropColumn('open_key').dropColumn('last_seen_at').dropColumn('count').execute();
}
