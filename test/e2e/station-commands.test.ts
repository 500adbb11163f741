import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aStation, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { Stations } from '../e2e-sim/sim.ts';
import { eventually } from '../helpers/station.ts';

/**
 * The command infrastructure: an operator's call goes to the station and comes back with its
 * answer, every call (answered, refused with a CALLERROR, unanswered, offline) is in the log
 * with who asked, and a scoped key reaches only its own organization's stations.
 */
let gw: TestGateway;
const sims = new Stations();

beforeAll(async () => {
  gw = await startGateway({ env: { OCPP_CALL_TIMEOUT_S: '2', LOG_LEVEL: 'info' } });
});
afterEach(() => sims.stopAll());
afterAll(() => gw.stop());

async function online(options: Parameters<Stations['create']>[2] = {}) {
  const record = await aStation(gw);
  const station = sims.create(gw, record.ocpp_id, { timeScale: 1, ...options });
  await station.start();
  return { station, id: record._id as string };
}

describe('commands sent to a station', () => {
  it("sends the call and answers with the station's answer, logged with who asked", async () => {
    const { station, id } = await online();
    station.answers.set('Reset', 'Rejected');
    const res = await gw.api('POST', `/v1/chargestations/${id}/reset`, { type: 'Hard' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      action: 'Reset',
      status: 'answered',
      payload: { type: 'Hard' },
      answer: { status: 'Rejected' },
      error: null,
      requested_by: 'bootstrap',
    });
    expect(station.received('Reset').at(-1)?.params).toEqual({ type: 'Hard' });

    // The operator's calls (the gateway's own configuration pass after the boot is there too).
    const log = await gw.api('GET', `/v1/chargestations/${id}/commands?requested_by=bootstrap`);
    expect(log.status).toBe(200);
    expect(log.body.data[0]).toEqual(res.body);
    expect(res.body.reason).toBeNull();
  });

  it('the log pages newest first, in the order the calls were sent', async () => {
    const { id } = await online();
    for (const type of ['Soft', 'Hard', 'Soft']) await gw.api('POST', `/v1/chargestations/${id}/reset`, { type });
    await gw.api('POST', `/v1/chargestations/${id}/clear_cache`);
    const first = (await gw.api('GET', `/v1/chargestations/${id}/commands?limit=3&requested_by=bootstrap`)).body;
    expect(first.data.map((c: any) => c.action)).toEqual(['ClearCache', 'Reset', 'Reset']);
    expect(first.data.slice(1).map((c: any) => c.payload.type)).toEqual(['Soft', 'Hard']);
    const rest = (await gw.api('GET', `/v1/chargestations/${id}/commands?limit=3&requested_by=bootstrap&cursor=${first.next_cursor}`)).body;
    expect(rest).toMatchObject({ data: [{ action: 'Reset', payload: { type: 'Soft' } }], next_cursor: null });
  });

  it('a CALLERROR is 502 with its code, and logged', async () => {
    const { station, id } = await online();
    station.answers.set('UnlockConnector', { callError: 'NotSupported' });
    const res = await gw.api('POST', `/v1/chargestations/${id}/unlock`, { connector_id: 1 });
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: 'station_call_error', details: { ocpp_error_code: 'NotSupported' } });
    const log = await gw.api('GET', `/v1/chargestations/${id}/commands?action=UnlockConnector`);
    expect(log.body.data[0]).toMatchObject({ status: 'call_error', error: { code: 'NotSupported' }, answer: null });
  });

  it('no answer in time is 504, logged as timeout', async () => {
    const { station, id } = await online();
    station.answers.set('Reset', { noReply: true });
    const res = await gw.api('POST', `/v1/chargestations/${id}/reset`, { type: 'Soft' });
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('station_timeout');
    const log = await gw.api('GET', `/v1/chargestations/${id}/commands?action=Reset`);
    expect(log.body.data[0]).toMatchObject({ action: 'Reset', status: 'timeout' });
  });

  it('a station connected nowhere is 409 station_offline, logged as offline', async () => {
    const record = await aStation(gw);
    const res = await gw.api('POST', `/v1/chargestations/${record._id}/reset`, {});
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('station_offline');
    const log = await gw.api('GET', `/v1/chargestations/${record._id}/commands`);
    expect(log.body.data).toHaveLength(1);
    expect(log.body.data[0]).toMatchObject({ status: 'offline', payload: { type: 'Soft' }, answeredAt: expect.any(String) });
  });

  it('refuses an invalid request before sending anything', async () => {
    const { station, id } = await online();
    const res = await gw.api('POST', `/v1/chargestations/${id}/unlock`, { connector_id: 0 });
    expect(res.status).toBe(400);
    expect(station.received('UnlockConnector')).toHaveLength(0);
    expect((await gw.api('GET', `/v1/chargestations/${id}/commands?requested_by=bootstrap`)).body.data).toEqual([]);
  });

  it('an id beyond the 32 bits the gateway keeps is a 400 naming the field, before anything is sent', async () => {
    const { station, id } = await online();
    const big = 3_000_000_000;
    const profile = (p: Record<string, unknown>) => ({
      connector_id: 1,
      charging_profile: {
        chargingProfileId: 1, stackLevel: 0, chargingProfilePurpose: 'TxDefaultProfile', chargingProfileKind: 'Relative',
        chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
        ...p,
      },
    });
    const requests: [string, string, unknown, RegExp][] = [
      ['POST', `/v1/chargestations/${id}/charging_profiles`, profile({ chargingProfileId: big }), /chargingProfileId/],
      ['POST', `/v1/chargestations/${id}/charging_profiles`, profile({ stackLevel: big }), /stackLevel/],
      ['POST', `/v1/chargestations/${id}/charging_profiles`, profile({ transactionId: big }), /transactionId/],
      ['DELETE', `/v1/chargestations/${id}/charging_profiles?charging_profile_id=${big}`, undefined, /charging_profile_id/],
      ['DELETE', `/v1/chargestations/${id}/charging_profiles?stack_level=${big}`, undefined, /stack_level/],
      ['POST', `/v1/chargestations/${id}/local_list`, { list_version: big, update_type: 'Full' }, /list_version/],
      ['POST', `/v1/chargestations/${id}/log`, { log_type: 'SecurityLog', remote_location: 'ftp://logs.example.com/', request_id: big }, /request_id/],
      ['GET', `/v1/chargestations/${id}/reservations/${big}`, undefined, /reservation_id/],
      ['DELETE', `/v1/chargestations/${id}/reservations/${big}`, undefined, /reservation_id/],
    ];
    for (const [method, url, body, field] of requests) {
      const res = await gw.api(method, url, body);
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(JSON.stringify(res.body), `${method} ${url}`).toMatch(field);
    }
    expect(station.received('SetChargingProfile')).toHaveLength(0);
    expect(station.received('ClearChargingProfile')).toHaveLength(0);
    expect(station.received('SendLocalList')).toHaveLength(0);
    expect(station.received('GetLog')).toHaveLength(0);
    expect(station.received('CancelReservation')).toHaveLength(0);
    expect(gw.logs.filter((l) => /"level":50/.test(l))).toEqual([]);
  });

  it("a scoped key reaches its organization's stations only, and is named in the log", async () => {
    const orgA = await anOrganization(gw);
    const orgB = await anOrganization(gw);
    const key = (await gw.api('POST', '/v1/api_keys', { name: 'ops A', organization: orgA._id })).body;
    const asA = (method: string, path: string, body?: unknown) => gw.api(method, path, body, { authorization: `Bearer ${key.key}` });
    const mine = await aStation(gw, { organization: orgA._id });
    const theirs = await aStation(gw, { organization: orgB._id });
    const a = sims.create(gw, mine.ocpp_id, { timeScale: 1 });
    const b = sims.create(gw, theirs.ocpp_id, { timeScale: 1 });
    await Promise.all([a.start(), b.start()]);

    const ok = await asA('POST', `/v1/chargestations/${mine._id}/unlock`, { connector_id: 1 });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ answer: { status: 'Unlocked' }, requested_by: key._id });

    expect((await asA('POST', `/v1/chargestations/${theirs._id}/unlock`, { connector_id: 1 })).status).toBe(404);
    expect((await asA('GET', `/v1/chargestations/${theirs._id}/commands`)).status).toBe(404);
    expect(b.received('UnlockConnector')).toHaveLength(0);
  });

  it('documents every operation in the OpenAPI document', async () => {
    const doc = (await gw.api('GET', '/v1/openapi.json')).body;
    const ops: [string, string][] = [
      ['post', 'reset'],
      ['post', 'unlock'],
      ['post', 'availability'],
      ['get', 'configuration'],
      ['patch', 'configuration'],
      ['post', 'clear_cache'],
      ['post', 'trigger'],
      ['get', 'local_list'],
      ['post', 'local_list'],
      ['post', 'reservations'],
      ['get', 'reservations'],
      ['delete', 'reservations/{reservation_id}'],
      ['post', 'firmware'],
      ['get', 'firmware'],
      ['post', 'diagnostics'],
      ['get', 'diagnostics'],
      ['post', 'charging_profiles'],
      ['get', 'charging_profiles'],
      ['delete', 'charging_profiles'],
      ['get', 'composite_schedule'],
      ['post', 'data_transfer'],
      ['get', 'security_events'],
      ['get', 'log'],
      ['get', 'commands'],
    ];
    for (const [method, path] of ops) {
      expect(doc.paths[`/v1/chargestations/{id}/${path}`]?.[method], `${method} ${path}`).toBeDefined();
    }
    const reset = doc.paths['/v1/chargestations/{id}/reset'].post;
    expect(Object.keys(reset.responses)).toEqual(expect.arrayContaining(['200', '409', '502', '504']));
  });

  it("data_transfer answers with the station's status and data", async () => {
    const { station, id } = await online();
    station.answers.set('DataTransfer', { payload: { status: 'Accepted', data: '42' } });
    const res = await gw.api('POST', `/v1/chargestations/${id}/data_transfer`, { vendor_id: 'com.example', message_id: 'ask', data: 'q' });
    expect(res.body.answer).toEqual({ status: 'Accepted', data: '42' });
    expect(station.received('DataTransfer').at(-1)?.params).toEqual({ vendorId: 'com.example', messageId: 'ask', data: 'q' });
  });

  it('availability: Scheduled while a transaction runs, kept per connector', async () => {
    const { station, id } = await online({ answers: { ChangeAvailability: 'Scheduled' } });
    const res = await gw.api('POST', `/v1/chargestations/${id}/availability`, { connector_id: 1, type: 'Inoperative' });
    expect(res.body.answer).toEqual({ status: 'Scheduled' });
    const s = (await gw.api('GET', `/v1/chargestations/${id}`)).body;
    expect(s.connectors.find((c: any) => c.connector_id === 1)).toMatchObject({ availability: 'Inoperative', availability_status: 'Scheduled' });
    expect(station.received('ChangeAvailability')).toHaveLength(1);
  });

  it('charging profiles in force follow OCPP 1.6 replacement: same id, or same connector, purpose and stack level', async () => {
    const { id } = await online();
    const url = `/v1/chargestations/${id}/charging_profiles`;
    const profile = (chargingProfileId: number, stackLevel: number, limit: number) => ({
      connector_id: 1,
      charging_profile: {
        chargingProfileId,
        stackLevel,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Relative',
        chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
      },
    });
    for (const [pid, level, limit] of [
      [1, 0, 16],
      [2, 1, 10],
      [3, 0, 8], // replaces 1: same connector, purpose and stack level
      [2, 2, 6], // replaces the old 2: same id
    ]) {
      expect((await gw.api('POST', url, profile(pid!, level!, limit!))).body.answer).toEqual({ status: 'Accepted' });
    }
    const inForce = (await gw.api('GET', url)).body.data.map((p: any) => [p.charging_profile_id, p.stack_level]);
    expect(inForce).toEqual([
      [2, 2],
      [3, 0],
    ]);
    // A profile the station refuses is not in force.
    const refused = await gw.api('POST', url, { ...profile(9, 0, 5), connector_id: 7 });
    expect(refused.body.answer).toEqual({ status: 'Rejected' });
    expect((await gw.api('GET', url)).body.data).toHaveLength(2);
  });

  it('a station answering SetChargingProfile NotSupported is shown without Smart Charging', async () => {
    const { station, id } = await online();
    // the simulator lists SmartCharging in SupportedFeatureProfiles: the boot's configuration pass learns it
    await eventually(async () => (await gw.api('GET', `/v1/chargestations/${id}`)).body.capabilities.smart_charging === true);
    station.answers.set('SetChargingProfile', 'NotSupported');
    const res = await gw.api('POST', `/v1/chargestations/${id}/charging_profiles`, {
      connector_id: 1,
      charging_profile: {
        chargingProfileId: 1,
        stackLevel: 0,
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Relative',
        chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
      },
    });
    expect(res.body.answer).toEqual({ status: 'NotSupported' });
    // kept in the transaction that logged the answer: shown at once
    expect((await gw.api('GET', `/v1/chargestations/${id}`)).body.capabilities).toMatchObject({ smart_charging: false });
  });

  it("a scoped key cannot reserve for another organization's idTag", async () => {
    const orgA = await anOrganization(gw);
    const orgB = await anOrganization(gw);
    const key = (await gw.api('POST', '/v1/api_keys', { name: 'ops A2', organization: orgA._id })).body;
    const mine = await aStation(gw, { organization: orgA._id });
    const a = sims.create(gw, mine.ocpp_id, { timeScale: 1 });
    await a.start();
    const stranger = await aUserWithWallet(gw, { organization: orgB._id, balance: 10_000 });
    const res = await gw.api(
      'POST',
      `/v1/chargestations/${mine._id}/reservations`,
      { connector_id: 1, id_tag: stranger.token.physicalId, expires_at: new Date(Date.now() + 60_000).toISOString() },
      { authorization: `Bearer ${key.key}` },
    );
    expect(res.status).toBe(404);
    expect(a.received('ReserveNow')).toHaveLength(0);
  });
});
