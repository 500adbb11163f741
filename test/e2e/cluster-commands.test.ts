import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { clusterFixture, startCluster } from '../helpers/cluster.ts';
import { ON_POSTGRES } from '../helpers/db.ts';
import { eventually } from '../helpers/station.ts';

/**
 * Operator commands in a cluster: sent through any node, they reach the station on the node that
 * holds it (the StationPort's forwarding), with the same answers and errors as on one node, and
 * the command log reads the same from every node.
 */
describe.skipIf(!ON_POSTGRES)('station commands across a cluster (needs PostgreSQL: set DATABASE_URL)', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let fx: Awaited<ReturnType<typeof clusterFixture>>;
  const chargers: Charger[] = [];
  const uid = Date.now().toString(36).toUpperCase();
  const node = (i: number) => cluster.nodes[i - 1]!;

  beforeAll(async () => {
    cluster = await startCluster(2, { CLUSTER_LEASE_S: '3', OCPP_CALL_TIMEOUT_S: '2', LOG_LEVEL: 'info' });
    fx = await clusterFixture(node(1), 100);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(chargers.map((c) => c.close()));
    await cluster?.stop();
  });

  it("a command sent through one node reaches the station on the other and comes back with its answer", async () => {
    const station = await fx.station(`CMD-${uid}-A`);
    const charger = await aCharger(node(2).ocppUrl, station.ocpp_id);
    chargers.push(charger);
    await eventually(async () => (await cluster.presence(station.ocpp_id)) === 'node2');
    const base = `/v1/chargestations/${station._id}`;

    charger.station.answers.set('UnlockConnector', 'UnlockFailed');
    const unlock = await node(1).api('POST', `${base}/unlock`, { connector_id: 1 });
    expect(unlock).toMatchObject({ status: 200, body: { status: 'answered', answer: { status: 'UnlockFailed' } } });
    expect(charger.station.received('UnlockConnector')).toHaveLength(1);

    charger.station.answers.set('ClearCache', { callError: 'NotSupported' });
    const refused = await node(1).api('POST', `${base}/clear_cache`);
    expect(refused).toMatchObject({ status: 502, body: { error: { code: 'station_call_error', details: { ocpp_error_code: 'NotSupported' } } } });

    charger.station.answers.set('Reset', { noReply: true });
    expect((await node(1).api('POST', `${base}/reset`, { type: 'Soft' })).status).toBe(504);

    // The log is the same from either node, newest first (the operator's calls: the gateway's own boot pass is there too).
    const operator = `${base}/commands?requested_by=bootstrap`;
    const [one, two] = await Promise.all([node(1).api('GET', operator), node(2).api('GET', operator)]);
    expect(one.body).toEqual(two.body);
    expect(one.body.data.map((c: { action: string; status: string }) => [c.action, c.status])).toEqual([
      ['Reset', 'timeout'],
      ['ClearCache', 'call_error'],
      ['UnlockConnector', 'answered'],
    ]);
  });

  it("an operator's stop sent through one node is logged once, with the key, for the station on the other", async () => {
    const station = await fx.station(`CMD-${uid}-C`);
    const driver = await fx.driver(100_000);
    const charger = await aCharger(node(2).ocppUrl, station.ocpp_id);
    chargers.push(charger);
    await eventually(async () => (await cluster.presence(station.ocpp_id)) === 'node2');
    const { transactionId } = await charger.start(driver.idTags[0]!, 0);
    const session = await eventually(async () => (await node(1).api('GET', `/v1/sessions?chargestation=${station._id}`)).body.data[0]);
    const stop = await node(1).api('POST', `/v1/sessions/${session._id}/stop`);
    expect(stop).toMatchObject({ status: 202, body: { status: 'Accepted' } });
    const stops = await eventually(async () => {
      const log = (await node(2).api('GET', `/v1/chargestations/${station._id}/commands?action=RemoteStopTransaction`)).body.data;
      return log.length ? log : undefined;
    });
    await new Promise((r) => setTimeout(r, 300)); // a second entry (from the holder) would have come by now
    const again = (await node(1).api('GET', `/v1/chargestations/${station._id}/commands?action=RemoteStopTransaction`)).body.data;
    expect(again).toEqual(stops);
    expect(stops).toHaveLength(1);
    expect(stops[0]).toMatchObject({ status: 'answered', payload: { transactionId }, requested_by: 'bootstrap', reason: 'operator_stop' });
  });

  it('a station connected to no node is 409 station_offline from every node', async () => {
    const station = await fx.station(`CMD-${uid}-B`);
    for (const i of [1, 2]) {
      const res = await node(i).api('POST', `/v1/chargestations/${station._id}/trigger`, { message: 'Heartbeat' });
      expect(res).toMatchObject({ status: 409, body: { error: { code: 'station_offline' } } });
    }
  });
});
