import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db, Tx } from '../../src/db/index.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { createUser } from '../../src/domain/users/users.ts';
import { getOrCreateWallet } from '../../src/domain/wallets/wallets.ts';
import { LEDGER_DEBITED, postEntries } from '../../src/domain/wallets/ledger.ts';
import { onCommitted } from '../../src/db/after-commit.ts';
import { createManualTopUp } from '../../src/domain/wallets/top-ups.ts';
import { migratedDb, ON_POSTGRES, type MigratedDb } from '../helpers/db.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));
let n = 0;
async function aWallet(db: Db) {
  n += 1;
  const user = await createUser(db, clock, { firstname: 'L', lastname: `W${n}`, email: `l${n}-${Date.now()}@example.com` });
  return (await getOrCreateWallet(db, clock, user.id)).wallet;
}

/** One posting (a batch of one), and the entry it wrote. */
async function applyEntry(tx: Tx, walletId: string, type: 'credit' | 'debit', amount: number, refs: { sessionId?: string }, at: Date) {
  const { entries } = await postEntries(tx, [{ walletId, type, amount, ...refs }], at);
  const entry = await tx.selectFrom('ledger_entries').selectAll().where('id', '=', entries[0]!.id).executeTakeFirstOrThrow();
  return { entry, balanceAfter: entries[0]!.balanceAfter };
}

