import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { onCommitted } from '../../src/db/after-commit.ts';
import type { Session } from '../../src/db/tables/sessions.ts';
import { applyBilling, planBilling, type BillingWrite } from '../../src/domain/sessions/billing.ts';
import { endOpenOnConnector, endSessionAsRead, type SessionEnding } from '../../src/domain/sessions/endings.ts';
import { stopTransaction } from '../../src/domain/sessions/transactions.ts';
import { settleAlone, SettlementBatcher } from '../../src/domain/sessions/settlements.ts';
import { LEDGER_DEBITED } from '../../src/domain/wallets/ledger.ts';
import { billingFixture, type FixtureSession } from '../helpers/billing-fixture.ts';
import { ON_POSTGRES } from '../helpers/db.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/**
 * A StopTransaction settles its session in one statement committed on its own, on the session as
 * it read it (compare-and-set), with its session.stopped event: no transaction, so no session or
 * wallet stays locked while the gateway waits between round trips. These tests hold it to
 * settling exactly once, whoever writes the session in between.
 */
describe('settling a StopTransaction in one statement', () => {
  const h = billingFixture('ST'); // 100 c/kWh: 1 cent per 10 Wh
  const { clock, driver, session, log } = h;

  const rowOf = (s: FixtureSession): Promise<Session> =>
    h.db.selectFrom('sessions').selectAll().where('id', '=', s.sessionId).executeTakeFirstOrThrow();
  const stoppedEvents = async (s: FixtureSession) =>
    (await h.db.selectFrom('outbox_events').select('data').where('type', '=', 'session.stopped').execute())
      .filter((e) => (e.data as { _id: string })._id === s.sessionId);
  const entriesOf = (s: FixtureSession) =>
    h.db.selectFrom('ledger_entries').select(['type', 'amount']).where('session_id', '=', s.sessionId).orderBy('seq').execute();
  const balanceOf = async (walletId: string) =>
    (await h.db.selectFrom('wallets').select('balance').where('id', '=', walletId).executeTakeFirstOrThrow()).balance;
  const stopAt = (s: FixtureSession, meterStop: number) =>
    stopTransaction(h.db, clock, log, s.station, { transactionId: s.transactionId, meterStop, timestamp: clock.now(), reason: 'Local' });
  const stationEnd = (meterStop: number): SessionEnding => ({
    endedBy: 'station', registerWh: meterStop, meterStop, at: clock.now(), stopReason: 'Local', termination: 'local',
  });
  /** Bills the session up to `wh` in a transaction of its own, as a MeterValues batch would. */
  const billTo = async (s: FixtureSession, wh: number) => {
    const row = await rowOf(s);
    await h.db.transaction().execute(async (tx) => {
      const locked = await tx.selectFrom('sessions').selectAll().where('id', '=', s.sessionId).forNoKeyUpdate().executeTakeFirstOrThrow();
      await applyBilling(tx, [{ row: locked, plan: planBilling(row, { registersWh: [wh], at: clock.now() }), readingAt: clock.now() }], clock.now());
    });
  };

  it('settles, records the end and writes its session.stopped event in one statement, and reports the debit as committed', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    clock.advance(60_000);
    const seen: { entries: number; cents: number }[] = [];
    const stop = onCommitted(h.db, LEDGER_DEBITED, (x) => seen.push(x), (err) => { throw err; });
    try {
      const result = await stopAt(s, 1_230);
      expect(result.settled).toBe(true);
    } finally {
      stop();
    }
    expect(seen).toEqual([{ entries: 1, cents: 123 }]);
    expect(await rowOf(s)).toMatchObject({
      status: 'completed', meter_stop: 1_230, meter_last: 1_230, debited: 123, cost: 123,
      ended_by: 'station', stop_reason: 'Local', termination: 'local', stop_timestamp: clock.now(),
    });
    const events = await stoppedEvents(s);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ energy_wh: 1_230, cost: { amount: 123 }, ended_by: 'station', meter_stop: 1_230 });
    expect(await balanceOf(d.walletId)).toBe(10_000 - 123);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('writes nothing for a session that changed since it was read (no money, no end, no event), and says so', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    clock.advance(30_000);
    const stale = await rowOf(s);
    await billTo(s, 500); // a batch lands between the read and the statement
    expect(await endSessionAsRead(settleAlone(h.db), stale, stationEnd(800), clock.now())).toBe('changed');
    expect(await rowOf(s)).toMatchObject({ status: 'active', meter_last: 500, debited: 50, stop_timestamp: null, ended_by: null });
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 50 }]);
    expect(await stoppedEvents(s)).toEqual([]);
    // Read again, it settles on top of the batch's debit, once.
    const ended = await endSessionAsRead(settleAlone(h.db), await rowOf(s), stationEnd(800), clock.now());
    expect(ended).toMatchObject({ held: false, billing: { charged: 30, cost: 80 } });
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 50 }, { type: 'debit', amount: 30 }]);
    expect(await stoppedEvents(s)).toHaveLength(1);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('leaves a held session, and a stop that raises an alert, to the locked path', async () => {
    const d = await driver(10_000);
    const [held, below] = [await session(d), await session(d)];
    clock.advance(60_000);
    await h.db.updateTable('sessions').set({ status: 'held' }).where('id', '=', held.sessionId).execute();
    expect(await endSessionAsRead(settleAlone(h.db), await rowOf(held), stationEnd(100), clock.now())).toBe('lock');
    await billTo(below, 1_000);
    expect(await endSessionAsRead(settleAlone(h.db), await rowOf(below), stationEnd(900), clock.now())).toBe('lock');
    // …which settles them with their alert (the StopTransaction itself).
    expect((await stopAt(below, 900)).settled).toBe(true);
    expect(await rowOf(below)).toMatchObject({ status: 'completed', meter_stop: 900, debited: 100 });
    const alerts = await h.db.selectFrom('alerts').select('kind').where('session_id', '=', below.sessionId).execute();
    expect(alerts.map((a) => a.kind)).toEqual(['meter_stop_below_reading']);
    expect((await stopAt(held, 100)).settled).toBe(false);
    expect(await rowOf(held)).toMatchObject({ status: 'held', meter_stop: 100, debited: 0 });
  });

  it('two StopTransactions for one session at once settle it once: one entry, one event', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    clock.advance(60_000);
    const results = await Promise.all([stopAt(s, 700), stopAt(s, 700)]);
    expect(results.map((r) => r.settled).sort()).toEqual([false, true]);
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 70 }]);
    expect(await stoppedEvents(s)).toHaveLength(1);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('a session its connector ended is settled once by its late StopTransactions, even when they move no money', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    clock.advance(60_000);
    await billTo(s, 400);
    await h.db.transaction().execute((tx) =>
      endOpenOnConnector(tx, { stationId: s.station.stationId, connectorId: 1, startedBefore: clock.now() }, 'connector_status', clock.now()),
    );
    expect(await rowOf(s)).toMatchObject({ status: 'completed', ended_by: 'connector_status' });
    // Both read the implicitly ended session; the meterStop is what was billed: no money moves,
    // so only the end itself (ended_by) tells the second that the first got there.
    const results = await Promise.all([stopAt(s, 400), stopAt(s, 400)]);
    expect(results.map((r) => r.settled).sort()).toEqual([false, true]);
    expect(await rowOf(s)).toMatchObject({ ended_by: 'station', termination: 'local', debited: 40 });
    expect(await stoppedEvents(s)).toHaveLength(2); // the connector's end, and the station's
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('a connector that moved on ends every session still open on it in one statement, each with its own event', async () => {
    const [d1, d2] = [await driver(10_000), await driver(10_000)];
    const [s1, s2] = [await session(d1), await session(d2)];
    // Two sessions open on one connector (the station lost the first one's StopTransaction).
    await h.db.updateTable('sessions').set({ station_id: s1.station.stationId }).where('id', '=', s2.sessionId).execute();
    clock.advance(60_000);
    await billTo(s1, 300);
    await billTo(s2, 200);
    const ended = await h.db.transaction().execute((tx) =>
      endOpenOnConnector(tx, { stationId: s1.station.stationId, connectorId: 1, startedBefore: clock.now() }, 'connector_status', clock.now()),
    );
    expect(ended.map((e) => e.session.id).sort()).toEqual([s1.sessionId, s2.sessionId].sort());
    expect(ended.map((e) => e.ended.held)).toEqual([false, false]);
    for (const [s, wh] of [[s1, 300], [s2, 200]] as const) {
      expect(await rowOf(s)).toMatchObject({ status: 'completed', ended_by: 'connector_status', meter_stop: wh, debited: wh / 10 });
      expect(await stoppedEvents(s)).toHaveLength(1);
    }
    await assertLedgerConsistent(h.db, [d1.walletId, d2.walletId]);
  });

  it.skipIf(!ON_POSTGRES)('a batch holding the session when the stop arrives: the stop waits, finds it changed, reads again and settles on top', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    clock.advance(60_000);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const batch = h.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('sessions').selectAll().where('id', '=', s.sessionId).forNoKeyUpdate().executeTakeFirstOrThrow();
      locked();
      await released;
      await applyBilling(tx, [{ row, plan: planBilling(row, { registersWh: [600], at: clock.now() }), readingAt: clock.now() }], clock.now());
    });
    await isLocked;
    const stop = stopAt(s, 900); // reads the session as committed (meter 0), then waits for the batch's lock
    await new Promise((r) => setTimeout(r, 200));
    release();
    await batch;
    expect((await stop).settled).toBe(true);
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 60 }, { type: 'debit', amount: 30 }]);
    expect(await rowOf(s)).toMatchObject({ status: 'completed', meter_stop: 900, debited: 90 });
    expect(await stoppedEvents(s)).toHaveLength(1);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });
});

