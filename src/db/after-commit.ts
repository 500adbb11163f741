import type { DatabaseConnection, Dialect, Driver, Kysely, TransactionSettings } from 'kysely';
import type { Tx } from './database.ts';

/**
 * A fact that becomes true only when the transaction that wrote it commits (e.g. "the ledger
 * debited these cents"). The domain declares one per kind of fact; whoever cares about it
 * (metrics) listens on the database handle.
 */
export class CommitFact<T> {
  constructor(readonly name: string) {}
}

type Listener = (value: any) => void;

/**
 * Commit tracking of one database handle (one per createDb: tests run several gateways in one
 * process). It sits in the kysely driver, so it sees every transaction's COMMIT and ROLLBACK,
 * whoever opened it: facts wait on their connection until it commits and are dropped if it
 * rolls back or fails to commit.
 */
class CommitTracker {
  readonly listeners = new Map<CommitFact<unknown>, Set<Listener>>();
  readonly pending = new WeakMap<DatabaseConnection, Array<[CommitFact<unknown>, unknown]>>();

  committed(conn: DatabaseConnection): void {
    const facts = this.pending.get(conn);
    this.pending.delete(conn);
    for (const [fact, value] of facts ?? []) this.notify(fact, value);
  }

  notify(fact: CommitFact<unknown>, value: unknown): void {
    for (const listener of this.listeners.get(fact) ?? []) listener(value);
  }
}

const trackerOfConnection = new WeakMap<DatabaseConnection, CommitTracker>();
const trackerOfDb = new WeakMap<Kysely<any>, CommitTracker>();

/** The dialect with commit tracking; call `register(db)` with the Kysely built on it. */
export function trackCommits(dialect: Dialect): { dialect: Dialect; register(db: Kysely<any>): void } {
  const tracker = new CommitTracker();
  const tracked: Dialect = {
    createAdapter: () => dialect.createAdapter(),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createDriver: () => trackingDriver(dialect.createDriver(), tracker),
  };
  return { dialect: tracked, register: (db) => trackerOfDb.set(db, tracker) };
}

function trackingDriver(inner: Driver, tracker: CommitTracker): Driver {
  const drop = (conn: DatabaseConnection) => tracker.pending.delete(conn);
  const driver: Driver = {
    init: () => inner.init(),
    acquireConnection: () => inner.acquireConnection(),
    async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings) {
      trackerOfConnection.set(conn, tracker);
      tracker.pending.set(conn, []);
      await inner.beginTransaction(conn, settings);
    },
    async commitTransaction(conn: DatabaseConnection) {
      try {
        await inner.commitTransaction(conn);
      } catch (err) {
        drop(conn);
        throw err;
      }
      tracker.committed(conn);
    },
    async rollbackTransaction(conn: DatabaseConnection) {
      drop(conn);
      await inner.rollbackTransaction(conn);
    },
    async releaseConnection(conn: DatabaseConnection) {
      drop(conn);
      await inner.releaseConnection(conn);
    },
    destroy: () => inner.destroy(),
  };
  // Savepoints pass through; facts of a savepoint rolled back to are not dropped (none are written inside one).
  if (inner.savepoint) driver.savepoint = inner.savepoint.bind(inner);
  if (inner.rollbackToSavepoint) driver.rollbackToSavepoint = inner.rollbackToSavepoint.bind(inner);
  if (inner.releaseSavepoint) driver.releaseSavepoint = inner.releaseSavepoint.bind(inner);
  return driver;
}

/**
 * Reports `value` to the listeners of `fact` once `tx` commits; never if it rolls back. Costs
 * no query: the transaction's connection is asked for, not the database.
 */
export async function reportOnCommit<T>(tx: Tx, fact: CommitFact<T>, value: T): Promise<void> {
  // getExecutor is kysely's way to the transaction's own connection (what its plugins use too).
  const conn = await tx.getExecutor().provideConnection(async (c) => c);
  const facts = trackerOfConnection.get(conn)?.pending.get(conn);
  if (!facts) throw new Error(`${fact.name}: not inside a transaction of a database opened by createDb`);
  facts.push([fact as CommitFact<unknown>, value]);
}

/**
 * For a statement about to run on `db` outside any transaction (it commits when it returns): the
 * way to report `fact` values it wrote, to call once it has returned. Asked for before the
 * statement, so that a handle that is a transaction, or not opened by createDb, fails before
 * anything is written rather than after.
 */
export function committedReporter<T>(db: Kysely<any>, fact: CommitFact<T>): (value: T) => void {
  if (db.isTransaction) throw new Error(`${fact.name}: inside a transaction, report it with reportOnCommit`);
  const tracker = trackerOfDb.get(db);
  if (!tracker) throw new Error('the database was not opened by createDb: its commits are not tracked');
  return (value) => tracker.notify(fact as CommitFact<unknown>, value);
}

/**
 * Calls `listener` with every `fact` value a transaction of `db` commits, just after the commit.
 * A listener that throws is reported to `onError`: the data is committed, so its bug must not
 * turn the caller's success into a failure. Returns the way to stop listening.
 */
export function onCommitted<T>(
  db: Kysely<any>,
  fact: CommitFact<T>,
  listener: (value: T) => void,
  onError: (err: unknown) => void,
): () => void {
  const tracker = trackerOfDb.get(db);
  if (!tracker) throw new Error('the database was not opened by createDb: its commits are not tracked');
  let set = tracker.listeners.get(fact as CommitFact<unknown>);
  if (!set) tracker.listeners.set(fact as CommitFact<unknown>, (set = new Set()));
  const guarded: Listener = (value: T) => {
    try {
      listener(value);
    } catch (err) {
      onError(err);
    }
  };
  set.add(guarded);
  return () => set.delete(guarded);
}
