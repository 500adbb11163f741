import type { ColumnType, Generated, Selectable } from 'kysely';
import type { GeneratedTimestamp, NullableTimestamp } from './organizations.ts';
import type { StoredPriceComponent } from './wallets.ts';

/**
 * active → stopping → completed (or stop_failed while the station does not stop); rejected: a
 * start the gateway refused; held: a reading was implausible, nothing more is billed until an
 * operator closes the session.
 */
export type SessionStatus = 'active' | 'stopping' | 'completed' | 'rejected' | 'stop_failed' | 'held';

/** What ended a session: its StopTransaction, its connector's status, a new transaction there, or an operator. */
export type SessionEnd = 'station' | 'connector_status' | 'new_transaction' | 'operator';

export interface RateSnapshot {
  rate_id: string;
  currency: string;
  price_components: StoredPriceComponent[];
}

export interface SessionsTable {
  id: string;
  transaction_id: Generated<number>;
  station_id: string;
  connector_id: number;
  id_tag: string;
  token_id: string | null;
  user_id: string | null;
  wallet_id: string | null;
  status: SessionStatus;
  auth_status: string;
  refusal_reason: string | null;
  /** Wh, cumulative registers as the station reports them */
  meter_start: number;
  /** the highest register seen: what energy is billed from */
  meter_last: number;
  meter_stop: number | null;
  power_w: number | null;
  /** the start billing counts from: the station's, unless its clock cannot be right (station_start_timestamp) */
  start_timestamp: ColumnType<Date, Date, Date>;
  /** the start as the station reported it (a replay of its StartTransaction is matched on it) */
  station_start_timestamp: ColumnType<Date, Date, Date>;
  /** time up to which TIME cost has been computed */
  billed_until: ColumnType<Date, Date, Date>;
  stop_timestamp: NullableTimestamp;
  stop_reason: string | null;
  termination: string | null;
  rate_id: string | null;
  rate_snapshot: ColumnType<RateSnapshot | null, string | null, string | null>;
  has_time_component: Generated<boolean>;
  currency: string;
  /** cents: the session's cost as last computed */
  cost: Generated<number>;
  /** cents debited from the wallet for this session so far (credits of refunds subtracted) */
  debited: Generated<number>;
  stop_requested_at: NullableTimestamp;
  stop_attempts: Generated<number>;
  /** the most power (W) the station could deliver, fixed at the start; null = not checked */
  max_power_w: ColumnType<number | null, number | null | undefined, number | null>;
  /** the station's time of the latest reading billed */
  last_reading_at: NullableTimestamp;
  /** station | connector_status | new_transaction | operator; null while open */
  ended_by: ColumnType<SessionEnd | null, SessionEnd | null | undefined, SessionEnd | null>;
  /** the API key that closed the session by hand */
  closed_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** when the next RemoteStopTransaction attempt is due (null: none scheduled) */
  stop_retry_at: NullableTimestamp;
  /** 'prediction' when the predictive stop (issue 17) asked the station to stop; null otherwise */
  stopped_by: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type Session = Selectable<SessionsTable>;

export interface AlertsTable {
  id: string;
  kind: string;
  station_id: string | null;
  session_id: string | null;
  transaction_id: number | null;
  message: string;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: GeneratedTimestamp;
  acknowledged_at: NullableTimestamp;
  /** the API key id that acknowledged it */
  acknowledged_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** how many times it happened while open (repeats collapse into one open alert) */
  count: Generated<number>;
  last_seen_at: ColumnType<Date, Date | string, Date | string>;
  /** kind|station|session while open, null once acknowledged (unique: one open alert per key) */
  open_key: ColumnType<string | null, string | null | undefined, string | null>;
}
export type Alert = Selectable<AlertsTable>;
