/**
 * OCTT 1.6 Central System cases of the Core profile (sections: cold boot, charging sessions,
 * authorization cache, remote actions, reset, unlock, configuration, non-happy paths, power
 * failure, offline behaviour, data transfer). Written from the cases' descriptions.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { aDriver, caseName, ChargePoints, conformanceGateway, eventually, ok, operation, sessionIn, sessionsOf, started, stationJson } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

const remoteStart = (stationId: string, user: string, connector = 1) =>
  gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: stationId, connector, user });

describe('Core: cold boot and charging sessions', () => {
  it(caseName('TC_001', 'Cold boot charge point'), async () => {
    const cp = await cps.create();
    const boot = await cp.station.start();
    expect(boot).toMatchObject({ status: 'Accepted', interval: expect.any(Number) });
    expect(Date.parse(boot!.currentTime)).not.toBeNaN();
    const s = await eventually(async () => {
      const j = await stationJson(gw, cp.id);
      return j.boot.booted_at && j.connectors.some((c: any) => c.connector_id === 1 && c.status === 'Available') ? j : undefined;
    });
    expect(s.online).toBe(true);
    expect(s.boot.firmware_version).toBe(cp.station.firmwareVersion);
  });

  it(caseName('TC_003', 'Regular charging session, plug-in first'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    cp.station.plugIn(1);
    await eventually(async () => (await stationJson(gw, cp.id)).connectors.find((c: any) => c.connector_id === 1)?.status === 'Preparing');
    const start = await cp.station.startSession(1, driver.idTag);
    const tx = started(start);
    expect((start as { idTagStatus: string }).idTagStatus).toBe('Accepted');
    await sessionIn(gw, cp.id, tx, ['active']);
    await new Promise((r) => setTimeout(r, 300));
    await cp.station.stopSession(1);
    const done = await sessionIn(gw, cp.id, tx, ['completed']);
    expect(done.energy_wh).toBeGreaterThan(0);
    expect(done.cost.amount).toBeGreaterThan(0);
  });

  it(caseName('TC_004_1', 'Regular charging session, identification first'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const auth = await cp.station.send('Authorize', { idTag: driver.idTag });
    expect(auth.idTagInfo.status).toBe('Accepted');
    const tx = started(await cp.station.startSession(1, driver.idTag));
    expect((await sessionIn(gw, cp.id, tx, ['active'])).id_tag).toBe(driver.idTag);
  });

  it(caseName('TC_004_2', 'Identification first, ConnectionTimeOut: no cable, no transaction'), async () => {
    const cp = await cps.boot({ manual: true });
    const driver = await aDriver(gw);
    expect((await cp.station.send('Authorize', { idTag: driver.idTag })).idTagInfo.status).toBe('Accepted');
    // The cable never comes: the charger goes back to Available without a StartTransaction.
    for (const status of ['Preparing', 'Available']) {
      await cp.station.send('StatusNotification', { connectorId: 1, errorCode: 'NoError', status, timestamp: new Date().toISOString() });
    }
    expect(await sessionsOf(gw, cp.id)).toEqual([]);
    // The authorization left nothing behind: the driver can start at once elsewhere.
    expect((await cp.station.send('Authorize', { idTag: driver.idTag })).idTagInfo.status).toBe('Accepted');
  });

  it(caseName('TC_005_1', 'EV side disconnected'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    await sessionIn(gw, cp.id, tx, ['active']);
    cp.station.unplug(1);
    const done = await sessionIn(gw, cp.id, tx, ['completed']);
    expect(done.stop_reason).toBe('EVDisconnected');
  });
});

describe('Core: authorization cache', () => {
  it(caseName('TC_007', 'Regular start charging session, cached id'), async () => {
    // A charger that starts cached ids without asking: it keeps LocalPreAuthorize on whatever the
    // gateway sets (the gateway's own policy turns it off, docs/interop.md).
    const cp = await cps.boot({ configuration: { AuthorizationCacheEnabled: 'true', LocalPreAuthorize: { value: 'true', onChange: 'Rejected' } } });
    const driver = await aDriver(gw);
    const authorizes: string[] = [];
    cp.station.on('call', ({ action }: { action: string }) => action === 'Authorize' && authorizes.push(action));
    const first = started(await cp.station.startSession(1, driver.idTag));
    await cp.station.stopSession(1);
    await sessionIn(gw, cp.id, first, ['completed']);
    expect(cp.station.authorizationCache().get(driver.idTag)?.status).toBe('Accepted');
    const before = authorizes.length;
    // From the cache: StartTransaction without an Authorize, and the gateway accepts it.
    const second = started(await cp.station.startSession(1, driver.idTag));
    expect(authorizes.length).toBe(before);
    expect((await sessionIn(gw, cp.id, second, ['active'])).status).toBe('active');
  });

  it(caseName('TC_061', 'Clear authorization data in the authorization cache'), async () => {
    const cp = await cps.boot({ configuration: { AuthorizationCacheEnabled: 'true' } });
    const driver = await aDriver(gw);
    started(await cp.station.startSession(1, driver.idTag)); // Authorize fills the cache
    await cp.station.stopSession(1);
    expect(cp.station.authorizationCache().size).toBe(1);
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/clear_cache`)).toEqual({ status: 'Accepted' });
    expect(cp.station.authorizationCache().size).toBe(0);
  });
});

describe('Core: remote actions', () => {
  it(caseName('TC_010', 'Remote start, cable plugged in first'), async () => {
    // The charger authorizes remote starts too (AuthorizeRemoteTxRequests): the gateway accepts it.
    const cp = await cps.boot({ configuration: { AuthorizeRemoteTxRequests: 'true' } });
    const driver = await aDriver(gw);
    cp.station.plugIn(1);
    const authorized = cp.station.waitFor('callResult', (e: { action: string }) => e.action === 'Authorize');
    const res = await remoteStart(cp.id, driver.user._id);
    expect(res).toMatchObject({ status: 202, body: { status: 'Accepted' } });
    expect((await authorized)[0].result).toMatchObject({ idTagInfo: { status: 'Accepted' } });
    const session = await eventually(async () => (await sessionsOf(gw, cp.id)).find((s) => s.status === 'active'));
    expect(session.id_tag).toBe(driver.idTag);
  });

  it(caseName('TC_011_1', 'Remote start, remote start first'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    expect((await remoteStart(cp.id, driver.user._id)).body).toEqual({ status: 'Accepted' });
    expect(cp.station.received('RemoteStartTransaction').at(-1)?.params).toEqual({ connectorId: 1, idTag: driver.idTag });
    await eventually(async () => (await sessionsOf(gw, cp.id)).find((s) => s.status === 'active'));
    const [logged] = (await ok(gw, 'GET', `/v1/chargestations/${cp.id}/commands?action=RemoteStartTransaction`)).data;
    expect(logged).toMatchObject({ status: 'answered', answer: { status: 'Accepted' }, requested_by: 'bootstrap' });
  });

  it(caseName('TC_011_2', 'Remote start, time out: the cable never comes'), async () => {
    const cp = await cps.boot({ manual: true, answers: { RemoteStartTransaction: 'Accepted' } });
    const driver = await aDriver(gw);
    await cp.station.send('BootNotification', { chargePointVendor: 'Sim', chargePointModel: 'M' });
    expect((await remoteStart(cp.id, driver.user._id)).body).toEqual({ status: 'Accepted' });
    await cp.station.send('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing' });
    await cp.station.send('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
    expect(await sessionsOf(gw, cp.id)).toEqual([]);
    // Nothing holds the connector: the next remote start is sent, not refused as busy.
    expect((await remoteStart(cp.id, driver.user._id)).status).toBe(202);
  });

  it(caseName('TC_012', 'Remote stop charging session'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    const session = await sessionIn(gw, cp.id, tx, ['active']);
    expect(await ok(gw, 'POST', `/v1/sessions/${session._id}/stop`, undefined, 202)).toEqual({ status: 'Accepted' });
    expect(cp.station.received('RemoteStopTransaction').at(-1)?.params).toEqual({ transactionId: tx });
    expect((await sessionIn(gw, cp.id, tx, ['completed'])).stop_reason).toBe('Remote');
  });

  it(caseName('TC_026', 'Remote start, rejected'), async () => {
    const cp = await cps.boot({ answers: { RemoteStartTransaction: 'Rejected' } });
    const driver = await aDriver(gw);
    expect(await remoteStart(cp.id, driver.user._id)).toMatchObject({ status: 202, body: { status: 'Rejected' } });
    expect(await sessionsOf(gw, cp.id)).toEqual([]);
  });

  it(caseName('TC_028', 'Remote stop, rejected'), async () => {
    const cp = await cps.boot({ remoteStop: 'reject' });
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    const session = await sessionIn(gw, cp.id, tx, ['active']);
    expect(await ok(gw, 'POST', `/v1/sessions/${session._id}/stop`, undefined, 202)).toEqual({ status: 'Rejected' });
    expect(cp.station.hasSession(1)).toBe(true);
    // The gateway keeps the intent and retries (this suite retries three times in 1.4 s, then the
    // session is stop_failed with an alert); the charge goes on being billed meanwhile.
    expect(['stopping', 'stop_failed']).toContain((await ok(gw, 'GET', `/v1/sessions/${session._id}`)).status);
    await eventually(async () => (await ok(gw, 'GET', `/v1/sessions/${session._id}`)).status === 'stop_failed');
    expect(cp.station.received('RemoteStopTransaction').length).toBeGreaterThan(1);
    const alerts = (await ok(gw, 'GET', `/v1/alerts?chargestation=${cp.id}`)).data;
    expect(alerts.map((a: { kind: string }) => a.kind)).toContain('remote_stop_failed');
  });
});

describe('Core: reset', () => {
  for (const [id, type] of [
    ['TC_013', 'Hard'],
    ['TC_014', 'Soft'],
  ] as const) {
    it(caseName(id, `${type} reset`), async () => {
      const cp = await cps.boot();
      const driver = await aDriver(gw);
      const tx = started(await cp.station.startSession(1, driver.idTag));
      await sessionIn(gw, cp.id, tx, ['active']);
      const bootedAgain = cp.station.waitFor('booted', undefined, 15_000);
      expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/reset`, { type })).toEqual({ status: 'Accepted' });
      await bootedAgain;
      expect((await sessionIn(gw, cp.id, tx, ['completed'])).stop_reason).toBe(`${type}Reset`);
      await eventually(async () => (await stationJson(gw, cp.id)).online);
    });
  }
});

describe('Core: unlock connector', () => {
  it(caseName('TC_017_1', 'Unlock connector, no charging session (not fixed cable)'), async () => {
    const cp = await cps.boot();
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/unlock`, { connector_id: 1 })).toEqual({ status: 'Unlocked' });
  });

  it(caseName('TC_017_2', 'Unlock connector, no charging session (fixed cable)'), async () => {
    const cp = await cps.boot({ answers: { UnlockConnector: 'NotSupported' } });
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/unlock`, { connector_id: 1 })).toEqual({ status: 'NotSupported' });
  });

  it(caseName('TC_018_1', 'Unlock connector, with charging session'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    await sessionIn(gw, cp.id, tx, ['active']);
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/unlock`, { connector_id: 1 })).toEqual({ status: 'Unlocked' });
    expect((await sessionIn(gw, cp.id, tx, ['completed'])).stop_reason).toBe('UnlockCommand');
  });

  it(caseName('TC_030', 'Unlock connector, unlock failure'), async () => {
    const cp = await cps.boot({ answers: { UnlockConnector: 'UnlockFailed' } });
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/unlock`, { connector_id: 1 })).toEqual({ status: 'UnlockFailed' });
  });

  it(caseName('TC_031', 'Unlock connector, unknown connector'), async () => {
    const cp = await cps.boot();
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/unlock`, { connector_id: 2 })).toEqual({ status: 'NotSupported' });
  });
});

describe('Core: configuration', () => {
  it(caseName('TC_019_1', 'Retrieve all configuration keys'), async () => {
    const cp = await cps.boot();
    const answer = await operation(gw, 'GET', `/v1/chargestations/${cp.id}/configuration`);
    expect(cp.station.received('GetConfiguration').at(-1)?.params).toEqual({});
    const keys = answer.configurationKey.map((k: { key: string }) => k.key);
    expect(keys).toEqual(expect.arrayContaining(['HeartbeatInterval', 'MeterValueSampleInterval', 'NumberOfConnectors']));
    const s = await stationJson(gw, cp.id);
    expect(s.configuration_read_at).not.toBeNull();
    expect(s.configuration.NumberOfConnectors).toMatchObject({ value: '1', status: 'Read', readonly: true });
  });

  it(caseName('TC_019_2', 'Retrieve a specific configuration key'), async () => {
    const cp = await cps.boot();
    const answer = await operation(gw, 'GET', `/v1/chargestations/${cp.id}/configuration?key=HeartbeatInterval,NoSuchKey`);
    expect(answer.configurationKey).toEqual([expect.objectContaining({ key: 'HeartbeatInterval' })]);
    expect(answer.unknownKey).toEqual(['NoSuchKey']);
    expect((await stationJson(gw, cp.id)).configuration.NoSuchKey).toMatchObject({ status: 'Unknown', value: null });
  });

  it(caseName('TC_021', 'Change/set configuration'), async () => {
    const cp = await cps.boot();
    expect(await operation(gw, 'PATCH', `/v1/chargestations/${cp.id}/configuration`, { key: 'MeterValueSampleInterval', value: '120' })).toEqual({
      status: 'Accepted',
    });
    expect(cp.station.meterValueSampleInterval).toBe(120);
    expect((await stationJson(gw, cp.id)).configuration.MeterValueSampleInterval).toMatchObject({ value: '120', status: 'Accepted' });
  });

  it(caseName('TC_040_1', 'Configuration keys, NotSupported'), async () => {
    const cp = await cps.boot();
    expect(await operation(gw, 'PATCH', `/v1/chargestations/${cp.id}/configuration`, { key: 'NoSuchKey', value: '1' })).toEqual({
      status: 'NotSupported',
    });
  });

  it(caseName('TC_040_2', 'Configuration keys, invalid value'), async () => {
    const cp = await cps.boot();
    expect(await operation(gw, 'PATCH', `/v1/chargestations/${cp.id}/configuration`, { key: 'MeterValueSampleInterval', value: 'often' })).toEqual({
      status: 'Rejected',
    });
    expect((await stationJson(gw, cp.id)).configuration.MeterValueSampleInterval).toMatchObject({ value: 'often', status: 'Rejected' });
  });
});

describe('Core: authorization, non-happy paths', () => {
  it(caseName('TC_023_1', 'Start charging session, authorize invalid'), async () => {
    const cp = await cps.boot();
    expect((await cp.station.send('Authorize', { idTag: 'NOT-A-TOKEN' })).idTagInfo.status).toBe('Invalid');
    const start = await cp.station.startSession(1, 'NOT-A-TOKEN');
    expect(start).toMatchObject({ outcome: 'NotAuthorized', idTagStatus: 'Invalid' });
    expect(await sessionsOf(gw, cp.id)).toEqual([]);
  });

  it(caseName('TC_023_2', 'Start charging session, authorize expired'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw, { token: { expiresAt: new Date(Date.now() - 60_000).toISOString() } });
    expect((await cp.station.send('Authorize', { idTag: driver.idTag })).idTagInfo.status).toBe('Expired');
    expect(await cp.station.startSession(1, driver.idTag)).toMatchObject({ outcome: 'NotAuthorized', idTagStatus: 'Expired' });
  });

  it(caseName('TC_023_3', 'Start charging session, authorize blocked'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw, { token: { active: false } });
    expect((await cp.station.send('Authorize', { idTag: driver.idTag })).idTagInfo.status).toBe('Blocked');
    // Wallet-aware: a driver whose wallet is below the organization's minimum is Blocked too.
    const poor = await aDriver(gw, { balance: 100 });
    expect((await cp.station.send('Authorize', { idTag: poor.idTag })).idTagInfo.status).toBe('Blocked');
  });

  it(caseName('TC_024', 'Start charging session, lock failure'), async () => {
    const cp = await cps.boot();
    cp.station.plugIn(1);
    cp.station.setError(1, { errorCode: 'ConnectorLockFailure', info: 'cable lock stuck' });
    const c = await eventually(async () =>
      (await stationJson(gw, cp.id)).connectors.find((x: any) => x.connector_id === 1 && x.error_code === 'ConnectorLockFailure'),
    );
    expect(c).toMatchObject({ status: 'Faulted', info: 'cable lock stuck' });
    expect(await sessionsOf(gw, cp.id)).toEqual([]);
  });
});

describe('Core: power failure and offline behaviour', () => {
  it(caseName('TC_032_1', 'Power failure boot, stop transaction(s)'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    await sessionIn(gw, cp.id, tx, ['active']);
    await cp.station.stop(); // the power goes: no StopTransaction
    expect((await sessionsOf(gw, cp.id))[0].status).toBe('active');
    await cp.station.start(); // back: StopTransaction PowerLoss (after its connectors' Available)
    const done = await eventually(async () => {
      const s = await sessionIn(gw, cp.id, tx, ['completed']);
      return s.ended_by === 'station' ? s : undefined;
    });
    expect(done.stop_reason).toBe('PowerLoss');
  });

  it(caseName('TC_037_1', 'Offline start transaction, valid idTag'), async () => {
    const cp = await cps.boot({ configuration: { LocalAuthorizeOffline: 'true', LocalAuthListEnabled: 'true' } });
    const driver = await aDriver(gw);
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/local_list`, {
      list_version: 1,
      update_type: 'Full',
      entries: [{ idTag: driver.idTag, idTagInfo: { status: 'Accepted' } }],
    });
    await cp.station.goOffline();
    expect((await cp.station.startSession(1, driver.idTag)).outcome).toBe('Queued');
    await cp.station.goOnline();
    const session = await eventually(async () => (await sessionsOf(gw, cp.id)).find((s) => s.status === 'active'));
    expect(session.id_tag).toBe(driver.idTag);
  });

  it(caseName('TC_037_3', 'Offline start transaction, invalid idTag'), async () => {
    // A charger that starts unknown ids offline: it keeps AllowOfflineTxForUnknownId on whatever the
    // gateway sets (the gateway's own policy turns it off, docs/interop.md).
    const cp = await cps.boot({ configuration: { AllowOfflineTxForUnknownId: { value: 'true', onChange: 'Rejected' }, LocalAuthorizeOffline: 'true' } });
    await cp.station.goOffline();
    expect((await cp.station.startSession(1, 'NOBODY-KNOWN')).outcome).toBe('Queued');
    await cp.station.goOnline();
    // StartTransaction answered Invalid: the charger stops (StopTransactionOnInvalidId, set at boot).
    const session = await eventually(async () => (await sessionsOf(gw, cp.id)).find((s) => s.stopped_at));
    expect(session).toMatchObject({ status: 'rejected', refusal_reason: 'unknown_token' });
    await eventually(() => !cp.station.hasSession(1));
  });

  it(caseName('TC_039', 'Offline transaction: started and stopped while offline'), async () => {
    const cp = await cps.boot({ configuration: { LocalAuthorizeOffline: 'true', LocalAuthListEnabled: 'true' } });
    const driver = await aDriver(gw);
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/local_list`, {
      list_version: 1,
      update_type: 'Full',
      entries: [{ idTag: driver.idTag, idTagInfo: { status: 'Accepted' } }],
    });
    await cp.station.goOffline();
    await cp.station.startSession(1, driver.idTag);
    await new Promise((r) => setTimeout(r, 300));
    await cp.station.stopSession(1);
    await cp.station.goOnline();
    const session = await eventually(async () => (await sessionsOf(gw, cp.id)).find((s) => s.status === 'completed'));
    expect(session.energy_wh).toBeGreaterThan(0);
    expect(session.cost.debited).toBe(session.cost.amount);
  });
});

describe('Core: data transfer', () => {
  it(caseName('TC_064', 'Data transfer to a central system'), async () => {
    const cp = await cps.boot();
    const answer = await cp.station.dataTransfer('com.example.vendor', 'hello', 'data');
    expect(['Rejected', 'UnknownMessageId', 'UnknownVendorId']).toContain(answer.status);
  });
});
