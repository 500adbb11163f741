import { sql, type Kysely } from 'kysely';

/**
 * What the gateway has learnt about each charger by talking to it, kept across restarts and
 * shared by every node of a cluster (until now it lived in one process's memory and was learnt
 * again after each restart, at the cost of a failed TriggerMessage or a late stop):
 *
 * - `trigger_meter_values`: answers TriggerMessage MeterValues with Accepted (false: NotImplemented,
 *   Rejected, a CALLERROR or no answer)
 * - `sample_interval_change`: accepts a shorter MeterValueSampleInterval (ChangeConfiguration)
 * - `smart_charging`: supports Smart Charging (SupportedFeatureProfiles, or its answer to
 *   SetChargingProfile: NotSupported = false)
 * - `stop_delay_energy_s` / `stop_delay_time_s`: the measured delay from RemoteStopTransaction to
 *   the station having stopped (energy still delivered, time to its StopTransaction), seconds
 *
 * Null: not learnt yet. One row per station, written when something changes.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table station_capabilities (
    station_id text primary key references charge_stations (id) on delete cascade,
    trigger_meter_values boolean,
    sample_interval_change boolean,
    smart_charging boolean,
    stop_delay_energy_s double precision,
    stop_delay_time_s double precision,
    updated_at timestamptz not null default now()
  )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table station_capabilities`.execute(db);
}
