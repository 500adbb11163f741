import { sql } from 'kysely';
import type { StopRelay, StopTarget } from '../domain/sessions/stop-marks.ts';
import { channelOf } from './node.ts';

/** Sessions per notification: 40 entries of at most ~150 bytes stay well under MAX_INLINE_PAYLOAD. */
const STOPS_PER_NOTICE = 40;

/**
 * A zero wallet's sessions on stations other live nodes hold, handed to those nodes by the
 * statement that marked them `stopping` (billAndMark): these steps read where each marked
 * session's station is (no row locks) and NOTIFY each holder, delivered when the statement
 * commits and never if it fails. The holder sends the RemoteStopTransaction as for a session of
 * its own, with no further query, round trip or pool connection on the way: a cross-node stop
 * costs what a same-node one does plus one notification. The mark, committed before the holder
 * hears of it, is what makes each stop durable (a holder that dies, or misses the notification,
 * leaves a stopping session whose retry is overdue, which the stop takeover sends; a station that
 * reconnects is sent its pending stops) and what a StopTransaction answering it finds (its
 * termination: insufficient_balance). A session the statement could not mark (another writer
 * held it) is not handed over: whoever marks it sends its stop (its own batch, which finds the
 * wallet at zero, or RemoteStopper.stopWallets after the commit).
 *
 * Presence and leases are found through their primary keys, one lookup per marked session, so
 * the steps cost nothing in the statements (nearly all) that mark nothing.
 */
export function stopRelay(nodeId: string): StopRelay {
  return {
    handOverSteps: () => sql`
      elsewhere as (
        select m.session_id, m.transaction_id, m.identity, m.station_id, p.node_id as node,
          (row_number() over (partition by p.node_id order by m.session_id) - 1) / ${STOPS_PER_NOTICE} as part
        from stop_marked m
        cross join lateral (
          select p.node_id from station_presence p where p.identity = m.identity and p.node_id <> ${nodeId} offset 0
        ) p
        cross join lateral (select 1 from cluster_nodes n where n.id = p.node_id and n.lease_until > now() offset 0) n
      ),
      told as (
        select count(pg_notify(${channelOf('')} || node, json_build_object('t', 'stop', 's', s)::text)) as n
        from (
          select node, json_agg(json_build_array(session_id, transaction_id, identity, station_id)) as s
          from elsewhere group by node, part
        ) g
      ),
      handed as (select session_id from elsewhere where (select n from told) >= 0)`,
  };
}

/** A holder's side: the sessions of a `stop` notice, as stop targets. */
export function stopTargetsOf(entries: readonly [string, number, string, string][]): StopTarget[] {
  // only a wallet at zero hands stops over (the command log's reason)
  return entries.map(([sessionId, transactionId, identity, stationId]) => ({ sessionId, transactionId, identity, stationId, reason: 'wallet_at_zero' }));
}
