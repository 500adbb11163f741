import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aToken, aUser, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { stationClient, type TestStation } from '../helpers/station.ts';

let gw: TestGateway;
let station: TestStation;

beforeAll(async () => {
  gw = await startGateway();
  const rate = await aRate(gw, { currency: 'USD' });
  const st = await aStation(gw, { rate: rate._id });
  station = stationClient(gw.ocppUrl, st.ocpp_id);
  await station.connect();
});
afterAll(async () => {
  await station?.close({ force: true });
  await gw.stop();
});

const authorize = async (idTag: string) => (await station.call('Authorize', { idTag })).idTagInfo;

describe('Authorize for each token state', () => {
  it('unknown token → Invalid', async () => {
    expect(await authorize('NO-SUCH-TAG')).toEqual({ status: 'Invalid' });
  });

  it('inactive token → Blocked; inactive user → Blocked', async () => {
    const a = await aUserWithWallet(gw, { balance: 5000, token: { active: false } });
    expect((await authorize(a.token.physicalId)).status).toBe('Blocked');
    const b = await aUserWithWallet(gw, { balance: 5000 });
    await gw.api('PATCH', `/v1/users/${b.user._id}`, { active: false });
    expect((await authorize(b.token.physicalId)).status).toBe('Blocked');
  });

  it('expired token → Expired (with its expiryDate); an Accepted wallet token expires from the cache soon', async () => {
    const past = await aUserWithWallet(gw, { balance: 5000, token: { expiresAt: '2020-01-01T00:00:00Z' } });
    expect(await authorize(past.token.physicalId)).toMatchObject({ status: 'Expired', expiryDate: '2020-01-01T00:00:00.000Z' });
    const future = await aUserWithWallet(gw, { balance: 5000, token: { expiresAt: '2099-01-01T00:00:00Z' } });
    const before = Date.now();
    const info = await authorize(future.token.physicalId);
    expect(info.status).toBe('Accepted');
    // OCPP_AUTH_EXPIRY_S (900 s by default), sooner than the token's own expiry
    expect(Date.parse(info.expiryDate) - before).toBeGreaterThanOrEqual(899_000);
    expect(Date.parse(info.expiryDate) - before).toBeLessThan(905_000);
  });

  it('no wallet → Blocked', async () => {
    const user = await aUser(gw);
    const token = await aToken(gw, user._id);
    expect((await authorize(token.physicalId)).status).toBe('Blocked');
  });

  it('flips from Blocked to Accepted as the balance crosses the organization minimum (idTag case-insensitive)', async () => {
    const org = await anOrganization(gw, { minimum_balance_to_start_session: 1500 });
    const { wallet, token } = await aUserWithWallet(gw, { organization: org._id });
    expect((await authorize(token.physicalId)).status).toBe('Blocked');
    await topUp(gw, wallet._id, 1499);
    expect((await authorize(token.physicalId)).status).toBe('Blocked');
    await topUp(gw, wallet._id, 1);
    expect((await authorize(token.physicalId)).status).toBe('Accepted');
    expect((await authorize(token.physicalId.toLowerCase())).status).toBe('Accepted');
    // the operator raises the minimum: blocked again
    await gw.api('PATCH', `/v1/organizations/${org._id}`, { minimum_balance_to_start_session: 1501 });
    expect((await authorize(token.physicalId)).status).toBe('Blocked');
  });

  it('a wallet at zero is Blocked even where the minimum is 0', async () => {
    const free = await anOrganization(gw, { minimum_balance_to_start_session: 0 });
    const { wallet, token } = await aUserWithWallet(gw, { organization: free._id });
    expect((await authorize(token.physicalId)).status).toBe('Blocked');
    await topUp(gw, wallet._id, 1);
    expect((await authorize(token.physicalId)).status).toBe('Accepted');
  });

  it("rate currency ≠ wallet currency → Blocked; a station without a rate → Blocked", async () => {
    const eur = await anOrganization(gw, { currency: 'EUR', minimum_balance_to_start_session: 0 });
    const { token } = await aUserWithWallet(gw, { organization: eur._id, balance: 100 });
    expect((await authorize(token.physicalId)).status).toBe('Blocked');

    const bare = await aStation(gw);
    const other = stationClient(gw.ocppUrl, bare.ocpp_id);
    await other.connect();
    const rich = await aUserWithWallet(gw, { balance: 10_000 });
    expect((await other.call('Authorize', { idTag: rich.token.physicalId })).idTagInfo.status).toBe('Blocked');
    expect((await authorize(rich.token.physicalId)).status).toBe('Accepted');
    await other.close();
  });

  it('an inactive rate → Blocked', async () => {
    const rate = await aRate(gw);
    const st = await aStation(gw, { rate: rate._id });
    await gw.api('PATCH', `/v1/rates/${rate._id}`, { active: false });
    const c = stationClient(gw.ocppUrl, st.ocpp_id);
    await c.connect();
    const { token } = await aUserWithWallet(gw, { balance: 10_000 });
    expect((await c.call('Authorize', { idTag: token.physicalId })).idTagInfo.status).toBe('Blocked');
    await c.close();
  });
});
