import type { ColumnType } from 'kysely';
import type { GeneratedTimestamp } from './organizations.ts';

/** A live gateway process of the cluster (migration 2026_11_26_0201). */
export interface ClusterNodesTable {
  id: string;
  started_at: GeneratedTimestamp;
  lease_until: ColumnType<Date, Date | string, Date | string>;
}

/** Which node holds a station's connection, since which connection (epoch). */
export interface StationPresenceTable {
  identity: string;
  node_id: string;
  epoch: number;
  /** the node whose connection this claim replaced, if another */
  prev_node_id: string | null;
  connected_at: GeneratedTimestamp;
}

/** A call to a station held by another node, and its answer once there is one. */
export interface StationCallsTable {
  /** chosen by the caller */
  id: string;
  /** the node that holds the station and sends the call */
  node_id: string;
  /** the node waiting for the answer */
  from_node_id: string;
  identity: string;
  kind: 'call' | 'disconnect';
  action: string;
  params: ColumnType<unknown, string, string>;
  urgent: boolean;
  timeout_ms: number;
  deadline: ColumnType<Date, Date | string, Date | string>;
  outcome: string | null;
  result: ColumnType<unknown, string | null, string | null>;
  created_at: GeneratedTimestamp;
}

/** When a periodic job is next due, and who ran it last. */
export interface ClusterJobsTable {
  name: string;
  node_id: string;
  run_after: ColumnType<Date, Date | string, Date | string>;
  last_run_at: GeneratedTimestamp;
}
