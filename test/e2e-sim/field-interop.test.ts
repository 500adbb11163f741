/**
 * Issue 13 items 3, 7 and 8 with the charge point simulator playing real firmware: clock-aligned
 * readings and alert repeats, configuration written only where it differs (and refusals
 * respected), and offline authorization that knows about wallets.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimStation } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aToken, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { sessionOf, simGatewayOptions, Stations, SAMPLE_INTERVAL_S } from './sim.ts';

const AUTH_EXPIRY_S = 3;

let gw: TestGateway;
let org: { _id: string };
let rate: { _id: string };
const stations = new Stations();

beforeAll(async () => {
  gw = await startGateway(simGatewayOptions({ OCPP_AUTH_EXPIRY_S: String(AUTH_EXPIRY_S) }));
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
  rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 40 }] });
});
afterEach(async () => {
  await stations.stopAll();
});
afterAll(async () => {
  await gw?.stop();
});

type AlertJson = { _id: string; kind: string; count: number; last_seen_at: string; createdAt: string; transaction_id: number | null; acknowledged: boolean };
const alertsOf = async (stationId: string, query = ''): Promise<AlertJson[]> =>
  (await gw.api('GET', `/v1/alerts?chargestation=${stationId}&limit=200${query}`)).body.data;

/** A MeterValues for a transaction the gateway never gave out, answered before this returns. */
const unknownTxReading = (station: SimStation, transactionId: number, wh: number) =>
  station.send('MeterValues', {
    connectorId: 1,
    transactionId,
    meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }],
  });

const sent = (station: SimStation, action: string) => station.received(action).map((c) => c.params as { key: string; value?: string });

describe('alerts (13.3): clock-aligned readings are normal, repeats collapse', () => {
  it('six rounds of clock-aligned readings (connector 0, an idle connector, one in a transaction) raise no alert and bill the session', async () => {
    const { station, record } = await stations.boot(gw, rate._id, { connectors: 2 });
    const { token } = await aUserWithWallet(gw, { organization: org._id, balance: 5_000 });
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    for (let i = 0; i < 6; i++) station.sendClockAlignedReadings();
    // The gateway handles a station's calls in order: once this is answered, so are the readings.
    await unknownTxReading(station, 2_000_000_001, 10);
    const alerts = await eventually(async () => {
      const list = await alertsOf(record._id);
      return list.length ? list : undefined;
    });
    expect(alerts.map((a) => [a.kind, a.transaction_id, a.count])).toEqual([['meter_values_without_session', 2_000_000_001, 1]]);
    // the transaction's own clock-aligned readings are billed like any other
    expect((await sessionOf(gw, record._id, started.transactionId)).energy_wh).toBeGreaterThan(0);
  });

  it('one open alert per kind and station counts the repeats; an acknowledged one takes no new repeats', async () => {
    const { station, record } = await stations.boot(gw, rate._id);
    const t0 = Date.now();
    await unknownTxReading(station, 2_000_000_002, 10);
    await unknownTxReading(station, 2_000_000_002, 20);
    await unknownTxReading(station, 2_000_000_003, 30);
    const [open] = await eventually(async () => {
      const list = await alertsOf(record._id, '&kind=meter_values_without_session');
      return list.length === 1 && list[0]!.count === 3 ? list : undefined;
    });
    expect(open).toMatchObject({ count: 3, transaction_id: 2_000_000_003, acknowledged: false });
    expect(Date.parse(open!.last_seen_at)).toBeGreaterThanOrEqual(Date.parse(open!.createdAt));
    expect(Date.parse(open!.last_seen_at)).toBeGreaterThanOrEqual(t0 - 1_000);

    expect((await gw.api('POST', `/v1/alerts/${open!._id}/ack`)).status).toBe(200);
    await unknownTxReading(station, 2_000_000_004, 40);
    const list = await eventually(async () => {
      const l = await alertsOf(record._id, '&kind=meter_values_without_session');
      return l.length === 2 ? l : undefined;
    });
    const acked = list.find((a) => a._id === open!._id)!;
    const fresh = list.find((a) => a._id !== open!._id)!;
    expect(acked).toMatchObject({ count: 3, acknowledged: true });
    expect(fresh).toMatchObject({ count: 1, acknowledged: false, transaction_id: 2_000_000_004 });
    expect(await alertsOf(record._id, '&open=true')).toHaveLength(1);
  });
});

