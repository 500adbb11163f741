import { sql } from 'kysely';
import pg from 'pg';
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import { CannotStartError } from '../shared/errors.ts';
import type { Notice } from './notices.ts';

/** The first key of the advisory lock that says "a live process runs as this node id". */
const NODE_LOCK_CLASS = 0x6777;
const RECONNECT_DELAYS_MS = [200, 500, 1_000, 2_000, 5_000];

/** The notification channel a node listens on (quoted in LISTEN: node ids may hold `-` and `.`). */
export function channelOf(nodeId: string): string {
  return `gw_${nodeId}`;
}

export class NodeIdInUseError extends CannotStartError {
  constructor(nodeId: string) {
    super(
      `NODE_ID ${nodeId} is in use by another live gateway process on this database; ` +
        'give each node its own NODE_ID (or leave it unset for a generated one)',
    );
  }
}

export interface NodeHandlers {
  /** a notification addressed to this node */
  notice(notice: Notice): void;
  /**
   * Notifications may have been missed (the listening connection was lost, or other nodes took
   * this node for dead): look at the durable state again.
   */
  resync(reason: string): void;
  /** the lease was renewed (every third of it): a moment to retry what failed meanwhile */
  renewed(): void;
}

/**
 * This process as a member of the cluster: its row in cluster_nodes with a lease it renews, and
 * one dedicated PostgreSQL connection (outside the pool) that LISTENs on the node's channel and
 * holds the advisory lock that keeps a second process from running under the same node id. A
 * lost connection is opened again, and the handlers are told to re-read what they may have missed.
 */
export class ClusterNode {
  private listener: pg.Client | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private renewing: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  private handlers: NodeHandlers | undefined;

  constructor(
    private readonly deps: { db: Db; databaseUrl: string; nodeId: string; leaseS: number; log: Logger },
  ) {}

  get id(): string {
    return this.deps.nodeId;
  }

  /** Joins the cluster: listens, registers, renews the lease from now on. */
  async start(handlers: NodeHandlers): Promise<void> {
    this.handlers = handlers;
    this.listener = await this.openListener(true);
    const { db, nodeId } = this.deps;
    // Rows a previous process with this id left behind (it crashed): nobody holds them now.
    await sql`delete from station_presence where node_id = ${nodeId}`.execute(db);
    await sql`delete from station_calls where node_id = ${nodeId} and outcome is null`.execute(db);
    await this.register();
    this.started = true;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(500, (this.deps.leaseS * 1000) / 3));
    this.renewTimer.unref();
    this.deps.log.info({ leaseS: this.deps.leaseS }, 'joined the cluster');
  }

  /** Leaves the cluster at once: its stations and its lease are handed back. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.renewing;
    const { db, nodeId, log } = this.deps;
    // Only a node that joined owns rows under its id (the id may be another live process's).
    if (this.started) {
      try {
        await sql`delete from station_presence where node_id = ${nodeId}`.execute(db);
        await sql`delete from cluster_nodes where id = ${nodeId}`.execute(db);
      } catch (err) {
        log.warn({ err }, 'could not hand back this node\'s presence; its lease will expire');
      }
    }
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
  }

  private async register(): Promise<void> {
    const { db, nodeId, leaseS } = this.deps;
    await sql`insert into cluster_nodes (id, lease_until) values (${nodeId}, now() + make_interval(secs => ${leaseS}))
      on conflict (id) do update set lease_until = excluded.lease_until`.execute(db);
  }

  /**
   * Moves the lease on. If the row is gone, other nodes took this one for dead (it could not
   * renew in time) and cleared its presence: register again and have it re-asserted.
   */
  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      const { db, nodeId, leaseS, log } = this.deps;
      try {
        const r = await sql`update cluster_nodes set lease_until = now() + make_interval(secs => ${leaseS})
          where id = ${nodeId}`.execute(db);
        if (!this.stopped && Number(r.numAffectedRows ?? 0) === 0) {
          log.warn('this node\'s lease had expired and was cleared by another node; registering again');
          await this.register();
          this.handlers?.resync('lease expired');
        } else {
          this.handlers?.renewed();
        }
        await this.pingListener();
      } catch (err) {
        log.warn({ err }, 'could not renew the cluster lease');
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  /** A connection that died quietly (no FIN) shows itself here, not on its own. */
  private async pingListener(): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer from the listening connection')), (this.deps.leaseS * 1000) / 3);
    });
    try {
      await Promise.race([listener.query('select 1'), late]);
    } catch (err) {
      this.lost(listener, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async openListener(first: boolean): Promise<pg.Client> {
    const { databaseUrl, nodeId, log } = this.deps;
    const client = new pg.Client({
      connectionString: databaseUrl,
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
      application_name: `gateway ${nodeId} listener`.slice(0, 63),
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (msg) => this.dispatch(msg.payload));
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, hashtext($2)) as ok', [
        NODE_LOCK_CLASS,
        nodeId,
      ]);
      if (!rows[0]?.ok) {
        // At start this is a second process with our id. On a reconnect it is usually our own
        // previous connection, which the server has not noticed is gone yet: carry on.
        if (first) throw new NodeIdInUseError(nodeId);
        log.warn('the node lock is still held (by this node\'s previous connection?); listening anyway');
      }
      await client.query(`listen "${channelOf(nodeId)}"`);
      return client;
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
  }

  private lost(client: pg.Client, err?: unknown): void {
    if (this.listener !== client || this.stopped) return;
    this.listener = undefined;
    this.deps.log.warn({ err }, 'lost the cluster listening connection; opening it again');
    client.end().catch(() => {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.reconnectAttempt, RECONNECT_DELAYS_MS.length - 1)]!;
    this.reconnectAttempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private async reconnect(): Promise<void> {
    try {
      const client = await this.openListener(false);
      if (this.stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.listener = client;
      this.reconnectAttempt = 0;
      this.deps.log.info('cluster listening connection open again');
      this.handlers?.resync('listening connection reopened');
    } catch (err) {
      this.deps.log.warn({ err }, 'could not reopen the cluster listening connection');
      this.scheduleReconnect();
    }
  }

  private dispatch(payload: string | undefined): void {
    if (!payload) return;
    let notice: Notice;
    try {
      notice = JSON.parse(payload) as Notice;
    } catch (err) {
      this.deps.log.warn({ err }, 'unreadable cluster notification');
      return;
    }
    this.handlers?.notice(notice);
  }
}
