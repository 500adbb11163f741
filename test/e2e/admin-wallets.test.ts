import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aToken, aUser, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.stop();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('organizations', () => {
  it('the Default organization exists; create, get, list, update with defaults', async () => {
    const list = await gw.api('GET', '/v1/organizations');
    expect(list.body.data.filter((o: any) => o.default)).toHaveLength(1);
    expect(list.body.data.find((o: any) => o.default)).toMatchObject({
      name: 'Default',
      minimum_balance_to_start_session: 2000,
      currency: 'USD',
      test_mode: false,
    });
    const org = await anOrganization(gw, { test_mode: true });
    expect(org).toMatchObject({ minimum_balance_to_start_session: 2000, currency: 'USD', test_mode: true, default: false });
    expect((await gw.api('GET', `/v1/organizations/${org._id}`)).body).toEqual(org);
    const patched = await gw.api('PATCH', `/v1/organizations/${org._id}`, { minimum_balance_to_start_session: 500 });
    expect(patched.status).toBe(200);
    expect(patched.body.minimum_balance_to_start_session).toBe(500);
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'x', minimum_balance_to_start_session: -1 }, 'minimum_balance_to_start_session'],
    [{ name: 'x', minimum_balance_to_start_session: 10.5 }, 'minimum_balance_to_start_session'],
    [{ name: 'x', currency: 'usd' }, 'currency'],
    [{ name: 'x', extra: true }, 'extra'],
  ])('refuses %j naming %s', async (body, field) => {
    const res = await gw.api('POST', '/v1/organizations', body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('404 for an unknown organization', async () => {
    expect((await gw.api('GET', '/v1/organizations/0123456789abcdef01234567')).status).toBe(404);
    expect((await gw.api('PATCH', '/v1/organizations/0123456789abcdef01234567', { name: 'x' })).status).toBe(404);
  });
});

describe('users and wallets', () => {
  it('GET /users/:id/wallet creates the wallet once and returns the seed shape exactly', async () => {
    const user = await aUser(gw);
    const first = await gw.api('GET', `/v1/users/${user._id}/wallet`);
    expect(first.status).toBe(200);
    const body = first.body;
    expect(Object.keys(body)).toEqual([
      '_id', 'firstname', 'lastname', 'active', 'address', 'phone', 'email', 'favorite_chargestations',
      'wallet', 'role', 'payment_methods', 'organization', 'createdAt', 'updatedAt',
    ]);
    expect(Object.keys(body.wallet)).toEqual(['_id', 'test_mode', 'balance', 'currency', 'auto_top_up', 'createdAt', 'updatedAt']);
    expect(body.wallet).toMatchObject({
      test_mode: false,
      balance: 0,
      currency: 'USD',
      auto_top_up: { active: false, payment_method: null, amount: 0 },
    });
    expect(body.wallet.createdAt).toMatch(ISO);
    expect(body).toMatchObject({ active: true, address: {}, phone: {}, favorite_chargestations: [], role: 'user', payment_methods: [] });
    const second = await gw.api('GET', `/v1/users/${user._id}/wallet`);
    expect(second.body.wallet._id).toBe(body.wallet._id);
  });

  it('concurrent first calls create one wallet', async () => {
    const user = await aUser(gw);
    const all = await Promise.all(Array.from({ length: 10 }, () => gw.api('GET', `/v1/users/${user._id}/wallet`)));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(new Set(all.map((r) => r.body.wallet._id)).size).toBe(1);
    const count = await gw.app.db.selectFrom('wallets').select('id').where('user_id', '=', user._id).execute();
    expect(count).toHaveLength(1);
  });

  it("a wallet takes its organization's currency and test mode", async () => {
    const org = await anOrganization(gw, { currency: 'EUR', test_mode: true });
    const user = await aUser(gw, { organization: org._id });
    const w = await gw.api('GET', `/v1/users/${user._id}/wallet`);
    expect(w.body.wallet).toMatchObject({ currency: 'EUR', test_mode: true });
    expect(w.body.organization).toBe(org._id);
  });

  it('users: create, get, list (filter by email), update; 409 on a duplicate email; 400 with the field', async () => {
    const user = await aUser(gw, { address: { city: 'Lyon' }, phone: { number: '+33 1 23' } });
    expect(user).toMatchObject({ address: { city: 'Lyon' }, phone: { number: '+33 1 23' } });
    expect((await gw.api('GET', `/v1/users/${user._id}`)).body).toEqual(user);
    const found = await gw.api('GET', `/v1/users?email=${encodeURIComponent(user.email.toUpperCase())}`);
    expect(found.body.data.map((u: any) => u._id)).toEqual([user._id]);
    const patched = await gw.api('PATCH', `/v1/users/${user._id}`, { active: false, favorite_chargestations: [] });
    expect(patched.body.active).toBe(false);
    const dup = await gw.api('POST', '/v1/users', { firstname: 'A', lastname: 'B', email: user.email });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('email_taken');
    const bad = await gw.api('POST', '/v1/users', { firstname: 'A', lastname: 'B', email: 'not-an-email' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('email');
    expect((await gw.api('GET', '/v1/users/0123456789abcdef01234567/wallet')).status).toBe(404);
  });
});

describe('top-ups and the ledger', () => {
  it('credits at once, returns the top-up with 201, and lists the ledger entry', async () => {
    const { user, wallet } = await aUserWithWallet(gw);
    const res = await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount: 2500 });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(
      ['_id', 'amount', 'createdAt', 'currency', 'status', 'test_mode', 'type', 'wallet', 'wallet_amount'].sort(),
    );
    expect(res.body).toMatchObject({ wallet: wallet._id, amount: 2500, wallet_amount: 2500, currency: 'USD', status: 'completed', test_mode: false });
    const w = await gw.api('GET', `/v1/users/${user._id}/wallet`);
    expect(w.body.wallet.balance).toBe(2500);
    const tx = await gw.api('GET', `/v1/users/${user._id}/wallet/transactions`);
    expect(tx.body.data).toEqual([
      expect.objectContaining({ type: 'credit', amount: 2500, balance_after: 2500, session: null, top_up: res.body._id }),
    ]);
    expect((await gw.api('GET', `/v1/top_up/${res.body._id}`)).body).toEqual(res.body);
  });

  it('wallet_amount is what the wallet receives', async () => {
    const { user, wallet } = await aUserWithWallet(gw);
    await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount: 1000, wallet_amount: 950 });
    expect((await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(950);
  });

  it('Idempotency-Key: same key and body → same top-up, one credit; other body → 409', async () => {
    const { user, wallet } = await aUserWithWallet(gw);
    const body = { type: 'manual', wallet: wallet._id, amount: 700 };
    const key = { 'idempotency-key': `k-${Date.now()}` };
    const results = await Promise.all(Array.from({ length: 5 }, () => gw.api('POST', '/v1/top_up', body, key)));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(results.map((r) => r.body._id)).size).toBe(1);
    expect((await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(700);
    const other = await gw.api('POST', '/v1/top_up', { ...body, amount: 701 }, key);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    expect((await gw.api('GET', `/v1/users/${user._id}/wallet/transactions`)).body.data).toHaveLength(1);
  });

  it.each([
    [{ amount: 0 }, 'amount'],
    [{ amount: -5 }, 'amount'],
    [{ amount: 10.5 }, 'amount'],
    [{ amount: '100' }, 'amount'],
    [{ amount: 1e12 }, 'amount'],
    [{ amount: 100, wallet_amount: 0 }, 'wallet_amount'],
    [{ amount: 100, type: 'card' }, 'type'],
    [{ amount: 100, wallet: 'nope' }, 'wallet'],
    [{ amount: 100, tip: 1 }, 'tip'],
  ])('refuses %j with 400 naming %s, changing nothing', async (over, field) => {
    const { user, wallet } = await aUserWithWallet(gw);
    const res = await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, ...over });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    expect((await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(0);
  });

  it('404 for an unknown wallet', async () => {
    const res = await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: '0123456789abcdef01234567', amount: 5 });
    expect(res.status).toBe(404);
  });

  it('paginates the ledger oldest first', async () => {
    const { user, wallet } = await aUserWithWallet(gw);
    for (const amount of [1, 2, 3, 4, 5]) await topUp(gw, wallet._id, amount);
    const first = await gw.api('GET', `/v1/users/${user._id}/wallet/transactions?limit=2`);
    const second = await gw.api('GET', `/v1/users/${user._id}/wallet/transactions?limit=2&cursor=${first.body.next_cursor}`);
    const third = await gw.api('GET', `/v1/users/${user._id}/wallet/transactions?limit=2&cursor=${second.body.next_cursor}`);
    const amounts = [...first.body.data, ...second.body.data, ...third.body.data].map((e: any) => e.amount);
    expect(amounts).toEqual([1, 2, 3, 4, 5]);
    expect(third.body.next_cursor).toBeNull();
    expect([...first.body.data, ...second.body.data, ...third.body.data].map((e: any) => e.balance_after)).toEqual([1, 3, 6, 10, 15]);
  });
});

