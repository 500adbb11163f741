import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { retryOnDeadlock } from '../db/errors.ts';
import type { Logger } from '../logger.ts';
import type { StationLocation } from '../domain/chargers/station-port.ts';
import type { ConnectionListener, LiveClient, LocalConnections } from '../ocpp/connections.ts';
import { GroupCommit } from '../shared/group-commit.ts';
import { channelOf } from './node.ts';

/** A connection this node holds, and the epoch its claim got (once the claim is written). */
interface Held {
  identity: string;
  epoch: number | undefined;
  /** the claim could not be written (database away): the next resync writes it */
  unclaimed: boolean;
  claim: Promise<number | undefined>;
}

/** Batches stay well under PostgreSQL's parameter and payload limits. */
const MAX_BATCH = 1_000;

/**
 * Which node holds which station, in station_presence. Every connection this process accepts is
 * claimed with a new epoch (one sequence for the whole cluster: a newer connection has the higher
 * number); the claim tells the node it replaced, which closes its older socket (`evicted`). A
 * closed connection releases its row, only if the row is still its own (same node, same epoch).
 * Claims and releases of many stations are written together (a fleet reconnecting at once).
 */
export class Presence implements ConnectionListener {
  private readonly held = new Map<LiveClient, Held>();
  /** evictions that arrived while the identity's local claim was still being written */
  private readonly earlyEvictions = new Map<string, number>();
  private readonly claims: GroupCommit<string, number>;
  private readonly releases: GroupCommit<{ identity: string; epoch: number }>;

  constructor(
    private readonly deps: { db: Db; nodeId: string; log: Logger; connections: LocalConnections },
  ) {
    // One batch at a time, in order: a later connection of an identity gets the later epoch.
    this.claims = new GroupCommit((ids) => retryOnDeadlock(() => this.writeClaims(ids)), { maxBatch: MAX_BATCH });
    this.releases = new GroupCommit((rows) => retryOnDeadlock(() => this.writeReleases(rows)), { maxBatch: MAX_BATCH });
  }

  attached(client: LiveClient): void {
    const held: Held = { identity: client.identity, epoch: undefined, unclaimed: false, claim: Promise.resolve(undefined) };
    this.held.set(client, held);
    held.claim = this.claim(client, held);
  }

  detached(client: LiveClient): void {
    const held = this.held.get(client);
    if (!held) return;
    this.held.delete(client);
    void held.claim.then((epoch) => {
      if (epoch === undefined) return;
      this.releases.submit({ identity: held.identity, epoch }).catch((err: unknown) => {
        this.deps.log.warn({ err, identity: held.identity }, 'could not release a station\'s presence; it goes with this node\'s lease');
      });
    });
  }

  /** Another node claimed `identity` with epoch `epoch`: close our connection if it is older. */
  evicted(identity: string, epoch: number): void {
    const client = this.deps.connections.get(identity);
    const held = client && this.held.get(client);
    if (!client || !held) return;
    if (held.epoch === undefined) {
      // Our own claim is still being written: decide when we know its epoch.
      this.earlyEvictions.set(identity, Math.max(epoch, this.earlyEvictions.get(identity) ?? 0));
      return;
    }
    if (held.epoch < epoch) this.close(client, epoch);
  }

  /** Where these stations are connected: ours from memory, the others' from the table. */
  async locate(identities: readonly string[]): Promise<Map<string, StationLocation>> {
    const found = new Map<string, StationLocation>();
    const elsewhere: string[] = [];
    for (const id of identities) {
      if (this.deps.connections.get(id)) found.set(id, { node: this.deps.nodeId });
      else elsewhere.push(id);
    }
    if (!elsewhere.length) return found;
    const rows = await this.deps.db
      .selectFrom('station_presence as p')
      .innerJoin('cluster_nodes as n', 'n.id', 'p.node_id')
      .select(['p.identity', 'p.node_id'])
      .where('p.identity', 'in', elsewhere)
      .where('n.lease_until', '>', sql<Date>`now()`)
      .where('p.node_id', '<>', this.deps.nodeId)
      .execute();
    for (const r of rows) found.set(r.identity, { node: r.node_id });
    return found;
  }

