import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type { PGlite } from '@electric-sql/pglite';

/**
 * A kysely dialect for embedded PGlite, written against kysely's Dialect/Driver interfaces.
 *
 * Why our own (about 100 lines) rather than a package: kysely-pglite pulls a CLI's dependency
 * tree, kysely-pglite-dialect's peer range stops at PGlite 0.4, and pglite-socket behind `pg`
 * adds a socket hop to every query of the embedded path.
 *
 * PGlite is one backend in this process: one connection. The driver hands it out to one
 * kysely connection at a time (a FIFO mutex), so a transaction owns it from BEGIN to COMMIT
 * and nothing else interleaves.
 *
 * PGlite runs each query to completion inside this thread and resolves it as a promise, so a
 * chain of queries (a backlog of batches, a sweep) runs on microtasks alone: timers, sockets
 * and signals would wait until the whole chain is done (seen: a SIGTERM not handled for 20 s
 * while a backlog of MeterValues drained). Every query therefore first lets the event loop
 * turn once if it has not turned for `YIELD_AFTER_MS` (see `EventLoopTurns`).
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite);
  }
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private queue: Array<() => void> = [];
  private busy = false;

  constructor(private readonly pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.pglite.waitReady;
  }

  acquireConnection(): Promise<DatabaseConnection> {
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve(this.connection);
    }
    return new Promise((resolve) => {
      this.queue.push(() => resolve(this.connection));
    });
  }

  async releaseConnection(): Promise<void> {
    const next = this.queue.shift();
    if (next) next();
    else this.busy = false;
  }

  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let statement = 'begin';
    if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) statement += ` ${settings.accessMode}`;
    await conn.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }

  async destroy(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}

/** Longest run of embedded queries before the event loop gets a turn (timers, I/O, signals). */
export const YIELD_AFTER_MS = 10;

/**
 * Gives the event loop a turn (`setImmediate`: after timers and I/O) once a run of queries has
 * gone on for `afterMs` without one. A run starts at the first query after the loop last turned;
 * that query arms an immediate, which ends the run when the loop turns by itself (the queries
 * were not back to back). So queries with the loop turning between them cost a clock read
 * each; a continuous chain costs one turn per `afterMs`.
 */
export class EventLoopTurns {
  /** set while a run is on: the immediate that ends it has not run yet */
  private armed = false;
  private runStart = 0;

  constructor(private readonly afterMs: number = YIELD_AFTER_MS) {}

  /** Undefined: go on. A promise: the run is too long; it resolves after one turn of the loop. */
  maybeYield(): Promise<void> | undefined {
    const now = performance.now();
    if (!this.armed) {
      this.armed = true;
      this.runStart = now;
      setImmediate(() => {
        this.armed = false;
      }).unref();
      return undefined;
    }
    if (now - this.runStart < this.afterMs) return undefined;
    // The armed immediate runs first in the same check phase and ends the run.
    return new Promise<void>((resolve) => setImmediate(resolve));
  }
}

class PGliteConnection implements DatabaseConnection {
  private readonly turns = new EventLoopTurns();

  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const turn = this.turns.maybeYield();
    if (turn) await turn;
    const result = await this.pglite.query<R>(compiled.sql, [...compiled.parameters]);
    return {
      rows: result.rows,
      numAffectedRows:
        result.affectedRows === undefined ? undefined : BigInt(result.affectedRows),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the embedded database');
  }
}
