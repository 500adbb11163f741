import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { eventually, stationClient } from '../helpers/station.ts';

let gw: TestGateway;
const clients: { close(o?: object): Promise<unknown> }[] = [];

beforeAll(async () => {
  // The offline-authorization keys are left alone here: these tests count the configuration writes.
  gw = await startGateway({ env: { HEARTBEAT_INTERVAL_S: '123', METER_VALUE_SAMPLE_INTERVAL_S: '15', OCPP_OFFLINE_AUTHORIZATION: 'unmanaged' } });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close({ force: true })));
  await gw.stop();
});

/** A registered, connected station; its ChangeConfiguration calls are answered with `configAnswer`. */
async function connected(
  configAnswer: string | ((key: string) => string) = 'Accepted',
  strict = true,
) {
  const id = uniqueIdentity();
  const created = await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
  expect(created.status).toBe(201);
  const client = stationClient(gw.ocppUrl, id, { strict });
  const changeConfig: { key: string; value: string }[] = [];
  client.handle('ChangeConfiguration', async ({ params }: { params: { key: string; value: string } }) => {
    changeConfig.push(params);
    return { status: typeof configAnswer === 'function' ? configAnswer(params.key) : configAnswer };
  });
  clients.push(client);
  await client.connect();
  return { id, stationId: created.body._id as string, client, changeConfig };
}

const station = (id: string) => gw.api('GET', `/v1/chargestations/${id}`).then((r) => r.body);

/** CALLERROR frames the client received: [4, id, code, description, details] */
function callErrors(client: { received: unknown[] }) {
  return client.received.filter((f): f is [number, string, string, string, object] => Array.isArray(f) && f[0] === 4);
}

describe('BootNotification', () => {
  it('is Accepted with the configured interval, stores boot info, then configures the station', async () => {
    const { stationId, client, changeConfig } = await connected((key) =>
      key === 'StopTransactionOnInvalidId' ? 'NotSupported' : 'Accepted',
    );
    const before = Date.now();
    const res = await client.call('BootNotification', {
      chargePointVendor: 'Acme',
      chargePointModel: 'Volt 22',
      chargePointSerialNumber: 'SN-1',
      firmwareVersion: '1.2.3',
      meterType: 'M1',
    });
    expect(res.status).toBe('Accepted');
    expect(res.interval).toBe(123);
    expect(Math.abs(Date.parse(res.currentTime) - before)).toBeLessThan(5000);

    await eventually(() => changeConfig.length === 2);
    expect(changeConfig).toEqual([
      { key: 'MeterValueSampleInterval', value: '15' },
      { key: 'StopTransactionOnInvalidId', value: 'true' },
    ]);
    const s = await eventually(async () => {
      const s = await station(stationId);
      return Object.keys(s.configuration).length === 2 ? s : undefined;
    });
    expect(s.boot).toMatchObject({
      vendor: 'Acme',
      model: 'Volt 22',
      serial_number: 'SN-1',
      firmware_version: '1.2.3',
      meter_type: 'M1',
    });
    expect(s.boot.booted_at).not.toBeNull();
    expect(s.configuration.MeterValueSampleInterval).toMatchObject({ value: '15', status: 'Accepted' });
    expect(s.configuration.StopTransactionOnInvalidId).toMatchObject({ value: 'true', status: 'NotSupported' });
  });

  it('records a station that does not answer ChangeConfiguration without failing the boot', async () => {
    const id = uniqueIdentity();
    const created = await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const client = stationClient(gw.ocppUrl, id);
    clients.push(client);
    client.handle('ChangeConfiguration', async () => {
      throw new Error('boom'); // answered with a CALLERROR
    });
    await client.connect();
    const res = await client.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    expect(res.status).toBe('Accepted');
    const s = await eventually(async () => {
      const s = await station(created.body._id);
      return Object.keys(s.configuration).length === 2 ? s : undefined;
    });
    expect(s.configuration.MeterValueSampleInterval.status).not.toBe('Accepted');
    expect(await client.call('Heartbeat', {})).toHaveProperty('currentTime');
  });
});

describe('Heartbeat, StatusNotification and the rest of the core set', () => {
  it('Heartbeat answers the time and updates last-seen (without a BootNotification first)', async () => {
    const { stationId, client } = await connected();
    expect((await station(stationId)).lastHeartbeat).toBeNull();
    const res = await client.call('Heartbeat', {});
    expect(typeof res.currentTime).toBe('string');
    const s = await station(stationId);
    expect(s.lastHeartbeat).not.toBeNull();
    expect(s.online).toBe(true);
  });

  it('StatusNotification stores per-connector status and error code; a stale report does not win', async () => {
    const { stationId, client } = await connected();
    const t1 = new Date(Date.now() - 60_000).toISOString();
    const t2 = new Date().toISOString();
    expect(await client.call('StatusNotification', { connectorId: 0, errorCode: 'NoError', status: 'Available' })).toEqual({});
    await client.call('StatusNotification', {
      connectorId: 1,
      errorCode: 'GroundFailure',
      status: 'Faulted',
      info: 'ground',
      vendorId: 'com.example.charger',
      vendorErrorCode: 'E42',
      timestamp: t2,
    });
    await client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: t1 });
    await client.call('StatusNotification', { connectorId: 2, errorCode: 'NoError', status: 'Charging', timestamp: t2 });
    const s = await station(stationId);
    expect(s.connectors.map((c: any) => [c.connector_id, c.status, c.error_code])).toEqual([
      [0, 'Available', 'NoError'],
      [1, 'Faulted', 'GroundFailure'],
      [2, 'Charging', 'NoError'],
    ]);
    expect(s.connectors[1]).toMatchObject({ info: 'ground', vendor_id: 'com.example.charger', vendor_error_code: 'E42', status_at: t2 });
  });

  it('DataTransfer answers UnknownVendorId', async () => {
    const { client } = await connected();
    expect(await client.call('DataTransfer', { vendorId: 'com.example', messageId: 'x', data: 'y' })).toEqual({
      status: 'UnknownVendorId',
    });
  });

  it('Firmware and Diagnostics status notifications are answered and stored', async () => {
    const { stationId, client } = await connected();
    expect(await client.call('FirmwareStatusNotification', { status: 'Downloading' })).toEqual({});
    expect(await client.call('DiagnosticsStatusNotification', { status: 'Uploaded' })).toEqual({});
    const s = await station(stationId);
    expect(s.firmware_status).toBe('Downloading');
    expect(s.diagnostics_status).toBe('Uploaded');
  });
});

