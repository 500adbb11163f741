/**
 * The server side of the operator console, over HTTP: sign-in sessions (cookie flags, CSRF,
 * sign-out, revoked keys, nothing stored or logged in clear), the live event stream and its
 * tenant filter, alert acknowledgement, station search and the overview figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, TEST_API_KEY, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { aCharger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw?.stop();
});

async function signIn(key: string) {
  const res = await fetch(`${gw.adminUrl}/console/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
  });
  const setCookie = res.headers.get('set-cookie') ?? '';
  const token = /gw_console=([^;]*)/.exec(setCookie)?.[1] ?? '';
  return { res, setCookie, token, body: res.status === 200 ? ((await res.json()) as { csrf_token: string; organization: string | null }) : undefined };
}

function asConsole(token: string, csrf?: string) {
  return (method: string, path: string, body?: unknown) =>
    gw.api(method, path, body, { authorization: '', cookie: `gw_console=${token}`, ...(csrf ? { 'x-csrf-token': csrf } : {}) });
}

/** Reads a server-sent event stream until `until` is satisfied by the events seen, or `ms` pass. */
async function streamEvents(headers: Record<string, string>, query: string, act: () => Promise<void>, until: (e: { event: string; data: any }[]) => boolean, ms = 5000) {
  const ctl = new AbortController();
  const res = await fetch(`${gw.adminUrl}/v1/events/stream${query}`, { headers, signal: ctl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: { event: string; data: any }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const deadline = Date.now() + ms;
  let acted = false;
  // One read in flight at a time: a read abandoned to a timeout would swallow its chunk.
  let pending: ReturnType<typeof reader.read> | undefined;
  try {
    while (Date.now() < deadline && !until(events)) {
      pending ??= reader.read();
      const chunk = await Promise.race([pending, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      if (chunk) pending = undefined;
      if (chunk?.value) buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event) events.push({ event, data: data ? JSON.parse(data) : undefined });
      }
      if (!acted && events.some((e) => e.event === 'ready')) {
        acted = true;
        await act();
      }
    }
  } finally {
    ctl.abort();
  }
  return events;
}

describe('console sign-in', () => {
  it('trades a valid API key for an HttpOnly, SameSite=Strict cookie whose token is stored only as a digest', async () => {
    expect((await signIn('not-a-valid-key-0123456789')).res.status).toBe(401);
    const { res, setCookie, token, body } = await signIn(TEST_API_KEY);
    expect(res.status).toBe(200);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toMatch(/Secure/); // plain HTTP here; Secure when the request came over TLS
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body).toMatchObject({ organization: null });

    const rows = await gw.app.db.selectFrom('console_sessions').selectAll().execute();
    const text = JSON.stringify(rows);
    expect(text).not.toContain(token);
    expect(text).not.toContain(TEST_API_KEY);
    expect(body!.csrf_token).not.toBe(token);
    expect(gw.logs.some((l) => l.includes(token) || l.includes(TEST_API_KEY))).toBe(false);
  });

  it('lets the cookie read /v1, requires the CSRF header to change anything, and ends at sign-out', async () => {
    const { token, body } = await signIn(TEST_API_KEY);
    const read = asConsole(token);
    expect((await read('GET', '/v1/overview')).status).toBe(200);
    const forged = await read('POST', '/v1/organizations', { name: 'made by another site' });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('forbidden');
    expect((await asConsole(token, 'wrong')('POST', '/v1/organizations', { name: 'x' })).status).toBe(403);
    const write = asConsole(token, body!.csrf_token);
    expect((await write('POST', '/v1/organizations', { name: `Console org ${Date.now()}` })).status).toBe(201);

    // signing out needs the header too, then the cookie is dead
    const out = await fetch(`${gw.adminUrl}/console/api/session`, { method: 'DELETE', headers: { cookie: `gw_console=${token}` } });
    expect(out.status).toBe(403);
    const out2 = await fetch(`${gw.adminUrl}/console/api/session`, {
      method: 'DELETE',
      headers: { cookie: `gw_console=${token}`, 'x-csrf-token': body!.csrf_token },
    });
    expect(out2.status).toBe(204);
    expect(out2.headers.get('set-cookie')).toMatch(/gw_console=;.*Max-Age=0/);
    expect((await read('GET', '/v1/overview')).status).toBe(401);
  });

  it('ends with the API key it stands for: a revoked key signs out its sessions', async () => {
    const created = await gw.api('POST', '/v1/api_keys', { name: 'short-lived' });
    const { token } = await signIn(created.body.key);
    expect((await asConsole(token)('GET', '/v1/sessions')).status).toBe(200);
    expect((await gw.api('DELETE', `/v1/api_keys/${created.body._id}`)).status).toBe(200);
    expect((await asConsole(token)('GET', '/v1/sessions')).status).toBe(401);
    expect((await fetch(`${gw.adminUrl}/console/api/session`, { headers: { cookie: `gw_console=${token}` } })).status).toBe(401);
  });

  it('serves the page with a policy that allows only its own scripts, and the vendored modules', async () => {
    const page = await fetch(`${gw.adminUrl}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    for (const src of html.match(/\/console\/(vendor|app)\/[\w./-]+/g)!) {
      const res = await fetch(gw.adminUrl + src);
      expect(res.status, src).toBe(200);
      const again = await fetch(gw.adminUrl + src, { headers: { 'if-none-match': res.headers.get('etag')! } });
      expect(again.status, src).toBe(304);
    }
    expect((await fetch(`${gw.adminUrl}/console/app/../../package.json`)).status).toBe(404);
    expect((await fetch(`${gw.adminUrl}/console/vendor/anything.js`)).status).toBe(404);
  });
});

describe('live events', () => {
  it('streams a top-up, and only to the organization that may see it', async () => {
    const orgA = await anOrganization(gw);
    const orgB = await anOrganization(gw);
    const a = await aUserWithWallet(gw, { organization: orgA._id });
    const b = await aUserWithWallet(gw, { organization: orgB._id });
    const keyA = (await gw.api('POST', '/v1/api_keys', { name: 'A', organization: orgA._id })).body.key;
    const act = async () => {
      await topUp(gw, b.wallet._id, 100);
      await topUp(gw, a.wallet._id, 100);
    };
    const seen = (w: string) => (es: { event: string; data: any }[]) => es.some((e) => e.event === 'wallet' && e.data.id === w);

    const scoped = await streamEvents({ authorization: `Bearer ${keyA}` }, '?types=wallet', act, seen(a.wallet._id));
    expect(scoped.filter((e) => e.event === 'wallet').map((e) => e.data.id)).toEqual([a.wallet._id]);

    const global = await streamEvents({ authorization: `Bearer ${TEST_API_KEY}` }, '?types=wallet', act, (es) => seen(a.wallet._id)(es) && seen(b.wallet._id)(es));
    expect(new Set(global.filter((e) => e.event === 'wallet').map((e) => e.data.id))).toEqual(new Set([a.wallet._id, b.wallet._id]));
    expect(global.find((e) => e.event === 'wallet')!.data).toMatchObject({ refresh: true });
  });

  it('streams billed readings of a session with its figures and the balance after them', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
    const station = await aStation(gw, { rate: rate._id });
    const who = await aUserWithWallet(gw, { balance: 1000 });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
    try {
      const { transactionId } = await charger.start(who.token.physicalId, 0);
      const session = (await gw.api('GET', `/v1/sessions?chargestation=${station._id}`)).body.data[0];
      const events = await streamEvents(
        { authorization: `Bearer ${TEST_API_KEY}` },
        `?types=session&session=${session._id}`,
        async () => {
          await charger.meter(transactionId, 1000);
          await charger.meter(transactionId, 2000);
        },
        (es) => es.some((e) => e.event === 'session' && e.data.energy_wh === 2000),
      );
      const last = events.filter((e) => e.event === 'session').at(-1)!.data;
      expect(last).toMatchObject({ id: session._id, station: station._id, wallet: who.wallet._id, energy_wh: 2000, cost: 100, debited: 100, balance: 900 });
    } finally {
      await charger.close();
    }
  });

  it('refuses unknown event types (400) and needs a key (401)', async () => {
    expect((await gw.api('GET', '/v1/events/stream?types=session,bogus')).status).toBe(400);
    expect((await fetch(`${gw.adminUrl}/v1/events/stream`)).status).toBe(401);
  });
});

describe('alerts, search and the overview', () => {
  it('acknowledges an alert once, records who did, and keeps other tenants out', async () => {
    const org = await anOrganization(gw);
    const station = await aStation(gw, { organization: org._id });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
    await charger.stop(424_242, 10);
    await charger.close();
    const open = await eventually(async () => {
      const r = await gw.api('GET', `/v1/alerts?open=true&chargestation=${station._id}`);
      return r.body.data[0];
    });
    expect(open).toMatchObject({ kind: 'unknown_transaction', acknowledged: false, acknowledgedAt: null });

    const other = await anOrganization(gw);
    const otherKey = (await gw.api('POST', '/v1/api_keys', { name: 'other', organization: other._id })).body.key;
    const foreign = await gw.api('POST', `/v1/alerts/${open._id}/ack`, undefined, { authorization: `Bearer ${otherKey}` });
    expect(foreign.status).toBe(404);

    const acked = await gw.api('POST', `/v1/alerts/${open._id}/ack`);
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({ acknowledged: true, acknowledgedBy: 'bootstrap' });
    const again = await gw.api('POST', `/v1/alerts/${open._id}/ack`);
    expect(again.body.acknowledgedAt).toBe(acked.body.acknowledgedAt);
    expect((await gw.api('GET', `/v1/alerts?open=true&chargestation=${station._id}`)).body.data).toEqual([]);
    expect((await gw.api('GET', `/v1/alerts?open=false&chargestation=${station._id}`)).body.data.map((a: any) => a._id)).toEqual([open._id]);
    expect((await gw.api('POST', '/v1/alerts/0123456789abcdef01234567/ack')).status).toBe(404);
  });

  it('finds stations by identity prefix, ignoring case, with LIKE wildcards taken literally', async () => {
    const tag = `Srch${Date.now().toString(36)}`;
    // `%` cannot be part of an identity (OCPP's rule), but a search for it must still be literal
    const ids = [`${tag}-A1`, `${tag}-a2`, `${tag}_B1`, `${tag}~C1`];
    for (const ocpp_id of ids) await aStation(gw, { ocpp_id });
    const find = async (q: string, extra = '') =>
      (await gw.api('GET', `/v1/chargestations?q=${encodeURIComponent(q)}${extra}`)).body.data.map((s: any) => s.ocpp_id).sort();
    expect(await find(`${tag}-a`)).toEqual([`${tag}-A1`, `${tag}-a2`]);
    expect(await find(tag.toUpperCase())).toEqual([...ids].sort());
    expect(await find(`${tag}_`)).toEqual([`${tag}_B1`]);
    expect(await find(`${tag}%`)).toEqual([]);
    expect(await find(`${tag}~`)).toEqual([`${tag}~C1`]);
    // pages through a search
    const first = await gw.api('GET', `/v1/chargestations?q=${tag}&limit=3`);
    const second = await gw.api('GET', `/v1/chargestations?q=${tag}&limit=3&cursor=${first.body.next_cursor}`);
    expect([...first.body.data, ...second.body.data].map((s: any) => s.ocpp_id).sort()).toEqual([...ids].sort());
    expect((await gw.api('GET', '/v1/chargestations?q=')).status).toBe(400);
  });

  it("counts stations online, running sessions, and the energy and money of today's sessions", async () => {
    const org = await anOrganization(gw);
    const key = (await gw.api('POST', '/v1/api_keys', { name: 'overview', organization: org._id })).body.key;
    const overview = async () => (await gw.api('GET', '/v1/overview', undefined, { authorization: `Bearer ${key}` })).body;
    const before = await overview();
    expect(before).toMatchObject({ stations: { total: 0, online: 0 }, sessions: { active: 0 }, since: { energy_wh: 0, debited: [] } });

    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 100 }] });
    const station = await aStation(gw, { rate: rate._id, organization: org._id });
    await aStation(gw, { organization: org._id });
    const who = await aUserWithWallet(gw, { organization: org._id, balance: 5000 });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
    try {
      const { transactionId } = await charger.start(who.token.physicalId, 0);
      await charger.meter(transactionId, 1500);
      const now = await overview();
      expect(now.stations).toEqual({ total: 2, online: 1, offline: 1 });
      expect(now.sessions.active).toBe(1);
      expect(now.since).toMatchObject({ sessions: 1, energy_wh: 1500, debited: [{ currency: 'USD', amount: 150 }] });
      const earlier = await gw.api('GET', `/v1/overview?since=${new Date(Date.now() + 60_000).toISOString()}`, undefined, { authorization: `Bearer ${key}` });
      expect(earlier.body.since.sessions).toBe(0);
    } finally {
      await charger.close();
    }
  });
});