  /**
   * After notifications may have been missed, or after other nodes cleared this node's rows:
   * writes the rows of our connections that are missing, claims those whose claim failed, and
   * closes ours where another node holds a newer connection.
   */
  async resync(): Promise<void> {
    const { db, nodeId, log } = this.deps;
    this.claimAgain();
    const mine: { client: LiveClient; held: Held }[] = [];
    for (const [client, held] of this.held) if (held.epoch !== undefined) mine.push({ client, held });
    for (let i = 0; i < mine.length; i += MAX_BATCH) {
      const batch = mine.slice(i, i + MAX_BATCH);
      const rows = JSON.stringify(batch.map(({ held }) => ({ identity: held.identity, epoch: held.epoch })));
      const newer = await retryOnDeadlock(async () => {
        await sql`insert into station_presence (identity, node_id, epoch)
          select identity, ${nodeId}, epoch from jsonb_to_recordset(${rows}::jsonb) as m(identity text, epoch bigint)
          order by identity
          on conflict (identity) do nothing`.execute(db);
        return sql<{ identity: string; epoch: number }>`select p.identity, p.epoch
          from station_presence p join jsonb_to_recordset(${rows}::jsonb) as m(identity text, epoch bigint) using (identity)
          where p.node_id <> ${nodeId} and p.epoch > m.epoch`.execute(db);
      });
      for (const row of newer.rows) {
        const client = this.deps.connections.get(row.identity);
        if (client) this.close(client, row.epoch);
      }
      // A connection that closed while its row was being written again: release that row.
      for (const { client, held } of batch) if (!this.held.has(client)) this.detachedDuring(held);
    }
    if (mine.length) log.info({ stations: mine.length }, 'presence re-asserted');
  }

  /** Claims again the connections whose claim could not be written (the database was away). */
  claimAgain(): void {
    for (const [client, held] of this.held) {
      if (!held.unclaimed) continue;
      held.unclaimed = false;
      held.claim = this.claim(client, held);
    }
  }

  /** Resolves once every claim and release submitted so far is written. */
  async drain(): Promise<void> {
    await this.claims.drain();
    await Promise.allSettled([...this.held.values()].map((h) => h.claim));
    await this.releases.drain();
  }

  private detachedDuring(held: Held): void {
    if (held.epoch === undefined) return;
    this.releases.submit({ identity: held.identity, epoch: held.epoch }).catch(() => {});
  }

  private async claim(client: LiveClient, held: Held): Promise<number | undefined> {
    try {
      const epoch = await this.claims.submit(held.identity);
      held.epoch = epoch;
      const early = this.earlyEvictions.get(held.identity);
      if (early !== undefined && this.deps.connections.get(held.identity) === client) {
        this.earlyEvictions.delete(held.identity);
        if (epoch < early) this.close(client, early);
      }
      return epoch;
    } catch (err) {
      held.unclaimed = true;
      this.deps.log.warn({ err, identity: held.identity }, 'could not record where a station is connected; retrying later');
      return undefined;
    }
  }

  private close(client: LiveClient, newerEpoch: number): void {
    if (this.deps.connections.get(client.identity) !== client) return;
    this.deps.log.info({ identity: client.identity, newerEpoch }, 'station connected to another node; closing this connection');
    void this.deps.connections.disconnect(client.identity, 'Replaced by a connection on another node');
  }

  /**
   * One upsert for the batch (an identity twice goes to a later statement: a row cannot be
   * updated twice by one). The replaced node, if another, is notified in the same statement.
   */
  private async writeClaims(identities: string[]): Promise<number[]> {
    const epochs = new Array<number>(identities.length);
    let todo = identities.map((identity, index) => ({ identity, index }));
    while (todo.length) {
      const seen = new Set<string>();
      const now = todo.filter((t) => !seen.has(t.identity) && seen.add(t.identity));
      const taken = new Set(now);
      todo = todo.filter((t) => !taken.has(t));
      const rows = JSON.stringify([...seen].map((identity) => ({ identity })));
      const { nodeId } = this.deps;
      const result = await sql<{ identity: string; epoch: number }>`
        with up as (
          insert into station_presence as p (identity, node_id, epoch, prev_node_id, connected_at)
          select identity, ${nodeId}, nextval('station_presence_epoch'), null, now()
          from jsonb_to_recordset(${rows}::jsonb) as c(identity text) order by identity
          on conflict (identity) do update
            set node_id = excluded.node_id, epoch = excluded.epoch, prev_node_id = p.node_id, connected_at = excluded.connected_at
          returning identity, epoch, prev_node_id
        )
        select identity, epoch,
          case when prev_node_id <> ${nodeId} then
            pg_notify(${channelOf('')} || prev_node_id, json_build_object('t', 'evict', 'i', identity, 'e', epoch)::text)
          end as notified
        from up`.execute(this.deps.db);
      const byIdentity = new Map(result.rows.map((r) => [r.identity, Number(r.epoch)]));
      for (const t of now) epochs[t.index] = byIdentity.get(t.identity)!;
    }
    return epochs;
  }

  private async writeReleases(rows: { identity: string; epoch: number }[]): Promise<void> {
    await sql`delete from station_presence p
      using jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(identity text, epoch bigint)
      where p.identity = r.identity and p.epoch = r.epoch and p.node_id = ${this.deps.nodeId}`.execute(this.deps.db);
  }
}

