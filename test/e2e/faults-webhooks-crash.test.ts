import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { childGateway } from '../helpers/child-gateway.ts';
import { eventually } from '../helpers/station.ts';
import { webhookReceiver } from '../helpers/webhook-receiver.ts';

/**
 * The outbox survives the process: events committed but not yet delivered (one in flight to a
 * receiver that has not answered, one waiting for a free slot) are delivered after a SIGKILL and
 * a restart, each with the webhook-id it was first sent with.
 */
describe('webhooks across a crash', () => {
  it('SIGKILL between commit and delivery: delivered after the restart', async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-webhook-crash-'));
    const receiver = await webhookReceiver();
    const gw = await childGateway({
      NODE_ID: `crash-${process.pid}`,
      WEBHOOK_POLL_INTERVAL_MS: '50',
      WEBHOOK_TIMEOUT_S: '120',
      WEBHOOK_CONCURRENCY: '1',
      ...(database.url ? { DATABASE_URL: database.url } : { DATA_DIR: dataDir }),
    });
    try {
      const org = (await gw.api('POST', '/v1/organizations', { name: 'Crash hooks' })).body;
      const hook = await gw.api('POST', '/v1/webhooks', { url: receiver.url, events: ['wallet.topped_up'], organization: org._id });
      expect(hook.status).toBe(201);
      receiver.useSecret(hook.body.secret);
      receiver.next('hang'); // the first delivery is in flight when the process dies

      const wallets: string[] = [];
      for (const amount of [111, 222]) {
        const user = (await gw.api('POST', '/v1/users', { firstname: 'C', lastname: 'H', email: `hook${amount}-${Date.now()}@example.com`, organization: org._id })).body;
        const wallet = (await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet;
        wallets.push(wallet._id);
        expect((await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount })).status).toBe(201);
        if (amount === 111) await eventually(() => receiver.requests.length === 1, 15_000);
      }
      // the second event is committed and waits: the one delivery slot is taken by the first
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.events).toHaveLength(0);
      const inFlight = receiver.requests[0]!.id;

      await gw.kill();
      await gw.restart();
      await eventually(() => receiver.events.length === 2, 30_000);
      expect(receiver.rejected).toEqual([]);
      expect(receiver.events.map((e) => e.data.amount).sort()).toEqual([111, 222]);
      expect(receiver.events.find((e) => e.data.amount === 111)!.id).toBe(inFlight);
      expect(receiver.events.map((e) => e.data.wallet).sort()).toEqual([...wallets].sort());
      const deliveries = await eventually(async () => {
        const list = (await gw.api('GET', `/v1/webhooks/${hook.body._id}/deliveries`)).body.data as any[];
        return list.every((d) => d.status === 'delivered') ? list : undefined;
      }, 10_000);
      expect(deliveries).toHaveLength(2);
    } finally {
      await gw.stop().catch(() => {});
      await receiver.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
