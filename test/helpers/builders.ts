import { expect } from 'vitest';
import type { TestGateway } from './gateway.ts';
import { uniqueIdentity } from './gateway.ts';

/** Test data through the admin API, with unique names so tests never collide. */
let n = 0;
const unique = () => `${process.pid}-${Date.now().toString(36)}-${++n}`;

async function created(gw: TestGateway, path: string, body: unknown) {
  const res = await gw.api('POST', path, body);
  if (res.status !== 201) throw new Error(`POST ${path} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export function anOrganization(gw: TestGateway, over: Record<string, unknown> = {}) {
  return created(gw, '/v1/organizations', { name: `Org ${unique()}`, ...over });
}

export function aRate(gw: TestGateway, over: Record<string, unknown> = {}) {
  return created(gw, '/v1/rates', {
    description: 'test rate',
    currency: 'USD',
    price_components: [{ type: 'ENERGY', price: 30 }],
    ...over,
  });
}

export async function aStation(gw: TestGateway, over: Record<string, unknown> = {}) {
  return created(gw, '/v1/chargestations', { ocpp_id: uniqueIdentity(), ...over });
}

export function aUser(gw: TestGateway, over: Record<string, unknown> = {}) {
  const u = unique();
  return created(gw, '/v1/users', { firstname: 'Test', lastname: `User ${u}`, email: `user-${u}@example.com`, ...over });
}

export function aToken(gw: TestGateway, user: string, over: Record<string, unknown> = {}) {
  return created(gw, '/v1/tokens', { physicalId: `T${(Date.now() % 1e8).toString(36)}${++n}`.slice(0, 20), user, ...over });
}

export async function topUp(gw: TestGateway, wallet: string, amount: number) {
  return created(gw, '/v1/top_up', { type: 'manual', wallet, amount });
}

/** A user with a wallet holding `balance` cents (0 = no top-up) and an active token. */
export async function aUserWithWallet(
  gw: TestGateway,
  opts: { balance?: number; organization?: string; token?: Record<string, unknown> } = {},
) {
  const user = await aUser(gw, opts.organization ? { organization: opts.organization } : {});
  const w = await gw.api('GET', `/v1/users/${user._id}/wallet`);
  expect(w.status).toBe(200);
  if (opts.balance) await topUp(gw, w.body.wallet._id, opts.balance);
  const token = await aToken(gw, user._id, opts.token ?? {});
  return { user, wallet: w.body.wallet as { _id: string; currency: string }, token };
}