describe('tokens', () => {
  it('create, get, list by user, update; physicalId unique case-insensitively (409)', async () => {
    const user = await aUser(gw);
    const token = await aToken(gw, user._id, { physicalId: `AbC${Date.now() % 1e6}` });
    expect(token).toMatchObject({ user: user._id, type: 'ISO14443', active: true, expiresAt: null });
    expect((await gw.api('GET', `/v1/tokens/${token._id}`)).body).toEqual(token);
    expect((await gw.api('GET', `/v1/tokens?user=${user._id}`)).body.data.map((t: any) => t._id)).toEqual([token._id]);
    const upd = await gw.api('PATCH', `/v1/tokens/${token._id}`, { active: false, expiresAt: '2030-01-01T00:00:00Z' });
    expect(upd.body).toMatchObject({ active: false, expiresAt: '2030-01-01T00:00:00.000Z' });
    const dup = await gw.api('POST', '/v1/tokens', { physicalId: token.physicalId.toLowerCase(), user: user._id });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('physical_id_taken');
  });

  it.each([
    [{ physicalId: 'X'.repeat(21) }, 'physicalId'],
    [{ physicalId: 'has space' }, 'physicalId'],
    [{ physicalId: 'OK1', type: 'Magic' }, 'type'],
    [{ physicalId: 'OK2', expiresAt: 'tomorrow' }, 'expiresAt'],
  ])('refuses %j naming %s', async (over, field) => {
    const user = await aUser(gw);
    const res = await gw.api('POST', '/v1/tokens', { user: user._id, ...over });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });

  it('404 for an unknown user', async () => {
    const res = await gw.api('POST', '/v1/tokens', { physicalId: 'NOUSER1', user: '0123456789abcdef01234567' });
    expect(res.status).toBe(404);
  });
});

