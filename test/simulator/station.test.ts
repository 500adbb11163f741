import { afterEach, describe, expect, it } from 'vitest';
import { SimStation, type SimStationOptions } from '../../simulators/station.ts';
import { TestCentralSystem, type RecordedCall } from './central-system.ts';

let cs: TestCentralSystem | undefined;
const stations: SimStation[] = [];

async function setup(
  options: Partial<SimStationOptions> = {},
  csOptions: Parameters<typeof TestCentralSystem.start>[0] = {},
): Promise<{ cs: TestCentralSystem; station: SimStation; id: string }> {
  cs = await TestCentralSystem.start(csOptions);
  const id = options.identity ?? `CP${stations.length + 1}`;
  const station = new SimStation({
    url: cs.url,
    identity: id,
    connectors: 1,
    timeScale: 600, // a simulated minute every 100 ms
    powerProfile: 'ac22',
    ...options,
  });
  stations.push(station);
  return { cs, station, id };
}

afterEach(async () => {
  for (const station of stations.splice(0)) {
    await station.stop();
    expect(station.pendingTimers).toBe(0);
  }
  await cs?.close();
  cs = undefined;
});

const energyOf = (call: RecordedCall) =>
  (call.params.meterValue[0].sampledValue as Array<Record<string, string>>).filter(
    (s) => s.measurand === 'Energy.Active.Import.Register',
  );

describe('SimStation boot and heartbeat', () => {
  it('boots, announces every connector and heartbeats at the returned interval', async () => {
    const { cs, station, id } = await setup({ connectors: 2, timeScale: 20, vendor: 'Acme', model: 'X1' }, { heartbeatInterval: 2 });
    const booted = station.waitFor('booted');
    const conf = await station.start();
    expect(conf?.status).toBe('Accepted');
    await booted;
    expect(station.booted).toBe(true);
    expect(station.heartbeatInterval).toBe(2);

    const [boot] = cs.callsOf(id, 'BootNotification');
    expect(boot?.params).toMatchObject({ chargePointVendor: 'Acme', chargePointModel: 'X1' });
    const statuses = await cs.waitForCalls(id, 'StatusNotification', 3);
    expect(statuses.map((c) => [c.params.connectorId, c.params.status])).toEqual([
      [0, 'Available'],
      [1, 'Available'],
      [2, 'Available'],
    ]);

    // 2 simulated seconds at 20× → one heartbeat every 100 ms.
    const beats = await cs.waitForCalls(id, 'Heartbeat', 4, undefined, 3_000);
    const gaps = beats.slice(1).map((b, i) => b.at - beats[i]!.at);
    // At least the interval; the upper bound only tells it from an unscaled interval (2 s real),
    // with room for a late timer on a busy machine.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(70);
      expect(gap).toBeLessThan(1_000);
    }
    expect(beats[0]!.at - boot!.at).toBeGreaterThanOrEqual(70);
    expect(cs.validationFailures).toEqual([]);
  });

  it('sends HTTP Basic credentials and fails to start with a wrong password', async () => {
    const { cs, station } = await setup({ password: 'secret-1' }, { password: 'secret-1' });
    await station.start();
    expect(station.booted).toBe(true);

    const intruder = new SimStation({ url: cs.url, identity: 'BAD1', password: 'nope', rpcOptions: { reconnect: false } });
    stations.push(intruder);
    await expect(intruder.start()).rejects.toThrow();
    expect(intruder.started).toBe(false);
  });
});

