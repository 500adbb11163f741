import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { aCharger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

let gw: TestGateway;
let receiver: WebhookReceiver;
let org: { _id: string };

beforeAll(async () => {
  // This charger sends its registers milliseconds apart, a power no station has: the predictive
  // stop (on by default) would rightly stop the session ahead of zero. Auto top-up is about what
  // happens without it; test/e2e-sim/predictive-stop.test.ts has a top-up that cancels a predicted stop.
  gw = await startGateway({ env: { WEBHOOK_POLL_INTERVAL_MS: '50', PREDICTIVE_STOP: 'off' } });
  org = await anOrganization(gw, { minimum_balance_to_start_session: 200 });
  receiver = await webhookReceiver();
  const hook = await gw.api('POST', '/v1/webhooks', { url: receiver.url, events: ['wallet.auto_top_up_requested'], organization: org._id });
  receiver.useSecret(hook.body.secret);
});
afterAll(async () => {
  await receiver.close();
  await gw.stop();
});

const requestsFor = (wallet: string) => receiver.ofType('wallet.auto_top_up_requested').filter((e) => e.data.wallet === wallet);

describe('auto top-up', () => {
  it('PATCH sets it and answers the user with its wallet, as GET does', async () => {
    const { user } = await aUserWithWallet(gw, { organization: org._id });
    const res = await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { active: true, payment_method: 'pm_1', amount: 2500 } });
    expect(res.status).toBe(200);
    const get = await gw.api('GET', `/v1/users/${user._id}/wallet`);
    expect(res.body).toEqual(get.body);
    expect(Object.keys(res.body.wallet)).toEqual(['_id', 'test_mode', 'balance', 'currency', 'auto_top_up', 'createdAt', 'updatedAt']);
    expect(res.body.wallet.auto_top_up).toEqual({ active: true, payment_method: 'pm_1', amount: 2500 });
    // merged: only the threshold changes
    const t = await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { threshold: 700 } });
    expect(t.body.wallet.auto_top_up).toEqual({ active: true, payment_method: 'pm_1', amount: 2500, threshold: 700 });
    const back = await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { threshold: null, active: false } });
    expect(back.body.wallet.auto_top_up).toEqual({ active: false, payment_method: 'pm_1', amount: 2500 });
    // an active auto top-up needs a payment method and an amount; the gateway holds no card data
    expect((await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { active: true, payment_method: null } })).status).toBe(400);
    expect((await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { active: true, amount: 0 } })).status).toBe(400);
    expect((await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { card_number: '4242' } })).status).toBe(400);
    expect((await gw.api('PATCH', `/v1/users/0123456789abcdef01234567/wallet`, { auto_top_up: { active: false } })).status).toBe(404);
  });

  it('asks once per crossing of the threshold; the payment service tops up with the request id; it asks again after the next crossing', async () => {
    // 1000 c/kWh = 1 c per Wh (small registers stay plausible for the station's power); the threshold defaults to the organization's minimum (200)
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 1000 }] });
    const station = await aStation(gw, { rate: rate._id, organization: org._id });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
    try {
      const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 400 });
      await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { active: true, payment_method: 'pm_visa', amount: 1000 } });
      const { transactionId } = await charger.start(token.physicalId, 0);
      await charger.meter(transactionId, 100); // 100 c → 300
      await charger.meter(transactionId, 250); // 250 c → 150: crossed 200
      await charger.meter(transactionId, 300); // 300 c → 100: still below, no second request
      const [first] = await eventually(() => (requestsFor(wallet._id).length ? requestsFor(wallet._id) : undefined), 10_000);
      expect(first!.data).toMatchObject({ wallet: wallet._id, user: user._id, amount: 1000, payment_method: 'pm_visa', threshold: 200, balance: 150 });

      // the payment service charged the card: an auto top-up, idempotent on the request id
      const body = { type: 'auto', wallet: wallet._id, amount: first!.data.amount };
      const key = { 'idempotency-key': first!.data.request_id };
      const paid = await gw.api('POST', '/v1/top_up', body, key);
      expect(paid.status).toBe(201);
      expect(paid.body).toMatchObject({ type: 'auto', amount: 1000, wallet_amount: 1000, status: 'completed' });
      const again = await gw.api('POST', '/v1/top_up', body, key);
      expect(again.body._id).toBe(paid.body._id);
      expect((await gw.api('POST', '/v1/top_up', { type: 'auto', wallet: wallet._id, amount: 1000 })).status).toBe(400);
      expect((await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(1100);

      // the session runs on; the next fall below 200 asks again, with a new request id
      await charger.meter(transactionId, 1250); // 1250 c → 150
      await eventually(() => requestsFor(wallet._id).length === 2, 10_000);
      const second = requestsFor(wallet._id)[1]!;
      expect(second.data.request_id).not.toBe(first!.data.request_id);
      expect(second.data.balance).toBe(150);
      expect(charger.remoteStops).toEqual([]);
      await charger.stop(transactionId, 1250);
      await new Promise((r) => setTimeout(r, 200));
      expect(requestsFor(wallet._id)).toHaveLength(2);
      await assertLedgerConsistent(gw.app.db, [wallet._id]);
    } finally {
      await charger.close();
    }
  });

  it('asks at once when switched on below the threshold, and not for a wallet without auto top-up', async () => {
    const { user, wallet } = await aUserWithWallet(gw, { organization: org._id, balance: 50 });
    const plain = await aUserWithWallet(gw, { organization: org._id, balance: 50 });
    await gw.api('PATCH', `/v1/users/${plain.user._id}/wallet`, { auto_top_up: { active: false, payment_method: 'pm_x', amount: 300 } });
    await gw.api('PATCH', `/v1/users/${user._id}/wallet`, { auto_top_up: { active: true, payment_method: 'pm_x', amount: 300 } });
    const [req] = await eventually(() => (requestsFor(wallet._id).length ? requestsFor(wallet._id) : undefined), 10_000);
    expect(req!.data).toMatchObject({ balance: 50, amount: 300, threshold: 200 });
    await topUp(gw, plain.wallet._id, 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(requestsFor(plain.wallet._id)).toEqual([]);
  });
});
