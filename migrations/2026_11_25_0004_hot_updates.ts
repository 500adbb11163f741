import { sql, type Kysely } from 'kysely';

/**
 * Every MeterValues updates its session's billing columns and its wallet's balance. PostgreSQL
 * can do such an update in place ("HOT": no new entry in any index) only when no index covers a
 * changed column and the page has room. `billed_until` was the key of the TIME-sweep index, so
 * every debit rewrote all seven indexes of `sessions`; the sweep now finds its few open TIME
 * sessions by a partial index on the immutable id and filters `billed_until` itself. A fill
 * factor leaves room on each page for the new row versions.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index sessions_time_billed`.execute(db);
  await sql`create index sessions_time_open on sessions (id) where has_time_component and status in ('active', 'stopping', 'stop_failed')`.execute(db);
  await sql`alter table sessions set (fillfactor = 80)`.execute(db);
  await sql`alter table wallets set (fillfactor = 80)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table wallets reset (fillfactor)`.execute(db);
  await sql`alter table sessions reset (fillfactor)`.execute(db);
  await sql`drop index sessions_time_open`.execute(db);
  await sql`create index sessions_time_billed on sessions (billed_until) where has_time_component and status in ('active', 'stopping', 'stop_failed')`.execute(db);
}
