import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { HandedStop, StopRelay, StopTarget } from '../domain/sessions/stop-marks.ts';
import type { Logger } from '../logger.ts';
import { GroupCommit } from '../shared/group-commit.ts';
import { channelOf } from './node.ts';

/** Sessions per notification: 40 entries of at most ~150 bytes stay well under MAX_INLINE_PAYLOAD. */
const STOPS_PER_NOTICE = 40;

/**
 * A zero wallet's sessions on stations other live nodes hold, handed to those nodes. The
 * statement that marked them `stopping` (billAndMark) finds, in these steps, where each marked
 * session's station is (no row locks, no side effect); once it has committed, `tell` NOTIFYs
 * each holder, and the holder sends the RemoteStopTransaction as for a session of its own, with
 * no further query on the way.
 *
 * The NOTIFY is not in the statement: PostgreSQL serializes the commits of every transaction
 * that has notified (a database-wide lock from the notification's queueing to the end of the
 * commit, WAL flush included), so a money statement that notifies waits for every other
 * notifying commit while holding its sessions and wallets. In the second in which hundreds of
 * wallets reach zero, that queue is what delayed both the stops and every batch behind those
 * wallets. A notification on its own writes nothing and is cheap to serialize; the notices of
 * several batches go out together (one statement while another is in flight).
 *
 * The mark, committed before the holder hears of it, is what makes each stop durable (a tell
 * that fails, a holder that dies or misses the notification, leaves a stopping session whose
 * retry is overdue, which the stop takeover sends; a station that reconnects is sent its pending
 * stops) and what a StopTransaction answering it finds (its termination: insufficient_balance).
 * A session the statement could not mark (another writer held it) is not handed over: whoever
 * marks it sends its stop (its own batch, which finds the wallet at zero, or
 * RemoteStopper.stopWallets after the commit).
 *
 * Presence and leases are found through their primary keys, one lookup per marked session, so
 * the steps cost nothing in the statements (nearly all) that mark nothing.
 */
export function stopRelay(nodeId: string, signals: Db, log: Logger): StopRelay & { drain(): Promise<void> } {
  const notices = new GroupCommit<HandedStop>(
    async (handed) => {
      const byNode = new Map<string, HandedStop['target'][]>();
      for (const { node, target } of handed) byNode.set(node, [...(byNode.get(node) ?? []), target]);
      const rows: { node: string; payload: string }[] = [];
      for (const [node, targets] of byNode) {
        for (let i = 0; i < targets.length; i += STOPS_PER_NOTICE) {
          const s = targets.slice(i, i + STOPS_PER_NOTICE).map((t) => [t.sessionId, t.transactionId, t.identity, t.stationId]);
          rows.push({ node, payload: JSON.stringify({ t: 'stop', s }) });
        }
      }
      await sql`select count(pg_notify(${channelOf('')} || n.node, n.payload))
        from json_to_recordset(${JSON.stringify(rows)}::json) as n(node text, payload text)`.execute(signals);
    },
    { maxBatch: 2_000, concurrency: 1 },
  );
  return {
    handOverSteps: () => sql`
      handed as (
        select m.session_id, p.node_id as node
        from stop_marked m
        cross join lateral (
          select p.node_id from station_presence p where p.identity = m.identity and p.node_id <> ${nodeId} offset 0
        ) p
        cross join lateral (select 1 from cluster_nodes n where n.id = p.node_id and n.lease_until > now() offset 0) n
      )`,
    tell(handed) {
      for (const h of handed) {
        notices.submit(h).catch((err: unknown) =>
          log.warn({ err, node: h.node, sessionId: h.target.sessionId }, 'could not tell a node of a stop handed to it (its retry will send it)'),
        );
      }
    },
    drain: () => notices.drain(),
  };
}

export function stopTargetsOf(entries: readonly [string, number, string, string][]): StopTarget[] {
  // only a wallet at zero hands stops over (the command log's reason)
  return entries.map(([sessionId, transactionId, identity, stationId]) => ({ sessionId, transactionId, identity, stationId, reason: 'wallet_at_zero' }));
}
