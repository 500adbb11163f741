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

  it('a timer set in the middle of a chain of queries fires before the chain ends', async () => {
    const total = 2_000;
    let done = 0;
    let doneWhenTimerFired: number | undefined;
    // never awaits anything but the database: without the turns, nothing else would run
    for (let i = 0; i < total; i++) {
      if (i === 1_000) {
        setTimeout(() => {
          doneWhenTimerFired = done;
        }, 0);
      }
      await sql`select ${i}::int as n`.execute(handle.db);
      done += 1;
    }
    expect(doneWhenTimerFired).toBeDefined();
    expect(doneWhenTimerFired!).toBeGreaterThanOrEqual(1_000);
    expect(doneWhenTimerFired!).toBeLessThan(total);
  });

  it('an immediate set in the middle of a chain of transactions runs before the chain ends', async () => {
    const total = 1_000;
    let done = 0;
    let doneWhenRan: number | undefined;
    for (let i = 0; i < total; i++) {
      if (i === 500) {
        setImmediate(() => {
          doneWhenRan = done;
        });
      }
      await handle.db.transaction().execute(async (tx) => {
        await sql`select 1`.execute(tx);
        await sql`select 2`.execute(tx);
      });
      done += 1;
    }
    expect(doneWhenRan).toBeDefined();
    expect(doneWhenRan!).toBeGreaterThanOrEqual(500);
    expect(doneWhenRan!).toBeLessThan(total);
  });

  it('does not yield when the loop turns between queries, however long the gaps', async () => {
    const turns = new EventLoopTurns(5);
    for (let i = 0; i < 5; i++) {
      expect(turns.maybeYield()).toBeUndefined();
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('yields once a run without a turn has lasted the slice, and the turn ends the run', async () => {
    const turns = new EventLoopTurns(5);
    expect(turns.maybeYield()).toBeUndefined(); // the run starts
    const until = performance.now() + 10;
    while (performance.now() < until) {
      // busy, no turn of the loop
    }
    const turn = turns.maybeYield();
    expect(turn).toBeInstanceOf(Promise);
    await turn;
    expect(turns.maybeYield()).toBeUndefined(); // a new run
  });
});
