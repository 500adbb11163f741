import { sql, type Kysely } from 'kysely';

/**
 * A session's start as the station reported it (`station_start_timestamp`), beside the start the
 * gateway bills from (`start_timestamp`). They differ when the station's clock cannot be right:
 * a start more than OCPP_MAX_START_AGE_H before it arrived (a clock reset to 2000 would bill 26
 * years of TIME and let any register pass the power check) or after it arrived (TIME that is
 * free) is billed from its arrival. A replay of a StartTransaction is matched on what the
 * station sent, so the unique start key moves to the new column.
 *
 * Upgrading rewrites every session row and rebuilds the index while holding the table: on a
 * large history, run it in a quiet moment.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table sessions add column station_start_timestamp timestamptz`.execute(db);
  await sql`update sessions set station_start_timestamp = start_timestamp`.execute(db);
  await sql`alter table sessions alter column station_start_timestamp set not null`.execute(db);
  await sql`drop index sessions_start_key`.execute(db);
  await sql`create unique index sessions_start_key on sessions (station_id, connector_id, id_tag, station_start_timestamp, meter_start)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Ended sessions get the station's time back, which the code before matches replays on.
  await sql`update sessions set start_timestamp = station_start_timestamp
    where start_timestamp <> station_start_timestamp and status not in ('active', 'stopping', 'stop_failed')`.execute(db);
  await sql`drop index sessions_start_key`.execute(db);
  await sql`create unique index sessions_start_key on sessions (station_id, connector_id, id_tag, start_timestamp, meter_start)`.execute(db);
  await sql`alter table sessions drop column station_start_timestamp`.execute(db);
}
