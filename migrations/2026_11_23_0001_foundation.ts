import { sql, type Kysely } from 'kysely';

/**
 * Organizations (with the Default one), charge stations and their connectors, API keys.
 * Runs unchanged on PostgreSQL and on embedded PGlite.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('organizations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('minimum_balance_to_start_session', 'bigint', (c) =>
      c.notNull().defaultTo(2000).check(sql`minimum_balance_to_start_session >= 0`),
    )
    .addColumn('currency', 'text', (c) => c.notNull().defaultTo('USD'))
    .addColumn('test_mode', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('is_default', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // At most one Default organization.
  await sql`create unique index organizations_one_default on organizations (is_default) where is_default`.execute(db);
  await sql`
    insert into organizations (id, name, is_default)
    values (
      lpad(to_hex(extract(epoch from now())::bigint), 8, '0') || substr(md5(random()::text), 1, 16),
      'Default',
      true
    )`.execute(db);

  await db.schema
    .createTable('charge_stations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ocpp_id', 'text', (c) => c.notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('password_hash', 'text')
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('vendor', 'text')
    .addColumn('model', 'text')
    .addColumn('serial_number', 'text')
    .addColumn('charge_box_serial_number', 'text')
    .addColumn('firmware_version', 'text')
    .addColumn('iccid', 'text')
    .addColumn('imsi', 'text')
    .addColumn('meter_type', 'text')
    .addColumn('meter_serial_number', 'text')
    .addColumn('booted_at', 'timestamptz')
    .addColumn('last_heartbeat_at', 'timestamptz')
    .addColumn('configuration', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('firmware_status', 'text')
    .addColumn('firmware_status_at', 'timestamptz')
    .addColumn('diagnostics_status', 'text')
    .addColumn('diagnostics_status_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('charge_stations_organization')
    .on('charge_stations')
    .column('organization_id')
    .execute();

  await db.schema
    .createTable('connectors')
    .addColumn('station_id', 'text', (c) =>
      c.notNull().references('charge_stations.id').onDelete('cascade'),
    )
    .addColumn('connector_id', 'integer', (c) => c.notNull().check(sql`connector_id >= 0`))
    .addColumn('status', 'text')
    .addColumn('error_code', 'text')
    .addColumn('info', 'text')
    .addColumn('vendor_id', 'text')
    .addColumn('vendor_error_code', 'text')
    .addColumn('status_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('connectors_pk', ['station_id', 'connector_id'])
    .execute();

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('organization_id', 'text', (c) => c.references('organizations.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('api_keys').execute();
  await db.schema.dropTable('connectors').execute();
  await db.schema.dropTable('charge_stations').execute();
  await db.schema.dropTable('organizations').execute();
}
