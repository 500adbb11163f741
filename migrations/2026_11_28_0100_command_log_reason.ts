import { sql, type Kysely } from 'kysely';

/**
 * The command log now keeps every call the gateway sends a station, not only the operator's: the
 * stop at zero, the predictive stop's calls, the boot configuration pass, the local list sync…
 *
 * - `reason`: why the gateway sent a call of its own accord (`requested_by` = `gateway`), e.g.
 *   `wallet_at_zero`, `boot_configuration`; null for an operator's call.
 * - an index on `created_at` for the retention job (COMMAND_LOG_RETENTION_DAYS), which deletes
 *   entries by age.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table station_commands add column reason text`.execute(db);
  await sql`create index station_commands_created on station_commands (created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index station_commands_created`.execute(db);
  await sql`alter table station_commands drop column reason`.execute(db);
}
