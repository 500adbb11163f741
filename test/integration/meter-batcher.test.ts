import { describe, expect, it } from 'vitest';
import { MeterBatcher, type BatchResult } from '../../src/domain/sessions/meter-batcher.ts';
import { billLocked, lockSession } from '../../src/domain/sessions/billing.ts';
import { stopTransaction } from '../../src/domain/sessions/transactions.ts';
import { billingFixture, type FixtureSession } from '../helpers/billing-fixture.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/**
 * The MeterValues batcher keeps the billing rows it wrote in memory and writes with a
 * compare-and-set. These tests change sessions behind its back (as another gateway node, a
 * StopTransaction or the TIME sweep would) and check that nothing is billed twice or lost.
 */
describe('MeterBatcher: compare-and-set against other writers', () => {
  const h = billingFixture('MB'); // 100 c/kWh: 1 cent per 10 Wh
  const { clock, log, driver, session } = h;

  const reading = (s: Pick<FixtureSession, 'station' | 'transactionId'>, wh: number) => ({
    station: s.station,
    connectorId: 1,
    transactionId: s.transactionId,
    meterValue: [{ timestamp: clock.now().toISOString(), sampledValue: [{ value: String(wh) }] }],
  });

  const balanceOf = async (walletId: string) =>
    (await h.db.selectFrom('wallets').select('balance').where('id', '=', walletId).executeTakeFirstOrThrow()).balance;
  const sessionRow = (id: string) =>
    h.db.selectFrom('sessions').select(['status', 'meter_last', 'cost', 'debited']).where('id', '=', id).executeTakeFirstOrThrow();

  it('a session billed elsewhere after the batcher last wrote it is read again, not billed from the old row', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    const batcher = new MeterBatcher({ db: h.db, clock, log }, () => {});
    clock.advance(10_000);
    expect(await batcher.submit(reading(s, 1_000))).toMatchObject({ charged: 100, balanceAfter: 9_900 });
    expect(batcher.remembered).toBe(1);

    // Another node bills the same session up to 2,000 Wh.
    clock.advance(10_000);
    await h.db.transaction().execute(async (tx) => billLocked(tx, await lockSession(tx, s.sessionId), { registerWh: 2_000, at: clock.now() }));
    expect(await balanceOf(d.walletId)).toBe(9_800);

    // This batcher's row still says 1,000 Wh: the write must not apply on it.
    clock.advance(10_000);
    expect(await batcher.submit(reading(s, 2_500))).toMatchObject({ charged: 50, balanceAfter: 9_750 });
    expect(await sessionRow(s.sessionId)).toMatchObject({ meter_last: 2_500, cost: 250, debited: 250, status: 'active' });
    await assertLedgerConsistent(h.db, [d.walletId]);
    batcher.forget(s.transactionId);
    expect(batcher.remembered).toBe(0);
  });

  it('a reading that arrives after the session was settled bills nothing', async () => {
    const d = await driver(10_000);
    const s = await session(d);
    const batcher = new MeterBatcher({ db: h.db, clock, log }, () => {});
    clock.advance(10_000);
    await batcher.submit(reading(s, 500));
    clock.advance(10_000);
    await stopTransaction(h.db, clock, log, s.station, { transactionId: s.transactionId, meterStop: 800, timestamp: clock.now() });
    const late = await batcher.submit(reading(s, 5_000));
    expect(late.charged).toBe(0);
    expect(batcher.remembered).toBe(0); // a completed session is not kept in memory
    expect(await sessionRow(s.sessionId)).toMatchObject({ status: 'completed', meter_last: 800, cost: 80, debited: 80 });
    expect(await balanceOf(d.walletId)).toBe(10_000 - 80);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });

  it('two batchers (two gateway nodes) given the same readings bill each once; wallets shared by several sessions add up', async () => {
    const drivers = [await driver(1_000_000), await driver(1_000_000), await driver(1_000_000)];
    const sessions = [];
    for (let i = 0; i < 9; i++) sessions.push({ ...(await session(drivers[i % 3]!)), wallet: drivers[i % 3]!.walletId });
    const nodeA = new MeterBatcher({ db: h.db, clock, log }, () => {}, { maxBatch: 4, concurrency: 2 });
    const nodeB = new MeterBatcher({ db: h.db, clock, log }, () => {}, { maxBatch: 3, concurrency: 2 });
    const registers = sessions.map(() => 0);
    for (let round = 0; round < 20; round++) {
      clock.advance(5_000);
      const sent: Promise<unknown>[] = [];
      sessions.forEach((s, i) => {
        registers[i] = registers[i]! + 10 * (1 + ((round * 7 + i) % 13));
        sent.push(nodeA.submit(reading(s, registers[i]!)), nodeB.submit(reading(s, registers[i]!)));
      });
      await Promise.all(sent);
    }
    for (const [i, s] of sessions.entries()) {
      const row = await sessionRow(s.sessionId);
      expect(row.meter_last).toBe(registers[i]);
      expect(row.debited).toBe(registers[i]! / 10);
    }
    for (const [k, d] of drivers.entries()) {
      const spent = sessions.reduce((sum, s, i) => sum + (i % 3 === k ? registers[i]! / 10 : 0), 0);
      expect(await balanceOf(d.walletId)).toBe(1_000_000 - spent);
    }
    await assertLedgerConsistent(h.db, drivers.map((d) => d.walletId));
  });

  it('marks the batch’s sessions of a wallet taken to zero stopping in the debit’s own write', async () => {
    const d = await driver(100);
    const [a, b] = [await session(d), await session(d)];
    const batches: BatchResult[] = [];
    const batcher = new MeterBatcher({ db: h.db, clock, log }, (r) => batches.push(r));
    clock.advance(10_000);
    // Submitted in one turn of the event loop, the three readings share one batch (a's first bills nothing).
    const [, ra, rb] = await Promise.all([batcher.submit(reading(a, 0)), batcher.submit(reading(a, 600)), batcher.submit(reading(b, 500))]);
    expect(ra.charged + rb.charged).toBe(110);
    expect(await balanceOf(d.walletId)).toBe(-10);
    expect(await sessionRow(a.sessionId)).toMatchObject({ status: 'stopping' });
    expect(await sessionRow(b.sessionId)).toMatchObject({ status: 'stopping' });
    const stopped = batches.flatMap((x) => x.stopNow.map((t) => t.transactionId)).sort();
    expect(stopped).toEqual([a.transactionId, b.transactionId].sort());
    // both marked by the statement itself; the wallet it took to zero is marked once more after
    // the commit (a session started meanwhile), which finds nothing here
    expect(batches.flatMap((x) => x.walletsToMark)).toEqual([d.walletId]);
    await assertLedgerConsistent(h.db, [d.walletId]);
  });
});
