import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet } from '../helpers/builders.ts';
import { aCharger } from '../helpers/charger.ts';
import { eventually, stationClient } from '../helpers/station.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({ env: { WS_PING_INTERVAL_S: '1' } });
});
afterAll(async () => {
  await gw.stop();
});

describe('station faults', () => {
  it('a half-open socket (no pong) is dropped after a missed ping', async () => {
    const id = uniqueIdentity('HALF');
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const ws = new WebSocket(`${gw.ocppUrl}/${id}`, ['ocpp1.6'], { autoPong: false });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(gw.app.ocpp.connections.isOnline(id)).toBe(true);
    await eventually(() => !gw.app.ocpp.connections.isOnline(id), 6000);
    ws.terminate();
  });

  it('a station that disconnects in the middle of a MeterValues is billed once, also when it resends', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
    const station = await aStation(gw, { rate: rate._id });
    const { user, token } = await aUserWithWallet(gw, { balance: 10_000 });
    const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
    const { transactionId } = await charger.start(token.physicalId, 0);
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
