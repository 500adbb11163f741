/**
 * Issue 14 item 3: the local authorization list kept in step with the wallets
 * (LOCAL_AUTH_LIST_SYNC=on), with the simulator holding the list as a charger does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimStation } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aToken, aUserWithWallet, anOrganization, topUp } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { simGatewayOptions } from './sim.ts';

let gw: TestGateway;
let org: { _id: string };
let rate: { _id: string };
const all: SimStation[] = [];

beforeAll(async () => {
  // PREDICTIVE_STOP off: at the simulator's squeezed time the predictive stop's real-time delay
  // ends a drain tens of cents early, before the wallet crosses the minimum this file watches.
  gw = await startGateway(simGatewayOptions({ LOCAL_AUTH_LIST_SYNC: 'on', PREDICTIVE_STOP: 'off' }));
  rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 40 }] }); // 1 c per 25 Wh
});
afterEach(async () => {
  await Promise.allSettled(all.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await gw?.stop();
});

/** A fresh organization (minimum 100) with its drivers, and a charger of it that keeps a local list. */
async function world() {
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
  const funded = await aUserWithWallet(gw, { organization: org._id, balance: 5_000 });
  const second = await aToken(gw, funded.user._id); // a second card on the same wallet
  const dry = await aUserWithWallet(gw, { organization: org._id, balance: 50 });
  const record = await aStation(gw, { rate: rate._id, organization: org._id });
  const station = new SimStation({
    url: gw.ocppUrl,
    identity: record.ocpp_id,
    connectors: 1,
    timeScale: 60,
    powerProfile: 'dc50',
    features: ['Core', 'LocalAuthListManagement', 'RemoteTrigger'],
    rpcOptions: { callTimeoutMs: 10_000 },
  });
  all.push(station);
  return { funded, second, dry, record, station };
}

/** Waits out the sync's debounce (250 ms), so wallet changes made before are synced on their own. */
const settled = () => new Promise((r) => setTimeout(r, 400));

const lists = (station: SimStation) => station.received('SendLocalList').map((c) => c.params as { listVersion: number; updateType: string; localAuthorizationList: any[] });

