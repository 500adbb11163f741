import { describe, expect, it } from 'vitest';
import { VENDOR_EXTRA_FIELD, VENDOR_SAMPLE_FIELD } from '../../simulators/vendor.ts';
import { aStation, booted, centralSystem, charging, setup } from './harness.ts';
import type { RecordedCall } from './central-system.ts';

const samples = (call: RecordedCall) => call.params.meterValue[0].sampledValue as Array<Record<string, string>>;
const sampleOf = (call: RecordedCall, measurand: string) => samples(call).find((s) => s.measurand === measurand);

describe('refused transactions', () => {
  it('dropRefusedTransactions: no StopTransaction, the connector back to Available, the key unknown', async () => {
    const { cs, station, id } = await booted({ dropRefusedTransactions: true }, { idTagStatus: (t) => (t === 'EMPTY' ? 'Blocked' : 'Accepted') });
    const dropped = station.waitFor('sessionDropped');
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'EMPTY' })).toEqual({ status: 'Accepted' });
    const [event] = await dropped;
    expect(event).toMatchObject({ connectorId: 1, idTag: 'EMPTY', reason: 'InvalidId' });
    expect(event.transactionId).toBe(1000); // the central system's first id
    await cs.waitForCalls(id, 'StatusNotification', 2, (c) => c.params.connectorId === 1 && c.params.status === 'Available');
    await new Promise((r) => setTimeout(r, 150)); // a sample interval at 600×: nothing more comes
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(0);
    expect(cs.callsOf(id, 'MeterValues')).toHaveLength(0);
    expect(station.hasSession(1)).toBe(false);
    expect(await cs.send(id, 'ChangeConfiguration', { key: 'StopTransactionOnInvalidId', value: 'true' })).toEqual({ status: 'NotSupported' });
    expect((await cs.send(id, 'GetConfiguration', { key: ['StopTransactionOnInvalidId'] })).unknownKey).toEqual(['StopTransactionOnInvalidId']);
  });

  it('a lost session: the next start on that connector is a second StartTransaction, the first never stopped', async () => {
    const { cs, station, id } = await booted();
    const first = await charging(station, 'TAG');
    station.abandonSession(1);
    const second = await charging(station, 'TAG');
    expect(second).not.toBe(first);
    expect(cs.callsOf(id, 'StartTransaction').map((c) => c.params.connectorId)).toEqual([1, 1]);
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(0);
  });

  it('forgetSessionsOnRestart: a restart loses the session instead of stopping it with PowerLoss', async () => {
    const { cs, station, id } = await booted({ forgetSessionsOnRestart: true });
    await charging(station);
    await station.stop();
    await station.start();
    await charging(station);
    expect(cs.callsOf(id, 'StartTransaction')).toHaveLength(2);
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(0);
  });
});

describe('readings', () => {
  it('clock-aligned readings: Sample.Clock on connector 0 and idle connectors without transactionId, with it in a transaction', async () => {
    const { cs, station, id } = await booted({ connectors: 2, clockAlignedDataInterval: 60, initialRegisterWh: 500 });
    const transactionId = await charging(station, 'TAG', 2);
    const startedAt = Date.now();
    // the first round of readings at a boundary after the session started
    const afterStart = (c: RecordedCall) => samples(c)[0]!.context === 'Sample.Clock' && Date.parse(c.params.meterValue[0].timestamp) > startedAt;
    const aligned = await cs.waitForCalls(id, 'MeterValues', 3, afterStart, 3_000);
    const stamp = aligned[0]!.params.meterValue[0].timestamp;
    const round = aligned.filter((c) => c.params.meterValue[0].timestamp === stamp);
    expect(round.map((c) => c.params.connectorId).sort()).toEqual([0, 1, 2]);
    const byConnector = new Map(round.map((c) => [c.params.connectorId, c]));
    expect(byConnector.get(0)!.params.transactionId).toBeUndefined();
    expect(byConnector.get(1)!.params.transactionId).toBeUndefined();
    expect(byConnector.get(2)!.params.transactionId).toBe(transactionId);
    expect(Number(samples(byConnector.get(1)!)[0]!.value)).toBe(500);
    expect(Number(samples(byConnector.get(0)!)[0]!.value)).toBeGreaterThanOrEqual(1000); // both registers
    // aligned to the interval: 60 simulated s = 100 ms real, timestamps on its multiples
    for (const call of round) expect(Date.parse(call.params.meterValue[0].timestamp) % 100).toBe(0);
    expect(cs.validationFailures).toEqual([]);
  });

  it('kWh and kW units; DC with SoC, voltage, power and current', async () => {
    const { cs, station, id } = await booted({
      powerProfile: 'dc50',
      energyUnit: 'kWh',
      powerUnit: 'kW',
      measurands: ['Energy.Active.Import.Register', 'Power.Active.Import', 'SoC', 'Voltage', 'Current.Import', 'Power.Offered'],
    });
    await charging(station);
    const [meter] = await cs.waitForCalls(id, 'MeterValues');
    expect(sampleOf(meter!, 'Energy.Active.Import.Register')).toMatchObject({ unit: 'kWh' });
    expect(sampleOf(meter!, 'Power.Active.Import')).toMatchObject({ unit: 'kW', value: '50.000' });
    expect(sampleOf(meter!, 'Power.Offered')).toMatchObject({ unit: 'kW', value: '50.000' });
    const soc = Number(sampleOf(meter!, 'SoC')!.value);
    const volts = Number(sampleOf(meter!, 'Voltage')!.value);
    const amps = Number(sampleOf(meter!, 'Current.Import')!.value);
    expect(soc).toBeGreaterThanOrEqual(20);
    expect(volts).toBeGreaterThan(350);
    expect(amps * volts).toBeCloseTo(50_000, -2);
    expect(cs.validationFailures).toEqual([]);
  });

  it('a StopTransaction register below the last MeterValues', async () => {
    const { cs, station, id } = await booted({ meterStopDeficitWh: 150 });
    await charging(station);
    const [meter] = await cs.waitForCalls(id, 'MeterValues');
    await station.stopSession(1);
    const [stop] = cs.callsOf(id, 'StopTransaction');
    const lastReading = Number(sampleOf(meter!, 'Energy.Active.Import.Register')!.value);
    expect(stop!.params.meterStop).toBe(station.registerWh(1) - 150);
    expect(stop!.params.meterStop).toBeLessThan(lastReading);
  });

  it('clock skew and timestamps without a time zone', async () => {
    const { cs, station, id } = await booted({ clockSkewSeconds: -3_600, timestampFormat: 'no-zone' });
    await charging(station);
    const [start] = cs.callsOf(id, 'StartTransaction');
    const stamp = start!.params.timestamp as string;
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    const skew = Date.parse(`${stamp}Z`) - start!.at;
    expect(skew).toBeGreaterThan(-3_610_000);
    expect(skew).toBeLessThan(-3_590_000);
  });
});

