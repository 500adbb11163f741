import { describe, expect, it } from 'vitest';
import { onCommitted } from '../../src/db/after-commit.ts';
import type { Session } from '../../src/db/tables/sessions.ts';
import { applyBilling, planBilling } from '../../src/domain/sessions/billing.ts';
import { endOpenOnConnector, endSessionAsRead, type SessionEnding } from '../../src/domain/sessions/endings.ts';
import { stopTransaction } from '../../src/domain/sessions/transactions.ts';
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
    expect(await endSessionAsRead(h.db, stale, stationEnd(800), clock.now())).toBe('changed');
    expect(await rowOf(s)).toMatchObject({ status: 'active', meter_last: 500, debited: 50, stop_timestamp: null, ended_by: null });
    expect(await entriesOf(s)).toEqual([{ type: 'debit', amount: 50 }]);
    expect(await stoppedEvents(s)).toEqual([]);
    // Read again, it settles on top of the batch's debit, once.
    const ended = await endSessionAsRead(h.db, await rowOf(s), stationEnd(800), clock.now());
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
    expect(await endSessionAsRead(h.db, await rowOf(held), stationEnd(100), clock.now())).toBe('lock');
    await billTo(below, 1_000);
    expect(await endSessionAsRead(h.db, await rowOf(below), stationEnd(900), clock.now())).toBe('lock');
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
