import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { handshakeStatus, openSocket, stationClient } from '../helpers/station.ts';

/**
 * Failed logins slow down whoever fails, never whoever presents credentials that verify.
 * Sources are told apart by loopback address: 127.0.0.1 is "the station's network", 127.0.0.2
 * and up are other places (Linux routes all of 127/8 to the loopback interface).
 */

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ env: { AUTH_FAILURES_PER_IDENTITY: '3', AUTH_FAILURES_PER_SOURCE: '8' } });
});
afterAll(async () => {
  await gw.stop();
});

const from = (localAddress: string) => ({ wsOpts: { localAddress } });

async function register(ocpp_id: string, password?: string) {
  expect((await gw.api('POST', '/v1/chargestations', { ocpp_id, ...(password ? { password } : {}) })).status).toBe(201);
}

async function connects(client: ReturnType<typeof stationClient>): Promise<boolean> {
  await client.connect();
  const ok = (await client.call('Heartbeat', {})).currentTime !== undefined;
  await client.close();
  return ok;
}

describe('station logins', () => {
  it('wrong passwords from elsewhere never lock out the right one, even one never seen before', async () => {
    const id = uniqueIdentity();
    const password = 'the-right-password';
    await register(id, password);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(await handshakeStatus(stationClient(gw.ocppUrl, id, { password: `guess-${i}-xxxxxx`, ...from('127.0.0.2') })));
    }
    // the guesser backs off (no more password hashing for it) ...
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toContain(429);
    // ... while the station, from its own address, logs in at once with its password
    expect(await connects(stationClient(gw.ocppUrl, id, { password }))).toBe(true);
    expect(gw.logs.some((l) => l.includes('"status":429') && l.includes(id))).toBe(true);
  });

  it('a station that connected before is accepted even from an address that has been guessing its password', async () => {
    const id = uniqueIdentity();
    const password = 'remembered-password';
    await register(id, password);
    const nat = from('127.0.0.3');
    expect(await connects(stationClient(gw.ocppUrl, id, { password, ...nat }))).toBe(true);
    for (let i = 0; i < 10; i++) await handshakeStatus(stationClient(gw.ocppUrl, id, { password: `wrong-${i}-xxxxxx`, ...nat }));
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { password: 'wrong-again-xxxx', ...nat }))).toBe(429);
    expect(await connects(stationClient(gw.ocppUrl, id, { password, ...nat }))).toBe(true);
  });

  it('unknown identities from one address (a NAT) do not lock out the registered stations behind it', async () => {
    const nat = from('127.0.0.4');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await handshakeStatus(stationClient(gw.ocppUrl, uniqueIdentity('NOPE'), nat)));
    expect(statuses.slice(0, 7)).toEqual(Array(7).fill(404));
    expect(statuses).toContain(429); // the prober backs off
    const open = uniqueIdentity();
    const locked = uniqueIdentity();
    await register(open);
    await register(locked, 'never-seen-before-pw');
    expect(await connects(stationClient(gw.ocppUrl, open, nat))).toBe(true);
    expect(await connects(stationClient(gw.ocppUrl, locked, { password: 'never-seen-before-pw', ...nat }))).toBe(true);
  });

  it('a source guessing across many identities backs off as a whole (the CPU stays protected)', async () => {
    const ids = Array.from({ length: 10 }, () => uniqueIdentity('SPRAY'));
    for (const id of ids) await register(id, 'sprayed-password');
    const statuses: number[] = [];
    for (const id of ids) statuses.push(await handshakeStatus(stationClient(gw.ocppUrl, id, { password: 'wrong-guess-xx', ...from('127.0.0.5') })));
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(8);
    expect(statuses).toContain(429);
  });

  it('answers a missing password with a Basic challenge, and a client that logs in after it gets in', async () => {
    const id = uniqueIdentity();
    const password = 'challenge-first-pw';
    await register(id, password);
    const localAddress = '127.0.0.6';
    const challenge = await new Promise<{ status: number; header: string | undefined }>((resolve, reject) => {
      const ws = new WebSocket(`${gw.ocppUrl}/${id}`, ['ocpp1.6'], { localAddress });
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode ?? 0, header: res.headers['www-authenticate'] });
        ws.terminate();
      });
      ws.once('open', () => reject(new Error('accepted without a password')));
      ws.once('error', () => {});
    });
    expect(challenge.status).toBe(401);
    expect(challenge.header).toMatch(/^Basic realm="[^"]+"/);
    // challenges are not failures: more of them (past AUTH_FAILURES_PER_IDENTITY = 3) ...
    for (let i = 0; i < 5; i++) expect(await handshakeStatus(stationClient(gw.ocppUrl, id, from(localAddress)))).toBe(401);
    // ... and the same client answering with its credentials (a password not seen before) gets in
    const ws = await openSocket(gw.ocppUrl, id, {
      localAddress,
      headers: { authorization: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}` },
    });
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    ws.close();
  });
});

describe('admin API keys', () => {
  it('after many bad keys from one address, its bad keys get 429 with Retry-After, and a valid key still works', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await gw.api('GET', '/v1/organizations', undefined, { authorization: `Bearer wrong-${i}` })).status);
    }
    expect(statuses.slice(0, 8)).toEqual(Array(8).fill(401));
    expect(statuses.slice(8)).toEqual([429, 429, 429, 429]);
    const res = await fetch(gw.adminUrl + '/v1/organizations', { headers: { authorization: 'Bearer still-wrong' } });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as any).error.code).toBe('too_many_requests');
    // the valid key, from the same address, in the middle of the back-off
    expect((await gw.api('GET', '/v1/organizations')).status).toBe(200);
  });
});
