import { describe, expect, it } from 'vitest';
import { MeterBatcher, type MeterObservation, type MeterObserver } from '../../src/domain/sessions/meter-batcher.ts';
import { billingFixture } from '../helpers/billing-fixture.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/**
 * What the MeterValues batcher tells its observer (the predictive stop) after each commit: the
 * row as written, the wallet's balance after the debit, and each reading's own stamp (unclamped)
 * and arrival time. The observer can never make billing fail.
 */
describe('MeterBatcher observer', () => {
  const h = billingFixture('OB');
  const { clock, log } = h;

  async function session(balance: number) {
    const d = await h.driver(balance);
    return { ...(await h.session(d)), walletId: d.walletId };
  }

  function recorder(): MeterObserver & { seen: MeterObservation[][]; forgotten: number[] } {
    const seen: MeterObservation[][] = [];
    const forgotten: number[] = [];
    return { seen, forgotten, observe: (o) => void seen.push(o), forget: (tx) => void forgotten.push(tx) };
  }

  it('gets each billed session as written, its wallet balance, and every reading with its stamp and arrival', async () => {
    const s = await session(10_000);
    const observer = recorder();
    const batcher = new MeterBatcher({ db: h.db, clock, log, observer }, () => {});
    clock.advance(60_000);
    const arrived = clock.now().getTime();
    const taken = [arrived - 45_000, arrived - 15_000]; // two readings held back and sent together
    await batcher.submit({
      station: s.station,
      connectorId: 1,
      transactionId: s.transactionId,
      meterValue: taken.map((t, i) => ({ timestamp: new Date(t).toISOString(), sampledValue: [{ value: String((i + 1) * 500) }] })),
    });
    expect(observer.seen).toHaveLength(1);
    const [o] = observer.seen[0]!;
    expect(o!.row).toMatchObject({ id: s.sessionId, meter_last: 1_000, cost: 100, debited: 100, status: 'active' });
    expect(o!.balanceAfter).toBe(9_900);
    expect(o!.identity).toBe(s.station.identity);
    // one MeterValues: billing takes its latest register; the observer gets that reading's stamp
    expect(o!.readings).toEqual([{ wh: 1_000, stationMs: taken[1], receivedMs: arrived, powerW: undefined }]);

    // a station clock running ahead: billing clamps to now, the observer gets the real stamp
    clock.advance(30_000);
    const ahead = clock.now().getTime() + 120_000;
    await batcher.submit({
      station: s.station,
      connectorId: 1,
      transactionId: s.transactionId,
      meterValue: [{ timestamp: new Date(ahead).toISOString(), sampledValue: [{ value: '1500' }, { value: '22000', measurand: 'Power.Active.Import', unit: 'W' }] }],
    });
    expect(observer.seen[1]![0]!.readings).toEqual([{ wh: 1_500, stationMs: ahead, receivedMs: clock.now().getTime(), powerW: 22_000 }]);
    batcher.forget(s.transactionId);
    expect(observer.forgotten).toEqual([s.transactionId]);
    await assertLedgerConsistent(h.db, [s.walletId]);
  });

  it('an observer that throws changes nothing for billing', async () => {
    const s = await session(10_000);
    const batcher = new MeterBatcher(
      { db: h.db, clock, log, observer: { observe: () => { throw new Error('observer bug'); }, forget: () => {} } },
      () => {},
    );
    clock.advance(10_000);
    const out = await batcher.submit({
      station: s.station,
      connectorId: 1,
      transactionId: s.transactionId,
      meterValue: [{ timestamp: clock.now().toISOString(), sampledValue: [{ value: '700' }] }],
    });
    expect(out).toMatchObject({ charged: 70, balanceAfter: 9_930 });
    await assertLedgerConsistent(h.db, [s.walletId]);
  });
});
