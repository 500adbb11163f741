import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { aCharger, aRunningSession } from '../helpers/charger.ts';
import { eventually, openSocket, stationClient } from '../helpers/station.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ env: { WS_PING_INTERVAL_S: '1' } });
});
afterAll(async () => {
  await gw.stop();
});

/** A registered station's bare socket that does not answer pings by itself. */
async function pinglessStation(prefix: string) {
  const id = uniqueIdentity(prefix);
  await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
  return { id, ws: await openSocket(gw.ocppUrl, id, { autoPong: false }) };
}

describe('station faults', () => {
  it('a half-open socket (pongs stop) is dropped after a missed ping', async () => {
    const { id, ws } = await pinglessStation('HALF');
    let pongs = 0;
    ws.on('ping', () => {
      // answers the first ping, then the network "goes away"
      if (pongs++ === 0) ws.pong();
    });
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    await eventually(() => pongs >= 2, 5000);
    await eventually(() => !gw.app.ocpp.connections.isOnline(id), 6000);
    ws.terminate();
  });

  it('a socket that sends nothing at all after its handshake is dropped after a missed ping', async () => {
    const { id, ws } = await pinglessStation('MUTE');
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    await eventually(() => !gw.app.ocpp.connections.isOnline(id), 6000);
    ws.terminate();
  });

  it('a charger that never answers pings but keeps sending calls stays connected', async () => {
    const { id, ws } = await pinglessStation('NOPONG');
    let pings = 0;
    ws.on('ping', () => void pings++);
    let closed = false;
    ws.on('close', () => (closed = true));
    const answers: unknown[] = [];
    ws.on('message', (m) => answers.push(JSON.parse(String(m))));
    // a call every 1.2 s for 6 s: the 1 s ping interval passes between calls, pings go unanswered
    for (let i = 0; i < 5; i++) {
      ws.send(JSON.stringify([2, `hb-${i}`, 'Heartbeat', {}]));
      await new Promise((r) => setTimeout(r, 1200));
    }
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(closed).toBe(false);
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    expect(answers.filter((a) => (a as unknown[])[0] === 3)).toHaveLength(5);
    ws.terminate();
  });

  it('a charger that never answers pings is dropped once silent for two Heartbeat intervals', async () => {
    const short = await startGateway({ env: { WS_PING_INTERVAL_S: '1', HEARTBEAT_INTERVAL_S: '3' } });
    try {
      const id = uniqueIdentity('QUIET');
      await short.api('POST', '/v1/chargestations', { ocpp_id: id });
      const ws = await openSocket(short.ocppUrl, id, { autoPong: false });
      ws.send(JSON.stringify([2, 'boot-1', 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }]));
      const silentSince = Date.now();
      await eventually(() => !short.app.ocpp.connections.isOnline(id), 10_000);
      // not at the first missed ping (1-2 s): it had shown it is alive without pongs
      expect(Date.now() - silentSince).toBeGreaterThanOrEqual(5_000);
      expect(short.logs.some((l) => l.includes('station silent; connection dropped') && l.includes(id))).toBe(true);
      ws.terminate();
    } finally {
      await short.stop();
    }
  });

  it('a station that disconnects in the middle of a MeterValues is billed once, also when it resends', async () => {
    const { charger, station, user, transactionId } = await aRunningSession(gw, { pricePerKwh: 50, balance: 10_000 });
    const frame = JSON.stringify([
      2,
      'mid-call-1',
      'MeterValues',
      { connectorId: 1, transactionId, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: '2000' }] }] },
    ]);
    charger.client.sendRaw(frame);
    await charger.close(); // gone before the answer
    await eventually(async () => (await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance === 9_900);
    const again = await aCharger(gw.ocppUrl, station.ocpp_id);
    await again.meter(transactionId, 2000); // the resend after reconnect
    await again.stop(transactionId, 2000);
    expect((await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(9_900);
    await again.close();
  });

  it('a reconnect storm: every station reconnects at once, each ends with exactly one live connection', async () => {
    const ids = Array.from({ length: 60 }, () => uniqueIdentity('STORM'));
    for (const id of ids) await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const first = ids.map((id) => stationClient(gw.ocppUrl, id));
    await Promise.all(first.map((c) => c.connect()));
    const second = ids.map((id) => stationClient(gw.ocppUrl, id));
    const third = ids.map((id) => stationClient(gw.ocppUrl, id));
    await Promise.all([...second, ...third].map((c) => c.connect().catch(() => undefined)));
    await eventually(() => ids.every((id) => gw.app.ocpp.connections.isOnline(id)));
    // the live connection answers; heartbeats from the newest connections all work
    const answers = await Promise.allSettled(third.map((c) => c.call('Heartbeat', {})));
    expect(answers.filter((a) => a.status === 'fulfilled').length).toBe(ids.length);
    expect(gw.app.ocpp.connections.online().filter((id) => id.startsWith('STORM')).length).toBe(ids.length);
    await Promise.allSettled([...first, ...second, ...third].map((c) => c.close({ force: true })));
    await eventually(() => ids.every((id) => !gw.app.ocpp.connections.isOnline(id)));
  });
});
