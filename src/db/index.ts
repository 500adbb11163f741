import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { PGliteDialect } from './pglite-dialect.ts';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.ts';
import type { Database } from './database.ts';
import { trackCommits } from './after-commit.ts';

export type { Database, Db, Tx } from './database.ts';

const INT8_OID = 20;

/**
 * int8 (bigint columns: cents, ids from sequences) arrives as text on the wire. We parse it on
 * purpose into a JS number and refuse values a number cannot hold exactly, so an amount is
 * never silently rounded and never an accidental string.
 */
export function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`int8 value ${text} is outside the exactly representable range`);
  }
  return value;
}

export interface DbHandle {
  readonly db: Kysely<Database>;
  readonly kind: 'postgres' | 'pglite';
  close(): Promise<void>;
  /** PostgreSQL pool connections: total, idle, requests waiting (undefined on PGlite) */
  poolStats?: () => { total: number; idle: number; waiting: number };
  /** The embedded database's files as one archive (PGlite only): backups, test templates. */
  dumpDataDir?: () => Promise<Blob>;
}

export interface DbOptions {
  /** postgres://… selects PostgreSQL; undefined selects embedded PGlite */
  databaseUrl?: string | undefined;
  /** where PGlite keeps its files; 'memory://' keeps them in memory (tests) */
  dataDir?: string;
  poolSize?: number;
  /**
   * An in-memory PGlite starts from this dump (PGlite dumpDataDir) instead of running initdb:
   * tests start from one migrated template, several times faster.
   */
  pgliteTemplate?: Blob | undefined;
}

/**
 * Marks a hot statement: SQL that starts with `preparedStatement(name)` runs, on PostgreSQL, as a
 * named prepared statement, parsed and planned once per connection instead of at every call
 * (the MeterValues batch statement is large and runs hundreds of times a second). On PGlite it is
 * an ordinary comment. The statement's text must not vary between calls.
 */
export function preparedStatement(name: string): string {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`bad prepared statement name: ${name}`);
  return `/* prepared ${name} */`;
}

const PREPARED = /^\/\* prepared ([a-z_]+) \*\//;

/** pg's client, with the statements `preparedStatement` marks run as named prepared statements. */
class PreparingClient extends pg.Client {
  // pg's query() has many overloads; kysely calls query(text, values).
  override query(config: any, values?: any, callback?: any): any {
    const name = typeof config === 'string' ? PREPARED.exec(config)?.[1] : undefined;
    if (name) return super.query({ name, text: config, values }, callback);
    return super.query(config, values, callback);
  }
}

export interface PgPoolOptions {
  poolSize: number;
  /** shown in pg_stat_activity */
  applicationName?: string;
  /**
   * false: this pool's commits do not wait for the WAL flush (synchronous_commit=off for its
   * sessions). Only for bookkeeping that may be lost in a crash and redone (never money).
   */
  synchronousCommit?: boolean;
}

/** A pool of PostgreSQL connections as a Db (synchronous: connections open on first use). */
export function openPostgres(databaseUrl: string, o: PgPoolOptions): DbHandle & { kind: 'postgres' } {
  const pool = new pg.Pool({
    Client: PreparingClient,
    connectionString: databaseUrl,
    max: o.poolSize,
    ...(o.applicationName ? { application_name: o.applicationName.slice(0, 63) } : {}),
    ...(o.synchronousCommit === false ? { options: '-c synchronous_commit=off' } : {}),
    // While the database is away, fail fast (the station retries) instead of queueing forever.
    connectionTimeoutMillis: 5_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? parseInt8
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // A client that loses its server must not crash the process. The pool listens on idle
  // clients only; a client in use also emits 'error' (its query has already failed with
  // it, which is how callers learn of it), so every client gets a listener. The pool drops
  // a broken client when it is released and connects a new one.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const tracked = trackCommits(new PostgresDialect({ pool }));
  const db = new Kysely<Database>({ dialect: tracked.dialect });
  tracked.register(db);
  return {
    db,
    kind: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => db.destroy(),
  };
}

export async function createDb(options: DbOptions): Promise<DbHandle> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl, { poolSize: options.poolSize ?? 10 });

  const dataDir = options.dataDir ?? './data';
  let lock: DataDirLock | undefined;
  let pgDir: string;
  if (dataDir.startsWith('memory://')) {
    pgDir = dataDir;
  } else {
    mkdirSync(dataDir, { recursive: true });
    lock = acquireDataDirLock(dataDir);
    pgDir = path.join(dataDir, 'pgdata');
  }
  const pglite = new PGlite(pgDir, {
    parsers: { [pgliteTypes.INT8]: parseInt8 },
    ...(options.pgliteTemplate && pgDir.startsWith('memory://') ? { loadDataDir: options.pgliteTemplate } : {}),
  });
  try {
    await pglite.waitReady;
  } catch (err) {
    lock?.release();
    throw err;
  }
  const tracked = trackCommits(new PGliteDialect(pglite));
  const db = new Kysely<Database>({ dialect: tracked.dialect });
  tracked.register(db);
  return {
    db,
    kind: 'pglite',
    dumpDataDir: async () => (await pglite.dumpDataDir('none')) as Blob,
    close: async () => {
      await db.destroy();
      lock?.release();
    },
  };
}
