import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { sql } from 'kysely';
import { createDb, type DbHandle } from '../../src/db/index.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { channelOf } from '../../src/cluster/node.ts';
import type { Notice } from '../../src/cluster/notices.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import { createRate } from '../../src/domain/billing/rates.ts';
import { createUser } from '../../src/domain/users/users.ts';
import { createToken } from '../../src/domain/tokens/tokens.ts';
import { getOrCreateWallet } from '../../src/domain/wallets/wallets.ts';
import { createManualTopUp } from '../../src/domain/wallets/top-ups.ts';
import { updateOrganization, defaultOrganizationId } from '../../src/domain/organizations/organizations.ts';
import { startTransaction, type StationRef } from '../../src/domain/sessions/transactions.ts';
import { markStopping, pendingStops } from '../../src/domain/sessions/stop-marks.ts';
import { billAndMark, planBilling } from '../../src/domain/sessions/billing.ts';
import { billingRowsByTransaction } from '../../src/domain/sessions/session-rows.ts';
import { createPostgresDatabase, ON_POSTGRES, type TestDatabase } from '../helpers/db.ts';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { eventually } from '../helpers/station.ts';
import { tcpProxy } from '../helpers/tcp-proxy.ts';
import { FakeStation } from '../helpers/fake-station.ts';

type Node = TestGateway & { id: string };

interface Session {
  sessionId: string;
  transactionId: number;
  station: StationRef;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The stop hand-over between nodes (StopRelay): a debit that takes a wallet to zero on one node
 * has the nodes holding its other sessions' stations send their RemoteStopTransaction. Three
 * in-process gateways (the real composition root, cluster on PostgreSQL) hold fake station
 * sockets; a LISTEN connection of the test's own records every notification sent to any node.
 */
describe.skipIf(!ON_POSTGRES)('stop relay between cluster nodes (needs PostgreSQL: set DATABASE_URL)', () => {
  let database: TestDatabase;
  let handle: DbHandle;
  let tap: pg.Client;
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;
  let rateId: string;
  const nodes: Node[] = [];
  /** every notification any node (or the fake dead node) was sent, in order */
  const heard: { node: string; notice: Notice }[] = [];
  let a: Node;
  let b: Node;
  let c: Node;
  let n = 0;
  /** a node id with rows in the cluster tables and no process behind it */
  const DEAD = 'node-x';

  const db = () => handle.db;

  async function startNode(id: string, env: Record<string, string> = {}): Promise<Node> {
    const gw = await startGateway({
      database,
      env: {
        NODE_ID: id,
        CLUSTER_LEASE_S: '2',
        DB_POOL_SIZE: '4',
        LOG_LEVEL: 'info',
        // Only the wallet at zero stops sessions here, not a prediction of it.
        PREDICTIVE_STOP: 'off',
        ...env,
      },
      // A stop that fails is not tried again during a test: what arrives was sent once, by the
      // path under test.
      stopRetryDelaysMs: [60_000],
    });
    const node = Object.assign(gw, { id });
    nodes.push(node);
    return node;
  }

  /** Attaches a station to a node, as its OCPP server does, and waits until its presence is written. */
  async function connect(node: Node, station: FakeStation): Promise<FakeStation> {
    node.app.context.connections.attach(station);
    await eventually(async () => (await presenceOf(station.identity)) === node.id);
    return station;
  }

  async function presenceOf(identity: string) {
    const row = await db().selectFrom('station_presence').select('node_id').where('identity', '=', identity).executeTakeFirst();
    return row?.node_id;
  }

  /** Session ids handed to `node` in `stop` notices, from the `since`-th notification heard on. */
  function stopNoticesTo(node: string, since = 0): string[] {
    return heard.slice(since).flatMap((h) => (h.node === node && h.notice.t === 'stop' ? h.notice.s.map((e) => e[0]) : []));
  }

  /** Transaction ids of RemoteStopTransaction calls forwarded to `node` (a node sending a stop itself through the holder). */
  function forwardedStopsTo(node: string): number[] {
    return heard.flatMap((h) =>
      h.node === node && h.notice.t === 'call' && h.notice.c?.action === 'RemoteStopTransaction'
        ? [(h.notice.c.params as { transactionId: number }).transactionId]
        : [],
    );
  }

  async function station(): Promise<StationRef> {
    const st = await createStation(db(), systemClock, { ocpp_id: uniqueIdentity('RELAY'), rate: rateId });
    return { stationId: st.id, identity: st.ocpp_id };
  }

  /** A user whose wallet holds `balance` cents. */
  async function driver(balance: number) {
    n += 1;
    const user = await createUser(db(), systemClock, { firstname: 'Relay', lastname: `R${n}`, email: `relay${n}-${Date.now()}@example.com` });
    const { wallet } = await getOrCreateWallet(db(), systemClock, user.id);
    await createManualTopUp(db(), systemClock, { wallet: wallet.id, amount: balance });
    return { walletId: wallet.id, userId: user.id };
  }

  /** A running session of the driver's wallet on `at`, through a token of its own, started an hour ago. */
  async function session(d: { userId: string }, at: StationRef): Promise<Session> {
    n += 1;
    const tag = `RL${n}T${Date.now() % 1_000_000}`;
    await createToken(db(), systemClock, { physicalId: tag, user: d.userId });
    const res = await startTransaction(
      db(),
      systemClock,
      at,
      { connectorId: 1, idTag: tag, meterStart: 0, timestamp: new Date(Date.now() - 3_600_000) },
      { defaultMaxPowerW: null },
    );
    expect(res.status).toBe('Accepted');
    return { sessionId: res.session.id, transactionId: res.session.transaction_id, station: at };
  }

  /** A MeterValues of `s` on the node holding its station: `wh` at 100 c/kWh is wh/10 cents. */
  function meter(node: Node, s: Session, wh: number) {
    return node.app.sessions.meterValues({
      station: s.station,
      connectorId: 1,
      transactionId: s.transactionId,
      meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }],
    } as Parameters<Node['app']['sessions']['meterValues']>[0]);
  }

