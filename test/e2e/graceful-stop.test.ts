import { describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity } from '../helpers/gateway.ts';
import { stationClient } from '../helpers/station.ts';

describe('graceful stop', () => {
  it('finishes a call in flight, closes stations with 1001, stops both ports and the database', async () => {
    const gw = await startGateway();
    const id = uniqueIdentity();
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const client = stationClient(gw.ocppUrl, id);
    await client.connect();
    await client.call('Heartbeat', {});
    const closed = new Promise<{ code: number }>((resolve) => client.once('close', resolve));
    // a call the gateway is handling when the stop begins is answered, not dropped
    const serverSide = gw.app.ocpp.connections.get(id) as unknown as NodeJS.EventEmitter;
    const received = new Promise<void>((resolve) => serverSide.once('call', () => resolve()));
    const inFlight = client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
    await received;
    const stopping = gw.app.stop();
    await expect(inFlight).resolves.toEqual({});
    await stopping;
    expect((await closed).code).toBe(1001);
    await expect(fetch(gw.adminUrl + '/healthz')).rejects.toBeDefined();
    await expect(stationClient(gw.ocppUrl, id).connect()).rejects.toBeDefined();
    await expect(gw.app.db.selectFrom('charge_stations').selectAll().execute()).rejects.toBeDefined();
    await gw.database.drop();
  });
});
