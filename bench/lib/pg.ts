import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The local PostgreSQL server the bench creates its databases on. */
export const PG_SERVER_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function urlFor(database: string): string {
  const u = new URL(PG_SERVER_URL);
  u.pathname = '/' + database;
  return u.toString();
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

const created = new Set<BenchDatabase>();

/** A fresh database `bench_<random>` with synchronous_commit pinned on; dropped by drop(). */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `bench_${randomBytes(5).toString('hex')}`;
  await withClient(PG_SERVER_URL, async (c) => {
    await c.query(`create database ${name}`);
    await c.query(`alter database ${name} set synchronous_commit to on`);
  });
  const db: BenchDatabase = {
    name,
    url: urlFor(name),
    drop: async () => {
      created.delete(db);
      await withClient(PG_SERVER_URL, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
  created.add(db);
  return db;
}

export async function dropAllBenchDatabases(): Promise<void> {
  await Promise.allSettled([...created].map((d) => d.drop()));
}

/** What a connection to `url` sees: the server version and the durability settings. */
export async function serverSettings(url: string): Promise<{ version: string; synchronous_commit: string; fsync: string }> {
  return withClient(url, async (c) => {
    const one = async (q: string) => String(Object.values((await c.query(q)).rows[0] ?? {})[0]);
    return {
      version: await one('show server_version'),
      synchronous_commit: await one('show synchronous_commit'),
      fsync: await one('show fsync'),
    };
  });
}
