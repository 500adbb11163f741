import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { eventually, stationClient } from '../helpers/station.ts';
import { idleSocket, portOf, rawRequest, upgradeRequest } from '../helpers/raw-http.ts';

/** The OCPP port's connection cap and handshake deadline. */

const CAP = 20;
let gw: TestGateway;
let port: number;
beforeAll(async () => {
  gw = await startGateway({ env: { OCPP_MAX_CONNECTIONS: String(CAP), OCPP_HANDSHAKE_TIMEOUT_S: '2' } });
  port = portOf(gw.ocppUrl);
});
afterAll(async () => {
  await gw.stop();
});

describe('connection limits on the OCPP port', () => {
  it('refuses handshakes with 503 while full, keeps the admin port answering, and frees the sockets of idle clients', async () => {
    const id = uniqueIdentity();
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const idle = await Promise.all(Array.from({ length: CAP }, () => idleSocket(port)));

    const refused = await rawRequest(port, upgradeRequest(`/ocpp/${id}`));
    expect(refused.status).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.closed).toBe(true);
    const station = stationClient(gw.ocppUrl, id);
    await expect(station.connect()).rejects.toMatchObject({ code: 503 });

    // the admin port is another port of the same process: it still answers
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    expect((await gw.api('GET', '/v1/chargestations?limit=1')).status).toBe(200);

    // sockets that never send a request are closed after OCPP_HANDSHAKE_TIMEOUT_S
    await eventually(() => idle.every((s) => s.closedAt !== undefined), 8_000);
    const ok = stationClient(gw.ocppUrl, id);
    await ok.connect();
    expect(await ok.call('Heartbeat', {})).toHaveProperty('currentTime');
    await ok.close();
  });

  it('closes a socket whose request never completes, and keeps a connected station past the deadline', async () => {
    const id = uniqueIdentity();
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const station = stationClient(gw.ocppUrl, id);
    await station.connect();

    const partial = await idleSocket(port);
    partial.write(`GET /ocpp/${id} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n`);
    const slow = setInterval(() => partial.write('X-Slow: 1\r\n'), 300); // a slow-loris dribble
    try {
      await eventually(() => partial.closedAt !== undefined, 8_000);
    } finally {
      clearInterval(slow);
    }
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    expect(await station.call('Heartbeat', {})).toHaveProperty('currentTime');
    await station.close();
  });
});
