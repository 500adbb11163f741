import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { handshakeStatus, openSocket, stationClient } from '../helpers/station.ts';
import { portOf, rawRequest, upgradeRequest } from '../helpers/raw-http.ts';

/** Charge point identities follow OCPP's rules and match ignoring case and a trailing slash. */

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.stop();
});

async function register(ocpp_id: string, extra: Record<string, unknown> = {}) {
  const res = await gw.api('POST', '/v1/chargestations', { ocpp_id, ...extra });
  expect(res.status).toBe(201);
  return res.body as { _id: string; ocpp_id: string };
}

describe('identity rules at the handshake', () => {
  it('refuses with 400 identities OCPP does not allow, before any lookup, without disturbing handshakes alongside', async () => {
    const ids = Array.from({ length: 12 }, () => uniqueIdentity('BATCH'));
    for (const id of ids) await register(id);
    const port = portOf(gw.ocppUrl);
    const bad = ['CP%00X', '%00', 'a%20b', '%C3%A9t%C3%A9', 'x'.repeat(49), '%2E%2E', 'CP%7C1', 'CP%231'];
    // All at once, so the good ones share station look-ups with whatever the bad ones would have done.
    const [badAnswers, good] = await Promise.all([
      Promise.all(bad.map((id) => rawRequest(port, upgradeRequest(`/ocpp/${id}`)))),
      Promise.all(
        ids.map(async (id) => {
          const c = stationClient(gw.ocppUrl, id);
          await c.connect();
          return c;
        }),
      ),
    ]);
    expect(badAnswers.map((a) => a.status)).toEqual(bad.map(() => 400));
    expect(ids.every((id) => gw.app.ocpp.connections.isOnline(id))).toBe(true);
    await Promise.all(good.map((c) => c.close()));
    // The handshake log names why, and 503s (a failed shared look-up) never happened.
    expect(gw.logs.filter((l) => l.includes('"handshake rejected"') && l.includes('"status":503'))).toEqual([]);
  });

  it('accepts an identity of exactly 48 allowed characters, symbols included', async () => {
    const id = `${uniqueIdentity('L')}-._~!$&'()*+,;=:@`.padEnd(48, 'x');
    expect(id).toHaveLength(48);
    await register(id);
    const client = stationClient(gw.ocppUrl, id);
    await client.connect();
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    await client.close();
  });

  it('matches identities ignoring case and a trailing slash; the connection is the registered station', async () => {
    const id = uniqueIdentity('CaseCP');
    const station = await register(id);
    const lower = stationClient(gw.ocppUrl, id.toLowerCase());
    await lower.connect();
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    expect(await lower.call('Heartbeat', {})).toHaveProperty('currentTime');
    expect((await gw.api('GET', `/v1/chargestations/${station._id}`)).body.online).toBe(true);

    // a trailing slash, and another case: the same station, so it replaces the first connection
    const closed = new Promise<{ code: number }>((resolve) => lower.once('close', resolve));
    const slash = await openSocket(gw.ocppUrl, `${id.toUpperCase()}/`);
    expect((await closed).code).toBe(1000);
    expect(gw.app.ocpp.connections.online().filter((o) => o.toLowerCase() === id.toLowerCase())).toEqual([id]);
    const answer = new Promise<unknown[]>((resolve) => slash.once('message', (m) => resolve(JSON.parse(String(m)))));
    slash.send(JSON.stringify([2, 'hb-1', 'Heartbeat', {}]));
    expect(await answer).toMatchObject([3, 'hb-1', { currentTime: expect.any(String) }]);
    slash.close();
  });

  it('a station with a password logs in under any case of its identity', async () => {
    const id = uniqueIdentity('CasePw');
    const password = 'case-insensitive-pw';
    await register(id, { password });
    const client = stationClient(gw.ocppUrl, id.toLowerCase(), { password });
    await client.connect();
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    await client.close();
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id.toUpperCase(), { password: 'not-the-password' }))).toBe(401);
  });
});

describe('identity rules in the registry', () => {
  it('refuses an ocpp_id that differs only by case from an existing one (409)', async () => {
    const id = uniqueIdentity('Dup');
    await register(id);
    const res = await gw.api('POST', '/v1/chargestations', { ocpp_id: id.toLowerCase() });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('ocpp_id_taken');
  });

  it('refuses an ocpp_id a station could not connect with (400)', async () => {
    for (const ocpp_id of ['a b', 'été', 'x'.repeat(49), 'a/b', 'a%b', 'a#b', '..', '']) {
      const res = await gw.api('POST', '/v1/chargestations', { ocpp_id });
      expect(res.status, ocpp_id).toBe(400);
      expect(res.body.error.code).toBe('validation_error');
    }
  });
});
