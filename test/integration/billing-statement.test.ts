import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { Tx } from '../../src/db/index.ts';
import { onCommitted } from '../../src/db/after-commit.ts';
import { applyBilling, billAndMark, planBilling, type BillingRow, type BillingWrite } from '../../src/domain/sessions/billing.ts';
import { MeterBatcher, type BatchResult } from '../../src/domain/sessions/meter-batcher.ts';
import { billingRowsByTransaction } from '../../src/domain/sessions/session-rows.ts';
import { LEDGER_DEBITED, postEntries } from '../../src/domain/wallets/ledger.ts';
import { markStopping } from '../../src/domain/sessions/stop-marks.ts';
import { RemoteStopper } from '../../src/domain/sessions/stopper.ts';
import type { StationPort } from '../../src/domain/chargers/station-port.ts';
import { billingFixture, type FixtureSession } from '../helpers/billing-fixture.ts';
import { ON_POSTGRES } from '../helpers/db.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/**
 * A MeterValues batch is written by one statement committed on its own (billAndMark), which also
 * marks the running sessions of every wallet it leaves at or below zero. These tests hold the
 * statement to all or nothing, marks included, and to what the stop at zero needs.
 */
describe('billing a batch in one statement', () => {
  const h = billingFixture('BS'); // 100 c/kWh: 1 cent per 10 Wh
  const { clock, driver, session } = h;

  // Rows are read before a transaction opens: on PGlite a read outside it would wait for its one connection.
  const rowOf = async (s: FixtureSession): Promise<BillingRow> => (await billingRowsByTransaction(h.db, [s.transactionId]))[0]!;
  /** A write that bills the session up to `wh`, from its row as stored now. */
  const writeTo = async (s: FixtureSession, wh: number): Promise<BillingWrite> => {
    const row = await rowOf(s);
    return { row, plan: planBilling(row, { registersWh: [wh], at: clock.now() }), readingAt: clock.now() };
  };
  const balanceOf = async (walletId: string) =>
    (await h.db.selectFrom('wallets').select('balance').where('id', '=', walletId).executeTakeFirstOrThrow()).balance;
  const snapshot = async (walletIds: string[], sessionIds: string[]) => ({
    wallets: await h.db.selectFrom('wallets').select(['id', 'balance']).where('id', 'in', walletIds).orderBy('id').execute(),
    sessions: await h.db.selectFrom('sessions').select(['id', 'meter_last', 'cost', 'debited', 'status', 'billed_until']).where('id', 'in', sessionIds).orderBy('id').execute(),
    entries: Number((await h.db.selectFrom('ledger_entries').select((eb) => eb.fn.countAll().as('n')).where('wallet_id', 'in', walletIds).executeTakeFirstOrThrow()).n),
    events: Number((await h.db.selectFrom('outbox_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
  });
  const statusOf = async (s: FixtureSession) =>
    h.db.selectFrom('sessions').select(['status', 'termination']).where('id', '=', s.sessionId).executeTakeFirstOrThrow();
  const ids = (targets: { sessionId: string }[]) => targets.map((t) => t.sessionId).sort();
  const sorted = (xs: string[]) => [...xs].sort();
  /**
   * Another writer: runs `before` in a transaction, then keeps it open (its locks held) until
   * `release`, then runs `after` and commits. `ready` settles once `before` has run.
   */
  const holdOpen = (before: (tx: Tx) => Promise<unknown>, after?: (tx: Tx) => Promise<unknown>) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let isReady!: () => void;
    const ready = new Promise<void>((r) => (isReady = r));
    const done = h.db.transaction().execute(async (tx) => {
      await before(tx);
      isReady();
      await released;
      await after?.(tx);
    });
    return { ready: Promise.race([ready, done]), release: async () => { release(); await done; } };
  };
  const lockSessionOf = (s: FixtureSession) => (tx: Tx) =>
    tx.selectFrom('sessions').select('id').where('id', '=', s.sessionId).forNoKeyUpdate().execute();

  it('writes the sessions, the wallets and the entries, and reports the debits as committed', async () => {
    const a = await driver(10_000);
    const b = await driver(10_000);
    const [a1, a2, b1] = [await session(a), await session(a), await session(b)];
    clock.advance(60_000);
    const seen: { entries: number; cents: number }[] = [];
    const stop = onCommitted(h.db, LEDGER_DEBITED, (d) => seen.push(d), (err) => { throw err; });
    try {
      const writes = [await writeTo(a1, 1_000), await writeTo(a2, 500), await writeTo(b1, 2_000)];
      const { applied, stops, handed, unmarked } = await billAndMark(h.db, writes, clock.now());
      expect(sorted([...applied.applied])).toEqual(sorted([a1.sessionId, a2.sessionId, b1.sessionId]));
      // A wallet's entries run in session id order; each session gets the balance after its own entry.
      const [first, second] = [a1, a2].sort((x, y) => (x.sessionId < y.sessionId ? -1 : 1));
      const firstCents = first === a1 ? 100 : 50;
      expect(applied.balanceAfter.get(first!.sessionId)).toBe(10_000 - firstCents);
      expect(applied.balanceAfter.get(second!.sessionId)).toBe(10_000 - 150);
      expect(applied.balanceAfter.get(b1.sessionId)).toBe(9_800);
      expect(applied.walletsAtZero).toEqual([]);
      expect(applied.moved).toEqual(
        [{ walletId: a.walletId, before: 10_000, after: 9_850 }, { walletId: b.walletId, before: 10_000, after: 9_800 }].sort((x, y) => (x.walletId < y.walletId ? -1 : 1)),
      );
      expect({ stops, handed, unmarked }).toEqual({ stops: [], handed: [], unmarked: [] });
      expect(seen).toEqual([{ entries: 3, cents: 350 }]);
      expect((await rowOf(a1)).debited).toBe(100);
      expect((await rowOf(b1)).meter_last).toBe(2_000);
      for (const s of [a1, a2, b1]) expect((await statusOf(s)).status).toBe('active');
      await assertLedgerConsistent(h.db, [a.walletId, b.walletId]);
    } finally {
      stop();
    }
  });

  it('marks the running sessions of a wallet it takes to zero, in the batch and out of it, with the debit that took it there', async () => {
    const rich = await driver(10_000);
    const poor = await driver(150);
    const [r1, p1, p2] = [await session(rich), await session(poor), await session(poor)];
    clock.advance(60_000);
    const writes = [await writeTo(r1, 1_000), await writeTo(p1, 1_500)]; // the poor wallet: 150 − 150 = 0
    const { applied, stops, handed, unmarked } = await billAndMark(h.db, writes, clock.now());
    expect(applied.applied.size).toBe(2);
    expect(applied.walletsAtZero).toEqual([poor.walletId]);
    expect(applied.balanceAfter.get(p1.sessionId)).toBe(0);
    expect(ids(stops)).toEqual(sorted([p1.sessionId, p2.sessionId]));
    expect(stops.every((t) => t.reason === 'wallet_at_zero')).toBe(true);
    expect(stops.find((t) => t.sessionId === p2.sessionId)).toMatchObject({ transactionId: p2.transactionId, identity: p2.station.identity, stationId: p2.station.stationId });
    // A wallet taken to zero is marked once more after the commit: a session started while the
    // statement waited for the wallet is not in its snapshot.
    expect({ handed, unmarked }).toEqual({ handed: [], unmarked: [poor.walletId] });
    for (const s of [p1, p2]) expect(await statusOf(s)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    expect((await statusOf(r1)).status).toBe('active');
    // The crossing's event is written by the same statement.
    const depleted = await h.db.selectFrom('outbox_events').select('data').where('type', '=', 'wallet.depleted').execute();
    expect(depleted.some((e) => (e.data as { wallet: string }).wallet === poor.walletId)).toBe(true);
    await assertLedgerConsistent(h.db, [rich.walletId, poor.walletId]);
  });

  it('is all or nothing, marks included: a batch the ledger refuses writes no debit and marks no session', async () => {
    const poor = await driver(100);
    const edge = await driver(1);
    const [p1, p2, e1] = [await session(poor), await session(poor), await session(edge)];
    // Bring a wallet to the edge of the exact range behind the ledger's back (the test's only way there).
    await sql`update wallets set balance = ${-(Number.MAX_SAFE_INTEGER - 10)} where id = ${edge.walletId}`.execute(h.db);
    clock.advance(60_000);
    const writes = [await writeTo(p1, 1_000), await writeTo(e1, 1_000)]; // poor to 0; edge past −(2^53−1)
    const before = await snapshot([poor.walletId, edge.walletId], [p1.sessionId, p2.sessionId, e1.sessionId]);
    await expect(billAndMark(h.db, writes, clock.now())).rejects.toMatchObject({ code: 'amount_out_of_range' });
    expect(await snapshot([poor.walletId, edge.walletId], [p1.sessionId, p2.sessionId, e1.sessionId])).toEqual(before);
    for (const s of [p1, p2]) expect((await statusOf(s)).status).toBe('active');
  });

  it('marks a running session debiting a wallet already below zero; a stopping one\'s last readings mark nothing more', async () => {
    const owing = await driver(50);
    const s = await session(owing);
    clock.advance(60_000);
    const owe = await writeTo(s, 800); // 50 − 80 = −30
    await h.db.transaction().execute((tx) => applyBilling(tx, [owe], clock.now()));
    // Still active on a wallet below zero (a stop never marked): this debit marks it.
    clock.advance(10_000);
    const next = await billAndMark(h.db, [await writeTo(s, 900)], clock.now());
    expect(ids(next.stops)).toEqual([s.sessionId]);
    expect(next.applied.balanceAfter.get(s.sessionId)).toBe(-40);
    expect(await statusOf(s)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });

    // Its last readings are billed and mark nothing (nothing is running on the wallet).
    clock.advance(10_000);
    const last = await billAndMark(h.db, [await writeTo(s, 1_000)], clock.now());
    expect(last.applied.balanceAfter.get(s.sessionId)).toBe(-50);
    expect(last.applied.walletsAtZero).toEqual([owing.walletId]);
    expect({ stops: last.stops, unmarked: last.unmarked }).toEqual({ stops: [], unmarked: [] });
    await assertLedgerConsistent(h.db, [owing.walletId]);
  });

  it.skipIf(!ON_POSTGRES)('decides on the balance as it is once the wallet\'s lock is free, not as its snapshot had it', async () => {
    const d = await driver(1_000);
    const s = await session(d);
    clock.advance(60_000);
    const write = await writeTo(s, 5_000); // 500 cents: fine on 1,000, below zero on 400
    // Another writer takes 600 and holds the wallet until released.
    const other = holdOpen((tx) => postEntries(tx, [{ walletId: d.walletId, type: 'debit', amount: 600 }], clock.now()));
    await other.ready;
    const attempt = billAndMark(h.db, [write], clock.now());
    await new Promise((r) => setTimeout(r, 200)); // the statement is waiting for the wallet
    await other.release();
    const { applied, stops } = await attempt;
    expect(applied.balanceAfter.get(s.sessionId)).toBe(-100);
    expect(ids(stops)).toEqual([s.sessionId]);
    expect(await statusOf(s)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    expect(await balanceOf(d.walletId)).toBe(-100);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it.skipIf(!ON_POSTGRES)('a session that starts while the statement waits for the wallet is left to the mark after the commit, which stops it', async () => {
    const d = await driver(100);
    const [billed, template] = [await session(d), await session(d)];
    await markStopping(h.db, { sessionIds: [template.sessionId] }, 'remote', clock.now());
    clock.advance(60_000);
    const write = await writeTo(billed, 1_000); // 100 cents: the wallet to zero
    // A start on the same wallet (a start fee holds the wallet): its session commits after the
    // statement's snapshot, while the statement waits for the wallet.
    const late = `${template.sessionId}-late`;
    const starter = holdOpen(async (tx) => {
      await postEntries(tx, [{ walletId: d.walletId, type: 'debit', amount: 1 }], clock.now());
      await sql`insert into sessions select (jsonb_populate_record(null::sessions, to_jsonb(s)
          || jsonb_build_object('id', ${late}::text, 'transaction_id', s.transaction_id + 1000000, 'meter_start', s.meter_start + 1,
          'status', 'active', 'termination', null))).*
        from sessions s where s.id = ${template.sessionId}`.execute(tx);
    });
    await starter.ready;
    const results: BatchResult[] = [];
    const batcher = new MeterBatcher({ db: h.db, clock, log: h.log }, (r) => results.push(r));
    const outcome = batcher.submit(meterReading(billed, 1_000));
    await new Promise((r) => setTimeout(r, 200)); // the statement is waiting for the wallet
    await starter.release();
    expect(await outcome).toMatchObject({ charged: 100, balanceAfter: -1 });
    expect((await h.db.selectFrom('sessions').select('status').where('id', '=', late).executeTakeFirstOrThrow()).status).toBe('active');
    // Not in the statement's snapshot: the wallet is handed to the mark after the commit, which finds it.
    expect(results.flatMap((r) => r.walletsToMark)).toEqual([d.walletId]);
    const marked = await markStopping(h.db, { walletIds: [d.walletId] }, 'insufficient_balance', clock.now());
    expect(marked.map((t) => t.sessionId)).toEqual([late]);
    await batcher.drain();
  });

  it('writes a session only if its wallet is the one its plan was made for', async () => {
    const d = await driver(1_000);
    const s = await session(d);
    clock.advance(60_000);
    const write = await writeTo(s, 500);
    const elsewhere = { ...write, row: { ...write.row, wallet_id: null } };
    const { applied } = await billAndMark(h.db, [elsewhere], clock.now());
    expect(applied.applied.size).toBe(0);
    expect((await rowOf(s)).debited).toBe(0);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('leaves a session another writer changed alone (compare-and-set), and posts nothing for it', async () => {
    const d = await driver(10_000);
    const [s1, s2] = [await session(d), await session(d)];
    clock.advance(60_000);
    const stale = await writeTo(s1, 1_000);
    // Another writer bills s1 first.
    const first = await writeTo(s1, 600);
    await h.db.transaction().execute((tx) => applyBilling(tx, [first], clock.now()));
    const { applied } = await billAndMark(h.db, [stale, await writeTo(s2, 300)], clock.now());
    expect([...applied.applied]).toEqual([s2.sessionId]);
    expect(applied.balanceAfter.has(s1.sessionId)).toBe(false);
    expect(await rowOf(s1)).toMatchObject({ meter_last: 600, debited: 60 });
    expect(await balanceOf(d.walletId)).toBe(10_000 - 60 - 30);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('refuses to run inside a transaction (it would report a commit that has not happened)', async () => {
    const d = await driver(1_000);
    const s = await session(d);
    clock.advance(10_000);
    const write = await writeTo(s, 100);
    await expect(h.db.transaction().execute((tx) => billAndMark(tx, [write], clock.now()))).rejects.toThrow(/inside a transaction/);
    expect((await rowOf(s)).meter_last).toBe(0);
  });

  it('the batcher stops a session whose wallet its batch takes to zero, and bills the rest of the batch once', async () => {
    const rich = await driver(10_000);
    const poor = await driver(100);
    const [r1, p1] = [await session(rich), await session(poor)];
    const results: BatchResult[] = [];
    const batcher = new MeterBatcher({ db: h.db, clock, log: h.log }, (r) => results.push(r));
    clock.advance(60_000);
    const reading = (s: FixtureSession, wh: number) => ({
      station: s.station,
      connectorId: 1,
      transactionId: s.transactionId,
      meterValue: [{ timestamp: clock.now().toISOString(), sampledValue: [{ value: String(wh) }] }],
    });
    const [r, p] = await Promise.all([batcher.submit(reading(r1, 500)), batcher.submit(reading(p1, 1_200))]);
    expect(r).toMatchObject({ charged: 50, balanceAfter: 9_950 });
    expect(p).toMatchObject({ charged: 120, balanceAfter: -20 });
    const stopped = results.flatMap((x) => x.stopNow.map((t) => t.sessionId));
    expect(stopped).toEqual([p1.sessionId]);
    expect(results.flatMap((x) => x.walletsToMark)).toEqual([poor.walletId]);
    expect((await h.db.selectFrom('sessions').select(['status', 'termination']).where('id', '=', p1.sessionId).executeTakeFirstOrThrow()))
      .toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    expect((await rowOf(r1)).status).toBe('active');
    await batcher.drain();
    await assertLedgerConsistent(h.db, [rich.walletId, poor.walletId]);
  });
  const meterReading = (s: FixtureSession, wh: number) => ({
    station: s.station,
    connectorId: 1,
    transactionId: s.transactionId,
    meterValue: [{ timestamp: clock.now().toISOString(), sampledValue: [{ value: String(wh) }] }],
  });
  it('the debit that takes a wallet to zero marks every running session of the wallet in its own statement', async () => {
    const d = await driver(100);
    const [billed, other] = [await session(d), await session(d)];
    const results: BatchResult[] = [];
    const batcher = new MeterBatcher({ db: h.db, clock, log: h.log }, (r) => results.push(r));
    clock.advance(60_000);
    expect(await batcher.submit(meterReading(billed, 1_000))).toMatchObject({ charged: 100, balanceAfter: 0 });
    // Both marked by the debit's commit (a StopTransaction answering either finds its reason), both to stop from here.
    expect(await statusOf(billed)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    expect(await statusOf(other)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    expect(results.flatMap((r) => r.stopNow.map((t) => t.sessionId)).sort()).toEqual([billed.sessionId, other.sessionId].sort());
    await batcher.drain();
  });

  it.skipIf(!ON_POSTGRES)('a session of that wallet another transaction holds locked is left to the stopper, not waited for', async () => {
    const d = await driver(100);
    const [billed, held] = [await session(d), await session(d)];
    const results: BatchResult[] = [];
    const batcher = new MeterBatcher({ db: h.db, clock, log: h.log }, (r) => results.push(r));
    clock.advance(60_000);
    const holder = holdOpen(lockSessionOf(held));
    await holder.ready;
    try {
      // Written while the other session is locked: the batch must not wait for it.
      const outcome = await Promise.race([
        batcher.submit(meterReading(billed, 1_000)),
        new Promise<'waited'>((r) => setTimeout(() => r('waited'), 5_000)),
      ]);
      expect(outcome).toMatchObject({ charged: 100, balanceAfter: 0 });
      expect(results.flatMap((r) => r.stopNow.map((t) => t.sessionId))).toEqual([billed.sessionId]);
      expect(results.flatMap((r) => r.walletsToMark)).toEqual([d.walletId]);
    } finally {
      await holder.release();
    }
    expect(await statusOf(billed)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    expect((await statusOf(held)).status).toBe('active'); // the stopper's (stopWallets) to mark, after the commit
    await batcher.drain();
  });
  it.skipIf(!ON_POSTGRES)('after the commit, the stopper marks what the debit skipped, waiting for its holder, and sends only what it marked', async () => {
    const d = await driver(100);
    const [billed, markedByHolder, releasedByHolder] = [await session(d), await session(d), await session(d)];
    const results: BatchResult[] = [];
    const batcher = new MeterBatcher({ db: h.db, clock, log: h.log }, (r) => results.push(r));
    const sent: number[] = [];
    const stations = {
      call: async (_identity: string, _action: string, payload: { transactionId: number }) => {
        sent.push(payload.transactionId);
        return { status: 'Accepted' };
      },
    } as unknown as StationPort;
    const stopper = new RemoteStopper({ db: h.db, clock, log: h.log, stations });
    clock.advance(60_000);
    // Two other writers hold the wallet's other sessions, as batches of other nodes would.
    const holders = [
      holdOpen(lockSessionOf(markedByHolder), (tx) => markStopping(tx, { sessionIds: [markedByHolder.sessionId] }, 'insufficient_balance', clock.now())),
      holdOpen(lockSessionOf(releasedByHolder)),
    ];
    await Promise.all(holders.map((x) => x.ready));
    await batcher.submit(meterReading(billed, 1_000)); // the wallet reaches zero; both others skipped
    expect(results.flatMap((r) => r.stopNow.map((t) => t.sessionId))).toEqual([billed.sessionId]);

    const stopping = stopper.stopWallets([d.walletId], 'insufficient_balance');
    await new Promise((r) => setTimeout(r, 200));
    expect(sent).toEqual([]); // waiting for the holders: nothing is sent before its mark
    for (const x of holders) await x.release();
    await stopping;
    // The session its holder marked is that holder's to stop; the other one is marked and stopped here, once.
    expect(sent).toEqual([releasedByHolder.transactionId]);
    for (const s of [markedByHolder, releasedByHolder]) expect(await statusOf(s)).toEqual({ status: 'stopping', termination: 'insufficient_balance' });
    stopper.close();
    await batcher.drain();
  });
});
