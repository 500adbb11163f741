import { sql, type Kysely } from 'kysely';

/**
 * What the operator console needs of the schema.
 *
 * - Alerts can be acknowledged (`POST /v1/alerts/:id/ack`): who and when. "Open" alerts are the
 *   unacknowledged ones; a partial index keeps counting them cheap however many are closed.
 * - Console sign-in sessions: the console trades an API key for a session cookie. Only a SHA-256
 *   digest of the cookie's random token is stored, beside the digest of the API key it stands
 *   for (so revoking that key ends its sessions too), an expiry and a revocation time.
 * - Station search by identity prefix, ignoring case, and "today" figures by session start: two
 *   indexes on columns that billing never changes, so MeterValues updates stay HOT.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('alerts')
    .addColumn('acknowledged_at', 'timestamptz')
    .addColumn('acknowledged_by', 'text')
    .execute();
  await sql`create index alerts_open on alerts (id) where acknowledged_at is null`.execute(db);

  await db.schema
    .createTable('console_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('api_key_hash', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  await sql`create index charge_stations_ocpp_id_prefix on charge_stations (lower(ocpp_id) text_pattern_ops)`.execute(db);
  await sql`create index sessions_started on sessions (start_timestamp)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index sessions_started`.execute(db);
  await sql`drop index charge_stations_ocpp_id_prefix`.execute(db);
  await db.schema.dropTable('console_sessions').execute();
  await sql`drop index alerts_open`.execute(db);
  await db.schema.alterTable('alerts').dropColumn('acknowledged_by').dropColumn('acknowledged_at').execute();
}