  async function sessionRow(id: string) {
    return db()
      .selectFrom('sessions')
      .select(['status', 'termination', 'stop_requested_at', 'stop_attempts'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  }

  beforeAll(async () => {
    database = await createPostgresDatabase();
    handle = await createDb({ databaseUrl: database.url, poolSize: 4 });
    await migrateToLatest(handle.db);
    await updateOrganization(handle.db, systemClock, await defaultOrganizationId(handle.db), { minimum_balance_to_start_session: 0 });
    rateId = (await createRate(handle.db, systemClock, { currency: 'USD', price_components: [{ type: 'ENERGY', price: 100 }] })).id;
    // Neither the stop takeover nor the reaping of dead nodes runs during these tests: every stop
    // that arrives came by the path under test, and the dead node's rows stay where they are.
    for (const job of ['stop_takeover', 'cluster_reap']) {
      await sql`insert into cluster_jobs (name, node_id, run_after) values (${job}, 'test', now() + interval '1 hour')
        on conflict (name) do update set run_after = excluded.run_after`.execute(handle.db);
    }
    tap = new pg.Client({ connectionString: database.url });
    await tap.connect();
    tap.on('notification', (msg) => {
      const node = msg.channel.slice(channelOf('').length);
      if (msg.payload) heard.push({ node, notice: JSON.parse(msg.payload) as Notice });
    });
    for (const id of ['node-a', 'node-b', 'node-c', DEAD]) await tap.query(`listen "${channelOf(id)}"`);
    // Node b listens through a proxy the test can cut: its LISTEN connection can be taken away
    // (and kept away) while its pool and lease go on.
    const u = new URL(database.url!);
    proxy = await tcpProxy(u.hostname, Number(u.port || 5432));
    const listenUrl = new URL(database.url!);
    listenUrl.hostname = '127.0.0.1';
    listenUrl.port = String(proxy.port);
    a = await startNode('node-a');
    b = await startNode('node-b', { DATABASE_LISTEN_URL: listenUrl.toString() });
    c = await startNode('node-c');
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes) await node.stop().catch(() => {});
    await tap?.end().catch(() => {});
    await proxy?.close();
    await handle?.close();
    await database?.drop();
  }, 60_000);

  it('hands a wallet\'s running sessions on other live nodes to their holders at COMMIT, and nothing on ROLLBACK', async () => {
    const relay = a.app.context.cluster!.stopRelay;
    const [bAt, alsoBAt, aAt, rolledBackAt] = [await station(), await station(), await station(), await station()];
    const onB = await connect(b, new FakeStation(bAt.identity));
    const alsoOnB = await connect(b, new FakeStation(alsoBAt.identity));
    const onA = await connect(a, new FakeStation(aAt.identity));
    const rolledBackOnB = await connect(b, new FakeStation(rolledBackAt.identity));

    // A wallet whose debit rolls back: its session on node b must never be stopped.
    const undone = await driver(1_000);
    const undoneSession = await session(undone, rolledBackAt);
    // A wallet with one running session on b (handed over), one on a (the debit's node: a stops
    // it itself, not through a notice to itself) and one already stopping on b (being stopped).
    const w = await driver(1_000);
    const handed = await session(w, bAt);
    const ownNode = await session(w, aAt);
    const alreadyStopping = await session(w, alsoBAt);
    await markStopping(db(), { sessionIds: [alreadyStopping.sessionId] }, 'remote', new Date());

    const before = heard.length;
    class RolledBack extends Error {}
    let seenInRollback: unknown[] = [];
    // The relay's steps over a session marked in a transaction that then rolls back.
    await expect(
      db().transaction().execute(async (tx) => {
        const { rows } = await sql<{ session_id: string }>`
          with stop_marked as (
            select s.id as session_id, s.transaction_id, c.ocpp_id as identity, c.id as station_id
            from sessions s join charge_stations c on c.id = s.station_id where s.id = ${undoneSession.sessionId}
          ), ${relay.handOverSteps()}
          select session_id from handed`.execute(tx);
        seenInRollback = rows.map((r) => r.session_id);
        throw new RolledBack();
      }),
    ).rejects.toBeInstanceOf(RolledBack);
    // The statement did find the session and ran pg_notify for it: only the rollback withheld it.
    expect(seenInRollback).toEqual([undoneSession.sessionId]);

    // The debit on node a's session takes the wallet to zero (1,000 cents): the statement marks
    // the wallet's running sessions and hands over those on other nodes.
    const [row] = await billingRowsByTransaction(db(), [ownNode.transactionId]);
    const at = new Date();
    const debit = { row: row!, plan: planBilling(row!, { registersWh: [10_000], at }), readingAt: at };
    const { stops, handed: returned, unmarked } = await billAndMark(db(), [debit], at, relay);
    expect(stops.map((t) => t.sessionId)).toEqual([ownNode.sessionId]);
    expect(unmarked).toEqual([w.walletId]); // marked once more after the commit (RemoteStopper.stopWallets): nothing left
    expect(returned).toEqual([
      { sessionId: handed.sessionId, transactionId: handed.transactionId, identity: onB.identity, stationId: handed.station.stationId, reason: 'wallet_at_zero' },
    ]);

    // The holder sends the stop as its own, on its own socket to the station.
    await eventually(() => onB.stops.length === 1, 10_000);
    expect(onB.stops).toEqual([handed.transactionId]);
    // ... and counts the attempt on the session, as for any stop it sends.
    await eventually(async () => (await sessionRow(handed.sessionId)).stop_attempts === 1, 5_000);
    await eventually(() => stopNoticesTo('node-b', before).length > 0, 5_000);
    expect(stopNoticesTo('node-b', before)).toEqual([handed.sessionId]);

    // The committed notice has arrived; the rolled-back one, sent before it, would have too.
    await settle(500);
    expect(rolledBackOnB.calls).toEqual([]);
    expect(await sessionRow(undoneSession.sessionId)).toMatchObject({ status: 'active', stop_attempts: 0 });
    expect(heard.some((h) => h.notice.t === 'stop' && h.notice.s.some((e) => e[0] === undoneSession.sessionId))).toBe(false);
    // Nothing for the debit node's own session, nor for the one already stopping.
    expect(stopNoticesTo('node-a', before)).toEqual([]);
    expect(onA.calls).toEqual([]);
    expect(alsoOnB.calls).toEqual([]);
    // The debit's node marked its own session (its batch would send that stop); the relay did not.
    expect(await sessionRow(ownNode.sessionId)).toMatchObject({ status: 'stopping', stop_attempts: 0 });
    // The handed-over session was marked by the same statement, before its holder heard of it.
    expect(await sessionRow(handed.sessionId)).toMatchObject({ status: 'stopping', termination: 'insufficient_balance' });
    expect(await sessionRow(alreadyStopping.sessionId)).toMatchObject({ status: 'stopping', stop_attempts: 0 });
    // One notice, one stop: nothing else went to b.
    expect(heard.slice(before).filter((h) => h.notice.t === 'stop')).toHaveLength(1);
    expect(forwardedStopsTo('node-b')).toEqual([]);
    expect(onB.stops).toEqual([handed.transactionId]);
  });

  it('a debit to zero on one node stops the wallet\'s session on the node holding its station now; an expired holder is not told and the station gets its stop where it reconnects', async () => {
    const w = await driver(10);
    // The debit's station, on a.
    const debitAt = await station();
    const onA = await connect(a, new FakeStation(debitAt.identity));
    const debited = await session(w, debitAt);
    // A station that was on b and reconnected on c: its presence names c now.
    const movedAt = await station();
    const moved = await session(w, movedAt);
    const oldSocket = await connect(b, new FakeStation(movedAt.identity));
    const closed = new Promise<void>((r) => oldSocket.once('close', () => r()));
    const newSocket = await connect(c, new FakeStation(movedAt.identity));
    await closed;
    expect(b.app.context.connections.get(movedAt.identity)).toBeUndefined();
    // A station whose holder's lease has expired (the node is gone, not yet reaped).
    const orphanAt = await station();
    const orphaned = await session(w, orphanAt);
    await sql`insert into cluster_nodes (id, lease_until) values (${DEAD}, now() - interval '1 minute')
      on conflict (id) do update set lease_until = excluded.lease_until`.execute(db());
    await sql`insert into station_presence (identity, node_id, epoch) values (${orphanAt.identity}, ${DEAD}, 0)`.execute(db());
    const before = heard.length;

    // 500 Wh at 100 c/kWh is 50 cents: the 10-cent wallet goes below zero in this debit, on a.
    const outcome = await meter(a, debited, 500);
    expect(outcome.balanceAfter).toBeLessThanOrEqual(0);

    // c, the station's holder now, gets the session and sends the stop on the new socket.
    await eventually(() => newSocket.stops.length === 1, 10_000);
    expect(newSocket.stops).toEqual([moved.transactionId]);
    const after = () => heard.slice(before);
    await eventually(() => stopNoticesTo('node-c', before).length > 0, 5_000);
    expect(after().filter((h) => h.notice.t === 'stop').map((h) => [h.node, h.notice.t === 'stop' ? h.notice.s.map((e) => e[0]) : []])).toEqual([
      ['node-c', [moved.sessionId]],
    ]);
    // a handed it over rather than sending it through c itself, and b, its former holder, had nothing.
    expect(forwardedStopsTo('node-c')).not.toContain(moved.transactionId);
    expect(oldSocket.calls).toEqual([]);
    // The debit's own session is stopped by a, on its own socket.
    await eventually(() => onA.stops.length === 1, 10_000);
    expect(onA.stops).toEqual([debited.transactionId]);

    // Every session of the wallet ends up marked stopping (the durable record of the stop).
    await eventually(async () => (await sessionRow(orphaned.sessionId)).status === 'stopping', 5_000);
    for (const s of [debited, moved, orphaned]) {
      expect(await sessionRow(s.sessionId)).toMatchObject({ status: 'stopping', termination: 'insufficient_balance' });
      expect((await sessionRow(s.sessionId)).stop_requested_at).not.toBeNull();
    }
    // Nobody was told of the orphaned session: its holder's lease had expired.
    expect(after().filter((h) => h.node === DEAD)).toEqual([]);
    // Its stop is owed to its station, which is how a node the station reaches next sends it.
    expect((await pendingStops(db(), orphanAt.identity)).map((t) => t.sessionId)).toEqual([orphaned.sessionId]);

    // The station reconnects on c; c's OCPP server asks for its pending stops, which c sends.
    const back = await connect(c, new FakeStation(orphanAt.identity));
    c.app.sessions.onStationConnected(orphanAt.identity);
    await eventually(() => back.stops.length >= 1, 10_000);
    expect(back.stops[0]).toBe(orphaned.transactionId);
    await settle(300);
    // At least once, and nothing else. a marked the orphaned session and sends its stop too: an
    // attempt made once the station is back on c is forwarded through c (seen: the same
    // transaction in a call notice to c), so the station may be sent it twice, once by each
    // node, and answers the repeat as any repeat.
    expect(new Set(back.stops)).toEqual(new Set([orphaned.transactionId]));
    expect(back.stops.length).toBeLessThanOrEqual(1 + forwardedStopsTo('node-c').filter((t) => t === orphaned.transactionId).length);
    expect(newSocket.stops).toEqual([moved.transactionId]);
    expect(onA.stops).toEqual([debited.transactionId]);
  });

  it('a holder that missed the notice (its LISTEN connection was down) sends the stop once it listens again', async () => {
    const w = await driver(10);
    const debitAt = await station();
    await connect(a, new FakeStation(debitAt.identity));
    const debited = await session(w, debitAt);
    const heldAt = await station();
    const onB = await connect(b, new FakeStation(heldAt.identity));
    const held = await session(w, heldAt);

    // Node b's listening connection goes, and cannot come back while the proxy is cut.
    const listener = sql<{ pid: number; backend_start: Date }>`select pid, backend_start from pg_stat_activity
      where datname = current_database() and application_name = 'gateway node-b listener'`;
    const [old] = (await listener.execute(db())).rows;
    expect(old).toBeDefined();
    proxy.cut();
    await eventually(async () => (await listener.execute(db())).rows.length === 0, 10_000);
    const before = heard.length;

    const outcome = await meter(a, debited, 500);
    expect(outcome.balanceAfter).toBeLessThanOrEqual(0);
    // The notice was sent to b (the test's own connection heard it), and b was not listening.
    await eventually(() => heard.slice(before).some((h) => h.node === 'node-b' && h.notice.t === 'stop' && h.notice.s.some((e) => e[0] === held.sessionId)), 5_000);
    // a marks it stopping after the commit: the stop is owed from now on.
    await eventually(async () => (await sessionRow(held.sessionId)).status === 'stopping', 5_000);
    await settle(300);
    expect(onB.calls).toEqual([]);

    proxy.restore();
    // b listens again (a new connection), reads what it owes its stations and sends the stop.
    await eventually(() => onB.stops.length === 1, 20_000);
    expect(onB.stops).toEqual([held.transactionId]);
    const [now] = (await listener.execute(db())).rows;
    expect(now?.pid).not.toBe(old!.pid);
    // Sent by b from the owed stop, not forwarded to it by a.
    expect(forwardedStopsTo('node-b')).not.toContain(held.transactionId);
    await eventually(async () => (await sessionRow(held.sessionId)).stop_attempts === 1, 5_000);
    await settle(300);
    expect(onB.stops).toEqual([held.transactionId]);
  });
});