describe('vendor firmware', () => {
  it('StatusNotification with vendorId, vendorErrorCode and info; a fault and its end', async () => {
    const { cs, station, id } = await booted({ statusDetails: { vendorId: 'AcmeCorp', info: 'fw 4.2' } });
    station.setError(1, { errorCode: 'GroundFailure', vendorErrorCode: 'E-17', info: 'RCD tripped' });
    const [faulted] = await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.status === 'Faulted');
    expect(faulted!.params).toMatchObject({ connectorId: 1, errorCode: 'GroundFailure', vendorId: 'AcmeCorp', vendorErrorCode: 'E-17', info: 'RCD tripped' });
    station.clearError(1);
    const [back] = await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.connectorId === 1 && c.params.status === 'Available' && c.at >= faulted!.at);
    expect(back!.params).toMatchObject({ errorCode: 'NoError', vendorId: 'AcmeCorp', info: 'fw 4.2' });
    expect(back!.params.vendorErrorCode).toBeUndefined();
  });

  it('vendorExtras: unknown properties in every payload, on top and in sampled values', async () => {
    const cs = await centralSystem({ strict: false });
    const station = aStation(cs.url, { vendorExtras: true });
    await station.start();
    await charging(station);
    await cs.waitForCalls(station.identity, 'MeterValues');
    await station.stopSession(1);
    for (const action of ['BootNotification', 'StatusNotification', 'Authorize', 'StartTransaction', 'MeterValues', 'StopTransaction']) {
      const [call] = cs.callsOf(station.identity, action);
      expect(call!.params[VENDOR_EXTRA_FIELD], action).toBeDefined();
    }
    const [meter] = cs.callsOf(station.identity, 'MeterValues');
    expect(samples(meter!)[0]![VENDOR_SAMPLE_FIELD]).toBe('good');

    // a central system that validates strictly refuses them: the field behaviour the gateway must absorb
    const strict = await centralSystem();
    const refused = aStation(strict.url, { vendorExtras: true });
    const bootResponse = refused.start();
    await expect(bootResponse).resolves.toBeUndefined(); // BootNotification got a CALLERROR
    expect(strict.validationFailures.length).toBeGreaterThan(0);
  });

  it('challenge-first Basic auth: no credentials on the first handshake, sent after the 401 challenge', async () => {
    const cs = await centralSystem({ password: 'secret-pass-1234', challenge: true });
    const station = aStation(cs.url, { password: 'secret-pass-1234', basicAuth: 'challenge' });
    await station.start();
    expect(station.booted).toBe(true);
    expect(cs.handshakes.map((h) => [h.password, h.refused])).toEqual([
      [undefined, 401],
      ['secret-pass-1234', undefined],
    ]);

    // without a challenge in the 401, such a client never logs in
    const silent = await centralSystem({ password: 'secret-pass-1234' });
    const lost = aStation(silent.url, { password: 'secret-pass-1234', basicAuth: 'challenge', rpcOptions: { reconnect: false } });
    await expect(lost.start()).rejects.toMatchObject({ code: 401 });
  });

  it('pong-less: never answers WebSocket pings, still sends its messages', async () => {
    const { cs, station, id } = await setup({ pongless: true });
    await station.start();
    const client = cs.clients.get(id) as unknown as { _ws: { ping(): void; once(e: string, f: () => void): void } };
    let pong = false;
    client._ws.once('pong', () => (pong = true));
    client._ws.ping();
    await station.heartbeat();
    await new Promise((r) => setTimeout(r, 100));
    expect(pong).toBe(false);
    expect(cs.callsOf(id, 'Heartbeat')).toHaveLength(1);

    const { cs: cs2, station: normal, id: id2 } = await setup();
    await normal.start();
    const other = cs2.clients.get(id2) as unknown as { _ws: { ping(): void; once(e: string, f: () => void): void } };
    const ponged = new Promise<boolean>((resolve) => other._ws.once('pong', () => resolve(true)));
    other._ws.ping();
    expect(await ponged).toBe(true);
  });
});
