import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { eventually, handshakeStatus, stationClient } from '../helpers/station.ts';

let gw: TestGateway;
const clients: { close(o?: object): Promise<unknown> }[] = [];
function track<T extends { close(o?: object): Promise<unknown> }>(c: T): T {
  clients.push(c);
  return c;
}

async function registerStation(body: Record<string, unknown>) {
  const res = await gw.api('POST', '/v1/chargestations', body);
  expect(res.status).toBe(201);
  return res.body as { _id: string; ocpp_id: string };
}

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close({ force: true })));
  await gw.stop();
});

describe('OCPP handshake', () => {
  it('accepts a registered station offering ocpp1.6', async () => {
    const id = uniqueIdentity();
    await registerStation({ ocpp_id: id });
    const client = track(stationClient(gw.ocppUrl, id));
    await client.connect();
    expect(client.protocol).toBe('ocpp1.6');
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    expect(gw.logs.some((l) => l.includes('"station connected"') && l.includes(id))).toBe(true);
  });

  it('answers 400 without the ocpp1.6 subprotocol', async () => {
    const id = uniqueIdentity();
    await registerStation({ ocpp_id: id });
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { protocols: [] }))).toBe(400);
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { protocols: ['ocpp2.0.1'] }))).toBe(400);
  });

  it('answers 404 for an unknown identity and for a deactivated station', async () => {
    expect(await handshakeStatus(stationClient(gw.ocppUrl, uniqueIdentity('NOPE')))).toBe(404);
    const id = uniqueIdentity();
    const st = await registerStation({ ocpp_id: id });
    expect((await gw.api('DELETE', `/v1/chargestations/${st._id}`)).status).toBe(200);
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id))).toBe(404);
  });

  it('requires HTTP Basic auth from a station with a password (401 when missing or wrong)', async () => {
    const id = uniqueIdentity();
    const password = 'correct horse battery';
    await registerStation({ ocpp_id: id, password });
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id))).toBe(401);
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { password: 'wrong password!' }))).toBe(401);
    const ok = track(stationClient(gw.ocppUrl, id, { password }));
    await ok.connect();
    const res = await ok.call('Heartbeat', {});
    expect(res).toHaveProperty('currentTime');
  });

  it('logs one line per rejected handshake with the identity, and never the password', async () => {
    const id = uniqueIdentity();
    const password = 'very-secret-pass-42';
    await registerStation({ ocpp_id: id, password });
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { password: 'wrong-pass-000' }))).toBe(401);
    const ok = track(stationClient(gw.ocppUrl, id, { password }));
    await ok.connect();
    const rejected = gw.logs.filter((l) => l.includes('"handshake rejected"') && l.includes(`"identity":"${id}"`));
    expect(rejected).toHaveLength(1);
    expect(JSON.parse(rejected[0]!)).toMatchObject({ identity: id, status: 401 });
    const all = gw.logs.join('\n');
    expect(all).not.toContain(password);
    expect(all).not.toContain('wrong-pass-000');
    expect(all).not.toContain(Buffer.from(`${id}:${password}`).toString('base64'));
    expect(all).not.toMatch(/"authorization"\s*:\s*"Basic/i);
  });

  it('a new connection for an identity replaces the old one', async () => {
    const id = uniqueIdentity();
    await registerStation({ ocpp_id: id });
    const first = track(stationClient(gw.ocppUrl, id));
    await first.connect();
    const firstClosed = new Promise<{ code: number }>((resolve) => first.once('close', resolve));
    const second = track(stationClient(gw.ocppUrl, id));
    await second.connect();
    const closed = await firstClosed;
    expect(closed.code).toBe(1000);
    // The replacement is the live one: calls reach it, and the old close did not unregister it.
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    expect(await second.call('Heartbeat', {})).toHaveProperty('currentTime');
  });

  it('refuses frames over 64 KiB by closing with 1009', async () => {
    const id = uniqueIdentity();
    await registerStation({ ocpp_id: id });
    const ws = new WebSocket(`${gw.ocppUrl}/${id}`, ['ocpp1.6']);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const big = JSON.stringify([2, 'big-1', 'DataTransfer', { vendorId: 'x', data: 'a'.repeat(70 * 1024) }]);
    ws.send(big);
    expect(await closed).toBe(1009);
    await eventually(() => !gw.app.ocpp.connections.isOnline(id));
  });

  it('accepts a frame just under 64 KiB', async () => {
    const id = uniqueIdentity();
    await registerStation({ ocpp_id: id });
    const client = track(stationClient(gw.ocppUrl, id));
    await client.connect();
    const res = await client.call('DataTransfer', { vendorId: 'x', data: 'a'.repeat(60 * 1024) });
    expect(res).toEqual({ status: 'UnknownVendorId' });
  });

  it('takes the identity from the last path segment, whatever the prefix', async () => {
    const id = uniqueIdentity();
    await registerStation({ ocpp_id: id });
    const base = gw.ocppUrl.replace(/\/ocpp$/, '/some/other/prefix');
    const client = track(stationClient(base, id));
    await client.connect();
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
  });
});