/** Waits for the gateway's configuration pass after a (re)boot: its GetConfiguration, then a quiet moment. */
async function configurationPass(station: SimStation, getConfigurationsBefore: number) {
  await eventually(() => station.received('GetConfiguration').length > getConfigurationsBefore, 10_000);
  await new Promise((r) => setTimeout(r, 500)); // any ChangeConfiguration follows at once
}

const stationJson = async (id: string) => (await gw.api('GET', `/v1/chargestations/${id}`)).body;

describe('configuration writes (13.7): read first, write what differs, respect refusals', () => {
  it('the first boot writes only the differing keys; a reboot writes nothing', async () => {
    const { station, record } = await stations.boot(gw, rate._id, { stopTransactionOnInvalidId: true });
    await configurationPass(station, 0);
    const get = station.received('GetConfiguration');
    expect(get).toHaveLength(1);
    expect((get[0]!.params as { key: string[] }).key).toEqual(
      expect.arrayContaining(['MeterValueSampleInterval', 'StopTransactionOnInvalidId', 'AuthorizationCacheEnabled', 'LocalAuthorizeOffline']),
    );
    // the simulator's defaults: a 60 s interval, no cache, unknown idTags allowed offline
    expect(sent(station, 'ChangeConfiguration').map((p) => p.key).sort()).toEqual(
      ['AllowOfflineTxForUnknownId', 'AuthorizationCacheEnabled', 'MeterValueSampleInterval'].sort(),
    );
    expect(station.config.writes('StopTransactionOnInvalidId')).toBe(0);
    expect(station.config.writes('LocalAuthorizeOffline')).toBe(0);
    const conf = (await stationJson(record._id)).configuration;
    expect(conf.MeterValueSampleInterval).toMatchObject({ value: String(SAMPLE_INTERVAL_S), status: 'Accepted' });
    expect(conf.LocalAuthorizeOffline).toMatchObject({ value: 'true', status: 'Matches' });

    const writes = station.received('ChangeConfiguration').length;
    await station.reconnect({ reboot: true });
    await configurationPass(station, 1);
    expect(station.received('ChangeConfiguration')).toHaveLength(writes);
    expect(station.config.writes('MeterValueSampleInterval')).toBe(1);
  });

  it('NotSupported answers and keys the charger does not know are recorded and not pushed again', async () => {
    const { station, record } = await stations.boot(gw, rate._id, {
      configuration: {
        StopTransactionOnInvalidId: { value: 'false', onChange: 'NotSupported' },
        AllowOfflineTxForUnknownId: null, // not a key of this firmware
      },
    });
    await configurationPass(station, 0);
    expect(sent(station, 'ChangeConfiguration').filter((p) => p.key === 'StopTransactionOnInvalidId')).toHaveLength(1);
    expect(sent(station, 'ChangeConfiguration').filter((p) => p.key === 'AllowOfflineTxForUnknownId')).toHaveLength(0);
    const conf = await eventually(async () => {
      const c = (await stationJson(record._id)).configuration;
      return c.StopTransactionOnInvalidId && c.AllowOfflineTxForUnknownId ? c : undefined;
    });
    expect(conf.StopTransactionOnInvalidId.status).toBe('NotSupported');
    expect(conf.AllowOfflineTxForUnknownId.status).toBe('NotSupported');

    const writes = station.received('ChangeConfiguration').length;
    await station.reconnect({ reboot: true });
    await configurationPass(station, 1);
    expect(station.received('ChangeConfiguration')).toHaveLength(writes);
  });

  it('a charger that cannot answer GetConfiguration: what it accepted at an earlier boot is not written again', async () => {
    const { station } = await stations.boot(gw, rate._id, { answers: { GetConfiguration: { callError: 'NotSupported' } } });
    await configurationPass(station, 0);
    const first = sent(station, 'ChangeConfiguration').map((p) => p.key);
    expect(first).toEqual(expect.arrayContaining(['MeterValueSampleInterval', 'StopTransactionOnInvalidId', 'LocalAuthorizeOffline']));
    await station.reconnect({ reboot: true });
    await configurationPass(station, 1);
    expect(sent(station, 'ChangeConfiguration').map((p) => p.key)).toEqual(first);
  });
});

