import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';
import { postEntries } from '../../src/domain/wallets/ledger.ts';
import { EVENT_TYPES } from '../../src/domain/events/types.ts';

let gw: TestGateway;
const receivers: WebhookReceiver[] = [];
const chargers: Charger[] = [];

beforeAll(async () => {
  gw = await startGateway({
    env: {
      WEBHOOK_POLL_INTERVAL_MS: '50',
      WEBHOOK_RETRY_BASE_MS: '100',
      WEBHOOK_RETRY_MAX_MS: '300',
      WEBHOOK_TIMEOUT_S: '1',
      WEBHOOK_MAX_ATTEMPTS: '6',
      WEBHOOK_DISABLE_AFTER_FAILURES: '4',
    },
    stopRetryDelaysMs: [50, 50],
  });
});
afterEach(async () => {
  await Promise.allSettled(chargers.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.allSettled(receivers.map((r) => r.close()));
  await gw.stop();
});

/** An organization of its own with an endpoint for `events`, and a receiver verifying its signatures. */
async function anEndpoint(events: string[] = ['*'], orgOver: Record<string, unknown> = {}) {
  const org = await anOrganization(gw, orgOver);
  const receiver = await webhookReceiver();
  receivers.push(receiver);
  const res = await gw.api('POST', '/v1/webhooks', { url: receiver.url, events, organization: org._id });
  expect(res.status).toBe(201);
  expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
  receiver.useSecret(res.body.secret);
  return { org, receiver, webhook: res.body as { _id: string } };
}

const deliveriesOf = async (webhookId: string) => (await gw.api('GET', `/v1/webhooks/${webhookId}/deliveries?limit=200`)).body.data as any[];
/** The receiver counts a delivery before the gateway has recorded its answer: wait for the record. */
const allDelivered = (webhookId: string, n: number) =>
  eventually(async () => {
    const list = await deliveriesOf(webhookId);
    return list.length === n && list.every((d) => d.status === 'delivered') ? list : undefined;
  }, 10_000);

describe('webhooks: every event, signed, in order', () => {
  it('sends each event type of a session that runs to zero, fails to stop, is stopped, and is topped up automatically', async () => {
    const { org, receiver } = await anEndpoint(['*'], { minimum_balance_to_start_session: 100 });
    // 50 c/kWh = 1 c per 20 Wh
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
    const station = await aStation(gw, { rate: rate._id, organization: org._id });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id, { stopPolicy: 'Rejected' });
    chargers.push(charger);
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 300 });
    const patched = await gw.api('PATCH', `/v1/users/${user._id}/wallet`, {
      auto_top_up: { active: true, payment_method: 'pm_card_4242', amount: 500, threshold: 150 },
    });
    expect(patched.status).toBe(200);

    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 2000); // 100 c → 200 left
    await charger.meter(transactionId, 3200); // 160 c → 140: below the auto top-up threshold (150)
    await charger.meter(transactionId, 4200); // 210 c → 90: below the organization's minimum (100)
    await charger.meter(transactionId, 6200); // 310 c → -10: depleted, stop sent (and refused)
    await charger.waitForStop(transactionId);
    await eventually(() => receiver.ofType('session.stop_failed').length === 1, 10_000);
    await charger.stop(transactionId, 6400); // settled: 320 c

    const request = (await eventually(() => receiver.ofType('wallet.auto_top_up_requested')[0], 10_000)).data;
    const auto = await gw.api('POST', '/v1/top_up', { type: 'auto', wallet: wallet._id, amount: request.amount }, { 'idempotency-key': request.request_id });
    expect(auto.status).toBe(201);
    await charger.close();
    chargers.splice(0);

    await eventually(() => EVENT_TYPES.every((t) => receiver.ofType(t).length > 0), 10_000);
    expect(receiver.rejected).toEqual([]);
    expect(new Set(receiver.events.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));

    const one = (type: string) => {
      const list = receiver.ofType(type);
      expect(list, type).toHaveLength(type === 'wallet.topped_up' ? 2 : 1);
      return list[0]!;
    };
    expect(one('chargestation.connected').data).toMatchObject({ chargestation: station._id, ocpp_id: station.ocpp_id });
    expect(one('chargestation.disconnected').data).toMatchObject({ chargestation: station._id });
    expect(one('session.started').data).toMatchObject({ transaction_id: transactionId, chargestation: station._id, wallet: wallet._id, user: user._id, meter_start: 0 });
    expect(one('session.stopped').data).toMatchObject({
      transaction_id: transactionId,
      energy_wh: 6400,
      cost: { amount: 320, currency: 'USD' },
      termination: 'insufficient_balance',
      stop_reason: 'Local',
    });
    expect(one('session.stop_failed').data).toMatchObject({ transaction_id: transactionId, chargestation: station._id });
    expect(one('alert.created').data).toMatchObject({ kind: 'remote_stop_failed', chargestation: station._id });
    expect(one('wallet.balance_low').data).toMatchObject({ wallet: wallet._id, user: user._id, balance: 90, minimum_balance_to_start_session: 100 });
    expect(one('wallet.depleted').data).toMatchObject({ wallet: wallet._id, balance: -10 });
    expect(request).toMatchObject({ wallet: wallet._id, user: user._id, amount: 500, payment_method: 'pm_card_4242', threshold: 150, balance: 140 });
    expect(request.request_id).toMatch(/^[0-9a-f]{24}$/);
    const [manual, automatic] = receiver.ofType('wallet.topped_up');
    expect(manual!.data).toMatchObject({ type: 'manual', amount: 300, balance: 300 });
    expect(automatic!.data).toMatchObject({ type: 'auto', amount: 500, balance: 500 - 20, request_id: request.request_id });

    // Order per wallet and per session, as the changes happened.
    const order = (types: string[]) => receiver.events.filter((e) => types.includes(e.type)).map((e) => e.type);
    expect(order(['wallet.topped_up', 'wallet.auto_top_up_requested', 'wallet.balance_low', 'wallet.depleted'])).toEqual([
      'wallet.topped_up',
      'wallet.auto_top_up_requested',
      'wallet.balance_low',
      'wallet.depleted',
      'wallet.topped_up',
    ]);
    expect(order(['session.started', 'session.stop_failed', 'session.stopped'])).toEqual(['session.started', 'session.stop_failed', 'session.stopped']);
    // Body: {type, timestamp, data}; the webhook-id is the event's id, unique per event.
    expect(new Set(receiver.events.map((e) => e.id)).size).toBe(receiver.events.length);
    for (const e of receiver.events) expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false);
  });

  it('sends only the event types an endpoint asked for, and only its organization\'s', async () => {
    const { org, receiver } = await anEndpoint(['wallet.topped_up']);
    const other = await anEndpoint(['*']);
    const { wallet } = await aUserWithWallet(gw, { organization: org._id, balance: 123 });
    const station = await aStation(gw, { organization: org._id });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
    chargers.push(charger);
    await eventually(() => receiver.events.length === 1, 10_000);
    // a later marker in the other organization proves the dispatcher has moved past both
    await aUserWithWallet(gw, { organization: other.org._id, balance: 7 });
    await eventually(() => other.receiver.ofType('wallet.topped_up').length === 1, 10_000);
    expect(receiver.events.map((e) => [e.type, e.data.wallet])).toEqual([['wallet.topped_up', wallet._id]]);
    expect(other.receiver.events.map((e) => e.data.amount)).toEqual([7]);
  });
});

