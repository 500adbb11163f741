import { sql, type Kysely } from 'kysely';

/**
 * The Security extension's per-station state (issue 14 item 4) and the synced local list (item 3):
 *
 * - `security_profile`: the lowest OCPP security profile (1 Basic auth, 2 TLS + Basic auth, 3 TLS
 *   client certificate) the station may connect with; null = none required.
 * - `pending_password_hash`: while an AuthorizationKey rotation waits for the station's answer,
 *   the new password's scrypt hash; the handshake accepts it beside the current one (a station
 *   may reconnect with it before the answer is processed). Accepted: it replaces
 *   `password_hash`; anything else: it is dropped and the old password keeps working.
 * - `password_rotated_at`: when the last rotation was accepted.
 * - `local_list_synced_version`: the version of the last local list the gateway's sync sent and
 *   the station accepted (null: never synced); each new list is this + 1.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table charge_stations
    add column security_profile smallint,
    add column pending_password_hash text,
    add column password_rotated_at timestamptz,
    add column local_list_synced_version integer`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table charge_stations
    drop column local_list_synced_version,
    drop column password_rotated_at,
    drop column pending_password_hash,
    drop column security_profile`.execute(db);
}
