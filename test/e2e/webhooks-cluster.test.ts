import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { createTestDatabase, ON_POSTGRES, type TestDatabase } from '../helpers/db.ts';
import { aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

/** Two gateways on one PostgreSQL: every node dispatches, each delivery is sent by one of them. */
describe.skipIf(!ON_POSTGRES)('webhooks in a cluster (needs PostgreSQL: set DATABASE_URL)', () => {
  let database: TestDatabase;
  let a: TestGateway;
  let b: TestGateway;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = { WEBHOOK_POLL_INTERVAL_MS: '20', WEBHOOK_CONCURRENCY: '4', WEBHOOK_TIMEOUT_S: '60' };
    a = await startGateway({ database, env: { ...env, NODE_ID: 'hooks-a' } });
    b = await startGateway({ database, env: { ...env, NODE_ID: 'hooks-b' } });
    receiver = await webhookReceiver();
    receiver.always({ status: 200, delayMs: 20 });
  });
  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop(), receiver?.close()]);
    await database?.drop();
  });

  it('delivers each event once, in order per wallet, whichever node committed it', async () => {
    const org = await anOrganization(a);
    const hook = await a.api('POST', '/v1/webhooks', { url: receiver.url, events: ['wallet.topped_up'], organization: org._id });
    receiver.useSecret(hook.body.secret);
    const wallets = await Promise.all([1, 2, 3, 4].map(() => aUserWithWallet(a, { organization: org._id })));
    const amounts = Array.from({ length: 10 }, (_, i) => i + 1);
    // each wallet topped up 10 times, alternately through either node
    await Promise.all(
      wallets.map(async ({ wallet }) => {
        for (const amount of amounts) await topUp(amount % 2 ? a : b, wallet._id, amount);
      }),
    );
    await eventually(() => receiver.events.length >= 40, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.events).toHaveLength(40);
    expect(new Set(receiver.events.map((e) => e.id)).size).toBe(40);
    for (const { wallet } of wallets) {
      expect(receiver.events.filter((e) => e.data.wallet === wallet._id).map((e) => e.data.amount)).toEqual(amounts);
    }
    const nodes = await a.app.db.selectFrom('webhook_attempts').select('node_id').distinct().execute();
    expect(nodes.map((n) => n.node_id).every((n) => n === 'hooks-a' || n === 'hooks-b')).toBe(true);
  });

  it('a node that stops hands its deliveries in flight back: another node sends them at once', async () => {
    const org = await anOrganization(a);
    const slow = await webhookReceiver();
    try {
      const hook = await a.api('POST', '/v1/webhooks', { url: slow.url, events: ['wallet.topped_up'], organization: org._id });
      slow.useSecret(hook.body.secret);
      slow.next('hang');
      await aUserWithWallet(a, { organization: org._id, balance: 77 });
      await eventually(() => slow.requests.length === 1, 10_000);
      const holder = await eventually(async () => {
        const row = await a.app.db.selectFrom('webhook_deliveries').select('locked_by').where('webhook_id', '=', hook.body._id).executeTakeFirst();
        return row?.locked_by ?? undefined;
      });
      const [stopping, staying] = holder === 'hooks-a' ? [a, b] : [b, a];
      const t0 = Date.now();
      await stopping.app.stop();
      // the lease would last WEBHOOK_TIMEOUT_S + 5 s = 65 s; handed back, it goes out within a poll or two
      await eventually(() => slow.events.length === 1, 10_000);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(slow.events[0]!.id).toBe(slow.requests[0]!.id);
      // the abandoned attempt is not recorded; the one that succeeded is, by the node that stayed
      const rows = await eventually(async () => {
        const found = await staying.app.db.selectFrom('webhook_attempts as t').innerJoin('webhook_deliveries as d', 'd.id', 't.delivery_id')
          .select('t.node_id').where('d.webhook_id', '=', hook.body._id).execute();
        return found.length ? found : undefined;
      });
      expect(rows.map((r) => r.node_id)).toEqual([staying.app.config.nodeId]);
    } finally {
      await slow.close();
    }
  });
});
