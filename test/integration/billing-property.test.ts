import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ManualClock } from '../../src/shared/clock.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import { createRate } from '../../src/domain/billing/rates.ts';
import { computeCost } from '../../src/domain/billing/cost.ts';
import { createUser } from '../../src/domain/users/users.ts';
import { createToken } from '../../src/domain/tokens/tokens.ts';
import { getOrCreateWallet } from '../../src/domain/wallets/wallets.ts';
import { createManualTopUp } from '../../src/domain/wallets/top-ups.ts';
import { updateOrganization, defaultOrganizationId } from '../../src/domain/organizations/organizations.ts';
import { MeterBatcher } from '../../src/domain/sessions/meter-batcher.ts';
import {
  startTransaction,
  stopTransaction,
  type StationRef,
} from '../../src/domain/sessions/transactions.ts';
import { migratedDb, type MigratedDb } from '../helpers/db.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/** A small seeded PRNG (mulberry32), so a failing seed can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]! };
}

const log = pino({ level: 'silent' });

interface Sim {
  station: StationRef;
  transactionId: number;
  walletId: string;
  meterStart: number;
  register: number;
  maxSeen: number;
  start: Date;
  stopped: boolean;
  stopAt?: Date;
}

describe('billing under random interleavings (property)', () => {
  let h: MigratedDb;
  beforeAll(async () => {
    h = await migratedDb();
  });
  afterAll(async () => {
    await h.dispose();
  });

  it.each([1, 2, 3, 4, 5])('seed %i: every wallet = credits − the exact cost of its sessions; ledgers chain', async (seed) => {
    const r = rng(seed);
    const clock = new ManualClock(new Date('2026-05-01T08:00:00Z'));
    const db = h.db;
    await updateOrganization(db, clock, await defaultOrganizationId(db), { minimum_balance_to_start_session: 0 });
    const rate = await createRate(db, clock, {
      currency: 'USD',
      price_components: [
        { type: 'ENERGY', price: 32.4567, tax: 7.25, step_size: 100 },
        { type: 'TIME', price: 45.5, step_size: 60 },
        { type: 'FLAT', price: 25 },
      ],
    });

    const wallets: { id: string; credits: number; user: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const user = await createUser(db, clock, { firstname: 'P', lastname: `${seed}-${i}`, email: `p${seed}-${i}-${Date.now()}@example.com` });
      const { wallet } = await getOrCreateWallet(db, clock, user.id);
      const credit = r.int(500, 3000);
      await createManualTopUp(db, clock, { wallet: wallet.id, amount: credit });
      wallets.push({ id: wallet.id, credits: credit, user: user.id });
    }

    const sims: Sim[] = [];
    for (let i = 0; i < 6; i++) {
      const st = await createStation(db, clock, { ocpp_id: `PROP-${seed}-${i}-${Date.now()}`, rate: rate.id });
      const station = { stationId: st.id, identity: st.ocpp_id };
      const w = wallets[i % wallets.length]!;
      const meterStart = r.int(0, 50_000);
      const start = clock.now();
      // A token per session: one idTag is in one transaction at a time; a wallet funds several.
      const tag = `P${seed}X${i}${Date.now() % 100000}`.slice(0, 20);
      await createToken(db, clock, { physicalId: tag, user: w.user });
      const res = await startTransaction(db, clock, station, { connectorId: 1, idTag: tag, meterStart, timestamp: start }, { defaultMaxPowerW: null });
      expect(res.status).toBe('Accepted');
      sims.push({ station, transactionId: res.session.transaction_id, walletId: w.id, meterStart, register: meterStart, maxSeen: meterStart, start, stopped: false });
    }

    const batcher = new MeterBatcher({ db, clock, log }, () => {}, { maxBatch: 50, concurrency: 2 });
    const meter = (s: Sim, wh: number) =>
      batcher.submit({
        station: s.station,
        connectorId: 1,
        transactionId: r.next() < 0.2 ? -1 : s.transactionId,
        meterValue: [{ timestamp: clock.now().toISOString(), sampledValue: [{ value: String(wh) }] }],
      });

    for (let step = 0; step < 60; step++) {
      clock.advance(r.int(1, 120) * 1000);
      const batch: Promise<unknown>[] = [];
      for (let k = 0; k < r.int(1, 4); k++) {
        const s = r.pick(sims.filter((x) => !x.stopped));
        if (!s) break;
        const roll = r.next();
        if (roll < 0.6) {
          s.register += r.int(0, 3000);
          s.maxSeen = Math.max(s.maxSeen, s.register);
          batch.push(meter(s, s.register));
          if (r.next() < 0.3) batch.push(meter(s, s.register)); // duplicate
        } else if (roll < 0.7) {
          batch.push(meter(s, Math.max(s.meterStart, s.register - r.int(1, 500)))); // backwards: bills nothing
        } else if (roll < 0.8) {
          const w = r.pick(wallets);
          const amount = r.int(1, 800);
          w.credits += amount;
          batch.push(createManualTopUp(db, clock, { wallet: w.id, amount }));
        } else if (roll < 0.9 && sims.filter((x) => !x.stopped).length > 2) {
          s.stopped = true;
          s.stopAt = clock.now();
          s.register += r.int(0, 200);
          s.maxSeen = Math.max(s.maxSeen, s.register);
          batch.push(
            stopTransaction(db, clock, log, s.station, { transactionId: s.transactionId, meterStop: s.register, timestamp: s.stopAt, reason: 'Local' }),
          );
        }
      }
      await Promise.all(batch);
    }
    clock.advance(30_000);
    for (const s of sims.filter((x) => !x.stopped)) {
      s.stopped = true;
      s.stopAt = clock.now();
      await stopTransaction(db, clock, log, s.station, { transactionId: s.transactionId, meterStop: s.register, timestamp: s.stopAt });
      // a replayed stop changes nothing
      await stopTransaction(db, clock, log, s.station, { transactionId: s.transactionId, meterStop: s.register, timestamp: s.stopAt });
    }

    const components = (await db.selectFrom('rates').select('price_components').where('id', '=', rate.id).executeTakeFirstOrThrow()).price_components;
    for (const w of wallets) {
      const expectedCosts = sims
        .filter((s) => s.walletId === w.id)
        .map((s) =>
          computeCost(components, {
            energyWh: s.maxSeen - s.meterStart,
            durationS: Math.floor((s.stopAt!.getTime() - s.start.getTime()) / 1000),
            settle: true,
          }).amount,
        );
      const wallet = await db.selectFrom('wallets').select('balance').where('id', '=', w.id).executeTakeFirstOrThrow();
      expect(wallet.balance, `wallet ${w.id} seed ${seed}`).toBe(w.credits - expectedCosts.reduce((a, b) => a + b, 0));
    }
    for (const s of sims) {
      const row = await db.selectFrom('sessions').select(['status', 'cost', 'debited']).where('transaction_id', '=', s.transactionId).executeTakeFirstOrThrow();
      expect(row.status).toBe('completed');
      expect(row.debited).toBe(row.cost);
    }
    await assertLedgerConsistent(db, wallets.map((w) => w.id));
  });
});