describe('bad messages get a CALLERROR with OCPP 1.6 codes and the connection stays open', () => {
  it('schema violations (missing field, wrong type, too long, out of range, not the PDU at all)', async () => {
    const { client } = await connected('Accepted', false);
    const cases: [string, unknown, string][] = [
      ['BootNotification', { chargePointVendor: 'V' }, 'OccurenceConstraintViolation'],
      ['BootNotification', { chargePointVendor: 'V', chargePointModel: 7 }, 'TypeConstraintViolation'],
      ['BootNotification', { chargePointVendor: 'V'.repeat(21), chargePointModel: 'M' }, 'PropertyConstraintViolation'],
      ['StatusNotification', { connectorId: 1, errorCode: 'Nope', status: 'Available' }, 'PropertyConstraintViolation'],
      ['StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: 'yesterday' }, 'PropertyConstraintViolation'],
      ['Heartbeat', [1, 2], 'FormationViolation'],
    ];
    for (const [action, payload, code] of cases) {
      await expect(client.call(action, payload), `${action} ${JSON.stringify(payload)}`).rejects.toMatchObject({
        rpcErrorCode: expect.any(String),
      });
      const last = callErrors(client).at(-1)!;
      expect(last[2], `${action} ${JSON.stringify(payload)}`).toBe(code);
    }
    expect(await client.call('Heartbeat', {})).toHaveProperty('currentTime');
  });

  it('vendor extras are ignored, known fields still checked; a time without a zone is read as UTC', async () => {
    const { client, id } = await connected('Accepted', false);
    expect(await client.call('Heartbeat', { vendorUptime: 12 })).toHaveProperty('currentTime');
    await client.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M', vendorExtra: { a: 1 } });
    await client.call('StatusNotification', {
      connectorId: 1,
      errorCode: 'NoError',
      status: 'Available',
      timestamp: '2026-06-01T10:00:00',
      vendorSpecific: 'x',
    });
    const station = (await gw.api('GET', '/v1/chargestations?limit=200')).body.data.find((s: any) => s.ocpp_id === id);
    expect(station.connectors.find((c: any) => c.connector_id === 1)).toMatchObject({ status: 'Available', status_at: '2026-06-01T10:00:00.000Z' });
    // a known field with a bad value is still refused, extras or not
    await expect(client.call('Heartbeat', { vendorUptime: 12 })).resolves.toHaveProperty('currentTime');
    await expect(client.call('BootNotification', { chargePointVendor: 'V'.repeat(21), chargePointModel: 'M', extra: 1 })).rejects.toBeDefined();
    expect(callErrors(client).at(-1)![2]).toBe('PropertyConstraintViolation');
    await eventually(() => gw.logs.some((l) => l.includes('payload read leniently') && l.includes('vendorExtra')));
  });

  it('extra check the schemas miss: a negative connectorId', async () => {
    const { client } = await connected('Accepted', false);
    await expect(
      client.call('StatusNotification', { connectorId: -1, errorCode: 'NoError', status: 'Available' }),
    ).rejects.toBeDefined();
    expect(callErrors(client).at(-1)![2]).toBe('PropertyConstraintViolation');
    expect(await client.call('Heartbeat', {})).toHaveProperty('currentTime');
  });

  it('frames that are not OCPP-J at all, and unknown actions', async () => {
    const { id } = await connected();
    const ws = new WebSocket(`${gw.ocppUrl}/${id}-raw`, ['ocpp1.6']);
    // that identity is not registered: use the registered one through a second raw socket instead
    await new Promise((r) => ws.once('close', r).once('error', r));
    const raw = new WebSocket(`${gw.ocppUrl}/${id}`, ['ocpp1.6']);
    const frames: any[] = [];
    raw.on('message', (m) => frames.push(JSON.parse(String(m))));
    await new Promise((resolve, reject) => raw.once('open', resolve).once('error', reject));
    raw.send('this is not json');
    raw.send('{"not":"an array"}');
    raw.send('[7, "m1", "Heartbeat", {}]');
    raw.send('[2, "m2", "FlyToTheMoon", {}]');
    raw.send('[2, "m3", "Heartbeat", {}]');
    await eventually(() => frames.some((f) => f[1] === 'm3'));
    const codes = frames.filter((f) => f[0] === 4).map((f) => f[2]);
    expect(codes).toEqual(['FormationViolation', 'FormationViolation', 'NotSupported', 'NotImplemented']);
    expect(frames.find((f) => f[1] === 'm3')[0]).toBe(3);
    raw.close();
  });
});
