import { sql, type Kysely } from 'kysely';

/**
 * The command log: every call an operator (or the gateway on an operator's behalf) sends to a
 * charge station through the admin API, in the order sent (`seq`), with its payload, the station's answer or what went
 * wrong, and who asked. Rows are written before the call goes out (status `pending`) and
 * completed when it ends, so a call whose gateway died midway still shows as sent.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table station_commands (
    id text primary key,
    seq bigint generated always as identity,
    station_id text not null references charge_stations (id),
    action text not null,
    payload jsonb not null,
    status text not null,
    answer jsonb,
    error jsonb,
    requested_by text not null,
    created_at timestamptz not null,
    answered_at timestamptz
  )`.execute(db);
  await sql`create index station_commands_station on station_commands (station_id, seq desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table station_commands`.execute(db);
}
