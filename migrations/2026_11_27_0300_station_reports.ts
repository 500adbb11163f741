import { sql, type Kysely } from 'kysely';

/**
 * What stations report back about the operations sent to them (issue 14, item 2):
 *
 * - charge_stations: the local authorization list version last learnt (GetLocalListVersion or an
 *   accepted SendLocalList), when the configuration was last read (the values go into
 *   `configuration`), the diagnostics file name a GetDiagnostics announced, the log upload status.
 * - connectors: the availability an operator last set (ChangeAvailability) and whether the
 *   station applied it or scheduled it after the running transaction.
 * - reservations: ReserveNow/CancelReservation and their life (requested → reserved / refused;
 *   then used by a StartTransaction carrying its id, cancelled, or expired). The OCPP
 *   reservationId comes from a sequence.
 * - charging_profiles: the profiles a station accepted and has not cleared, by its profile id.
 * - station_reports: the history of FirmwareStatusNotification, DiagnosticsStatusNotification,
 *   LogStatusNotification and SecurityEventNotification in the order received (`seq`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table charge_stations
    add column local_list_version integer,
    add column local_list_version_at timestamptz,
    add column configuration_read_at timestamptz,
    add column diagnostics_file_name text,
    add column log_status text,
    add column log_status_at timestamptz`.execute(db);
  await sql`alter table connectors
    add column availability text,
    add column availability_status text,
    add column availability_at timestamptz`.execute(db);

  await sql`create sequence reservation_ids`.execute(db);
  await sql`create table reservations (
    id text primary key,
    reservation_id integer not null unique,
    station_id text not null references charge_stations (id),
    connector_id integer not null,
    id_tag text not null,
    parent_id_tag text,
    user_id text references users (id),
    expires_at timestamptz not null,
    status text not null,
    station_status text,
    session_id text references sessions (id),
    transaction_id integer,
    requested_by text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
  )`.execute(db);
  await sql`create index reservations_station on reservations (station_id, id desc)`.execute(db);

  await sql`create table charging_profiles (
    station_id text not null references charge_stations (id),
    charging_profile_id integer not null,
    connector_id integer not null,
    stack_level integer not null,
    purpose text not null,
    transaction_id integer,
    profile jsonb not null,
    set_at timestamptz not null,
    primary key (station_id, charging_profile_id)
  )`.execute(db);

  await sql`create table station_reports (
    id text primary key,
    seq bigint generated always as identity,
    station_id text not null references charge_stations (id),
    kind text not null,
    status text not null,
    request_id integer,
    details jsonb not null default '{}',
    reported_at timestamptz not null,
    created_at timestamptz not null
  )`.execute(db);
  await sql`create index station_reports_station on station_reports (station_id, kind, seq desc)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table station_reports`.execute(db);
  await sql`drop table charging_profiles`.execute(db);
  await sql`drop table reservations`.execute(db);
  await sql`drop sequence reservation_ids`.execute(db);
  await sql`alter table connectors drop column availability, drop column availability_status, drop column availability_at`.execute(db);
  await sql`alter table charge_stations
    drop column local_list_version, drop column local_list_version_at, drop column configuration_read_at,
    drop column diagnostics_file_name, drop column log_status, drop column log_status_at`.execute(db);
}
