import { sql, type Kysely } from 'kysely';

/**
 * Several gateway processes on one PostgreSQL form a cluster; these tables are how they know
 * of each other (see docs/architecture.md, "Cluster").
 *
 * - cluster_nodes: one row per live gateway process, with a lease it renews. A node whose lease
 *   has passed is dead to the others, whatever its row says.
 * - station_presence: which node holds each station's connection, with a connection epoch from
 *   one sequence (so a newer connection always has the higher number). `prev_node_id` is the
 *   holder the last claim replaced: the claim tells that node to close its socket.
 * - station_calls: a call to a station held by another node, and its answer (the id is the
 *   caller's). Unlogged: a call lives for seconds, and after a database crash its caller has
 *   long given up.
 * - cluster_jobs: when each periodic job is next due; the node that moves the date runs it.
 * - sessions.stop_retry_at: when the next RemoteStopTransaction attempt of a stopping session is
 *   due, so a node can take over the retries of a node that died.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create table cluster_nodes (
    id text primary key,
    started_at timestamptz not null default now(),
    lease_until timestamptz not null
  )`.execute(db);

  await sql`create sequence station_presence_epoch`.execute(db);
  await sql`create table station_presence (
    identity text primary key,
    node_id text not null,
    epoch bigint not null,
    prev_node_id text,
    connected_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index station_presence_node on station_presence (node_id)`.execute(db);

  await sql`create unlogged table station_calls (
    id text primary key,
    node_id text not null,
    from_node_id text not null,
    identity text not null,
    kind text not null,
    action text not null,
    params jsonb not null,
    urgent boolean not null,
    timeout_ms integer not null,
    deadline timestamptz not null,
    outcome text,
    result jsonb,
    created_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index station_calls_pending on station_calls (node_id) where outcome is null`.execute(db);
  await sql`create index station_calls_deadline on station_calls (deadline)`.execute(db);

  await sql`create table cluster_jobs (
    name text primary key,
    node_id text not null,
    run_after timestamptz not null,
    last_run_at timestamptz not null default now()
  )`.execute(db);

  await sql`alter table sessions add column stop_retry_at timestamptz`.execute(db);
  await sql`create index sessions_stop_retry on sessions (stop_retry_at) where status = 'stopping' and stop_retry_at is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index sessions_stop_retry`.execute(db);
  await sql`alter table sessions drop column stop_retry_at`.execute(db);
  await sql`drop table cluster_jobs`.execute(db);
  await sql`drop table station_calls`.execute(db);
  await sql`drop table station_presence`.execute(db);
  await sql`drop sequence station_presence_epoch`.execute(db);
  await sql`drop table cluster_nodes`.execute(db);
}