describe('webhooks: retries, timeouts, replay, disabling', () => {
  it('retries after 500s with backoff and records every attempt', async () => {
    const { org, receiver, webhook } = await anEndpoint();
    receiver.next({ status: 500 }, { status: 503 });
    await aUserWithWallet(gw, { organization: org._id, balance: 50 });
    await eventually(() => receiver.events.length === 1, 10_000);
    const [d] = await allDelivered(webhook._id, 1);
    expect(d).toMatchObject({ status: 'delivered', attempts: 3, last_status_code: 200, event: { type: 'wallet.topped_up' } });
    expect(d.attempt_log.map((a: any) => a.status_code)).toEqual([500, 503, 200]);
    const [r1, r2, r3] = receiver.requests;
    expect(new Set([r1!.id, r2!.id, r3!.id]).size).toBe(1);
    // backoff: the second wait is longer than the first (100 ms, then 200 ms, ±20 %)
    expect(r2!.at - r1!.at).toBeGreaterThanOrEqual(70);
    expect(r3!.at - r2!.at).toBeGreaterThanOrEqual(150);
  });

  it('treats a receiver that does not answer in time as a failure and tries again', async () => {
    const { org, receiver, webhook } = await anEndpoint();
    receiver.next({ status: 200, delayMs: 1600 }); // WEBHOOK_TIMEOUT_S=1
    await aUserWithWallet(gw, { organization: org._id, balance: 51 });
    await eventually(async () => (await deliveriesOf(webhook._id))[0]?.status === 'delivered', 10_000);
    const [d] = await deliveriesOf(webhook._id);
    expect(d.attempts).toBe(2);
    expect(d.attempt_log[0]).toMatchObject({ status_code: null });
    expect(d.attempt_log[0].error).toMatch(/no answer within 1000 ms/);
    expect(d.attempt_log[1]).toMatchObject({ status_code: 200, error: null });
  });

  it('keeps the order of one wallet\'s events while the first one is being retried', async () => {
    const { org, receiver } = await anEndpoint();
    receiver.next({ status: 500 }, { status: 500 });
    const { wallet } = await aUserWithWallet(gw, { organization: org._id, balance: 10 });
    await topUp(gw, wallet._id, 20);
    await topUp(gw, wallet._id, 30);
    await eventually(() => receiver.events.length === 3, 10_000);
    expect(receiver.events.map((e) => e.data.amount)).toEqual([10, 20, 30]);
    expect(receiver.requests.slice(0, 3).map((r) => r.status)).toEqual([500, 500, 200]);
  });

  it('replays a delivered delivery with the same webhook-id', async () => {
    const { org, receiver, webhook } = await anEndpoint();
    await aUserWithWallet(gw, { organization: org._id, balance: 52 });
    await eventually(() => receiver.events.length === 1, 10_000);
    const [first] = await allDelivered(webhook._id, 1);
    const replay = await gw.api('POST', `/v1/webhooks/${webhook._id}/deliveries/${first._id}/retry`);
    expect(replay.status).toBe(202);
    expect(replay.body._id).not.toBe(first._id);
    expect(replay.body.event._id).toBe(first.event._id);
    await eventually(() => receiver.events.length === 2, 10_000);
    expect(receiver.events[1]!.id).toBe(receiver.events[0]!.id);
    const all = await allDelivered(webhook._id, 2);
    expect(new Set(all.map((d) => d.event._id)).size).toBe(1);
    // another endpoint's delivery is not reachable through this one
    const unknown = await gw.api('POST', `/v1/webhooks/${webhook._id}/deliveries/0123456789abcdef01234567/retry`);
    expect(unknown.status).toBe(404);
  });

  it('disables an endpoint that keeps failing, with an alert; switched on again, it delivers what waited', async () => {
    const { org, receiver, webhook } = await anEndpoint();
    receiver.always({ status: 500 });
    await aUserWithWallet(gw, { organization: org._id, balance: 53 });
    const disabled = await eventually(async () => {
      const w = (await gw.api('GET', `/v1/webhooks/${webhook._id}`)).body;
      return w.active === false ? w : undefined;
    }, 10_000);
    expect(disabled).toMatchObject({ consecutive_failures: 4 });
    expect(disabled.disabled_at).not.toBeNull();
    expect(disabled.disabled_reason).toMatch(/4 failed attempts in a row/);
    const alerts = (await gw.api('GET', '/v1/alerts?kind=webhook_disabled&limit=200')).body.data as any[];
    const alert = alerts.find((a) => a.details?.webhook === webhook._id);
    expect(alert).toBeDefined();
    // the endpoint's query string (often a token) is not in the alert
    expect(JSON.stringify(alert)).not.toContain('not-for-logs');
    expect(gw.logs.join('\n')).not.toContain('not-for-logs');
    const requestsWhenDisabled = receiver.requests.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(receiver.requests.length).toBe(requestsWhenDisabled);

    receiver.always({ status: 200 });
    const on = await gw.api('PATCH', `/v1/webhooks/${webhook._id}`, { active: true });
    expect(on.body).toMatchObject({ active: true, consecutive_failures: 0, disabled_at: null });
    await eventually(() => receiver.events.length === 1, 10_000);
    const [d] = await allDelivered(webhook._id, 1);
    expect(d).toMatchObject({ status: 'delivered', attempts: 5 });
  });
});

