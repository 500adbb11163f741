import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import type { StationAction } from '../domain/chargers/station-port.ts';
import type { LocalConnections } from '../ocpp/connections.ts';
import { GroupCommit } from '../shared/group-commit.ts';
import { storableJson } from '../shared/storable.ts';
import { isDataException } from '../db/errors.ts';
import { StationOfflineError, StationTimeoutError } from '../shared/errors.ts';
import { channelOf } from './node.ts';
import { MAX_INLINE_PAYLOAD, type Answer, type ForwardedCall } from './notices.ts';

/**
 * The holder's side of a forwarded call: sends it to the station over this node's socket (an
 * urgent stop bypasses the station's queue here too, as on one node), and writes the answer into
 * the call's row with a NOTIFY to the caller. A call that waited in the station's queue past its
 * deadline is not sent: its caller has given up on it.
 */
export class CallRunner {
  /** calls being sent or answered: a re-read of the table must not send them twice */
  private readonly running = new Set<string>();
  private readonly answers: GroupCommit<{ id: string; answer: Answer }>;
  private closed = false;

  constructor(
    private readonly deps: {
      db: Db;
      /** the signalling pool: the answers' rows and NOTIFYs, never queued behind the main pool's work */
      signals: Db;
      nodeId: string;
      log: Logger;
      connections: LocalConnections;
    },
  ) {
    this.answers = new GroupCommit((items) => this.write(items), { maxBatch: 500, concurrency: 2, isolateFailures: isDataException });
  }

  /** A caller's notification: the call, or only its id when it did not fit. */
  async received(id: string, call: ForwardedCall | undefined): Promise<void> {
    if (call) return this.run(id, call);
    const row = await this.deps.db
      .selectFrom('station_calls')
      .select(['identity', 'kind', 'action', 'params', 'urgent', 'timeout_ms'])
      .where('id', '=', id)
      .where('node_id', '=', this.deps.nodeId)
      .where('outcome', 'is', null)
      .executeTakeFirst();
    if (row) {
      const { timeout_ms, ...rest } = row;
      await this.run(id, { ...rest, timeoutMs: timeout_ms });
    }
  }

  /**
   * After notifications may have been missed: every unanswered call addressed to this node is
   * sent (with what is left of its time), and those whose deadline passed are answered `timeout`.
   */
  async resync(): Promise<void> {
    const { db, nodeId } = this.deps;
    const rows = await sql<{ id: string; identity: string; kind: 'call' | 'disconnect'; action: string; params: unknown; urgent: boolean; left_ms: number }>`
      select id, identity, kind, action, params, urgent,
        floor(extract(epoch from deadline - now()) * 1000)::int as left_ms
      from station_calls where node_id = ${nodeId} and outcome is null`.execute(db);
    for (const r of rows.rows) {
      if (r.left_ms <= 0) {
        if (!this.running.has(r.id)) void this.answer(r.id, { o: 'timeout' });
        continue;
      }
      const { left_ms, id, ...call } = r;
      void this.run(id, { ...call, timeoutMs: left_ms });
    }
  }

  /** No more calls are sent; answers already computed are still written. */
  async close(): Promise<void> {
    this.closed = true;
    await this.answers.drain();
  }

  private async run(id: string, call: ForwardedCall): Promise<void> {
    if (this.running.has(id)) return;
    this.running.add(id);
    try {
      await this.answer(id, await this.execute(call));
    } finally {
      this.running.delete(id);
    }
  }

  private async execute(call: ForwardedCall): Promise<Answer> {
    const { connections, log } = this.deps;
    if (this.closed || !connections.get(call.identity)) return { o: 'not_held' };
    if (call.kind === 'disconnect') {
      const reason = (call.params as { reason?: string } | null)?.reason ?? 'closed by the operator';
      await connections.disconnect(call.identity, reason);
      return { o: 'answer', r: {} };
    }
    try {
      const r = await connections.call(call.identity, call.action as StationAction, call.params as never, {
        urgent: call.urgent,
        timeoutMs: call.timeoutMs,
        sendBy: performance.now() + call.timeoutMs,
      });
      return { o: 'answer', r };
    } catch (err) {
      if (err instanceof StationOfflineError) return { o: 'offline' };
      if (err instanceof StationTimeoutError) return { o: 'timeout' };
      const rpc = err as { rpcErrorCode?: unknown; message?: string; details?: unknown };
      if (typeof rpc.rpcErrorCode === 'string') {
        return { o: 'rpc_error', r: { code: rpc.rpcErrorCode, message: rpc.message ?? '', details: rpc.details ?? {} } };
      }
      log.warn({ err, identity: call.identity, action: call.action }, 'forwarded call failed');
      return { o: 'error', r: { message: rpc.message ?? String(err) } };
    }
  }

  private async answer(id: string, answer: Answer): Promise<void> {
    try {
      await this.answers.submit({ id, answer });
    } catch (err) {
      this.deps.log.warn({ err, id }, 'could not write the answer to a forwarded call; its caller will time out');
    }
  }

  /** The answers into their rows and a NOTIFY to each caller, in one statement. */
  private async write(items: { id: string; answer: Answer }[]): Promise<void> {
    // a station's answer (or CALLERROR text) holding a NUL or half a surrogate pair is passed on
    // with U+FFFD: jsonb refuses them, which would fail every answer in the batch
    const rows = storableJson(items.map(({ id, answer }) => ({ id, outcome: answer.o, result: answer.r ?? null })));
    await sql`
      with u as (
        update station_calls c set outcome = a.outcome, result = a.result
        from jsonb_to_recordset(${rows}::jsonb) as a(id text, outcome text, result jsonb)
        where c.id = a.id and c.outcome is null
        returning c.id, c.from_node_id,
          json_build_object('t', 'done', 'id', c.id, 'a', json_build_object('o', c.outcome, 'r', c.result))::text as payload
      )
      select pg_notify(${channelOf('')} || from_node_id,
        case when octet_length(payload) <= ${MAX_INLINE_PAYLOAD} then payload
             else json_build_object('t', 'done', 'id', id)::text end)
      from u`.execute(this.deps.signals);
  }
}
