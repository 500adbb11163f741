import { sql } from 'kysely';
import { openPostgres, type Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import type { StationPort } from '../domain/chargers/station-port.ts';
import type { LocalConnections } from '../ocpp/connections.ts';
import { CallForwarder } from './call-forwarder.ts';
import { CallRunner } from './call-runner.ts';
import { ClusterStations } from './cluster-stations.ts';
import type { Job } from './jobs.ts';
import { ClusterNode, type NodeHandlers } from './node.ts';
import { Presence } from './presence.ts';
import { stopRelay, stopTargetsOf } from './stop-relay.ts';
import type { StopRelay, StopTarget } from '../domain/sessions/stop-marks.ts';

export { BackgroundJobs, type Job } from './jobs.ts';

/** This process as one node of a cluster of gateways on one PostgreSQL database. */
export interface Cluster {
  readonly nodeId: string;
  /** every station of the cluster, called through the node that holds it */
  readonly stations: StationPort;
  /**
   * A few connections apart from the main pool (see SIGNAL_POOL_SIZE): the cluster's messages go
   * through them, and so may the stop path's short reads, so that neither waits behind billing
   * or request handling for a connection.
   */
  readonly signals: Db;
  /** hands a zero wallet's sessions on other nodes to those nodes, in the debit's transaction */
  readonly stopRelay: StopRelay;
  /** Who sends the stops other nodes hand to this one (see StopRelay): set before start(). */
  onStops(handler: (targets: StopTarget[]) => void): void;
  /**
   * Told after the node's listening connection came back (notices may have been missed meanwhile,
   * stops handed over among them): `identities` are the stations this node holds.
   */
  onResync(handler: (identities: string[]) => void): void;
  /** the cluster's own periodic work (clearing dead nodes), run once per period cluster-wide */
  readonly jobs: readonly Job[];
  /** Joins: registers this node and listens. Before the OCPP port accepts stations. */
  start(): Promise<void>;
  /** Leaves: hands this node's stations and lease back at once. After the OCPP port closed. */
  stop(): Promise<void>;
  /** Closes the signalling connections: after stop(), once nothing reads through `signals` any more. */
  close(): Promise<void>;
}

export interface ClusterOptions {
  db: Db;
  /** for the dedicated listening connection (not pooled) */
  databaseUrl: string;
  /** for the signalling connections (statements only, may go through a pooler); default databaseUrl */
  poolUrl?: string | undefined;
  nodeId: string;
  leaseS: number;
  /** a station call's timeout when the caller gives none */
  defaultCallTimeoutMs: number;
  log: Logger;
  connections: LocalConnections;
}

/**
 * Connections of the signalling pool. The forwarded calls' rows and the answers' are written by
 * at most 2 + 1 + 2 batches at once (urgent calls, other calls, answers; see CallForwarder and
 * CallRunner), each statement short: 4 keep the queue for a connection short, also under a
 * burst of stops, at 4 more PostgreSQL connections a node.
 */
export const SIGNAL_POOL_SIZE = 4;

export function createCluster(o: ClusterOptions): Cluster {
  const log = o.log.child({ component: 'cluster' });
  const signals = openPostgres(o.poolUrl ?? o.databaseUrl, { poolSize: SIGNAL_POOL_SIZE, applicationName: `gateway ${o.nodeId} signals` });
  const base = { db: o.db, nodeId: o.nodeId, log };
  const node = new ClusterNode({ ...base, databaseUrl: o.databaseUrl, leaseS: o.leaseS });
  const presence = new Presence({ ...base, connections: o.connections });
  const forwarder = new CallForwarder({ ...base, signals: signals.db });
  const runner = new CallRunner({ ...base, signals: signals.db, connections: o.connections });
  o.connections.listen(presence);
  let stopsHandedHere: ((targets: StopTarget[]) => void) | undefined;
  let resynced: ((identities: string[]) => void) | undefined;

  const failed = (what: string) => (err: unknown) => log.warn({ err }, `${what} failed`);
  const handlers: NodeHandlers = {
    notice(n) {
      if (n.t === 'call') runner.received(n.id, n.c).catch(failed('a forwarded call'));
      else if (n.t === 'done') forwarder.answered(n.id, n.a).catch(failed('reading a forwarded answer'));
      else if (n.t === 'evict') presence.evicted(n.i, n.e);
      else if (n.t === 'stop') stopsHandedHere?.(stopTargetsOf(n.s));
    },
    resync(reason) {
      log.info({ reason }, 'reading the cluster state again');
      presence.resync().catch(failed('re-asserting presence'));
      runner.resync().catch(failed('re-reading calls addressed to this node'));
      forwarder.resync().catch(failed('re-reading answers to this node\'s calls'));
      resynced?.(o.connections.online());
    },
    renewed() {
      presence.claimAgain();
    },
  };

  return {
    nodeId: o.nodeId,
    signals: signals.db,
    stopRelay: stopRelay(o.nodeId),
    onStops(handler) {
      stopsHandedHere = handler;
    },
    onResync(handler) {
      resynced = handler;
    },
    stations: new ClusterStations({
      connections: o.connections,
      forwarder,
      presence,
      log,
      defaultTimeoutMs: o.defaultCallTimeoutMs,
    }),
    jobs: [{ name: 'cluster_reap', everyMs: o.leaseS * 1000, run: () => reapDeadNodes(o.db, o.leaseS, log) }],
    start: () => node.start(handlers),
    async stop() {
      forwarder.close();
      await runner.close();
      await presence.drain();
      await node.stop();
    },
    close: () => signals.close(),
  };
}

/**
 * Clears nodes whose lease expired more than a lease ago, with their stations' presence (already
 * invisible to every reader since the lease expired), and forwarded calls long past their
 * deadline. A node cleared while still alive notices at its next renewal and re-registers.
 */
async function reapDeadNodes(db: Db, leaseS: number, log: Logger): Promise<void> {
  const { rows } = await sql<{ nodes: number; stations: number }>`
    with dead as (
      delete from cluster_nodes where lease_until < now() - make_interval(secs => ${leaseS}) returning id
    ), gone as (
      delete from station_presence p using dead where p.node_id = dead.id returning 1
    )
    select (select count(*) from dead)::int as nodes, (select count(*) from gone)::int as stations`.execute(db);
  await sql`delete from station_calls where deadline < now() - interval '1 minute'`.execute(db);
  const r = rows[0];
  if (r?.nodes) log.warn({ nodes: r.nodes, stations: r.stations }, 'cleared nodes whose lease expired');
}