describe('webhooks: the outbox is transactional', () => {
  it('sends no event for a change that rolled back, and the event of the same change once it commits', async () => {
    const { org, receiver } = await anEndpoint(['wallet.depleted', 'wallet.topped_up'], { minimum_balance_to_start_session: 0 });
    const { wallet } = await aUserWithWallet(gw, { organization: org._id, balance: 50 });
    const db = gw.app.db;
    const now = new Date();
    await expect(
      db.transaction().execute(async (tx) => {
        const posted = await postEntries(tx, [{ walletId: wallet._id, type: 'debit', amount: 60 }], now);
        expect(posted.walletsAtZero).toEqual([wallet._id]);
        throw new Error('rolled back on purpose');
      }),
    ).rejects.toThrow('rolled back on purpose');
    // a marker after the rollback: once it arrives, anything before it has been dispatched
    await topUp(gw, wallet._id, 1);
    await eventually(() => receiver.ofType('wallet.topped_up').length === 2, 10_000);
    expect(receiver.ofType('wallet.depleted')).toEqual([]);
    const rows = await db.selectFrom('outbox_events').select('type').where('ordering_key', '=', `wallet:${wallet._id}`).execute();
    expect(rows.map((r) => r.type).sort()).toEqual(['wallet.topped_up', 'wallet.topped_up']);

    await db.transaction().execute((tx) => postEntries(tx, [{ walletId: wallet._id, type: 'debit', amount: 60 }], new Date()));
    const depleted = await eventually(() => receiver.ofType('wallet.depleted')[0], 10_000);
    expect(depleted.data).toMatchObject({ wallet: wallet._id, balance: -9 });
  });
});