describe('offline authorization (13.8): wallet-aware cache', () => {
  it('wallet tokens carry a short expiryDate and their wallet as parentIdTag; the offline keys are set', async () => {
    const { station } = await stations.boot(gw, rate._id);
    await configurationPass(station, 0);
    expect(station.config.get(['AuthorizationCacheEnabled', 'LocalAuthorizeOffline', 'LocalPreAuthorize', 'AllowOfflineTxForUnknownId']).configurationKey.map((k) => [k.key, k.value])).toEqual(
      expect.arrayContaining([
        ['AuthorizationCacheEnabled', 'true'],
        ['LocalAuthorizeOffline', 'true'],
        ['LocalPreAuthorize', 'false'],
        ['AllowOfflineTxForUnknownId', 'false'],
      ]),
    );
    const { user, token } = await aUserWithWallet(gw, { organization: org._id, balance: 5_000 });
    const second = await aToken(gw, user._id);
    const other = await aUserWithWallet(gw, { organization: org._id, balance: 5_000 });
    const before = Date.now();
    const a = (await station.send('Authorize', { idTag: token.physicalId })).idTagInfo;
    const b = (await station.send('Authorize', { idTag: second.physicalId })).idTagInfo;
    const c = (await station.send('Authorize', { idTag: other.token.physicalId })).idTagInfo;
    expect(a.status).toBe('Accepted');
    expect(a.parentIdTag).toMatch(/^W[0-9A-F]{19}$/);
    expect(b.parentIdTag).toBe(a.parentIdTag); // one wallet, one group
    expect(c.parentIdTag).not.toBe(a.parentIdTag);
    const expiresIn = Date.parse(a.expiryDate) - before;
    expect(expiresIn).toBeGreaterThan(AUTH_EXPIRY_S * 1000 - 1_500);
    expect(expiresIn).toBeLessThanOrEqual(AUTH_EXPIRY_S * 1000 + 1_500);
    expect((await station.send('Authorize', { idTag: 'NEVER-ISSUED' })).idTagInfo).toEqual({ status: 'Invalid' });
  });

  it('offline, the charger refuses an empty wallet (Blocked in its cache), an unknown idTag, and an entry that expired', async () => {
    const { station } = await stations.boot(gw, rate._id, { connectors: 2 });
    await configurationPass(station, 0);
    const rich = await aUserWithWallet(gw, { organization: org._id, balance: 5_000 });
    const dry = await aUserWithWallet(gw, { organization: org._id, balance: 50 }); // below the minimum of 100
    // Online, the charger asks (LocalPreAuthorize false) and caches the answers.
    expect(await station.startSession(1, dry.token.physicalId)).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Blocked' });
    const started = await station.startSession(2, rich.token.physicalId);
    expect(started.outcome).toBe('Started');
    await station.stopSession(2);
    expect(station.authorizationCache().get(dry.token.physicalId)?.status).toBe('Blocked');
    expect(station.authorizationCache().get(rich.token.physicalId)?.status).toBe('Accepted');

    await station.goOffline();
    expect(await station.startSession(1, dry.token.physicalId)).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Blocked' });
    expect(await station.startSession(1, 'NEVER-ISSUED')).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Invalid' });
    // the funded wallet's entry, once expired, no longer starts anything offline
    await new Promise((r) => setTimeout(r, AUTH_EXPIRY_S * 1000 + 200));
    expect(await station.startSession(2, rich.token.physicalId)).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Expired' });
    await station.goOnline();
  });
});
