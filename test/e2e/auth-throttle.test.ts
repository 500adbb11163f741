import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { handshakeStatus, stationClient } from '../helpers/station.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ env: { AUTH_FAILURES_PER_IDENTITY: '3', AUTH_FAILURES_PER_SOURCE: '8' } });
});
afterAll(async () => {
  await gw.stop();
});

describe('failed logins are rate-limited', () => {
  it('per identity on the OCPP port: after 3 bad passwords even the right one waits (429); others are unaffected', async () => {
    const id = uniqueIdentity();
    const other = uniqueIdentity();
    const password = 'the-right-password';
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id, password });
    await gw.api('POST', '/v1/chargestations', { ocpp_id: other, password });
    for (let i = 0; i < 3; i++) {
      expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { password: `guess-${i}-xxxxxx` }))).toBe(401);
    }
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { password }))).toBe(429);
    const ok = stationClient(gw.ocppUrl, other, { password });
    await ok.connect();
    await ok.close();
    expect(gw.logs.some((l) => l.includes('"status":429') && l.includes(id))).toBe(true);
  });

  it('per source on the admin port: after 8 failures from one address, 429 with Retry-After', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) {
      statuses.push((await gw.api('GET', '/v1/organizations', undefined, { authorization: `Bearer wrong-${i}` })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429]);
    // while blocked, even a valid key from this address waits
    expect((await gw.api('GET', '/v1/organizations')).status).toBe(429);
    const res = await fetch(gw.adminUrl + '/v1/organizations', { headers: { authorization: 'Bearer still-wrong' } });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as any).error.code).toBe('too_many_requests');
  });
});