describe('SimStation sessions', () => {
  it('runs Authorize → StartTransaction → rising MeterValues → StopTransaction with valid messages', async () => {
    const { cs, station, id } = await setup({ initialRegisterWh: 1234 });
    await station.start();
    const statuses: string[] = [];
    station.on('status', ({ status }) => statuses.push(status));

    station.plugIn(1);
    const started = await station.startSession(1, 'TAG-1');
    expect(started).toMatchObject({ outcome: 'Started', idTagStatus: 'Accepted' });
    const transactionId = started.outcome === 'Started' ? started.transactionId : -1;
    expect(station.transactionId(1)).toBe(transactionId);
    expect(station.connectorStatus(1)).toBe('Charging');

    const [auth] = cs.callsOf(id, 'Authorize');
    expect(auth?.params).toEqual({ idTag: 'TAG-1' });
    const [start] = cs.callsOf(id, 'StartTransaction');
    expect(start?.params).toMatchObject({ connectorId: 1, idTag: 'TAG-1', meterStart: 1234 });
    expect(Number.isNaN(Date.parse(start!.params.timestamp))).toBe(false);

    const meters = await cs.waitForCalls(id, 'MeterValues', 3);
    const registers = meters.map((m) => {
      expect(m.params.transactionId).toBe(transactionId);
      expect(m.params.connectorId).toBe(1);
      const [energy] = energyOf(m);
      expect(energy).toMatchObject({ context: 'Sample.Periodic', unit: 'Wh' });
      expect(energy!.value).toMatch(/^\d+$/);
      const power = m.params.meterValue[0].sampledValue.find(
        (s: Record<string, string>) => s.measurand === 'Power.Active.Import',
      );
      expect(power).toMatchObject({ value: '22000', unit: 'W' });
      return Number(energy!.value);
    });
    expect(registers[0]!).toBeGreaterThan(1234);
    expect(registers[1]!).toBeGreaterThan(registers[0]!);
    expect(registers[2]!).toBeGreaterThan(registers[1]!);
    // 22 kW for one simulated minute ≈ 367 Wh per sample (never less: a timer is never early).
    // Energy follows the real time between samples, so a late timer adds some: the power implied
    // by the register and the arrival times is what must be 22 kW (±50 %, for arrival jitter).
    expect(registers[2]! - registers[1]!).toBeGreaterThan(250);
    const simHours = ((meters[2]!.at - meters[1]!.at) * 600) / 3_600_000;
    const impliedKw = (registers[2]! - registers[1]!) / 1000 / simHours;
    expect(impliedKw).toBeGreaterThan(11);
    expect(impliedKw).toBeLessThan(33);

    const stopped = station.waitFor('sessionStopped');
    const result = await station.stopSession(1);
    expect(result).toMatchObject({ outcome: 'Stopped', transactionId, delivered: true });
    const [stoppedEvent] = await stopped;
    expect(stoppedEvent).toMatchObject({ reason: 'Local', transactionId, idTag: 'TAG-1' });

    const [stop] = cs.callsOf(id, 'StopTransaction');
    expect(stop?.params).toMatchObject({ transactionId, reason: 'Local', idTag: 'TAG-1' });
    expect(stop!.params.meterStop).toBeGreaterThanOrEqual(registers[2]!);
    expect(stop!.params.meterStop).toBe(stoppedEvent.meterStop);
    expect(stop!.params.transactionData).toHaveLength(2);
    expect(stop!.params.transactionData[0].sampledValue[0]).toMatchObject({ value: '1234', context: 'Transaction.Begin' });
    expect(stop!.params.transactionData[1].sampledValue[0]).toMatchObject({
      value: String(stop!.params.meterStop),
      context: 'Transaction.End',
    });

    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.status === 'Finishing');
    await cs.waitForCalls(id, 'StatusNotification', 2, (c) => c.params.status === 'Available' && c.params.connectorId === 1);
    expect(statuses).toEqual(['Preparing', 'Charging', 'Finishing', 'Available']);
    expect(station.connectorStatus(1)).toBe('Available');
    expect(station.registerWh(1)).toBe(stop!.params.meterStop);
    expect(cs.validationFailures).toEqual([]);
  });

  it('does not start when Authorize is rejected', async () => {
    const { cs, station, id } = await setup({}, { idTagStatus: (t) => (t === 'BLOCKED' ? 'Blocked' : 'Accepted') });
    await station.start();
    const result = await station.startSession(1, 'BLOCKED');
    expect(result).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Blocked' });
    expect(cs.callsOf(id, 'StartTransaction')).toHaveLength(0);
    expect(station.transactionId(1)).toBeUndefined();
  });

  it('moves Charging → SuspendedEV with zero power when the EV is full', async () => {
    const { cs, station, id } = await setup({ powerProfile: 'dc50', ev: { batteryWh: 1_000, initialSoc: 0.9 } });
    await station.start();
    const full = station.waitFor('evFull');
    await station.startSession(1, 'TAG-EV');
    await full;
    expect(station.connectorStatus(1)).toBe('SuspendedEV');
    expect(station.powerW(1)).toBe(0);
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.status === 'SuspendedEV');
    const register = station.registerWh(1);
    expect(register).toBe(100); // 10 % of 1 kWh
    const [meter] = await cs.waitForCalls(id, 'MeterValues', 1);
    const soc = meter!.params.meterValue[0].sampledValue.find((s: Record<string, string>) => s.measurand === 'SoC');
    expect(soc).toMatchObject({ value: '100', unit: 'Percent' });
  });

  it('stops with DeAuthorized when StartTransaction is not accepted, unless StopTransactionOnInvalidId is false', async () => {
    const csOptions = { idTagStatus: (t: string) => (t === 'GOOD' ? 'Accepted' : 'Invalid') } as const;
    // Authorize says Accepted for GOOD only, so use a remote start (no Authorize) to reach StartTransaction.
    const { cs, station, id } = await setup({}, csOptions);
    await station.start();
    const stopped = station.waitFor('sessionStopped');
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'BAD' })).toEqual({ status: 'Accepted' });
    const [event] = await stopped;
    expect(event.reason).toBe('DeAuthorized');
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params.reason).toBe('DeAuthorized');

    const lax = new SimStation({ url: cs.url, identity: 'LAX1', timeScale: 600, stopTransactionOnInvalidId: false });
    stations.push(lax);
    await lax.start();
    const started = lax.waitFor('sessionStarted');
    await cs.send('LAX1', 'RemoteStartTransaction', { connectorId: 1, idTag: 'BAD' });
    const [startedEvent] = await started;
    expect(startedEvent.idTagStatus).toBe('Invalid');
    await cs.waitForCalls('LAX1', 'MeterValues', 2);
    expect(lax.connectorStatus(1)).toBe('Charging');
    expect(cs.callsOf('LAX1', 'StopTransaction')).toHaveLength(0);
    expect(lax.config.get(['StopTransactionOnInvalidId']).configurationKey[0]?.value).toBe('false');
  });
});

