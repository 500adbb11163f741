import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type DbHandle } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

/**
 * The suite runs on embedded PGlite by default. With DATABASE_URL set (CI's second pass) it
 * runs on that PostgreSQL server instead, each test database created fresh and dropped after.
 */
export const POSTGRES_URL = process.env.DATABASE_URL || undefined;
export const ON_POSTGRES = Boolean(POSTGRES_URL);

export interface TestDatabase {
  /** postgres://… of the fresh database, or undefined for PGlite */
  url: string | undefined;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}

let template: Blob | undefined;
/** The migrated embedded database every in-memory PGlite of this run starts from. */
export function pgliteTemplate(): Blob | undefined {
  const file = inject('pgliteTemplate');
  if (!file) return undefined;
  template ??= new Blob([readFileSync(file)]);
  return template;
}

/** A fresh, empty PostgreSQL database on the DATABASE_URL server. */
export async function createPostgresDatabase(serverUrl: string = POSTGRES_URL!): Promise<TestDatabase> {
  const name = 'gw_test_' + randomBytes(6).toString('hex');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(serverUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A fresh test database for the current pass (PGlite in memory, or PostgreSQL). */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (POSTGRES_URL) return createPostgresDatabase(POSTGRES_URL);
  return { url: undefined, drop: async () => {} };
}

export interface MigratedDb extends DbHandle {
  dispose(): Promise<void>;
}

/** A migrated database handle for integration tests. */
export async function migratedDb(
  kind: 'current' | 'pglite' | 'postgres' = 'current',
  options: { fromScratch?: boolean } = {},
): Promise<MigratedDb & { applied: string[] }> {
  const target =
    kind === 'pglite'
      ? { url: undefined, drop: async () => {} }
      : kind === 'postgres'
        ? await createPostgresDatabase()
        : await createTestDatabase();
  const handle = await createDb({
    databaseUrl: target.url,
    dataDir: 'memory://',
    ...((kind === 'pglite' || !target.url) && !options.fromScratch ? { pgliteTemplate: pgliteTemplate() } : {}),
  });
  const applied = await migrateToLatest(handle.db);
  return {
    ...handle,
    applied,
    async dispose() {
      await handle.close();
      await target.drop();
    },
  };
}
