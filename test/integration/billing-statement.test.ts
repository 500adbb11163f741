import { describe, expect, it } from 'vitest';
import { onCommitted } from '../../src/db/after-commit.ts';
import { applyBilling, applyBillingUnlessZero, planBilling, type BillingRow, type BillingWrite } from '../../src/domain/sessions/billing.ts';
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
 * A MeterValues batch that leaves every wallet above zero is written by one statement committed
 * on its own (applyBillingUnlessZero); one that would take a wallet to zero writes nothing that
 * way and is written in a transaction with its stop marks. These tests hold the statement to
 * all or nothing, and to the same results as the transactional path.
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

  it('writes the sessions, the wallets and the entries, and reports the debits as committed', async () => {
    const a = await driver(10_000);
    const b = await driver(10_000);
    const [a1, a2, b1] = [await session(a), await session(a), await session(b)];
    clock.advance(60_000);
    const seen: { entries: number; cents: number }[] = [];
    const stop = onCommitted(h.db, LEDGER_DEBITED, (d) => seen.push(d), (err) => { throw err; });
    try {
      const writes = [await writeTo(a1, 1_000), await writeTo(a2, 500), await writeTo(b1, 2_000)];
      const applied = await applyBillingUnlessZero(h.db, writes, clock.now());
      expect(applied).toBeDefined();
      expect([...applied!.applied].sort()).toEqual([a1.sessionId, a2.sessionId, b1.sessionId].sort());
      // A wallet's entries run in session id order; each session gets the balance after its own entry.
      const [first, second] = [a1, a2].sort((x, y) => (x.sessionId < y.sessionId ? -1 : 1));
      const firstCents = first === a1 ? 100 : 50;
      expect(applied!.balanceAfter.get(first!.sessionId)).toBe(10_000 - firstCents);
      expect(applied!.balanceAfter.get(second!.sessionId)).toBe(10_000 - 150);
      expect(applied!.balanceAfter.get(b1.sessionId)).toBe(9_800);
      expect(applied!.walletsAtZero).toEqual([]);
      expect(applied!.moved).toEqual(
        [{ walletId: a.walletId, before: 10_000, after: 9_850 }, { walletId: b.walletId, before: 10_000, after: 9_800 }].sort((x, y) => (x.walletId < y.walletId ? -1 : 1)),
      );
      expect(seen).toEqual([{ entries: 3, cents: 350 }]);
      expect((await rowOf(a1)).debited).toBe(100);
      expect((await rowOf(b1)).meter_last).toBe(2_000);
      await assertLedgerConsistent(h.db, [a.walletId, b.walletId]);
    } finally {
      stop();
    }
  });

  it('writes nothing at all when one wallet of the batch would reach zero, and the transaction path then bills it', async () => {
    const rich = await driver(10_000);
    const poor = await driver(150);
    const [r1, p1] = [await session(rich), await session(poor)];
    clock.advance(60_000);
    const writes = [await writeTo(r1, 1_000), await writeTo(p1, 1_500)]; // the poor wallet: 150 − 150 = 0
    const before = await snapshot([rich.walletId, poor.walletId], [r1.sessionId, p1.sessionId]);
    const seen: unknown[] = [];
    const stop = onCommitted(h.db, LEDGER_DEBITED, (d) => seen.push(d), (err) => { throw err; });
    try {
      expect(await applyBillingUnlessZero(h.db, writes, clock.now())).toBeUndefined();
      expect(await snapshot([rich.walletId, poor.walletId], [r1.sessionId, p1.sessionId])).toEqual(before);
      expect(seen).toEqual([]);

      // The same writes (their rows are still current) go through applyBilling in a transaction.
      const applied = await h.db.transaction().execute((tx) => applyBilling(tx, writes, clock.now()));
      expect(applied.applied.size).toBe(2);
      expect(applied.walletsAtZero).toEqual([poor.walletId]);
      expect(applied.balanceAfter.get(p1.sessionId)).toBe(0);
      expect(seen).toEqual([{ entries: 2, cents: 250 }]);
      await assertLedgerConsistent(h.db, [rich.walletId, poor.walletId]);
    } finally {
      stop();
    }
  });

  it('declines a running session\'s debit on a wallet already below zero, not a stopping one\'s, nor one that moves no money', async () => {
    const owing = await driver(50);
    const s = await session(owing);
    clock.advance(60_000);
    const owe = await writeTo(s, 800); // 50 − 80 = −30
    await h.db.transaction().execute((tx) => applyBilling(tx, [owe], clock.now()));
    // Still active on a wallet below zero (a stop never marked): the transaction path marks it.
    clock.advance(10_000);
    expect(await applyBillingUnlessZero(h.db, [await writeTo(s, 900)], clock.now())).toBeUndefined();
    expect((await rowOf(s)).meter_last).toBe(800);

    // A write that bills no money (no new energy) is written on its own whatever the balance.
    clock.advance(10_000);
    const idle = await applyBillingUnlessZero(h.db, [await writeTo(s, 800)], clock.now());
    expect(idle?.applied.has(s.sessionId)).toBe(true);
    expect(idle?.balanceAfter.size).toBe(0);

    // Once it is stopping, its last readings are billed on their own too (nothing more to mark).
    await markStopping(h.db, { sessionIds: [s.sessionId] }, 'insufficient_balance', clock.now());
    clock.advance(10_000);
    const last = await applyBillingUnlessZero(h.db, [await writeTo(s, 900)], clock.now());
    expect(last?.applied.has(s.sessionId)).toBe(true);
    expect(last?.balanceAfter.get(s.sessionId)).toBe(-40);
    expect(last?.walletsAtZero).toEqual([owing.walletId]);
    await assertLedgerConsistent(h.db, [owing.walletId]);
  });

  it.skipIf(!ON_POSTGRES)('decides on the balance as it is once the wallet\'s lock is free, not as its snapshot had it', async () => {
    const d = await driver(1_000);
    const s = await session(d);
    clock.advance(60_000);
    const write = await writeTo(s, 5_000); // 500 cents: fine on 1,000, zero on 400
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let debited!: () => void;
    const isDebited = new Promise<void>((r) => (debited = r));
    // Another writer takes 600 and holds the wallet until released.
    const other = h.db.transaction().execute(async (tx) => {
      await postEntries(tx, [{ walletId: d.walletId, type: 'debit', amount: 600 }], clock.now());
      debited();
      await released;
    });
    await isDebited;
    const attempt = applyBillingUnlessZero(h.db, [write], clock.now());
    await new Promise((r) => setTimeout(r, 200)); // the statement is waiting for the wallet
    release();
    await other;
    expect(await attempt).toBeUndefined();
    expect((await rowOf(s)).meter_last).toBe(0);
    expect(await balanceOf(d.walletId)).toBe(400);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('writes a session only if its wallet is the one its plan was made for', async () => {
    const d = await driver(1_000);
    const s = await session(d);
    clock.advance(60_000);
    const write = await writeTo(s, 500);
    const elsewhere = { ...write, row: { ...write.row, wallet_id: null } };
    const applied = await applyBillingUnlessZero(h.db, [elsewhere], clock.now());
    expect(applied?.applied.size).toBe(0);
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
    const applied = await applyBillingUnlessZero(h.db, [stale, await writeTo(s2, 300)], clock.now());
    expect([...applied!.applied]).toEqual([s2.sessionId]);
    expect(applied!.balanceAfter.has(s1.sessionId)).toBe(false);
    expect(await rowOf(s1)).toMatchObject({ meter_last: 600, debited: 60 });
    expect(await balanceOf(d.walletId)).toBe(10_000 - 60 - 30);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('refuses to run inside a transaction (it would report a commit that has not happened)', async () => {
    const d = await driver(1_000);
    const s = await session(d);
    clock.advance(10_000);
    const write = await writeTo(s, 100);
    await expect(h.db.transaction().execute((tx) => applyBillingUnlessZero(tx, [write], clock.now()))).rejects.toThrow(/inside a transaction/);
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
    expect(results.flatMap((x) => x.walletsAtZero)).toEqual([poor.walletId]);
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
  const statusOf = async (s: FixtureSession) =>
    h.db.selectFrom('sessions').select(['status', 'termination']).where('id', '=', s.sessionId).executeTakeFirstOrThrow();

  it('the debit that takes a wallet to zero marks every running session of the wallet in its own transaction', async () => {
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
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = h.db.transaction().execute(async (tx) => {
      await tx.selectFrom('sessions').select('id').where('id', '=', held.sessionId).forNoKeyUpdate().execute();
      locked();
      await released;
    });
    await isLocked;
    try {
      // Written while the other session is locked: the batch must not wait for it.
      const outcome = await Promise.race([
        batcher.submit(meterReading(billed, 1_000)),
        new Promise<'waited'>((r) => setTimeout(() => r('waited'), 5_000)),
      ]);
      expect(outcome).toMatchObject({ charged: 100, balanceAfter: 0 });
      expect(results.flatMap((r) => r.stopNow.map((t) => t.sessionId))).toEqual([billed.sessionId]);
      expect(results.flatMap((r) => r.walletsAtZero)).toEqual([d.walletId]);
    } finally {
      release();
      await holder;
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
    const hold = (s: FixtureSession, markIt: boolean) => {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const done = h.db.transaction().execute(async (tx) => {
        await tx.selectFrom('sessions').select('id').where('id', '=', s.sessionId).forNoKeyUpdate().execute();
        locked();
        await released;
        if (markIt) await markStopping(tx, { sessionIds: [s.sessionId] }, 'insufficient_balance', clock.now());
      });
      return { isLocked, release: async () => { release(); await done; } };
    };
    const holders = [hold(markedByHolder, true), hold(releasedByHolder, false)];
    await Promise.all(holders.map((x) => x.isLocked));
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
