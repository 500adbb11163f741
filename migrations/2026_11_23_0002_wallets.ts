import { sql, type Kysely } from 'kysely';

/**
 * Users, wallets and their append-only ledger, top-ups, tokens (OCPP idTags), rates, and the
 * rate of each station and connector. Amounts are bigint cents; prices are bigint
 * ten-thousandths of a cent inside the rate's jsonb.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('firstname', 'text')
    .addColumn('lastname', 'text')
    .addColumn('email', 'text')
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('address', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('phone', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('favorite_chargestations', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('user'))
    .addColumn('payment_methods', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create unique index users_email_per_organization on users (organization_id, lower(email)) where email is not null`.execute(db);

  await db.schema
    .createTable('wallets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().unique().references('users.id'))
    .addColumn('test_mode', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('balance', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('currency', 'text', (c) => c.notNull().defaultTo('USD'))
    .addColumn('auto_top_up_active', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('auto_top_up_payment_method', 'text')
    .addColumn('auto_top_up_amount', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('top_ups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('wallet_id', 'text', (c) => c.notNull().references('wallets.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
    .addColumn('wallet_amount', 'bigint', (c) => c.notNull().check(sql`wallet_amount > 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('test_mode', 'boolean', (c) => c.notNull())
    .addColumn('idempotency_scope', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('request_hash', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create unique index top_ups_idempotency on top_ups (idempotency_scope, idempotency_key) where idempotency_key is not null`.execute(db);
  await db.schema.createIndex('top_ups_wallet').on('top_ups').column('wallet_id').execute();

  // The ledger: one row per balance change, never updated or deleted.
  await db.schema
    .createTable('ledger_entries')
    .addColumn('seq', 'bigserial', (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('wallet_id', 'text', (c) => c.notNull().references('wallets.id'))
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('credit', 'debit')`))
    .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
    .addColumn('balance_after', 'bigint', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('top_up_id', 'text', (c) => c.references('top_ups.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('ledger_entries_wallet').on('ledger_entries').columns(['wallet_id', 'seq']).execute();
  await sql`
    create function ledger_entries_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'ledger entries are append-only (% refused)', tg_op;
    end $$`.execute(db);
  await sql`
    create trigger ledger_entries_no_change before update or delete on ledger_entries
    for each row execute function ledger_entries_append_only()`.execute(db);

  await db.schema
    .createTable('tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('physical_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('expires_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // OCPP idTags are CiString20: case-insensitive.
  await sql`create unique index tokens_physical_id on tokens (upper(physical_id))`.execute(db);
  await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();

  await db.schema
    .createTable('rates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text')
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('price_components', 'jsonb', (c) => c.notNull())
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .alterTable('charge_stations')
    .addColumn('rate_id', 'text', (c) => c.references('rates.id'))
    .execute();
  await db.schema
    .alterTable('connectors')
    .addColumn('rate_id', 'text', (c) => c.references('rates.id'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('connectors').dropColumn('rate_id').execute();
  await db.schema.alterTable('charge_stations').dropColumn('rate_id').execute();
  await db.schema.dropTable('rates').execute();
  await db.schema.dropTable('tokens').execute();
  await db.schema.dropTable('ledger_entries').execute();
  await sql`drop function ledger_entries_append_only()`.execute(db);
  await db.schema.dropTable('top_ups').execute();
  await db.schema.dropTable('wallets').execute();
  await db.schema.dropTable('users').execute();
}