describe('rates and station rates', () => {
  it('keeps prices exact to 4 decimals, tax and step_size', async () => {
    const rate = await aRate(gw, {
      price_components: [
        { type: 'ENERGY', price: 32.4567, tax: 7.25, step_size: 100 },
        { type: 'TIME', price: 120 },
        { type: 'FLAT', price: 99.9999 },
      ],
    });
    expect(rate.price_components).toEqual([
      { type: 'ENERGY', price: 32.4567, tax: 7.25, step_size: 100 },
      { type: 'TIME', price: 120, tax: 0, step_size: 0 },
      { type: 'FLAT', price: 99.9999, tax: 0, step_size: 0 },
    ]);
    const stored = await gw.app.db.selectFrom('rates').select('price_components').where('id', '=', rate._id).executeTakeFirstOrThrow();
    expect(stored.price_components[0]).toMatchObject({ price_e4: 324567, tax_e4: 72500 });
    const upd = await gw.api('PATCH', `/v1/rates/${rate._id}`, { active: false });
    expect(upd.body.active).toBe(false);
    expect((await gw.api('GET', '/v1/rates?limit=200')).body.data.map((r: any) => r._id)).toContain(rate._id);
  });

  it.each([
    [{ price_components: [] }, 'price_components'],
    [{ price_components: [{ type: 'ENERGY', price: 1.23456 }] }, 'price_components.0.price'],
    [{ price_components: [{ type: 'ENERGY', price: -1 }] }, 'price_components.0.price'],
    [{ price_components: [{ type: 'POWER', price: 1 }] }, 'price_components.0.type'],
    [{ price_components: [{ type: 'ENERGY', price: 1, tax: 150 }] }, 'price_components.0.tax'],
    [{ price_components: [{ type: 'ENERGY', price: 1, step_size: 1.5 }] }, 'price_components.0.step_size'],
    [{ currency: 'dollars', price_components: [{ type: 'ENERGY', price: 1 }] }, 'currency'],
  ])('refuses %j naming %s', async (body, field) => {
    const res = await gw.api('POST', '/v1/rates', body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.error)).toContain(field);
  });

  it('a station has a rate and a connector may override it; unknown rate → 404', async () => {
    const r1 = await aRate(gw);
    const r2 = await aRate(gw);
    const st = await aStation(gw, { rate: r1._id });
    expect(st.rate).toBe(r1._id);
    const over = await gw.api('PATCH', `/v1/chargestations/${st._id}/connectors/2`, { rate: r2._id });
    expect(over.status).toBe(200);
    expect(over.body.connectors).toEqual([expect.objectContaining({ connector_id: 2, rate: r2._id, status: null })]);
    const cleared = await gw.api('PATCH', `/v1/chargestations/${st._id}/connectors/2`, { rate: null });
    expect(cleared.body.connectors[0].rate).toBeNull();
    expect((await gw.api('PATCH', `/v1/chargestations/${st._id}`, { rate: '0123456789abcdef01234567' })).status).toBe(404);
    expect((await gw.api('PATCH', `/v1/chargestations/${st._id}/connectors/0`, { rate: null })).status).toBe(400);
  });
});

describe('API keys', () => {
  it('creates a key shown once, lists it without the secret, and revokes it', async () => {
    const created = await gw.api('POST', '/v1/api_keys', { name: 'back office' });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^gw_/);
    const withKey = await gw.api('GET', '/v1/organizations', undefined, { authorization: `Bearer ${key}` });
    expect(withKey.status).toBe(200);
    const list = await gw.api('GET', '/v1/api_keys?limit=200');
    const listed = list.body.data.find((k: any) => k._id === created.body._id);
    expect(listed).toMatchObject({ name: 'back office', revoked: false });
    expect(JSON.stringify(list.body)).not.toContain(key);
    expect((await gw.api('DELETE', `/v1/api_keys/${created.body._id}`)).body.revoked).toBe(true);
    const after = await gw.api('GET', '/v1/organizations', undefined, { authorization: `Bearer ${key}` });
    expect(after.status).toBe(401);
    expect(gw.logs.join('\n')).not.toContain(key);
  });
});
