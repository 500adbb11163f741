import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet } from '../helpers/builders.ts';

/**
 * Hostile requests against every route of the admin API, taken from its own OpenAPI document:
 * random bodies, query strings and ids, SQL metacharacters in every string, huge payloads.
 * Every answer must be a 2xx or a 4xx with the error shape, never a 5xx, and no wallet may
 * change.
 */

const nasty = fc.constantFrom(
  "' OR 1=1 --",
  "'; drop table wallets; --",
  '" OR ""="',
  '\\',
  '%',
  '_',
  '\u0000',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '<script>alert(1)</script>',
  'ðŸ’¸'.repeat(50),
  '9'.repeat(400),
  '-1',
  '1e308',
  'NaN',
  'null',
);
const str = fc.oneof(fc.string({ maxLength: 40 }), nasty);
const value: fc.Arbitrary<unknown> = fc.oneof(
  str,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(str, { maxLength: 3 }),
  fc.dictionary(str, str, { maxKeys: 3 }),
  fc.constantFrom(1e21, -0, 2 ** 53 + 1, Number.MAX_VALUE),
);

let gw: TestGateway;
let ids: string[];
let balances: Map<string, number>;

beforeAll(async () => {
  gw = await startGateway({ env: { AUTH_FAILURES_PER_SOURCE: '100000' } });
  const rate = await aRate(gw);
  const station = await aStation(gw, { rate: rate._id });
  const people = await Promise.all([aUserWithWallet(gw, { balance: 1234 }), aUserWithWallet(gw, { balance: 99 })]);
  ids = [rate._id, station._id, ...people.flatMap((p) => [p.user._id, p.wallet._id, p.token._id])];
  balances = new Map();
  for (const p of people) {
    balances.set(p.user._id, (await gw.api('GET', `/v1/users/${p.user._id}/wallet`)).body.wallet.balance);
  }
});
afterAll(async () => {
  await gw.stop();
});

describe('REST fuzzing', () => {
  it('every route answers 2xx or 4xx with the error shape, never 5xx, and no balance changes', async () => {
    const doc = (await gw.api('GET', '/v1/openapi.json')).body;
    const routes: { method: string; path: string; fields: string[] }[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const schema = op.requestBody?.content?.['application/json']?.schema;
        routes.push({ method: method.toUpperCase(), path, fields: Object.keys(schema?.properties ?? {}) });
      }
    }
    expect(routes.length).toBeGreaterThan(25);

    const idLike = fc.oneof(fc.constantFrom(...ids), str, fc.stringMatching(/^[0-9a-f]{24}$/));
    const request = fc.record({
      route: fc.constantFrom(...routes),
      id: idLike,
      id2: fc.oneof(fc.integer({ min: -5, max: 200 }).map(String), str),
      // bodies: the route's own fields with hostile values, random objects, or not JSON at all
      body: fc.oneof(
        fc.constant(undefined),
        fc.dictionary(fc.oneof(str, fc.constantFrom('amount', 'wallet', 'type', 'price_components', 'rate')), value, { maxKeys: 6 }),
        fc.jsonValue({ maxDepth: 3 }),
      ),
      fill: fc.array(value, { minLength: 8, maxLength: 8 }),
      query: fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'user', 'email', 'active', 'x'), str, { maxKeys: 3 }),
    });

    let tried = 0;
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const r of fc.sample(request, { numRuns: 1200, seed: 777 })) {
      const path = r.route.path
        .replace('{id}', encodeURIComponent(r.id))
        .replace('{connector_id}', encodeURIComponent(r.id2));
      let body = r.body;
      if (body === undefined && r.route.fields.length) {
        body = Object.fromEntries(r.route.fields.map((f, i) => [f, r.fill[i % r.fill.length]]));
      }
      const qs = new URLSearchParams(r.query).toString();
      const res = await fetch(`${gw.adminUrl}${path}${qs ? `?${qs}` : ''}`, {
        method: r.route.method,
        headers: {
          authorization: `Bearer ${gw.apiKey}`,
          ...(body !== undefined && r.route.method !== 'GET' ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined && r.route.method !== 'GET' ? JSON.stringify(body) : undefined,
      });
      tried += 1;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.ok && res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel(); // an accepted event stream never ends by itself
        continue;
      }
      const text = await res.text();
      if (res.status >= 500) failures.push(`${r.route.method} ${path}?${qs} ${JSON.stringify(body)} → ${res.status} ${text}`);
      if (res.status >= 400 && res.status < 500) {
        const parsed = JSON.parse(text);
        if (typeof parsed?.error?.code !== 'string' || typeof parsed?.error?.message !== 'string') {
          failures.push(`${r.route.method} ${path} → ${res.status} without the error shape: ${text}`);
        }
      }
    }
    // huge payloads
    const huge = await fetch(`${gw.adminUrl}/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ firstname: 'x'.repeat(2_000_000), lastname: 'y', email: 'a@b.co' }),
    });
    expect(huge.status).toBe(413);
    tried += 1;
    console.log(`REST fuzz: ${tried} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(failures).toEqual([]);

    for (const [user, balance] of balances) {
      expect((await gw.api('GET', `/v1/users/${user}/wallet`)).body.wallet.balance).toBe(balance);
    }
    const health = await fetch(gw.adminUrl + '/healthz');
    expect(health.status).toBe(200);
  }, 120_000); // 1,200 requests over every route: more routes, more time on a loaded machine
});

describe('text the database cannot keep', () => {
  it('a NUL or half a surrogate pair anywhere in a request is a 400 naming its field, and nothing is created', async () => {
    const users = async () => (await gw.api('GET', '/v1/users?limit=200')).body.data.length as number;
    const before = await users();
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/users', { firstname: 'A\u0000B', lastname: 'C', email: 'nul@example.com' }, 'body.firstname'],
      ['POST', '/v1/users', { firstname: 'A', lastname: 'x\ud800', email: 'half@example.com' }, 'body.lastname'],
      ['POST', '/v1/organizations', { name: 'o\u0000' }, 'body.name'],
      ['POST', '/v1/rates', { currency: 'USD', price_components: [{ type: 'ENERGY', price: 1 }], description: 'r\u0000' }, 'body.description'],
      ['POST', '/v1/users', { firstname: 'A', lastname: 'B', email: 'k@example.com', ['k\u0000']: 1 }, 'body.k\ufffd'],
      ['GET', '/v1/chargestations?q=a%00b', undefined, 'querystring.q'],
      ['GET', `/v1/users/${ids[2]}%00`, undefined, 'params.id'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await gw.api(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body.error, `${method} ${path}`).toMatchObject({ code: 'validation_error', details: [{ field: field.replace(/^\w+\./, ''), in: field.split('.')[0] }] });
      expect(res.body.error.message, `${method} ${path}`).toContain(field);
    }
    expect(await users()).toBe(before);
  });
});
