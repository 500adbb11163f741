import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { sql } from 'kysely';
import { createDb, type DbHandle } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { LocalConnections } from '../../src/ocpp/connections.ts';
import { createCluster, BackgroundJobs, type Cluster } from '../../src/cluster/index.ts';
import { createRPCError } from '../../src/ocpp/rpc.ts';
import { StationOfflineError, StationTimeoutError } from '../../src/shared/errors.ts';
import { createPostgresDatabase, ON_POSTGRES, type TestDatabase } from '../helpers/db.ts';
import { eventually } from '../helpers/station.ts';
import { FakeStation } from '../helpers/fake-station.ts';

const log = pino({ level: 'silent' });

interface Node {
  id: string;
  connections: LocalConnections;
  cluster: Cluster;
}

describe.skipIf(!ON_POSTGRES)('cluster mechanics (needs PostgreSQL: set DATABASE_URL)', () => {
  let database: TestDatabase;
  let handle: DbHandle;
  const nodes: Node[] = [];

  async function startNode(id: string): Promise<Node> {
    const connections = new LocalConnections(log, id);
    const cluster = createCluster({
      db: handle.db,
      databaseUrl: database.url!,
      nodeId: id,
      leaseS: 2,
      defaultCallTimeoutMs: 5_000,
      log,
      connections,
    });
    await cluster.start();
    const node = { id, connections, cluster };
    nodes.push(node);
    return node;
  }

  /** Attaches a station to a node and waits until its presence is written. */
  async function connect(node: Node, station: FakeStation) {
    node.connections.attach(station);
    await eventually(async () => (await node.cluster.stations.locate([station.identity])).get(station.identity)?.node === node.id && (await presenceOf(station.identity)) === node.id);
    return station;
  }

  async function presenceOf(identity: string) {
    const row = await handle.db.selectFrom('station_presence').select('node_id').where('identity', '=', identity).executeTakeFirst();
    return row?.node_id;
  }

  let a: Node;
  let b: Node;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    handle = await createDb({ databaseUrl: database.url });
    await migrateToLatest(handle.db);
    a = await startNode('node-a');
    b = await startNode('node-b');
  });
  afterAll(async () => {
    for (const n of nodes) await n.cluster.stop().catch(() => {});
    for (const n of nodes) await n.cluster.close().catch(() => {});
    await handle?.close();
    await database?.drop();
  });

  it('a call to a station another node holds gets that station\'s answer; urgent stops pass a slow call there', async () => {
    let releaseSlow!: () => void;
    const slow = new Promise<void>((r) => (releaseSlow = r));
    const station = await connect(
      b,
      new FakeStation('FWD-1', async (action) => {
        if (action === 'GetConfiguration') await slow;
        return action === 'GetConfiguration' ? { configurationKey: [] } : { status: 'Accepted' };
      }),
    );
    const port = a.cluster.stations;
    const ordinary = port.call('FWD-1', 'GetConfiguration', {}, { timeoutMs: 5_000 });
    const queued = port.call('FWD-1', 'Reset', { type: 'Soft' }, { timeoutMs: 5_000 });
    await eventually(() => station.calls.length === 1);
    // One call in flight per station, on the holder: Reset waits behind GetConfiguration...
    const stop = await port.call('FWD-1', 'RemoteStopTransaction', { transactionId: 7 }, { urgent: true, timeoutMs: 5_000 });
    // ...but the urgent stop does not.
    expect(stop).toEqual({ status: 'Accepted' });
    expect(station.calls.map((c) => c.action)).toEqual(['GetConfiguration', 'RemoteStopTransaction']);
    releaseSlow();
    expect(await ordinary).toEqual({ configurationKey: [] });
    expect(await queued).toEqual({ status: 'Accepted' });
    expect(station.calls.map((c) => c.action)).toEqual(['GetConfiguration', 'RemoteStopTransaction', 'Reset']);
    const rows = await handle.db.selectFrom('station_calls').select('id').execute();
    await eventually(async () => (await handle.db.selectFrom('station_calls').select('id').execute()).length === 0, 3_000).catch(() => {
      throw new Error(`forwarded calls left behind: ${rows.length}`);
    });
  });

  it('calls to stations another node holds, made in one turn, reach each station in the order they were made', async () => {
    const [s1, s2] = [await connect(b, new FakeStation('ORD-1')), await connect(b, new FakeStation('ORD-2'))];
    const port = a.cluster.stations;
    // one turn of the event loop: one batch of forwarded calls, two stations interleaved
    const calls = [];
    for (let i = 0; i < 30; i++) {
      const identity = i % 2 ? 'ORD-2' : 'ORD-1';
      calls.push(port.call(identity, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: String(i) }, { timeoutMs: 5_000 }));
    }
    await Promise.all(calls);
    const sent = (st: FakeStation) => st.calls.map((c) => Number(c.params.value));
    expect(sent(s1)).toEqual(Array.from({ length: 15 }, (_, k) => 2 * k));
    expect(sent(s2)).toEqual(Array.from({ length: 15 }, (_, k) => 2 * k + 1));
  });

  it('answers as one node would: CALLERROR, timeout, offline; large calls and answers go through their row', async () => {
    const big = 'x'.repeat(20_000);
    await connect(
      b,
      new FakeStation('FWD-2', async (action, params) => {
        if (action === 'UnlockConnector') throw createRPCError('NotImplemented', 'no unlocking here', { why: 'test' });
        if (action === 'TriggerMessage') return new Promise(() => {}); // never answers
        if (action === 'GetConfiguration') return { configurationKey: [{ key: params.key[0], readonly: true, value: big }] };
        if (action === 'DataTransfer') return { status: 'Accepted', data: 'a\u0000b\ud800' };
        return { status: 'Accepted' };
      }),
    );
    const port = a.cluster.stations;
    await expect(port.call('FWD-2', 'UnlockConnector', { connectorId: 1 })).rejects.toMatchObject({
      rpcErrorCode: 'NotImplemented',
      message: 'no unlocking here',
    });
    const t0 = Date.now();
    await expect(port.call('FWD-2', 'TriggerMessage', { requestedMessage: 'Heartbeat' }, { timeoutMs: 400 })).rejects.toBeInstanceOf(
      StationTimeoutError,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    await expect(port.call('NOBODY', 'Reset', { type: 'Hard' })).rejects.toBeInstanceOf(StationOfflineError);
    // Over NOTIFY's 8,000 bytes both ways.
    const answer = await port.call('FWD-2', 'GetConfiguration', { key: ['k'.repeat(9_000)] });
    expect(answer.configurationKey?.[0]?.value).toHaveLength(20_000);
    expect(answer.configurationKey?.[0]?.key).toHaveLength(9_000);
    // an answer holding what jsonb refuses (a NUL, half a surrogate pair) arrives with U+FFFD, with
    // another answer written in the same moment
    const [odd, plain] = await Promise.all([
      port.call('FWD-2', 'DataTransfer', { vendorId: 'v' }),
      port.call('FWD-2', 'Reset', { type: 'Soft' }, { urgent: true }),
    ]);
    expect(odd).toEqual({ status: 'Accepted', data: 'a\ufffdb\ufffd' });
    expect(plain).toEqual({ status: 'Accepted' });
    // a call whose parameters the database cannot hold fails alone; the calls made with it go out
    const [refused, ...others] = await Promise.allSettled([
      port.call('FWD-2', 'DataTransfer', { vendorId: 'v\u0000' }),
      port.call('FWD-2', 'Reset', { type: 'Soft' }),
      port.call('FWD-2', 'Reset', { type: 'Hard' }),
    ]);
    expect(refused.status).toBe('rejected');
    expect(others).toEqual([
      { status: 'fulfilled', value: { status: 'Accepted' } },
      { status: 'fulfilled', value: { status: 'Accepted' } },
    ]);
  });

  it('a newer connection on another node closes the older one; presence follows it', async () => {
    const old = await connect(b, new FakeStation('MOVE-1'));
    const closed = new Promise<void>((r) => old.once('close', () => r()));
    const newer = await connect(a, new FakeStation('MOVE-1'));
    await closed;
    expect(b.connections.get('MOVE-1')).toBeUndefined();
    expect(await presenceOf('MOVE-1')).toBe('node-a');
    // Calls from node b now go to node a's connection.
    await b.cluster.stations.call('MOVE-1', 'Reset', { type: 'Soft' });
    expect(newer.calls.map((c) => c.action)).toEqual(['Reset']);
    // Closing the newer one removes the row; the older one's release never removed it before.
    await newer.close();
    await eventually(async () => (await presenceOf('MOVE-1')) === undefined);
  });

  it('a call whose notification was missed is sent once the holder listens again', async () => {
    const station = await connect(b, new FakeStation('MISSED-1'));
    // Cut node b's listening connection; a call is written for it while nobody listens.
    const listener = sql<{ pid: number }>`select pid from pg_stat_activity where application_name = 'gateway node-b listener'`;
    const before = (await listener.execute(handle.db)).rows.map((r) => r.pid);
    expect(before).toHaveLength(1);
    await sql`select pg_terminate_backend(${before[0]})`.execute(handle.db);
    await eventually(async () => (await listener.execute(handle.db)).rows.length === 0, 2_000);
    const answer = await a.cluster.stations.call('MISSED-1', 'Reset', { type: 'Hard' }, { timeoutMs: 8_000 });
    expect(answer).toEqual({ status: 'Accepted' });
    expect(station.calls).toHaveLength(1);
    const after = (await listener.execute(handle.db)).rows.map((r) => r.pid);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
  });

  it('a claim that could not be written (database trouble) is written at a later lease renewal', async () => {
    await sql`alter table station_presence rename to station_presence_away`.execute(handle.db);
    let renamed = true;
    try {
      b.connections.attach(new FakeStation('LATE-1'));
      await new Promise((r) => setTimeout(r, 300)); // the claim has failed by now
      await sql`alter table station_presence_away rename to station_presence`.execute(handle.db);
      renamed = false;
      await eventually(async () => (await presenceOf('LATE-1')) === 'node-b', 5_000);
      expect((await a.cluster.stations.locate(['LATE-1'])).get('LATE-1')).toEqual({ node: 'node-b' });
    } finally {
      if (renamed) await sql`alter table station_presence_away rename to station_presence`.execute(handle.db);
    }
  });

  it('a disconnect reaches the node holding the station', async () => {
    const station = await connect(b, new FakeStation('CLOSE-1'));
    await a.cluster.stations.disconnect('CLOSE-1', 'password changed');
    expect(station.state).toBe(3);
    await eventually(async () => !(await a.cluster.stations.locate(['CLOSE-1'])).has('CLOSE-1'));
    // Offline: nothing to do, no error.
    await a.cluster.stations.disconnect('CLOSE-1', 'again');
  });

  it('a periodic job runs on one node per period', async () => {
    let runs = 0;
    const job = { name: 'test_once', everyMs: 60_000, run: async () => void runs++ };
    const jobs = ['x', 'y', 'z'].map((n) => new BackgroundJobs({ db: handle.db, nodeId: n, log }, [job]));
    await Promise.all(jobs.map((j) => j.tick(job)));
    expect(runs).toBe(1);
    await Promise.all(jobs.map((j) => j.tick(job)));
    expect(runs).toBe(1); // not due again for 54 s
    await Promise.all(jobs.map((j) => j.stop()));
  });
});
