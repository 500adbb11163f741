import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { childGateway } from '../helpers/child-gateway.ts';
import { clusterFixture, startCluster } from '../helpers/cluster.ts';
import { ON_POSTGRES } from '../helpers/db.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';
import { eventually } from '../helpers/station.ts';

const LEASE_S = 3;
/** 1 cent per 10 Wh */
const PRICE = 100;
const cost = (wh: number) => Math.round((wh * PRICE) / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Three gateway processes on one PostgreSQL database, stations on different nodes, admin requests
 * to any node. Covers issue 15's bullets end to end: presence and takeover of a connection, every
 * kind of call reaching the node that holds the station, the stop at zero across nodes, a node
 * killed and one stopped, background work run once; and the ledger after each.
 */
describe.skipIf(!ON_POSTGRES)('cluster of three gateways (needs PostgreSQL: set DATABASE_URL)', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let fx: Awaited<ReturnType<typeof clusterFixture>>;
  const chargers: Charger[] = [];
  const wallets: string[] = [];
  const uid = Date.now().toString(36).toUpperCase();
  const ids = (name: string) => `CL-${uid}-${name}`;
  const node = (i: number) => cluster.nodes[i - 1]!;

  async function charger(nodeIndex: number, identity: string, opts: Parameters<typeof aCharger>[2] = {}) {
    const c = await aCharger(node(nodeIndex).ocppUrl, identity, opts);
    chargers.push(c);
    await eventually(async () => (await cluster.presence(identity)) === `node${nodeIndex}`);
    return c;
  }
  const closed = (c: Charger) => new Promise<void>((r) => c.station.once('disconnected', () => r()));

  beforeAll(async () => {
    cluster = await startCluster(3, {
      CLUSTER_LEASE_S: String(LEASE_S),
      BILLING_SWEEP_INTERVAL_S: '1',
      LOG_LEVEL: 'debug',
      // These tests time the stop at zero itself (no stop before the wallet reaches it); the
      // predictive stop would stop a low wallet's sessions a reading early, whenever the readings
      // happen to be close together. cluster-predictive.test.ts covers it across nodes.
      PREDICTIVE_STOP: 'off',
    });
    fx = await clusterFixture(node(1), PRICE);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(chargers.map((c) => c.close()));
    await cluster?.stop();
  });

  it('shows where each station is connected from any node; a second connection on another node wins', async () => {
    const st = await fx.station(ids('MOVE'));
    const first = await charger(1, st.ocpp_id);
    for (const i of [1, 2, 3]) {
      const seen = (await node(i).api('GET', `/v1/chargestations/${st._id}`)).body;
      expect(seen).toMatchObject({ online: true, node: 'node1' });
      const list = (await node(i).api('GET', `/v1/chargestations?organization=${fx.org._id}&limit=200`)).body.data;
      expect(list.find((s: { _id: string }) => s._id === st._id)).toMatchObject({ online: true, node: 'node1' });
    }

    const firstClosed = closed(first);
    const t0 = Date.now();
    const second = await charger(2, st.ocpp_id);
    const outcome = await Promise.race([firstClosed.then(() => 'closed'), sleep(4_000).then(() => 'still open')]);
    expect(outcome).toBe('closed'); // the requirement is 2 s; the bound here leaves room for a loaded machine
    console.log(`cluster: the older connection closed ${Date.now() - t0} ms after the newer one started connecting`);
    expect((await node(3).api('GET', `/v1/chargestations/${st._id}`)).body).toMatchObject({ online: true, node: 'node2' });

    // One live connection: a call from node 3 reaches the newer one only.
    await second.client.call('Heartbeat', {});
    const user = await fx.driver(5_000);
    const res = await node(3).api('POST', '/v1/sessions', { type: 'wallet', chargestation: st._id, connector: 1, user: user.userId });
    expect(res).toMatchObject({ status: 202, body: { status: 'Accepted' } });
    expect(second.remoteStarts).toEqual([{ connectorId: 1, idTag: user.idTags[0] }]);
    expect(first.remoteStarts).toEqual([]);
  });

  it('remote start, remote stop and disconnects reach the node holding the station, with the same answers', async () => {
    const user = await fx.driver(5_000);
    wallets.push(user.walletId);
    const slow = await fx.station(ids('SLOW'));
    const slowCharger = await charger(2, slow.ocpp_id, { startDelayMs: 25_000 });
    // Started first, checked last: a station that does not answer in time is a 504 from any node.
    const tSlow = Date.now();
    const slowStart = node(1).api('POST', '/v1/sessions', { type: 'wallet', chargestation: slow._id, connector: 1, user: user.userId });

    const refusing = await fx.station(ids('REFUSE'));
    await charger(3, refusing.ocpp_id, { remoteStart: 'Rejected' });
    expect(await node(1).api('POST', '/v1/sessions', { type: 'wallet', chargestation: refusing._id, connector: 1, user: user.userId })).toMatchObject({
      status: 202,
      body: { status: 'Rejected' },
    });

    const nowhere = await fx.station(ids('NOWHERE'));
    expect(await node(2).api('POST', '/v1/sessions', { type: 'wallet', chargestation: nowhere._id, connector: 1, user: user.userId })).toMatchObject({
      status: 409,
      body: { error: { code: 'station_offline' } },
    });

    // A session on node 2's station, stopped through node 3.
    const running = await fx.station(ids('RUN'));
    const runner = await charger(2, running.ocpp_id);
    const { transactionId } = await runner.start(user.idTags[0]!, 1_000);
    await runner.meter(transactionId, 1_500);
    const session = (await node(1).api('GET', `/v1/sessions?chargestation=${running._id}`)).body.data[0];
    expect(await node(3).api('POST', `/v1/sessions/${session._id}/stop`)).toMatchObject({ status: 202, body: { status: 'Accepted' } });
    expect(runner.remoteStops).toEqual([transactionId]);
    await runner.stop(transactionId, 1_600, 'Remote');
    const settled = (await node(2).api('GET', `/v1/sessions/${session._id}`)).body;
    expect(settled).toMatchObject({ status: 'completed', termination: 'remote', cost: { amount: cost(600), debited: cost(600) } });

    // A password change through node 1 closes node 3's socket; a deactivation through node 2 closes node 1's.
    const pw = await fx.station(ids('PW'));
    const pwCharger = await charger(3, pw.ocpp_id);
    const pwClosed = closed(pwCharger);
    expect(await node(1).api('PATCH', `/v1/chargestations/${pw._id}`, { password: 'a-new-station-secret' })).toMatchObject({
      status: 200,
      body: { online: false, node: null },
    });
    await pwClosed;
    const off = await fx.station(ids('OFF'));
    const offCharger = await charger(1, off.ocpp_id);
    const offClosed = closed(offCharger);
    expect((await node(2).api('DELETE', `/v1/chargestations/${off._id}`)).body).toMatchObject({ active: false, online: false });
    await offClosed;
    await eventually(async () => (await cluster.presence(off.ocpp_id)) === undefined);

    const slowRes = await slowStart;
    expect(slowRes).toMatchObject({ status: 504, body: { error: { code: 'station_timeout' } } });
    expect(Date.now() - tSlow).toBeGreaterThanOrEqual(19_000);
    expect(slowCharger.remoteStarts).toHaveLength(1);
    await assertLedgerConsistent(cluster.db, wallets);
  }, 60_000);

  it('the stop at zero reaches every session the wallet pays for, on every node; billing stays exact', async () => {
    const balance = 100;
    const payer = await fx.driver(balance, 3);
    wallets.push(payer.walletId);
    const stations = await Promise.all([1, 2, 3].map((i) => fx.station(ids(`ZERO${i}`))));
    const cs = [await charger(1, stations[0]!.ocpp_id), await charger(2, stations[1]!.ocpp_id), await charger(3, stations[2]!.ocpp_id)];
    const txs: number[] = [];
    for (const [i, c] of cs.entries()) txs.push((await c.start(payer.idTags[i]!, 10_000)).transactionId);
    await cs[0]!.meter(txs[0], 10_400); // 40 c
    await cs[1]!.meter(txs[1], 10_400); // 40 c: balance 20
    expect(cs.flatMap((c) => c.remoteStops)).toEqual([]);
    await cs[2]!.meter(txs[2], 10_300); // 30 c: balance -10, the wallet is at zero on node 3
    // Every session of the wallet is stopped: node 3's own, and those on nodes 1 and 2.
    for (const [i, c] of cs.entries()) await c.waitForStop(txs[i]!, 5_000);
    // Energy delivered while stopping is still billed.
    await cs[0]!.stop(txs[0]!, 10_420, 'Remote');
    await cs[1]!.stop(txs[1]!, 10_400, 'Remote');
    await cs[2]!.stop(txs[2]!, 10_310, 'Remote');
    // One stop each: a session on another node is stopped by its own node (handed over in the
    // debit's transaction), not a second time by the node that debited.
    for (const [i, c] of cs.entries()) expect(c.remoteStops.filter((tx) => tx === txs[i])).toHaveLength(1);
    const expected = cost(420) + cost(400) + cost(310);
    const wallet = (await node(2).api('GET', `/v1/users/${payer.userId}/wallet`)).body.wallet;
    expect(wallet.balance).toBe(balance - expected);
    const sessions = (await node(1).api('GET', `/v1/sessions?user=${payer.userId}`)).body.data;
    expect(sessions).toHaveLength(3);
    for (const s of sessions) expect(s).toMatchObject({ status: 'completed', termination: 'insufficient_balance' });
    expect(sessions.reduce((a: number, s: { cost: { debited: number } }) => a + s.cost.debited, 0)).toBe(expected);
    await assertLedgerConsistent(cluster.db, wallets);
  });

  it('background work runs once per period for the whole cluster, not once per node', async () => {
    const runs = () =>
      cluster.nodes.map((n) => n.output.join('').split('\n').filter((l) => l.includes('"job":"time_sweep"') && l.includes('background job ran')).length);
    const before = runs();
    await sleep(6_000);
    const after = runs();
    const total = after.reduce((a, n, i) => a + n - before[i]!, 0);
    console.log(`cluster: TIME sweep ran ${total} times in 6 s across 3 nodes (period 1 s), per node ${after.map((n, i) => n - before[i]!).join('/')}`);
    // Once per second for the cluster is about 6; every node on its own would be about 18.
    expect(total).toBeGreaterThanOrEqual(3);
    expect(total).toBeLessThanOrEqual(9);
    const jobs = await cluster.db.selectFrom('cluster_jobs').select('name').orderBy('name').execute();
    expect(jobs.map((j) => j.name)).toEqual(['cluster_reap', 'stop_takeover', 'time_sweep']);
  });

  it('a second process with a node id already live is refused, and told why', async () => {
    const error = await childGateway({ DATABASE_URL: cluster.url, NODE_ID: 'node1' }).then(
      async (twin) => {
        await twin.stop();
        return undefined;
      },
      (err: Error) => err,
    );
    expect(error?.message).toMatch(/gateway exited 2/);
    expect(error?.message).toMatch(/NODE_ID node1 is in use by another live gateway process/);
    // node1 is unharmed: still registered, still serving.
    expect((await node(1).api('GET', '/v1/organizations')).status).toBe(200);
    expect(await cluster.db.selectFrom('cluster_nodes').select('id').where('id', '=', 'node1').execute()).toHaveLength(1);
  }, 60_000);

  it('a killed node: its presence expires, its stations come back on the others, the stops it owed arrive, nothing is billed twice', async () => {
    const poor = await fx.driver(50, 2);
    const rich = await fx.driver(1_000_000);
    wallets.push(poor.walletId, rich.walletId);
    const [owed, quiet, metered, kept] = await Promise.all(['OWED', 'QUIET', 'METERED', 'KEPT'].map((n) => fx.station(ids(n))));
    // On node 2, which will die: a station that refuses its stop (the wallet is at zero)...
    const owedC = await charger(2, owed!.ocpp_id, { stopPolicy: 'Rejected' });
    // ...one that stays away after the crash, and one with a running session.
    await charger(2, quiet!.ocpp_id);
    const meteredC = await charger(2, metered!.ocpp_id);
    // On node 3, which lives: a session of the same poor wallet, refusing stops for now.
    const keptC = await charger(3, kept!.ocpp_id, { stopPolicy: 'Rejected' });

    const owedTx = (await owedC.start(poor.idTags[0]!, 0)).transactionId;
    const keptTx = (await keptC.start(poor.idTags[1]!, 0)).transactionId;
    const meteredTx = (await meteredC.start(rich.idTags[0]!, 0)).transactionId;
    await meteredC.meter(meteredTx, 2_000);
    await owedC.meter(owedTx, 600); // 60 c of 50: at zero on node 2; node 2 stops both sessions
    await owedC.waitForStop(owedTx, 5_000);
    await keptC.waitForStop(keptTx, 5_000); // handed to node 3 by node 2's debit, refused

    await node(2).kill();
    const tKill = Date.now();
    // The station that does not come back is shown offline once node 2's lease has passed.
    await eventually(async () => (await node(1).api('GET', `/v1/chargestations/${quiet!._id}`)).body.online === false, (LEASE_S + 5) * 1000);
    const expiredAfter = Date.now() - tKill;
    console.log(`cluster: a killed node's station shown offline ${expiredAfter} ms after SIGKILL (lease ${LEASE_S} s)`);
    expect(expiredAfter).toBeLessThanOrEqual((LEASE_S + 3) * 1000);

    // The others reconnect (as behind a load balancer) to nodes 1 and 3.
    const owedAgain = await charger(1, owed!.ocpp_id);
    const meteredAgain = await charger(3, metered!.ocpp_id);
    // The stop node 2 owed is sent by the node the station reached.
    await owedAgain.waitForStop(owedTx, 10_000);
    await owedAgain.stop(owedTx, 650, 'Remote');
    // The running session resends its last reading (it may not have been answered) and goes on.
    await meteredAgain.meter(meteredTx, 2_000);
    await meteredAgain.meter(meteredTx, 2_500);
    await meteredAgain.stop(meteredTx, 2_500, 'Local');

    // Node 2's retries for the session on node 3 did not die with it: another node takes them over.
    keptC.station.answers.set('RemoteStopTransaction', 'Accepted');
    const refusedBefore = keptC.remoteStops.length;
    await eventually(() => keptC.remoteStops.length > refusedBefore, 40_000);
    console.log(`cluster: the stop retries of the killed node were taken over ${Date.now() - tKill} ms after SIGKILL`);
    await keptC.stop(keptTx, 10, 'Remote');

    const get = async (id: string) => (await node(1).api('GET', `/v1/sessions?chargestation=${id}`)).body.data[0];
    expect(await get(owed!._id)).toMatchObject({ status: 'completed', termination: 'insufficient_balance', cost: { debited: cost(650) } });
    expect(await get(metered!._id)).toMatchObject({ status: 'completed', cost: { debited: cost(2_500) } });
    expect(await get(kept!._id)).toMatchObject({ status: 'completed', termination: 'insufficient_balance', cost: { debited: cost(10) } });
    expect((await node(3).api('GET', `/v1/users/${poor.userId}/wallet`)).body.wallet.balance).toBe(50 - cost(650) - cost(10));
    expect((await node(3).api('GET', `/v1/users/${rich.userId}/wallet`)).body.wallet.balance).toBe(1_000_000 - cost(2_500));
    await assertLedgerConsistent(cluster.db, wallets);
  }, 90_000);

  it('a node stopping gracefully hands its stations back at once', async () => {
    const st = await fx.station(ids('GRACE'));
    await charger(3, st.ocpp_id);
    await node(3).stop();
    // No lease to wait for: the presence rows and the node's lease are gone when it has exited.
    expect((await node(1).api('GET', `/v1/chargestations/${st._id}`)).body).toMatchObject({ online: false, node: null });
    expect(await cluster.db.selectFrom('station_presence').select('identity').where('node_id', '=', 'node3').execute()).toEqual([]);
    expect(await cluster.db.selectFrom('cluster_nodes').select('id').where('id', '=', 'node3').execute()).toEqual([]);
    await charger(1, st.ocpp_id);
    expect((await node(1).api('GET', `/v1/chargestations/${st._id}`)).body).toMatchObject({ online: true, node: 'node1' });
  });

  it('no node logged an error', () => {
    for (const n of cluster.nodes) {
      const errors = n.output.join('').split('\n').filter((l) => /"level":(50|60)/.test(l));
      expect(errors, n.id).toEqual([]);
    }
  });
});