describe('SimStation restart', () => {
  it('reports a session cut by stop() as PowerLoss after the next start()', async () => {
    const { cs, station, id } = await setup();
    await station.start();
    const started = await station.startSession(1, 'TAG-PL');
    const transactionId = started.outcome === 'Started' ? started.transactionId : -1;
    await station.stop();
    expect(station.pendingTimers).toBe(0);
    const registerAtStop = station.registerWh(1);
    await new Promise((r) => setTimeout(r, 100)); // a simulated minute of "power loss"
    const starting = station.start();
    // Read while the station is reconnecting: the outage delivered no energy.
    expect(station.registerWh(1)).toBe(registerAtStop);
    await starting;
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params).toMatchObject({ transactionId, reason: 'PowerLoss', meterStop: registerAtStop });
    expect(cs.callsOf(id, 'BootNotification')).toHaveLength(2);
    expect(station.connectorStatus(1)).toBe('Available');
  });
});

describe('SimStation answers to the central system', () => {
  it('accepts RemoteStopTransaction for the running transaction and stops with reason Remote', async () => {
    const { cs, station, id } = await setup();
    await station.start();
    const started = await station.startSession(1, 'TAG-R');
    const transactionId = started.outcome === 'Started' ? started.transactionId : -1;

    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId: transactionId + 1 })).toEqual({ status: 'Rejected' });
    const remote = station.waitFor('remoteStop', (e) => e.status === 'Accepted');
    const stopped = station.waitFor('sessionStopped');
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Accepted' });
    expect((await remote)[0].transactionId).toBe(transactionId);
    expect((await stopped)[0]).toMatchObject({ reason: 'Remote', transactionId });
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params).toMatchObject({ transactionId, reason: 'Remote' });
  });

  it('remoteStop rejectFirst rejects once, then accepts', async () => {
    const { cs, station, id } = await setup({ remoteStop: 'rejectFirst' });
    await station.start();
    const started = await station.startSession(1, 'TAG-RF');
    const transactionId = started.outcome === 'Started' ? started.transactionId : -1;
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Rejected' });
    expect(station.transactionId(1)).toBe(transactionId);
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Accepted' });
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params.reason).toBe('Remote');
  });

  it('remoteStop ignore never answers (the central system times out) and keeps charging', async () => {
    const { cs, station, id } = await setup({ remoteStop: 'ignore' });
    await station.start();
    const started = await station.startSession(1, 'TAG-IG');
    const transactionId = started.outcome === 'Started' ? started.transactionId : -1;
    await expect(cs.send(id, 'RemoteStopTransaction', { transactionId }, { callTimeoutMs: 300 })).rejects.toThrow(
      /timeout/i,
    );
    expect(station.transactionId(1)).toBe(transactionId);
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(0);
  });

  it('remoteStop reject always rejects', async () => {
    const { cs, station, id } = await setup({ remoteStop: 'reject' });
    await station.start();
    const started = await station.startSession(1, 'TAG-RJ');
    const transactionId = started.outcome === 'Started' ? started.transactionId : -1;
    for (let i = 0; i < 2; i++) {
      expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Rejected' });
    }
    expect(station.connectorStatus(1)).toBe('Charging');
  });

  it('RemoteStartTransaction starts a session without Authorize, and is rejected on a busy connector', async () => {
    const { cs, station, id } = await setup();
    await station.start();
    const started = station.waitFor('sessionStarted');
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'REMOTE' })).toEqual({ status: 'Accepted' });
    expect((await started)[0]).toMatchObject({ connectorId: 1, idTag: 'REMOTE' });
    expect(cs.callsOf(id, 'Authorize')).toHaveLength(0);
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'OTHER' })).toEqual({ status: 'Rejected' });
    expect(await cs.send(id, 'RemoteStartTransaction', { idTag: 'OTHER' })).toEqual({ status: 'Rejected' });
  });

  it('ChangeConfiguration MeterValueSampleInterval changes the sampling interval', async () => {
    // Default 60 s at 60× = one sample per second; 6 s → one per 100 ms.
    const { cs, station, id } = await setup({ timeScale: 60 });
    await station.start();
    expect(station.meterValueSampleInterval).toBe(60);
    await station.startSession(1, 'TAG-CFG');
    expect(await cs.send(id, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '6' })).toEqual({
      status: 'Accepted',
    });
    expect(station.meterValueSampleInterval).toBe(6);
    // At the old interval (one sample a second) four samples take at least 3 s; at the new one
    // (every 100 ms) they arrive well within the 2 s this waits.
    const meters = await cs.waitForCalls(id, 'MeterValues', 4, undefined, 2_000);
    expect(meters.length).toBeGreaterThanOrEqual(4);

    expect(await cs.send(id, 'ChangeConfiguration', { key: 'NoSuchKey', value: '1' })).toEqual({ status: 'NotSupported' });
    expect(await cs.send(id, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: 'soon' })).toEqual({
      status: 'Rejected',
    });
    expect(await cs.send(id, 'ChangeConfiguration', { key: 'StopTransactionOnInvalidId', value: 'false' })).toEqual({
      status: 'Accepted',
    });
    const conf = await cs.send(id, 'GetConfiguration', { key: ['MeterValueSampleInterval', 'StopTransactionOnInvalidId', 'Bogus'] });
    expect(conf).toEqual({
      configurationKey: [
        { key: 'MeterValueSampleInterval', readonly: false, value: '6' },
        { key: 'StopTransactionOnInvalidId', readonly: false, value: 'false' },
      ],
      unknownKey: ['Bogus'],
    });
    const all = await cs.send(id, 'GetConfiguration', {});
    expect(all.configurationKey.length).toBeGreaterThan(5);
    expect(cs.validationFailures).toEqual([]);
  });

  it('TriggerMessage sends the requested message; a connector that does not exist is Rejected', async () => {
    const { cs, station, id } = await setup({ timeScale: 1 });
    await station.start();
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'Heartbeat');
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 })).toEqual({
      status: 'Accepted',
    });
    await cs.waitForCalls(id, 'StatusNotification', 3); // 0 and 1 after boot, then the triggered one
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 })).toEqual({
      status: 'Accepted',
    });
    const [meter] = await cs.waitForCalls(id, 'MeterValues');
    expect(meter!.params.meterValue[0].sampledValue[0]).toMatchObject({ context: 'Trigger', value: '0' });
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'BootNotification' })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'BootNotification', 2);
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'FirmwareStatusNotification' })).toEqual({
      status: 'Accepted',
    });
    const [firmware] = await cs.waitForCalls(id, 'FirmwareStatusNotification');
    expect(firmware!.params).toEqual({ status: 'Idle' }); // no update running
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'Heartbeat', connectorId: 7 })).toEqual({
      status: 'Rejected',
    });
  });

  it('Reset stops sessions with SoftReset and boots again', async () => {
    const { cs, station, id } = await setup();
    await station.start();
    await station.startSession(1, 'TAG-RS');
    const rebooted = station.waitFor('booted');
    expect(await cs.send(id, 'Reset', { type: 'Soft' })).toEqual({ status: 'Accepted' });
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params.reason).toBe('SoftReset');
    await rebooted;
    expect(cs.callsOf(id, 'BootNotification')).toHaveLength(2);
    expect(station.connectorStatus(1)).toBe('Available');
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.at > stop!.at && c.params.connectorId === 0);
  });

  it('UnlockConnector unlocks and stops the session with UnlockCommand', async () => {
    const { cs, station, id } = await setup();
    await station.start();
    await station.startSession(1, 'TAG-UL');
    expect(await cs.send(id, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params.reason).toBe('UnlockCommand');
    expect(await cs.send(id, 'UnlockConnector', { connectorId: 5 })).toEqual({ status: 'NotSupported' });
  });

  it('answerDelayMs delays every answer', async () => {
    const { cs, station, id } = await setup({ answerDelayMs: 150 });
    await station.start();
    const t0 = Date.now();
    await cs.send(id, 'GetConfiguration', { key: ['HeartbeatInterval'] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('operations of a feature profile the station lacks get a NotImplemented CALLERROR', async () => {
    const { cs, station, id } = await setup({ features: ['Core'] });
    await station.start();
    await expect(cs.send(id, 'ReserveNow', { connectorId: 1, expiryDate: new Date(Date.now() + 60_000).toISOString(), idTag: 'T', reservationId: 1 })).rejects.toMatchObject({
      rpcErrorCode: 'NotImplemented',
    });
    expect(station.config.get(['SupportedFeatureProfiles']).configurationKey[0]?.value).toBe('Core');
    expect(await cs.send(id, 'ClearCache', {})).toEqual({ status: 'Accepted' });
  });
});

describe('SimStation misbehaviour', () => {
  it('queues transaction messages offline and replays them in order with original timestamps and real ids', async () => {
    const { cs, station, id } = await setup({ connectors: 2 });
    await station.start();
    const first = await station.startSession(1, 'TAG-A');
    const txA = first.outcome === 'Started' ? first.transactionId : -1;
    await cs.waitForCalls(id, 'MeterValues', 1);
    const offlineSince = Date.now();
    expect(await station.flush()).toBe(true); // nothing in flight when the network drops
    await station.goOffline();
    expect(station.connected).toBe(false);
    const countBefore = cs.calls.length;

    const secondStart = await station.startSession(2, 'TAG-B'); // no Authorize while offline
    expect(secondStart.outcome).toBe('Queued');
    await station.waitFor('meterSample', (e) => e.connectorId === 2);
    await station.waitFor('meterSample', (e) => e.connectorId === 1);
    const stopA = await station.stopSession(1, 'Local');
    expect(stopA.outcome).toBe('Queued');
    const stopB = await station.stopSession(2, 'EVDisconnected');
    expect(stopB.outcome).toBe('Queued');
    expect(station.queueLength).toBeGreaterThanOrEqual(5);
    const queued = station.queueLength;
    await new Promise((r) => setTimeout(r, 50));
    expect(cs.calls.length).toBe(countBefore); // nothing reached the central system
    const backOnlineAt = Date.now();

    const startedB = station.waitFor('sessionStarted', (e) => e.connectorId === 2);
    await station.goOnline();
    expect(await station.flush(5_000)).toBe(true);
    const [startedEvent] = await startedB;
    const txB = startedEvent.transactionId;
    expect(txB).not.toBe(txA);

    const replay = cs.calls
      .slice(countBefore)
      .filter((c) => ['StartTransaction', 'MeterValues', 'StopTransaction'].includes(c.action));
    expect(replay).toHaveLength(queued);
    const timestampOf = (c: RecordedCall): number =>
      Date.parse(c.action === 'MeterValues' ? c.params.meterValue[0].timestamp : c.params.timestamp);
    const stamps = replay.map(timestampOf);
    expect([...stamps].sort((a, b) => a - b)).toEqual(stamps); // original order
    for (const stamp of stamps) {
      expect(stamp).toBeGreaterThanOrEqual(offlineSince);
      expect(stamp).toBeLessThanOrEqual(backOnlineAt);
    }
    for (const call of replay) expect(call.at).toBeGreaterThanOrEqual(backOnlineAt);

    const startIndex = replay.findIndex((c) => c.action === 'StartTransaction');
    expect(replay[startIndex]!.params).toMatchObject({ connectorId: 2, idTag: 'TAG-B' });
    replay.forEach((call, i) => {
      if (call.action === 'StartTransaction') return;
      const onB = call.params.connectorId === 2 || call.params.idTag === 'TAG-B';
      if (onB) expect(i).toBeGreaterThan(startIndex); // B's messages follow its StartTransaction
      // ids assigned offline are rewritten to the one the central system gave on replay
      expect(call.params.transactionId).toBe(onB ? txB : txA);
    });
    const stops = replay.filter((c) => c.action === 'StopTransaction');
    expect(stops.map((s) => [s.params.transactionId, s.params.reason])).toEqual([
      [txA, 'Local'],
      [txB, 'EVDisconnected'],
    ]);
    expect(cs.validationFailures).toEqual([]);
  });

  it('energyUnit kWh reports the register in kWh with 3 decimals', async () => {
    const { cs, station, id } = await setup({ energyUnit: 'kWh', initialRegisterWh: 5_000 });
    await station.start();
    await station.startSession(1, 'TAG-K');
    const samples: number[] = [];
    station.on('meterSample', (e) => samples.push(e.registerWh));
    const [meter] = await cs.waitForCalls(id, 'MeterValues', 1);
    const [energy] = energyOf(meter!);
    expect(energy!.unit).toBe('kWh');
    expect(energy!.value).toMatch(/^\d+\.\d{3}$/);
    expect(Number(energy!.value)).toBeGreaterThan(5);
    expect(Math.round(Number(energy!.value) * 1000)).toBe(samples[0]);
    await station.stopSession(1);
    const [stop] = cs.callsOf(id, 'StopTransaction');
    expect(Number.isInteger(stop!.params.meterStop)).toBe(true); // meterStop is always Wh
    expect(stop!.params.transactionData[0].sampledValue[0]).toMatchObject({ value: '5.000', unit: 'kWh' });
  });

  it('threePhaseOnly reports L1/L2/L3 register values summing to the total and no overall value', async () => {
    const { cs, station, id } = await setup({ threePhaseOnly: true });
    await station.start();
    await station.startSession(1, 'TAG-3P');
    const samples: number[] = [];
    station.on('meterSample', (e) => samples.push(e.registerWh));
    const meters = await cs.waitForCalls(id, 'MeterValues', 2);
    meters.forEach((meter, i) => {
      const energy = energyOf(meter);
      expect(energy.map((e) => e.phase)).toEqual(['L1', 'L2', 'L3']);
      const sum = energy.reduce((total, e) => total + Number(e.value), 0);
      expect(sum).toBe(samples[i]);
      expect(sum).toBeGreaterThan(0);
    });
  });

  it('duplicateSends sends every MeterValues and StopTransaction twice', async () => {
    const { cs, station, id } = await setup({ duplicateSends: true });
    await station.start();
    await station.startSession(1, 'TAG-D');
    await cs.waitForCalls(id, 'MeterValues', 4);
    await station.stopSession(1);
    await station.flush();
    expect(cs.callsOf(id, 'StartTransaction')).toHaveLength(1);
    const stops = cs.callsOf(id, 'StopTransaction');
    expect(stops).toHaveLength(2);
    expect(stops[1]!.params).toEqual(stops[0]!.params);
    const meters = cs.callsOf(id, 'MeterValues');
    expect(meters.length % 2).toBe(0);
    for (let i = 0; i < meters.length; i += 2) {
      expect(meters[i + 1]!.params).toEqual(meters[i]!.params);
    }
  });
});
