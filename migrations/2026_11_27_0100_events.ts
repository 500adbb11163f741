import { sql, type Kysely } from 'kysely';

/**
 * Events out (issue 16): a transactional outbox, webhook endpoints, their deliveries and every
 * attempt, and the auto top-up threshold.
 *
 * - outbox_events: one row per event, written in the transaction of the change it describes.
 *   `seq` orders them; `ordering_key` (wallet:…, session:…, station:…) is what deliveries keep
 *   in order; `organizations` says whose webhooks may receive it. `fanned_out_at` is set once
 *   deliveries have been created for the event (a partial index keeps the waiting ones cheap
 *   to find). The id default makes the 24-hex ids of the API, so SQL can write events too.
 * - webhooks: an endpoint; the signing secret is kept as it is (the HMAC needs it) and never
 *   returned after creation.
 * - webhook_deliveries: one per (endpoint, event); `locked_until` is the lease of the node
 *   sending it. webhook_attempts: every attempt, its status code or error.
 * - wallets.auto_top_up_threshold: below this a debit asks for an auto top-up; null = the
 *   organization's minimum.
 */
const NEW_ID = sql`lpad(to_hex(floor(extract(epoch from now()))::bigint), 8, '0') || substr(md5(random()::text || clock_timestamp()::text), 1, 16)`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table outbox_events (
    seq bigint generated always as identity primary key,
    id text not null unique default (${NEW_ID}),
    type text not null,
    ordering_key text not null,
    organizations text[] not null default '{}',
    data jsonb not null,
    created_at timestamptz not null default now(),
    fanned_out_at timestamptz
  )`.execute(db);
  await sql`create index outbox_events_waiting on outbox_events (seq) where fanned_out_at is null`.execute(db);
  await sql`create index outbox_events_created on outbox_events (created_at)`.execute(db);

  await sql`create table webhooks (
    id text primary key,
    organization_id text references organizations (id),
    url text not null,
    description text,
    events text[] not null,
    active boolean not null default true,
    secret text not null,
    consecutive_failures integer not null default 0,
    disabled_at timestamptz,
    disabled_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index webhooks_organization on webhooks (organization_id)`.execute(db);

  await sql`create table webhook_deliveries (
    id text primary key,
    webhook_id text not null references webhooks (id) on delete cascade,
    event_seq bigint not null references outbox_events (seq) on delete cascade,
    ordering_key text not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz,
    locked_until timestamptz,
    locked_by text,
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending'`.execute(db);
  await sql`create index webhook_deliveries_order on webhook_deliveries (webhook_id, ordering_key, event_seq) where status = 'pending'`.execute(
    db,
  );
  await sql`create index webhook_deliveries_webhook on webhook_deliveries (webhook_id, id)`.execute(db);
  await sql`create index webhook_deliveries_event on webhook_deliveries (event_seq)`.execute(db);

  await sql`create table webhook_attempts (
    id bigint generated always as identity primary key,
    delivery_id text not null references webhook_deliveries (id) on delete cascade,
    at timestamptz not null,
    status_code integer,
    error text,
    duration_ms integer not null,
    node_id text
  )`.execute(db);
  await sql`create index webhook_attempts_delivery on webhook_attempts (delivery_id, id)`.execute(db);

  await sql`alter table wallets add column auto_top_up_threshold bigint check (auto_top_up_threshold >= 0)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table wallets drop column auto_top_up_threshold`.execute(db);
  await sql`drop table webhook_attempts`.execute(db);
  await sql`drop table webhook_deliveries`.execute(db);
  await sql`drop table webhooks`.execute(db);
  await sql`drop table outbox_events`.execute(db);
}
