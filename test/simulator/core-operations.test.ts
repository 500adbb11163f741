import { describe, expect, it } from 'vitest';
import { booted, charging, setup } from './harness.ts';

describe('answer book', () => {
  it('replaces an answer for every call or for the next ones, and records what was answered', async () => {
    const { cs, station, id } = await booted();
    station.answers.once('UnlockConnector', 'UnlockFailed');
    expect(await cs.send(id, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'UnlockFailed' });
    expect(await cs.send(id, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });

    station.answers.set('Reset', 'Rejected');
    expect(await cs.send(id, 'Reset', { type: 'Soft' })).toEqual({ status: 'Rejected' });
    expect(cs.callsOf(id, 'BootNotification')).toHaveLength(1); // a rejected reset does nothing

    station.answers.set('ClearCache', { callError: 'NotSupported' });
    await expect(cs.send(id, 'ClearCache', {})).rejects.toMatchObject({ rpcErrorCode: 'NotSupported' });

    station.answers.set('GetLocalListVersion', { noReply: true });
    await expect(cs.send(id, 'GetLocalListVersion', {}, { callTimeoutMs: 200 })).rejects.toThrow(/timeout/i);

    station.answers.set('DataTransfer', { payload: { status: 'Accepted', data: 'pong' } });
    expect(await cs.send(id, 'DataTransfer', { vendorId: 'X', data: 'ping' })).toEqual({ status: 'Accepted', data: 'pong' });

    station.answers.set('Reset', (params) => (params.type === 'Hard' ? 'Rejected' : undefined));
    expect(await cs.send(id, 'Reset', { type: 'Hard' })).toEqual({ status: 'Rejected' });

    const unlocks = station.received('UnlockConnector');
    expect(unlocks.map((c) => c.response)).toEqual([{ status: 'UnlockFailed' }, { status: 'Unlocked' }]);
    expect(station.received('ClearCache')[0]).toMatchObject({ response: undefined, callError: 'NotSupported' });
    expect(station.received('GetLocalListVersion')[0]).toMatchObject({ response: undefined });
    expect(cs.validationFailures).toEqual([]);
  });

  it('delays one answer', async () => {
    const { cs, station, id } = await booted();
    station.answers.once('GetConfiguration', { delayMs: 150 });
    const t0 = Date.now();
    await cs.send(id, 'GetConfiguration', { key: ['HeartbeatInterval'] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe('Reset', () => {
  it('Hard: stops the transaction with HardReset, reboots and boots again', async () => {
    const { cs, station, id } = await booted();
    const transactionId = await charging(station);
    const rebooted = station.waitFor('booted');
    expect(await cs.send(id, 'Reset', { type: 'Hard' })).toEqual({ status: 'Accepted' });
    const [stop] = await cs.waitForCalls(id, 'StopTransaction');
    expect(stop!.params).toMatchObject({ transactionId, reason: 'HardReset' });
    await rebooted;
    expect(cs.callsOf(id, 'BootNotification')).toHaveLength(2);
    expect(station.hasSession(1)).toBe(false);
  });
});

describe('ChangeAvailability', () => {
  it('makes an idle connector Unavailable and back; refuses starts meanwhile', async () => {
    const { cs, station, id } = await booted();
    expect(await cs.send(id, 'ChangeAvailability', { connectorId: 1, type: 'Inoperative' })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.connectorId === 1 && c.params.status === 'Unavailable');
    expect(station.availability(1)).toBe('Inoperative');
    expect(await station.startSession(1, 'TAG')).toEqual({ outcome: 'Unavailable', status: 'Unavailable' });
    expect(await cs.send(id, 'RemoteStartTransaction', { connectorId: 1, idTag: 'TAG' })).toEqual({ status: 'Rejected' });

    expect(await cs.send(id, 'ChangeAvailability', { connectorId: 1, type: 'Operative' })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.connectorId === 1 && c.params.status === 'Available' && c.at > 0);
    expect(station.connectorStatus(1)).toBe('Available');
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(0);
  });

  it('is Scheduled while a transaction runs and applied when it ends', async () => {
    const { cs, station, id } = await booted();
    await charging(station);
    expect(await cs.send(id, 'ChangeAvailability', { connectorId: 1, type: 'Inoperative' })).toEqual({ status: 'Scheduled' });
    expect(station.connectorStatus(1)).toBe('Charging');
    expect(station.availability(1)).toBe('Operative');
    await station.stopSession(1);
    expect(station.availability(1)).toBe('Inoperative');
    expect(station.connectorStatus(1)).toBe('Unavailable');
    await cs.waitForCalls(id, 'StatusNotification', 1, (c) => c.params.status === 'Unavailable');
    const statuses = cs.callsOf(id, 'StatusNotification').filter((c) => c.params.connectorId === 1).map((c) => c.params.status);
    expect(statuses.slice(-2)).toEqual(['Finishing', 'Unavailable']);
  });

  it('connector 0 takes the whole charge point out of service', async () => {
    const { cs, station, id } = await booted({ connectors: 2 });
    expect(await cs.send(id, 'ChangeAvailability', { connectorId: 0, type: 'Inoperative' })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'StatusNotification', 3, (c) => c.params.status === 'Unavailable');
    expect([0, 1, 2].map((c) => station.connectorStatus(c))).toEqual(['Unavailable', 'Unavailable', 'Unavailable']);
    expect(await cs.send(id, 'ChangeAvailability', { connectorId: 9, type: 'Operative' })).toEqual({ status: 'Rejected' });
  });
});

describe('GetConfiguration / ChangeConfiguration', () => {
  it('answers from the store: read-only, unknown, refusing and write-only keys; counts writes', async () => {
    const { cs, station, id } = await booted({
      configuration: {
        MeterValueSampleInterval: { onChange: 'NotSupported' },
        VendorLedBrightness: { type: 'int', value: '80' },
        LocalPreAuthorize: { onChange: 'RebootRequired' },
        ConnectionTimeOut: null,
      },
    });
    const conf = await cs.send(id, 'GetConfiguration', {
      key: ['NumberOfConnectors', 'VendorLedBrightness', 'AuthorizationKey', 'ConnectionTimeOut'],
    });
    expect(conf).toEqual({
      configurationKey: [
        { key: 'NumberOfConnectors', readonly: true, value: '1' },
        { key: 'VendorLedBrightness', readonly: false, value: '80' },
        { key: 'AuthorizationKey', readonly: false },
      ],
      unknownKey: ['ConnectionTimeOut'],
    });
    const change = (key: string, value: string) => cs.send(id, 'ChangeConfiguration', { key, value });
    expect(await change('NumberOfConnectors', '2')).toEqual({ status: 'Rejected' });
    expect(await change('ConnectionTimeOut', '30')).toEqual({ status: 'NotSupported' });
    expect(await change('MeterValueSampleInterval', '10')).toEqual({ status: 'NotSupported' });
    expect(await change('MeterValuesSampledData', 'Energy.Active.Import.Register,Bogus')).toEqual({ status: 'Rejected' });
    expect(await change('VendorLedBrightness', '40')).toEqual({ status: 'Accepted' });
    expect(await change('VendorLedBrightness', '40')).toEqual({ status: 'Accepted' });
    expect(await change('LocalPreAuthorize', 'true')).toEqual({ status: 'RebootRequired' });
    expect(station.config.getBool('LocalPreAuthorize', false)).toBe(false); // after the next reboot

    expect(station.config.writes('VendorLedBrightness')).toBe(2);
    expect(station.config.writes('NumberOfConnectors')).toBe(0);
    expect(station.config.writes('MeterValueSampleInterval')).toBe(0);
    expect(station.config.writes('LocalPreAuthorize')).toBe(1);

    const rebooted = station.waitFor('booted');
    await cs.send(id, 'Reset', { type: 'Soft' });
    await rebooted;
    expect(station.config.getBool('LocalPreAuthorize', false)).toBe(true);
    expect(station.received('ChangeConfiguration').map((c) => c.response?.status)).toEqual([
      'Rejected',
      'NotSupported',
      'NotSupported',
      'Rejected',
      'Accepted',
      'Accepted',
      'RebootRequired',
    ]);
  });

  it('keeps its store across restarts, so a second boot can be checked for writes', async () => {
    const { cs, station, id } = await booted();
    await cs.send(id, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '30' });
    await station.stop();
    await station.start();
    const conf = await cs.send(id, 'GetConfiguration', { key: ['MeterValueSampleInterval'] });
    expect(conf.configurationKey[0].value).toBe('30');
    expect(station.config.writes('MeterValueSampleInterval')).toBe(1);
    expect(station.config.writes('HeartbeatInterval')).toBe(0); // set from BootNotification, not written
  });

  it('a central system may be answered Accepted while the value is not kept', async () => {
    const { cs, station, id } = await booted();
    station.answers.set('ChangeConfiguration', 'Accepted');
    expect(await cs.send(id, 'ChangeConfiguration', { key: 'NoSuchKey', value: '1' })).toEqual({ status: 'Accepted' });
    expect(station.config.has('NoSuchKey')).toBe(false);
    expect(station.config.writes('NoSuchKey')).toBe(0);
  });
});

describe('DataTransfer', () => {
  it('answers UnknownVendorId for other vendors and sends its own', async () => {
    const { cs, station, id } = await booted({ vendor: 'Acme' });
    expect(await cs.send(id, 'DataTransfer', { vendorId: 'Other' })).toEqual({ status: 'UnknownVendorId' });
    expect(await cs.send(id, 'DataTransfer', { vendorId: 'Acme', messageId: 'x' })).toEqual({ status: 'UnknownMessageId' });
    expect(await station.dataTransfer('Acme', 'hello', '42')).toEqual({ status: 'Accepted', data: 'ok' });
    const [sent] = cs.callsOf(id, 'DataTransfer');
    expect(sent!.params).toEqual({ vendorId: 'Acme', messageId: 'hello', data: '42' });
  });
});

describe('TriggerMessage', () => {
  it('sends DiagnosticsStatusNotification Idle, StatusNotification for one connector, MeterValues with the transaction', async () => {
    const { cs, station, id } = await booted({ connectors: 2 });
    const transactionId = await charging(station, 'TAG', 2);
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'DiagnosticsStatusNotification' })).toEqual({ status: 'Accepted' });
    expect((await cs.waitForCalls(id, 'DiagnosticsStatusNotification'))[0]!.params).toEqual({ status: 'Idle' });
    const before = cs.callsOf(id, 'StatusNotification').length;
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 2 })).toEqual({ status: 'Accepted' });
    const [status] = (await cs.waitForCalls(id, 'StatusNotification', before + 1)).slice(before);
    expect(status!.params).toMatchObject({ connectorId: 2, status: 'Charging' });
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 2 })).toEqual({ status: 'Accepted' });
    const [meter] = await cs.waitForCalls(id, 'MeterValues', 1, (c) => c.params.meterValue[0].sampledValue[0].context === 'Trigger');
    expect(meter!.params).toMatchObject({ connectorId: 2, transactionId });
  });

  it('can be ignored, rejected or refused as a station would', async () => {
    const { cs, station, id } = await booted();
    station.answers.set('TriggerMessage', { noReply: true });
    await expect(cs.send(id, 'TriggerMessage', { requestedMessage: 'Heartbeat' }, { callTimeoutMs: 200 })).rejects.toThrow(/timeout/i);
    station.answers.set('TriggerMessage', 'Rejected');
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({ status: 'Rejected' });
    station.answers.set('TriggerMessage', 'NotImplemented');
    expect(await cs.send(id, 'TriggerMessage', { requestedMessage: 'MeterValues' })).toEqual({ status: 'NotImplemented' });
    await new Promise((r) => setTimeout(r, 50));
    expect(cs.callsOf(id, 'Heartbeat')).toHaveLength(0);
  });
});

describe('manual mode', () => {
  it('connects and sends only what it is told; answers remote start/stop without acting', async () => {
    const { cs, station, id } = await setup({ manual: true });
    expect(await station.start()).toBeUndefined();
    await new Promise((r) => setTimeout(r, 150)); // two heartbeat and sample intervals at 600×
    expect(cs.callsOf(id)).toEqual([]);
    const conf = await station.send('StartTransaction', { connectorId: 1, idTag: 'HAND', meterStart: 5, timestamp: '2026-01-01T00:00:00Z' });
    expect(conf.transactionId).toBe(1000);
    await expect(station.send('MeterValues', { connectorId: 1, meterValue: 'nope' })).rejects.toThrow(); // checked before sending
    expect(await cs.send(id, 'RemoteStartTransaction', { idTag: 'X' })).toEqual({ status: 'Accepted' });
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId: 1000 })).toEqual({ status: 'Accepted' });
    await new Promise((r) => setTimeout(r, 50));
    expect(station.hasSession(1)).toBe(false);
    expect(cs.callsOf(id).map((c) => c.action)).toEqual(['StartTransaction']);
  });
});
