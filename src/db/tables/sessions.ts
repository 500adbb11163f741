import type { ColumnType, Generated, Selectable } from 'kysely';
import type { GeneratedTimestamp, NullableTimestamp } from './organizations.ts';
import type { StoredPriceComponent } from './wallets.ts';

export type SessionStatus = 'active' | 'stopping' | 'completed' | 'rejected' | 'stop_failed';

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
  start_timestamp: ColumnType<Date, Date, Date>;
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
  /** when the next RemoteStopTransaction attempt is due (null: none scheduled) */
  stop_retry_at: NullableTimestamp;
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
}
export type Alert = Selectable<AlertsTable>;
