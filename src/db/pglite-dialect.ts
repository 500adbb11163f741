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
 * Gives the event loop a turn (`setImmediate`: after timers and I/O) when it has not had one
 * for `afterMs`. A loop that is idle between queries turns by itself and the check costs one
 * clock read; under a continuous chain it costs one turn per `afterMs`.
 */
export class EventLoopTurns {
  private lastTurn = performance.now();
  private armed = false;

  constructor(private readonly afterMs: number = YIELD_AFTER_MS) {}

  /** Resolves at once, or after one turn of the event loop if the last one is too long ago. */
  maybeYield(): Promise<void> | undefined {
    this.notice();
    if (performance.now() - this.lastTurn < this.afterMs) return undefined;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.lastTurn = performance.now();
    });
  }

  /** Arms a check-phase callback that records the loop turning on its own. */
  private notice(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => {
      this.armed = false;
      this.lastTurn = performance.now();
    }).unref();
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
