import { sql, type Kysely } from 'kysely';

/**
 * Charging sessions (one per OCPP transaction) with their billing state, and alerts: things a
 * station sent that the operator should see (a stop for an unknown transaction, a meter that
 * went backwards, meter values without a session).
 */
export async function up(db: Kysely<any>): Promise<void> {
  // OCPP transactionId is an integer: an int4 sequence, never reused.
  await sql`create sequence transaction_ids as integer start with 1`.execute(db);

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('transaction_id', 'integer', (c) => c.notNull().unique().defaultTo(sql`nextval('transaction_ids')`))
    .addColumn('station_id', 'text', (c) => c.notNull().references('charge_stations.id'))
    .addColumn('connector_id', 'integer', (c) => c.notNull())
    .addColumn('id_tag', 'text', (c) => c.notNull())
    .addColumn('token_id', 'text', (c) => c.references('tokens.id'))
    .addColumn('user_id', 'text', (c) => c.references('users.id'))
    .addColumn('wallet_id', 'text', (c) => c.references('wallets.id'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('auth_status', 'text', (c) => c.notNull())
    .addColumn('refusal_reason', 'text')
    .addColumn('meter_start', 'bigint', (c) => c.notNull())
    .addColumn('meter_last', 'bigint', (c) => c.notNull())
    .addColumn('meter_stop', 'bigint')
    .addColumn('power_w', 'bigint')
    .addColumn('start_timestamp', 'timestamptz', (c) => c.notNull())
    .addColumn('billed_until', 'timestamptz', (c) => c.notNull())
    .addColumn('stop_timestamp', 'timestamptz')
    .addColumn('stop_reason', 'text')
    .addColumn('termination', 'text')
    .addColumn('rate_id', 'text', (c) => c.references('rates.id'))
    .addColumn('rate_snapshot', 'jsonb')
    .addColumn('has_time_component', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('cost', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('debited', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('stop_requested_at', 'timestamptz')
    .addColumn('stop_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('sessions_status', sql`status in ('active', 'stopping', 'completed', 'rejected', 'stop_failed')`)
    .execute();
  // A replayed StartTransaction (same station, connector, idTag, timestamp, meterStart) is the same session.
  await sql`create unique index sessions_start_key on sessions (station_id, connector_id, id_tag, start_timestamp, meter_start)`.execute(db);
  await sql`create index sessions_open_by_wallet on sessions (wallet_id) where status in ('active', 'stopping', 'stop_failed')`.execute(db);
  await sql`create index sessions_open_by_connector on sessions (station_id, connector_id) where status in ('active', 'stopping', 'stop_failed')`.execute(db);
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
  await sql`create index sessions_time_billed on sessions (billed_until) where has_time_component and status in ('active', 'stopping', 'stop_failed')`.execute(db);

  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('station_id', 'text', (c) => c.references('charge_stations.id'))
    .addColumn('session_id', 'text')
    .addColumn('transaction_id', 'integer')
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('alerts_station').on('alerts').columns(['station_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('alerts').execute();
  await db.schema.dropTable('sessions').execute();
  await sql`drop sequence transaction_ids`.execute(db);
}