describe('local authorization list sync (14.3)', () => {
  it('a connecting station gets a Full list: funded wallets Accepted, the others Blocked, one parentIdTag per wallet', async () => {
    const { funded, second, dry, station, record } = await world();
    await station.start();
    await eventually(() => station.localList().entries.size === 3, 10_000);
    const { version, entries } = station.localList();
    expect(version).toBeGreaterThanOrEqual(1);
    expect(lists(station)[0]!.updateType).toBe('Full');
    const a = entries.get(funded.token.physicalId)!;
    expect(a.status).toBe('Accepted');
    expect(a.parentIdTag).toMatch(/^W[0-9A-F]{19}$/);
    expect(entries.get(second.physicalId)).toEqual(a); // same wallet, same group
    expect(entries.get(dry.token.physicalId)).toMatchObject({ status: 'Blocked' });
    expect(entries.get(dry.token.physicalId)!.parentIdTag).not.toBe(a.parentIdTag);
    // the list is the gateway's to keep: LocalAuthListEnabled is set
    await eventually(() => station.config.get(['LocalAuthListEnabled']).configurationKey[0]?.value === 'true');

    // a reconnect with the same version sends no Full list again
    const sent = lists(station).length;
    await station.reconnect();
    await eventually(() => station.received('GetLocalListVersion').length >= 2, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(lists(station).filter((l) => l.updateType === 'Full')).toHaveLength(1);
    expect(lists(station).length).toBe(sent);
    expect((await gw.api('GET', `/v1/chargestations/${record._id}/commands?action=SendLocalList`)).body.data[0]).toMatchObject({ requested_by: 'gateway', reason: 'local_list_sync' });
  });

  it('balances crossing the minimum become Differential updates with increasing versions, and offline the list decides', async () => {
    const { funded, dry, station } = await world();
    await station.start();
    await eventually(() => station.localList().entries.size === 3, 10_000);
    const v0 = station.localList().version;

    // the dry wallet is topped up above the minimum: Accepted, by a Differential of its one token
    await topUp(gw, dry.wallet._id, 100); // 150: just above the minimum
    await eventually(() => station.localList().entries.get(dry.token.physicalId)?.status === 'Accepted', 10_000);
    const up = lists(station).at(-1)!;
    expect(up).toMatchObject({ updateType: 'Differential' });
    expect(up.localAuthorizationList.map((e) => e.idTag)).toEqual([dry.token.physicalId]);
    expect(up.listVersion).toBeGreaterThan(v0);

    // charging drains it below the minimum: Blocked again, at a higher version
    const started = await station.startSession(1, dry.token.physicalId);
    expect(started.outcome).toBe('Started');
    await eventually(() => station.localList().entries.get(dry.token.physicalId)?.status === 'Blocked', 20_000);
    const down = lists(station).at(-1)!;
    expect(down.updateType).toBe('Differential');
    expect(down.listVersion).toBeGreaterThan(up.listVersion);
    await station.stopSession(1);

    // offline, the charger refuses the drained wallet and starts the funded one from its list
    await station.goOffline();
    expect(await station.startSession(1, dry.token.physicalId)).toEqual({ outcome: 'NotAuthorized', idTagStatus: 'Blocked' });
    const offline = await station.startSession(1, funded.token.physicalId);
    expect(offline.outcome).toBe('Queued');
    await station.stopSession(1);
    await station.goOnline();
  });

  it('a station whose list version differs (it lost its list) gets a Full list again', async () => {
    const { station } = await world();
    await station.start();
    await eventually(() => station.localList().entries.size === 3, 10_000);
    const before = station.localList().version;
    // the charger's list is wiped (a factory reset): an empty Full list at version 0 is version 0
    station.answers.set('GetLocalListVersion', { payload: { listVersion: 0 } });
    await station.reconnect();
    await eventually(() => lists(station).filter((l) => l.updateType === 'Full').length === 2, 10_000);
    expect(lists(station).at(-1)!.listVersion).toBeGreaterThan(before);
  });

  it("a version at int32's end: the Full fits below it, and a change that would pass it is the whole list Full at 1", async () => {
    const { dry, station } = await world();
    station.answers.set('GetLocalListVersion', { payload: { listVersion: 2_147_483_646 } });
    await station.start();
    await eventually(() => station.localList().entries.size === 3, 10_000);
    expect(lists(station).map((l) => [l.updateType, l.listVersion])).toEqual([['Full', 2_147_483_647]]);
    station.answers.set('GetLocalListVersion', undefined);
    await settled(); // the drivers' own top-ups are synced: the next sync is of the dry wallet alone

    await topUp(gw, dry.wallet._id, 100); // above the minimum: a change the station must get
    await eventually(() => station.localList().entries.get(dry.token.physicalId)?.status === 'Accepted', 10_000);
    const last = lists(station).at(-1)!;
    expect([last.updateType, last.listVersion]).toEqual(['Full', 1]);
    expect(last.localAuthorizationList).toHaveLength(3);
    expect(station.localList().version).toBe(1);
  });

  it('a Differential answered VersionMismatch is followed at once by the whole list Full', async () => {
    const { dry, station } = await world();
    await station.start();
    await eventually(() => station.localList().entries.size === 3, 10_000);
    const v0 = station.localList().version;
    await settled();
    station.answers.set('SendLocalList', (p) => (p.updateType === 'Differential' ? 'VersionMismatch' : undefined));

    await topUp(gw, dry.wallet._id, 100);
    await eventually(() => station.localList().entries.get(dry.token.physicalId)?.status === 'Accepted', 10_000);
    const [refused, full] = lists(station).slice(-2);
    expect(refused).toMatchObject({ updateType: 'Differential', listVersion: v0 + 1 });
    expect(full).toMatchObject({ updateType: 'Full', listVersion: v0 + 2 });
    expect(full!.localAuthorizationList).toHaveLength(3);
    station.answers.set('SendLocalList', undefined);
  });

  it('a station reporting a version beyond 32 bits gets a Full list that starts again at 1, and is in step after it', async () => {
    const { station, record } = await world();
    // firmware that numbers its list past int32 (or answers garbage): no column can keep it
    station.answers.set('GetLocalListVersion', { payload: { listVersion: 3_000_000_000 } });
    await station.start();
    await eventually(() => station.localList().entries.size === 3, 10_000);
    const full = lists(station).filter((l) => l.updateType === 'Full');
    expect(full.map((l) => l.listVersion)).toEqual([1]);
    // what the station holds now is what the gateway sent
    await eventually(async () => (await gw.api('GET', `/v1/chargestations/${record._id}`)).body.local_list_version === 1);
    // and the sync goes on from there: the station now reports 1, so a reconnect sends no Full list again
    station.answers.set('GetLocalListVersion', undefined);
    await station.reconnect();
    await eventually(() => station.received('GetLocalListVersion').length >= 2, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(lists(station).filter((l) => l.updateType === 'Full')).toHaveLength(1);
    expect(gw.logs.filter((l) => /out of range|handler failed|"level":50/.test(l))).toEqual([]);
  });
});
