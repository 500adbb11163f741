import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLoopTurns } from '../../src/db/pglite-dialect.ts';
import { migratedDb, type MigratedDb } from '../helpers/db.ts';

/**
 * The embedded database answers each query on microtasks alone. A long chain of queries (a
 * backlog of batches) must still let timers, sockets and signals run: a SIGTERM once went
 * unhandled for 20 s while a backlog of MeterValues drained.
 */
describe('embedded database and the event loop', () => {
  let handle: MigratedDb;
  beforeAll(async () => {
    handle = await migratedDb('pglite');
  });
  afterAll(async () => {
    await handle?.dispose();
  });

  it('a timer fires while a chain of queries is still running', async () => {
    const total = 2_000;
    let done = 0;
    let doneWhenTimerFired: number | undefined;
    setTimeout(() => {
      doneWhenTimerFired = done;
    }, 0);
    // never awaits anything but the database: without the turns, nothing else would run
    for (let i = 0; i < total; i++) {
      await sql`select ${i}::int as n`.execute(handle.db);
      done += 1;
    }
    expect(doneWhenTimerFired).toBeDefined();
    expect(doneWhenTimerFired!).toBeLessThan(total);
  });

  it('a chain of transactions lets an immediate run between them', async () => {
    let ranDuring = false;
    let finished = false;
    setImmediate(() => {
      ranDuring = !finished;
    });
    for (let i = 0; i < 500; i++) {
      await handle.db.transaction().execute(async (tx) => {
        await sql`select 1`.execute(tx);
        await sql`select 2`.execute(tx);
      });
    }
    finished = true;
    expect(ranDuring).toBe(true);
  });

  it('does not yield while the loop keeps turning on its own', async () => {
    const turns = new EventLoopTurns(1_000);
    for (let i = 0; i < 10; i++) {
      expect(turns.maybeYield()).toBeUndefined();
      await new Promise((r) => setImmediate(r));
    }
  });

  it('yields once the loop has not turned for the slice', async () => {
    const turns = new EventLoopTurns(0);
    const turn = turns.maybeYield();
    expect(turn).toBeInstanceOf(Promise);
    await turn;
  });
});
