import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { aCharger } from '../helpers/charger.ts';

/**
 * An API key scoped to organization A sees and changes only A's things; B's answer 404 on
 * every route, lists leave them out, and global actions are refused with 403.
 */
let gw: TestGateway;
let keyA: string;
let A: any;
let B: any;

async function world(org: { _id: string }) {
  const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
  const station = await aStation(gw, { rate: rate._id, organization: org._id });
  const who = await aUserWithWallet(gw, { organization: org._id, balance: 5000 });
  const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
  const { transactionId } = await charger.start(who.token.physicalId, 0);
  await charger.meter(transactionId, 1000);
  const session = (await gw.api('GET', `/v1/sessions?chargestation=${station._id}`)).body.data[0];
  const topUp = (await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: who.wallet._id, amount: 5 })).body;
  return { org, rate, station, ...who, charger, session, topUp };
}

beforeAll(async () => {
  gw = await startGateway();
  A = await world(await anOrganization(gw, { minimum_balance_to_start_session: 100 }));
  B = await world(await anOrganization(gw, { minimum_balance_to_start_session: 100 }));
  keyA = (await gw.api('POST', '/v1/api_keys', { name: 'tenant A', organization: A.org._id })).body.key;
});
afterAll(async () => {
  await A?.charger.close();
  await B?.charger.close();
  await gw.stop();
});

const asA = (method: string, path: string, body?: unknown) => gw.api(method, path, body, { authorization: `Bearer ${keyA}` });

describe('an organization-scoped API key', () => {
  it("answers 404 for every route that names another organization's resource", async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/organizations/${B.org._id}`],
      ['PATCH', `/v1/organizations/${B.org._id}`, { name: 'mine now' }],
      ['GET', `/v1/users/${B.user._id}`],
      ['PATCH', `/v1/users/${B.user._id}`, { active: false }],
      ['GET', `/v1/users/${B.user._id}/wallet`],
      ['GET', `/v1/users/${B.user._id}/wallet/transactions`],
      ['POST', '/v1/top_up', { type: 'manual', wallet: B.wallet._id, amount: 100 }],
      ['GET', `/v1/top_up/${B.topUp._id}`],
      ['GET', `/v1/tokens/${B.token._id}`],
      ['PATCH', `/v1/tokens/${B.token._id}`, { active: false }],
      ['POST', '/v1/tokens', { physicalId: 'STEAL-1', user: B.user._id }],
      ['GET', `/v1/chargestations/${B.station._id}`],
      ['PATCH', `/v1/chargestations/${B.station._id}`, { active: false }],
      ['PATCH', `/v1/chargestations/${B.station._id}/connectors/1`, { rate: null }],
      ['DELETE', `/v1/chargestations/${B.station._id}`],
      ['GET', `/v1/sessions/${B.session._id}`],
      ['POST', `/v1/sessions/${B.session._id}/stop`],
      ['POST', '/v1/sessions', { type: 'wallet', chargestation: B.station._id, connector: 1, user: A.user._id }],
      ['POST', '/v1/sessions', { type: 'wallet', chargestation: A.station._id, connector: 2, user: B.user._id }],
      ['POST', '/v1/users', { firstname: 'X', lastname: 'Y', email: 'xy@example.com', organization: B.org._id }],
      ['POST', '/v1/chargestations', { ocpp_id: 'SNEAKY-1', organization: B.org._id }],
      ['PATCH', `/v1/users/${A.user._id}`, { organization: B.org._id }],
      ['PATCH', `/v1/tokens/${A.token._id}`, { user: B.user._id }],
    ];
    for (const [method, path, body] of routes) {
      const res = await asA(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    // nothing of B's changed
    const b = await gw.api('GET', `/v1/users/${B.user._id}/wallet`);
    expect(b.body.active).toBe(true);
    expect(b.body.wallet.balance).toBe(5000 - 50 + 5);
    expect((await gw.api('GET', `/v1/chargestations/${B.station._id}`)).body.active).toBe(true);
    expect((await gw.api('GET', `/v1/sessions/${B.session._id}`)).body.status).toBe('active');
  });

  it("lists only its organization's things", async () => {
    const lists = ['/v1/organizations', '/v1/users', '/v1/tokens', '/v1/chargestations', '/v1/sessions', '/v1/alerts'];
    const bIds = new Set([B.org._id, B.user._id, B.token._id, B.station._id, B.session._id]);
    for (const path of lists) {
      const res = await asA('GET', `${path}?limit=200`);
      expect(res.status, path).toBe(200);
      expect(res.body.data.some((x: any) => bIds.has(x._id)), path).toBe(false);
    }
    expect((await asA('GET', '/v1/users?limit=200')).body.data.map((u: any) => u._id)).toEqual([A.user._id]);
    expect((await asA('GET', `/v1/users?organization=${B.org._id}`)).body.data.map((u: any) => u._id)).toEqual([A.user._id]);
    expect((await asA('GET', '/v1/sessions')).body.data.map((s: any) => s._id)).toEqual([A.session._id]);
    expect((await asA('GET', '/v1/organizations')).body.data.map((o: any) => o._id)).toEqual([A.org._id]);
  });

  it('works on its own things, and creates into its own organization', async () => {
    expect((await asA('GET', `/v1/users/${A.user._id}/wallet`)).status).toBe(200);
    expect((await asA('POST', '/v1/top_up', { type: 'manual', wallet: A.wallet._id, amount: 10 })).status).toBe(201);
    const u = await asA('POST', '/v1/users', { firstname: 'New', lastname: 'Driver', email: `nd-${Date.now()}@example.com` });
    expect(u.status).toBe(201);
    expect(u.body.organization).toBe(A.org._id);
    const st = await asA('POST', '/v1/chargestations', { ocpp_id: `A-OWN-${Date.now()}` });
    expect(st.body.organization).toBe(A.org._id);
    expect((await asA('GET', `/v1/sessions/${A.session._id}`)).status).toBe(200);
    expect((await asA('GET', '/v1/rates')).status).toBe(200);
  });

  it('is refused (403) what only a global key may do', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/organizations', { name: 'Another' }],
      ['POST', '/v1/rates', { currency: 'USD', price_components: [{ type: 'FLAT', price: 1 }] }],
      ['PATCH', `/v1/rates/${A.rate._id}`, { active: false }],
      ['POST', '/v1/api_keys', { name: 'escalate' }],
      ['GET', '/v1/api_keys'],
      ['DELETE', '/v1/api_keys/0123456789abcdef01234567'],
    ] as [string, string, unknown?][]) {
      const res = await asA(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
  });
});
