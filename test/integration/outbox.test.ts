import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { migratedDb, ON_POSTGRES, type MigratedDb } from '../helpers/db.ts';
import { createUser } from '../../src/domain/users/users.ts';
import { getOrCreateWallet } from '../../src/domain/wallets/wallets.ts';
import { postEntries } from '../../src/domain/wallets/ledger.ts';
import { emitEvents } from '../../src/domain/events/outbox.ts';
import { createWebhook } from '../../src/domain/events/webhooks.ts';
import { WebhookDispatcher } from '../../src/domain/events/dispatcher.ts';
import { deleteOldEvents } from '../../src/domain/events/retention.ts';
import { createLogger } from '../../src/logger.ts';

const clock = { now: () => new Date() };
let h: MigratedDb;
let n = 0;

beforeAll(async () => {
  h = await migratedDb();
});
afterAll(async () => {
  await h.dispose();
});

async function aWallet(balance: number) {
  n += 1;
  const user = await createUser(h.db, clock, { firstname: 'O', lastname: `B${n}`, email: `ob${n}-${Date.now()}@example.com` });
  const { wallet } = await getOrCreateWallet(h.db, clock, user.id);
  if (balance) await h.db.transaction().execute((tx) => postEntries(tx, [{ walletId: wallet.id, type: 'credit', amount: balance }], new Date()));
  return { wallet, user };
}

const eventsOf = (walletId: string) =>
  h.db.selectFrom('outbox_events').select(['type', 'data']).where('ordering_key', '=', `wallet:${walletId}`).orderBy('seq').execute();

describe(`the outbox on ${ON_POSTGRES ? 'PostgreSQL' : 'PGlite'}`, () => {
  it('the posting statement writes a crossing event once per crossing, none for debits that cross nothing', async () => {
    // the Default organization's minimum is 2000
    const { wallet, user } = await aWallet(2500);
    const post = (type: 'credit' | 'debit', amount: number) =>
      h.db.transaction().execute((tx) => postEntries(tx, [{ walletId: wallet.id, type, amount }], new Date()));
    await post('debit', 400); // 2100: nothing crossed
    expect(await eventsOf(wallet.id)).toEqual([]);
    await post('debit', 200); // 1900: below the minimum
    await post('debit', 100); // 1800: still below, nothing new
    await post('debit', 1800); // 0: depleted
    await post('debit', 5); // -5: already at zero, nothing new
    expect((await eventsOf(wallet.id)).map((e) => [e.type, e.data.balance])).toEqual([
      ['wallet.balance_low', 1900],
      ['wallet.depleted', 0],
    ]);
    expect((await eventsOf(wallet.id))[0]!.data).toEqual({
      wallet: wallet.id, user: user.id, balance: 1900, currency: 'USD', minimum_balance_to_start_session: 2000,
    });
    await post('credit', 3000); // 2995: back over both lines
    await h.db.transaction().execute((tx) =>
      postEntries(tx, [{ walletId: wallet.id, type: 'debit', amount: 3000 }], new Date()), // -5: both lines at once
    );
    expect((await eventsOf(wallet.id)).map((e) => e.type)).toEqual([
      'wallet.balance_low', 'wallet.depleted', 'wallet.balance_low', 'wallet.depleted',
    ]);
  });

  it('an event written in a transaction that rolls back is gone with it', async () => {
    const { wallet } = await aWallet(0);
    await expect(
      h.db.transaction().execute(async (tx) => {
        await emitEvents(tx, [{ type: 'wallet.topped_up', orderingKey: `wallet:${wallet.id}`, walletId: wallet.id, data: { x: 1 } }], new Date());
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await eventsOf(wallet.id)).toEqual([]);
  });

  it('fans an event out once, even with two dispatchers at it; retention keeps what is pending', async () => {
    const { wallet } = await aWallet(0);
    const { webhook } = await createWebhook(h.db, clock, { url: 'http://127.0.0.1:9/none', events: ['wallet.topped_up'] });
    const { webhook: other } = await createWebhook(h.db, clock, { url: 'http://127.0.0.1:9/none', events: ['wallet.depleted'] });
    await emitEvents(h.db, [{ type: 'wallet.topped_up', orderingKey: `wallet:${wallet.id}`, walletId: wallet.id, data: {} }], new Date());
    const options = { pollIntervalMs: 1000, concurrency: 1, timeoutMs: 1000, maxAttempts: 1, retryBaseMs: 10, retryMaxMs: 10, disableAfterFailures: 0 };
    const log = createLogger('silent');
    const a = new WebhookDispatcher({ db: h.db, clock, log, nodeId: 'a' }, options);
    const b = new WebhookDispatcher({ db: h.db, clock, log, nodeId: 'b' }, options);
    await Promise.all([a.fanOut(), b.fanOut(), a.fanOut()]);
    const deliveries = await h.db.selectFrom('webhook_deliveries').select(['webhook_id', 'ordering_key']).where('ordering_key', '=', `wallet:${wallet.id}`).execute();
    expect(deliveries).toEqual([{ webhook_id: webhook.id, ordering_key: `wallet:${wallet.id}` }]);
    expect(deliveries.some((d) => d.webhook_id === other.id)).toBe(false);

    // age everything: the pending delivery keeps its event; once it is done, both go
    await sql`update outbox_events set created_at = now() - interval '40 days' where ordering_key = ${`wallet:${wallet.id}`}`.execute(h.db);
    await deleteOldEvents(h.db, 30);
    expect(await eventsOf(wallet.id)).toHaveLength(1);
    await h.db.updateTable('webhook_deliveries').set({ status: 'failed' }).where('ordering_key', '=', `wallet:${wallet.id}`).execute();
    await deleteOldEvents(h.db, 30);
    expect(await eventsOf(wallet.id)).toEqual([]);
    expect(await h.db.selectFrom('webhook_deliveries').select('id').where('ordering_key', '=', `wallet:${wallet.id}`).execute()).toEqual([]);
  });
});
