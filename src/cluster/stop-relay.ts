import { sql } from 'kysely';
import type { Tx } from '../db/index.ts';
import type { StopRelay, StopTarget } from '../domain/sessions/stop-marks.ts';
import { channelOf } from './node.ts';

/** Sessions per notification: 40 entries of at most ~150 bytes stay well under MAX_INLINE_PAYLOAD. */
const STOPS_PER_NOTICE = 40;

/**
 * A zero wallet's sessions on stations other live nodes hold, handed to those nodes in the
 * debit's own transaction: the ones that transaction has just marked `stopping`. One statement
 * reads them (no row locks) and NOTIFYs each holder, delivered when the debit commits and never
 * if it rolls back. The holder sends the RemoteStopTransaction as for a session of its own, with
 * no further query, round trip or pool connection on the way: a cross-node stop costs what a
 * same-node one does plus one notification. The mark, committed with the debit before the holder
 * hears of it, is what makes each stop durable (a holder that dies, or misses the notification,
 * leaves a stopping session whose retry is overdue, which the stop takeover sends; a station that
 * reconnects is sent its pending stops) and what a StopTransaction answering it finds (its
 * termination: insufficient_balance). A session the mark skipped (another writer held it) is not
 * handed over: whoever marks it sends its stop (its own batch, which finds the wallet at zero, or
 * RemoteStopper.stopWallets after the commit).
 */
export function stopRelay(nodeId: string): StopRelay {
  return {
    async relayWalletStops(tx: Tx, walletIds: readonly string[], marked: readonly string[]): Promise<StopTarget[]> {
      if (!walletIds.length) return [];
      const { rows } = await sql<StopTarget & { node: string }>`
        with elsewhere as (
          select s.id as session_id, s.transaction_id, c.ocpp_id as identity, c.id as station_id, p.node_id as node,
            (row_number() over (partition by p.node_id order by s.id) - 1) / ${STOPS_PER_NOTICE} as part
          from sessions s
          join charge_stations c on c.id = s.station_id
          join station_presence p on p.identity = c.ocpp_id and p.node_id <> ${nodeId}
          join cluster_nodes n on n.id = p.node_id and n.lease_until > now()
          where s.wallet_id in (${sql.join([...walletIds])}) and s.id = any(${[...marked]}::text[])
        ), told as (
          select pg_notify(${channelOf('')} || node, json_build_object('t', 'stop',
            's', json_agg(json_build_array(session_id, transaction_id, identity, station_id)))::text)
          from elsewhere group by node, part
        )
        select e.session_id as "sessionId", e.transaction_id as "transactionId", e.identity, e.station_id as "stationId", e.node
        from elsewhere e where (select count(*) from told) >= 0`.execute(tx);
      return rows.map(({ node: _node, ...t }) => t);
    },
  };
}

/** A holder's side: the sessions of a `stop` notice, as stop targets. */
export function stopTargetsOf(entries: readonly [string, number, string, string][]): StopTarget[] {
  // only a wallet at zero hands stops over (the command log's reason)
  return entries.map(([sessionId, transactionId, identity, stationId]) => ({ sessionId, transactionId, identity, stationId, reason: 'wallet_at_zero' }));
}