describe(`ledger on ${ON_POSTGRES ? 'PostgreSQL' : 'PGlite'}`, () => {
  let h: MigratedDb;
  beforeAll(async () => {
    h = await migratedDb();
  });
  afterAll(async () => {
    await h.dispose();
  });

  it('a credit and a debit move the balance and append entries with balance_after', async () => {
    const w = await aWallet(h.db);
    await h.db.transaction().execute(async (tx) => {
      const c = await applyEntry(tx, w.id, 'credit', 1000, {}, clock.now());
      expect(c.balanceAfter).toBe(1000);
      const d = await applyEntry(tx, w.id, 'debit', 1234, { sessionId: 'S1' }, clock.now());
      expect(d.balanceAfter).toBe(-234); // a debit may take the balance below zero
      expect(d.entry).toMatchObject({ type: 'debit', amount: 1234, balance_after: -234, session_id: 'S1' });
    });
    await assertLedgerConsistent(h.db, [w.id]);
  });

  it('a batch of postings over several wallets: exact running balance_after, seq in posting order, wallets left at or below zero named', async () => {
    const [a, b, c] = [await aWallet(h.db), await aWallet(h.db), await aWallet(h.db)];
    await h.db.transaction().execute((tx) =>
      postEntries(tx, [{ walletId: a.id, type: 'credit', amount: 100 }, { walletId: b.id, type: 'credit', amount: 50 }], clock.now()),
    );
    const result = await h.db.transaction().execute((tx) =>
      postEntries(
        tx,
        [
          { walletId: b.id, type: 'debit', amount: 30, sessionId: 'S1' },
          { walletId: a.id, type: 'debit', amount: 60, sessionId: 'S2' },
          { walletId: b.id, type: 'debit', amount: 30, sessionId: 'S3' },
          { walletId: a.id, type: 'debit', amount: 10, sessionId: 'S4' },
          { walletId: c.id, type: 'credit', amount: 5 },
        ],
        clock.now(),
      ),
    );
    expect(result.entries.map((e) => [e.walletId, e.balanceAfter])).toEqual([
      [b.id, 20],
      [a.id, 40],
      [b.id, -10],
      [a.id, 30],
      [c.id, 5],
    ]);
    expect(result.walletsAtZero).toEqual([b.id]);
    const bEntries = await h.db.selectFrom('ledger_entries').select(['session_id', 'balance_after']).where('wallet_id', '=', b.id).orderBy('seq').execute();
    expect(bEntries).toEqual([
      { session_id: null, balance_after: 50 },
      { session_id: 'S1', balance_after: 20 },
      { session_id: 'S3', balance_after: -10 },
    ]);
    await assertLedgerConsistent(h.db, [a.id, b.id, c.id]);
  });

  it('reports each wallet it moved with its balance before and after the batch (what crossed a threshold is the caller\'s to see)', async () => {
    const a = await aWallet(h.db);
    const b = await aWallet(h.db);
    const { moved } = await h.db.transaction().execute(async (tx) => {
      await postEntries(tx, [{ walletId: a.id, type: 'credit', amount: 500 }], clock.now());
      return postEntries(
        tx,
        [
          { walletId: a.id, type: 'debit', amount: 200 },
          { walletId: b.id, type: 'credit', amount: 50 },
          { walletId: a.id, type: 'debit', amount: 250 },
        ],
        clock.now(),
      );
    });
    expect(moved).toEqual(
      expect.arrayContaining([
        { walletId: a.id, before: 500, after: 50 },
        { walletId: b.id, before: 0, after: 50 },
      ]),
    );
    expect(moved).toHaveLength(2);
  });

  it('a posting to a wallet that does not exist fails the whole transaction', async () => {
    const w = await aWallet(h.db);
    await expect(
      h.db.transaction().execute((tx) =>
        postEntries(tx, [{ walletId: w.id, type: 'credit', amount: 10 }, { walletId: 'no-such-wallet', type: 'credit', amount: 10 }], clock.now()),
      ),
    ).rejects.toMatchObject({ code: 'not_found' });
    expect(await h.db.selectFrom('ledger_entries').select('id').where('wallet_id', '=', w.id).execute()).toHaveLength(0);
  });

  it('a rolled-back transaction leaves neither the balance nor an entry behind', async () => {
    const w = await aWallet(h.db);
    await expect(
      h.db.transaction().execute(async (tx) => {
        await applyEntry(tx, w.id, 'credit', 500, {}, clock.now());
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const after = await h.db.selectFrom('wallets').select('balance').where('id', '=', w.id).executeTakeFirstOrThrow();
    expect(after.balance).toBe(0);
    expect(await h.db.selectFrom('ledger_entries').select('id').where('wallet_id', '=', w.id).execute()).toHaveLength(0);
  });

  it('reports the debits a transaction wrote once it commits, never those of a rollback', async () => {
    const w = await aWallet(h.db);
    const seen: { entries: number; cents: number }[] = [];
    const errors: unknown[] = [];
    const stop = onCommitted(h.db, LEDGER_DEBITED, (d) => seen.push(d), (err) => errors.push(err));
    try {
      await h.db.transaction().execute(async (tx) => {
        await postEntries(tx, [{ walletId: w.id, type: 'credit', amount: 1_000 }], clock.now()); // a credit is no debit
        await postEntries(tx, [{ walletId: w.id, type: 'debit', amount: 300, sessionId: 'S1' }, { walletId: w.id, type: 'debit', amount: 25 }], clock.now());
        await postEntries(tx, [{ walletId: w.id, type: 'debit', amount: 7 }], clock.now());
        expect(seen).toEqual([]); // not before the commit
      });
      expect(seen).toEqual([{ entries: 2, cents: 325 }, { entries: 1, cents: 7 }]);

      await expect(
        h.db.transaction().execute(async (tx) => {
          await postEntries(tx, [{ walletId: w.id, type: 'debit', amount: 50 }], clock.now());
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      await expect(
        h.db.transaction().execute((tx) =>
          postEntries(tx, [{ walletId: w.id, type: 'debit', amount: 60 }, { walletId: 'no-such-wallet', type: 'debit', amount: 1 }], clock.now()),
        ),
      ).rejects.toMatchObject({ code: 'not_found' });
      expect(seen).toHaveLength(2);

      // A listener's failure is reported, and the committed transaction still succeeds.
      const stopFailing = onCommitted(h.db, LEDGER_DEBITED, () => { throw new Error('listener bug'); }, (err) => errors.push(err));
      await h.db.transaction().execute((tx) => postEntries(tx, [{ walletId: w.id, type: 'debit', amount: 1 }], clock.now()));
      stopFailing();
      expect(errors).toHaveLength(1);
      expect(seen).toHaveLength(3);

      const debits = await h.db.selectFrom('ledger_entries').select('amount').where('wallet_id', '=', w.id).where('type', '=', 'debit').execute();
      expect(debits.reduce((s, e) => s + e.amount, 0)).toBe(seen.reduce((s, d) => s + d.cents, 0));
    } finally {
      stop();
    }
  });

  it('refuses zero, negative and fractional amounts', async () => {
    const w = await aWallet(h.db);
    for (const amount of [0, -1, 1.5, Number.NaN]) {
      await expect(h.db.transaction().execute((tx) => applyEntry(tx, w.id, 'credit', amount, {}, clock.now()))).rejects.toThrow(RangeError);
    }
  });

  it('entries cannot be updated or deleted', async () => {
    const w = await aWallet(h.db);
    await createManualTopUp(h.db, clock, { wallet: w.id, amount: 100 });
    await expect(sql`update ledger_entries set amount = 1 where wallet_id = ${w.id}`.execute(h.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from ledger_entries where wallet_id = ${w.id}`.execute(h.db)).rejects.toThrow(/append-only/);
  });

  it('top-up idempotency: one credit per key, conflict on another body, a debt is paid first', async () => {
    const w = await aWallet(h.db);
    await h.db.transaction().execute((tx) => applyEntry(tx, w.id, 'debit', 300, {}, clock.now()));
    const idem = { key: 'abc' };
    const a = await createManualTopUp(h.db, clock, { wallet: w.id, amount: 1000 }, idem);
    const b = await createManualTopUp(h.db, clock, { wallet: w.id, amount: 1000 }, idem);
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, topUp: { id: a.topUp.id } });
    await expect(createManualTopUp(h.db, clock, { wallet: w.id, amount: 999 }, idem)).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    // keys are scoped to the wallet's organization, not to the API key that sent them: a retry
    // through another key of the tenant is the same request
    const c = await createManualTopUp(h.db, clock, { wallet: w.id, amount: 1000 }, { key: 'abc' });
    expect(c).toMatchObject({ created: false, topUp: { id: a.topUp.id } });
    const d = await createManualTopUp(h.db, clock, { wallet: w.id, amount: 1000 }, { key: 'abd' });
    expect(d.created).toBe(true);
    const bal = await h.db.selectFrom('wallets').select('balance').where('id', '=', w.id).executeTakeFirstOrThrow();
    expect(bal.balance).toBe(-300 + 1000 + 1000);
    await assertLedgerConsistent(h.db, [w.id]);
  });

  it('concurrent credits and debits on shared wallets lose nothing', async () => {
    const wallets = await Promise.all([aWallet(h.db), aWallet(h.db), aWallet(h.db)]);
    const ops: { wallet: string; type: 'credit' | 'debit'; amount: number }[] = [];
    for (let i = 0; i < 150; i++) {
      ops.push({ wallet: wallets[i % 3]!.id, type: i % 4 === 0 ? 'credit' : 'debit', amount: 1 + ((i * 37) % 500) });
    }
    await Promise.all(
      ops.map((op) => h.db.transaction().execute((tx) => applyEntry(tx, op.wallet, op.type, op.amount, {}, clock.now()))),
    );
    for (const w of wallets) {
      const expected = ops
        .filter((o) => o.wallet === w.id)
        .reduce((sum, o) => sum + (o.type === 'credit' ? o.amount : -o.amount), 0);
      const got = await h.db.selectFrom('wallets').select('balance').where('id', '=', w.id).executeTakeFirstOrThrow();
      expect(got.balance).toBe(expected);
      const count = await h.db.selectFrom('ledger_entries').select(sql<number>`count(*)::int`.as('n')).where('wallet_id', '=', w.id).executeTakeFirstOrThrow();
      expect(count.n).toBe(ops.filter((o) => o.wallet === w.id).length);
    }
    await assertLedgerConsistent(h.db, wallets.map((w) => w.id));
  });

  it('concurrent idempotent top-ups with one key credit once', async () => {
    const w = await aWallet(h.db);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => createManualTopUp(h.db, clock, { wallet: w.id, amount: 250 }, { key: 'same' })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.topUp.id)).size).toBe(1);
    const bal = await h.db.selectFrom('wallets').select('balance').where('id', '=', w.id).executeTakeFirstOrThrow();
    expect(bal.balance).toBe(250);
  });

  it('concurrent first wallet calls create one wallet', async () => {
    const user = await createUser(h.db, clock, { firstname: 'C', lastname: 'C', email: `c-${Date.now()}@example.com` });
    const got = await Promise.all(Array.from({ length: 8 }, () => getOrCreateWallet(h.db, clock, user.id)));
    expect(new Set(got.map((g) => g.wallet.id)).size).toBe(1);
  });

  it('runs on the database of this test pass', () => {
    expect(h.kind).toBe(ON_POSTGRES ? 'postgres' : 'pglite');
  });
});

describe.skipIf(!ON_POSTGRES)('ledger under a burst on PostgreSQL (pool of 10 connections)', () => {
  it('1,000 concurrent credits and debits across 10 wallets: balances equal the sum of entries, none lost', async () => {
    const h = await migratedDb('postgres');
    try {
      const wallets = await Promise.all(Array.from({ length: 10 }, () => aWallet(h.db)));
      const ops = Array.from({ length: 1000 }, (_, i) => ({
        wallet: wallets[(i * 7) % 10]!.id,
        type: (i % 3 === 0 ? 'credit' : 'debit') as 'credit' | 'debit',
        amount: 1 + ((i * 7919) % 997),
      }));
      const settled = await Promise.allSettled(
        ops.map((op) => h.db.transaction().execute((tx) => applyEntry(tx, op.wallet, op.type, op.amount, {}, clock.now()))),
      );
      expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(0);
      const total = await h.db.selectFrom('ledger_entries').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
      expect(total.n).toBe(1000);
      for (const w of wallets) {
        const expected = ops.filter((o) => o.wallet === w.id).reduce((s, o) => s + (o.type === 'credit' ? o.amount : -o.amount), 0);
        const got = await h.db.selectFrom('wallets').select('balance').where('id', '=', w.id).executeTakeFirstOrThrow();
        expect(got.balance).toBe(expected);
      }
      await assertLedgerConsistent(h.db, wallets.map((w) => w.id));
    } finally {
      await h.dispose();
    }
  });
});