/**
 * StopTransactions settled by group commit (SettlementBatcher): the ones that arrive while a
 * settlement statement runs are written together by the next. Each is still its own
 * compare-and-set: settled once, with its own entry and event, and one that fails fails alone.
 */
describe('settling StopTransactions by group commit', () => {
  const h = billingFixture('SB'); // 100 c/kWh: 1 cent per 10 Wh
  const { clock, driver, session, log } = h;
  const stopVia = (settle: SettlementBatcher, s: FixtureSession, meterStop: number) =>
    stopTransaction(h.db, clock, log, s.station, { transactionId: s.transactionId, meterStop, timestamp: clock.now(), reason: 'Local' }, settle.settle);
  const entriesOf = (s: FixtureSession) =>
    h.db.selectFrom('ledger_entries').select(['type', 'amount']).where('session_id', '=', s.sessionId).orderBy('seq').execute();
  const stoppedEvents = async (s: FixtureSession) =>
    (await h.db.selectFrom('outbox_events').select('data').where('type', '=', 'session.stopped').execute())
      .filter((e) => (e.data as { _id: string })._id === s.sessionId);
  const statusOf = async (s: FixtureSession) =>
    (await h.db.selectFrom('sessions').select(['status', 'debited', 'meter_stop']).where('id', '=', s.sessionId).executeTakeFirstOrThrow());

  it('a burst of stops on shared wallets takes fewer statements than stops, and settles each once with its entry and event', async () => {
    const batches: number[] = [];
    const batcher = new SettlementBatcher(h.db, { maxBatch: 100, concurrency: 1 }, { settlementBatch: (n) => void batches.push(n) });
    const drivers = [await driver(10_000), await driver(10_000), await driver(10_000), await driver(10_000)];
    const sessions: FixtureSession[] = [];
    for (let i = 0; i < 12; i++) sessions.push(await session(drivers[i % 4]!));
    clock.advance(60_000);
    const statements: { entries: number; cents: number }[] = [];
    const stop = onCommitted(h.db, LEDGER_DEBITED, (x) => statements.push(x), (err) => { throw err; });
    let results;
    try {
      results = await Promise.all(sessions.map((s, i) => stopVia(batcher, s, 100 * (i + 1))));
    } finally {
      stop();
    }
    expect(results.every((r) => r.settled)).toBe(true);
    // each statement reports its debits once it has committed: all 12, in fewer than 12 statements
    expect(statements.reduce((a, x) => a + x.entries, 0)).toBe(12);
    expect(statements.reduce((a, x) => a + x.cents, 0)).toBe(sessions.reduce((a, _s, i) => a + 10 * (i + 1), 0));
    expect(statements.length).toBeLessThan(12);
    expect(batches.reduce((a, n) => a + n, 0)).toBe(12);
    expect(batches.length).toBe(statements.length);
    for (const [i, s] of sessions.entries()) {
      expect(await statusOf(s)).toEqual({ status: 'completed', debited: 10 * (i + 1), meter_stop: 100 * (i + 1) });
      expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 10 * (i + 1) }]);
      expect(await stoppedEvents(s)).toHaveLength(1);
    }
    await assertLedgerConsistent(h.db, drivers.map((d) => d.walletId));
  });

  it('two StopTransactions for one session in the same batch settle it once; the other reads it again and is a replay', async () => {
    const batcher = new SettlementBatcher(h.db, { maxBatch: 100, concurrency: 1 });
    const d = await driver(10_000);
    const [busy, s] = [await session(d), await session(d)];
    clock.advance(60_000);
    // Submitted in one turn of the event loop, the three stops share one batch (both of `s` in it).
    const results = await Promise.all([stopVia(batcher, busy, 100), stopVia(batcher, s, 700), stopVia(batcher, s, 700)]);
    expect(results.map((r) => r.settled)).toEqual([true, ...[results[1]!.settled, results[2]!.settled]]);
    expect([results[1]!.settled, results[2]!.settled].sort()).toEqual([false, true]);
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 70 }]);
    expect(await stoppedEvents(s)).toHaveLength(1);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('one session asked for twice in one batch is written once in that statement; the other ask is answered not applied', async () => {
    const batches: number[] = [];
    const batcher = new SettlementBatcher(h.db, { maxBatch: 100, concurrency: 1 }, { settlementBatch: (n) => void batches.push(n) });
    const d = await driver(10_000);
    const [busy, s] = [await session(d), await session(d)];
    clock.advance(60_000);
    const writeTo = async (x: FixtureSession, wh: number): Promise<BillingWrite> => {
      const row = await h.db.selectFrom('sessions').selectAll().where('id', '=', x.sessionId).executeTakeFirstOrThrow();
      return { row, plan: planBilling(row, { registersWh: [wh], at: clock.now() }), readingAt: clock.now() };
    };
    const [wBusy, w] = [await writeTo(busy, 100), await writeTo(s, 700)];
    // The first starts at the end of this turn; the two asks for `s`, submitted meanwhile, make the next batch.
    const pending = batcher.settle(wBusy, clock.now());
    await new Promise((r) => setImmediate(r));
    const [first, a, b] = await Promise.all([pending, batcher.settle(w, clock.now()), batcher.settle(w, clock.now())]);
    expect(first.applied.has(busy.sessionId)).toBe(true);
    expect([a.applied.has(s.sessionId), b.applied.has(s.sessionId)]).toEqual([true, false]);
    expect(batches).toEqual([1, 1]); // two statements; not a failed batch of both, then one each
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 70 }]);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('a settlement the ledger refuses fails alone: the others of its batch settle', async () => {
    const batcher = new SettlementBatcher(h.db, { maxBatch: 100, concurrency: 1 });
    const [d, edge] = [await driver(10_000), await driver(1)];
    const [first, good, bad] = [await session(d), await session(d), await session(edge)];
    // A wallet at the edge of the exact range, behind the ledger's back (the test's only way there).
    await sql`update wallets set balance = ${-(Number.MAX_SAFE_INTEGER - 10)} where id = ${edge.walletId}`.execute(h.db);
    clock.advance(60_000);
    const [a, b, c] = await Promise.allSettled([stopVia(batcher, first, 100), stopVia(batcher, good, 300), stopVia(batcher, bad, 1_000)]);
    expect(a).toMatchObject({ status: 'fulfilled', value: { settled: true } });
    expect(b).toMatchObject({ status: 'fulfilled', value: { settled: true } });
    expect(c).toMatchObject({ status: 'rejected', reason: { code: 'amount_out_of_range' } });
    expect(await statusOf(good)).toEqual({ status: 'completed', debited: 30, meter_stop: 300 });
    expect(await statusOf(bad)).toMatchObject({ status: 'active', debited: 0, meter_stop: null });
    expect(await entriesOf(bad)).toEqual([]);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });
});