describe('webhooks: the API', () => {
  it('keeps an organization-scoped key to its own organization\'s endpoints, and never shows the secret again', async () => {
    const a = await anEndpoint();
    const b = await anEndpoint();
    const keyA = (await gw.api('POST', '/v1/api_keys', { name: 'tenant A', organization: a.org._id })).body.key as string;
    const asA = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(gw.adminUrl + path, {
        method,
        headers: { authorization: `Bearer ${keyA}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const mine = await asA('POST', '/v1/webhooks', { url: 'https://example.com/hook', events: ['session.stopped'] });
    expect(mine.status).toBe(201);
    expect(mine.body.organization).toBe(a.org._id);
    expect((await asA('POST', '/v1/webhooks', { url: 'https://example.com/x', events: ['*'], organization: b.org._id })).status).toBe(404);
    expect((await asA('GET', `/v1/webhooks/${b.webhook._id}`)).status).toBe(404);
    expect((await asA('GET', `/v1/webhooks/${b.webhook._id}/deliveries`)).status).toBe(404);
    expect((await asA('PATCH', `/v1/webhooks/${b.webhook._id}`, { active: false })).status).toBe(404);
    expect((await asA('DELETE', `/v1/webhooks/${b.webhook._id}`)).status).toBe(404);
    const list = (await asA('GET', '/v1/webhooks?limit=200')).body.data as any[];
    expect(list.map((w) => w.organization)).toEqual(list.map(() => a.org._id));
    expect(list.map((w) => w._id)).toEqual(expect.arrayContaining([a.webhook._id, mine.body._id]));

    const got = (await gw.api('GET', `/v1/webhooks/${a.webhook._id}`)).body;
    expect(got).not.toHaveProperty('secret');
    expect(gw.logs.join('\n')).not.toMatch(/whsec_/);

    expect((await gw.api('POST', '/v1/webhooks', { url: 'ftp://example.com', events: ['*'] })).status).toBe(400);
    // no receiver lives at a link-local address (a cloud's instance metadata): a request forgery, refused
    for (const target of ['http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/x', 'http://0.0.0.0:8080/v1/users']) {
      const refused = await asA('POST', '/v1/webhooks', { url: target, events: ['*'] });
      expect(refused.status, target).toBe(400);
      expect(refused.body.error.details[0].field, target).toBe('url');
    }
    expect((await asA('PATCH', `/v1/webhooks/${mine.body._id}`, { url: 'http://169.254.169.254/' })).status).toBe(400);
    // text that is no URL is a 400 too, never a 500 (the REST fuzzer found one)
    expect((await asA('PATCH', `/v1/webhooks/${mine.body._id}`, { url: 'hasOwnPr' })).status).toBe(400);
    expect((await asA('POST', '/v1/webhooks', { url: 'rs%~k7)7', events: ['*'] })).status).toBe(400);
    expect((await gw.api('POST', '/v1/webhooks', { url: 'https://example.com', events: ['wallet.nope'] })).status).toBe(400);
    expect((await asA('DELETE', `/v1/webhooks/${mine.body._id}`)).status).toBe(204);
    expect((await asA('GET', `/v1/webhooks/${mine.body._id}`)).status).toBe(404);
  });
});

describe('webhooks: the event types', () => {
  it('lists every type an endpoint can subscribe to, to any key, in the OpenAPI document too', async () => {
    const res = await gw.api('GET', '/v1/webhooks/event_types');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [...EVENT_TYPES] });
    // each listed type is one an endpoint can subscribe to
    const hook = await gw.api('POST', '/v1/webhooks', { url: 'https://example.com/all-types', events: res.body.data });
    expect(hook.status).toBe(201);
    expect(hook.body.events).toEqual(res.body.data);
    expect((await gw.api('DELETE', `/v1/webhooks/${hook.body._id}`)).status).toBe(204);

    const org = await anOrganization(gw);
    const scoped = (await gw.api('POST', '/v1/api_keys', { name: 'types reader', organization: org._id })).body.key as string;
    const asScoped = await fetch(`${gw.adminUrl}/v1/webhooks/event_types`, { headers: { authorization: `Bearer ${scoped}` } });
    expect(asScoped.status).toBe(200);
    expect(await asScoped.json()).toEqual({ data: [...EVENT_TYPES] });
    expect((await fetch(`${gw.adminUrl}/v1/webhooks/event_types`)).status).toBe(401);

    const openapi = (await gw.api('GET', '/v1/openapi.json')).body;
    const schema = openapi.paths['/v1/webhooks/event_types']?.get?.responses?.['200']?.content?.['application/json']?.schema;
    expect(JSON.stringify(schema)).toContain('WebhookEventTypes');
    expect(openapi.components.schemas.WebhookEventTypes.properties.data.items.enum).toEqual([...EVENT_TYPES]);
  });
});
