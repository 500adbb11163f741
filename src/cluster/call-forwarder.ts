import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { isDataException } from '../db/errors.ts';
import type { Logger } from '../logger.ts';
import { GroupCommit } from '../shared/group-commit.ts';
import { channelOf } from './node.ts';
import { MAX_INLINE_PAYLOAD, type Answer, type ForwardedCall } from './notices.ts';

/**
 * How long past the call's own timeout the caller still waits for the holder's answer (the
 * holder reports a station's timeout itself; this covers a holder that died meanwhile).
 */
export const FORWARD_MARGIN_MS = 1_000;

/** The caller's own deadline passed without an answer from the holder. */
export const NO_ANSWER: Answer = { o: 'timeout', r: { reason: 'no answer from the node holding the station' } };

interface Waiting {
  resolve: (answer: Answer) => void;
  timer: NodeJS.Timeout;
}

/**
 * The caller's side of a call to a station another node holds: one row in station_calls, addressed
 * to the holder found in station_presence (a live lease), and a NOTIFY to it, in one statement;
 * then the answer, announced by the holder's NOTIFY (or found in the row after a reconnect). The
 * caller gives up at the call's timeout plus a margin, and deletes the row when it is done with it.
 */
export class CallForwarder {
  private readonly waiting = new Map<string, Waiting>();
  private readonly inserts: GroupCommit<{ id: string; call: ForwardedCall }, boolean>;
  private readonly urgentInserts: GroupCommit<{ id: string; call: ForwardedCall }, boolean>;
  private readonly cleanup: GroupCommit<string>;

  constructor(
    private readonly deps: {
      db: Db;
      /** the signalling pool: the calls' rows and NOTIFYs, never queued behind the main pool's work */
      signals: Db;
      nodeId: string;
      log: Logger;
    },
  ) {
    // A call the database refuses as data (a parameter it cannot hold) fails alone: the batch is
    // written again call by call, in order, so a stop sharing it still goes out.
    const isolateFailures = isDataException;
    // One batch at a time keeps this node's calls to a station in the order they were made.
    this.inserts = new GroupCommit((items) => this.insert(items), { maxBatch: 500, isolateFailures });
    // Urgent calls (stops) keep no order on one node either: their own lane, never behind a batch.
    this.urgentInserts = new GroupCommit((items) => this.insert(items), { maxBatch: 500, concurrency: 2, isolateFailures });
    this.cleanup = new GroupCommit((ids) => this.delete(ids), { maxBatch: 1_000 });
  }

  /**
   * Sends the call to the node holding the station and resolves with how it ended there;
   * `undefined` when no live node holds the station.
   */
  async send(call: ForwardedCall): Promise<Answer | undefined> {
    const id = randomUUID();
    // Waiting before the row exists: the answer can come back before the insert's result does.
    const answered = new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => this.settle(id, NO_ANSWER), call.timeoutMs + FORWARD_MARGIN_MS);
      timer.unref();
      this.waiting.set(id, { resolve, timer });
    });
    let placed: boolean;
    try {
      placed = await (call.urgent ? this.urgentInserts : this.inserts).submit({ id, call });
    } catch (err) {
      this.forget(id);
      throw err;
    }
    if (!placed) {
      this.forget(id);
      return undefined;
    }
    const answer = await answered;
    this.cleanup.submit(id).catch((err: unknown) => this.deps.log.debug({ err }, 'could not delete a forwarded call'));
    return answer;
  }

  /** The holder's notification: the answer, or only the id when it did not fit. */
  async answered(id: string, answer: Answer | undefined): Promise<void> {
    if (!this.waiting.has(id)) return; // given up already
    if (answer) return this.settle(id, answer);
    const row = await this.deps.db
      .selectFrom('station_calls')
      .select(['outcome', 'result'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (row?.outcome) this.settle(id, { o: row.outcome as Answer['o'], r: row.result });
  }

  /** After notifications may have been missed: answers already written to our calls' rows. */
  async resync(): Promise<void> {
    const ids = [...this.waiting.keys()];
    if (!ids.length) return;
    const rows = await this.deps.db
      .selectFrom('station_calls')
      .select(['id', 'outcome', 'result'])
      .where('id', 'in', ids)
      .where('outcome', 'is not', null)
      .execute();
    for (const r of rows) this.settle(r.id, { o: r.outcome as Answer['o'], r: r.result });
  }

  /** Gives up on every call still waiting (the node is stopping). */
  close(): void {
    for (const id of [...this.waiting.keys()]) this.settle(id, NO_ANSWER);
  }

  private settle(id: string, answer: Answer): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.forget(id);
    w.resolve(answer);
  }

  private forget(id: string): void {
    const w = this.waiting.get(id);
    if (w) clearTimeout(w.timer);
    this.waiting.delete(id);
  }

  /** Rows for the calls whose station a live node holds, each with its NOTIFY; true = placed. */
  private async insert(items: { id: string; call: ForwardedCall }[]): Promise<boolean[]> {
    const { signals, nodeId } = this.deps;
    const rows = JSON.stringify(
      items.map(({ id, call }, n) => ({
        id,
        n,
        identity: call.identity,
        kind: call.kind,
        action: call.action,
        params: call.params ?? {},
        urgent: call.urgent,
        timeout_ms: call.timeoutMs,
      })),
    );
    // The notices leave in the calls' order (pg_notify is evaluated after the sort), so two calls
    // to one station in one batch reach its holder, and its per-station queue, in that order.
    const placed = await sql<{ id: string }>`
      with r as (
        select * from jsonb_to_recordset(${rows}::jsonb)
          as r(id text, n integer, identity text, kind text, action text, params jsonb, urgent boolean, timeout_ms integer)
      ), ins as (
        insert into station_calls (id, node_id, from_node_id, identity, kind, action, params, urgent, timeout_ms, deadline)
        select r.id, p.node_id, ${nodeId}, r.identity, r.kind, r.action, r.params, r.urgent, r.timeout_ms,
          now() + make_interval(secs => r.timeout_ms / 1000.0)
        from r
        join station_presence p on p.identity = r.identity and p.node_id <> ${nodeId}
        join cluster_nodes n on n.id = p.node_id and n.lease_until > now()
        returning id, node_id, identity, kind, action, params, urgent, timeout_ms
      ), notice as (
        select id, node_id, json_build_object('t', 'call', 'id', id, 'c', json_build_object(
          'identity', identity, 'kind', kind, 'action', action, 'params', params,
          'urgent', urgent, 'timeoutMs', timeout_ms))::text as payload
        from ins
      )
      select notice.id, pg_notify(${channelOf('')} || node_id,
        case when octet_length(payload) <= ${MAX_INLINE_PAYLOAD} then payload
             else json_build_object('t', 'call', 'id', notice.id)::text end) as notified
      from notice join r on r.id = notice.id
      order by r.n`.execute(signals);
    const ok = new Set(placed.rows.map((r) => r.id));
    return items.map((i) => ok.has(i.id));
  }

  private async delete(ids: string[]): Promise<void> {
    await this.deps.db.deleteFrom('station_calls').where('id', 'in', ids).execute();
  }
}
