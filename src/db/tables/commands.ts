import type { ColumnType, Generated, Selectable } from 'kysely';
import type { NullableTimestamp } from './organizations.ts';

/** How a command ended (`pending` while it waits for the station's answer). */
export type CommandStatus = 'pending' | 'answered' | 'call_error' | 'offline' | 'timeout' | 'failed';

/** One CSMS→station call: an operator's or the gateway's own (migrations 2026_11_27_0300_command_log, 2026_11_28_0100_command_log_reason). */
export interface StationCommandsTable {
  id: string;
  /** the order commands were sent in */
  seq: Generated<number>;
  station_id: string;
  action: string;
  payload: ColumnType<unknown, string, string>;
  status: ColumnType<CommandStatus, CommandStatus, CommandStatus>;
  /** the station's CALLRESULT payload */
  answer: ColumnType<unknown, string | null | undefined, string | null>;
  /** what went wrong instead: `{code, message}` (a CALLERROR's code, station_offline, …) */
  error: ColumnType<{ code: string; message: string } | null, string | null | undefined, string | null>;
  /** the API key id (a console session's key too), or `gateway` for calls of its own */
  requested_by: string;
  /** why the gateway sent it of its own accord (`wallet_at_zero`, `boot_configuration`, …); null for an operator's call */
  reason: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: ColumnType<Date, Date, never>;
  answered_at: NullableTimestamp;
}

export type StationCommand = Selectable<StationCommandsTable>;

/** What a reservation became (migration 2026_11_27_0300_station_reports). */
export type ReservationStatus = 'requested' | 'reserved' | 'refused' | 'failed' | 'cancelled' | 'used' | 'expired';

export interface ReservationsTable {
  id: string;
  /** the OCPP reservationId (a sequence) */
  reservation_id: number;
  station_id: string;
  connector_id: number;
  id_tag: string;
  parent_id_tag: string | null;
  user_id: string | null;
  expires_at: ColumnType<Date, Date, Date>;
  /** stored; `expired` is also derived on read for a reserved one past expires_at */
  status: ColumnType<ReservationStatus, ReservationStatus, ReservationStatus>;
  /** the station's answer to ReserveNow (Accepted, Occupied, Faulted, …) */
  station_status: string | null;
  session_id: string | null;
  transaction_id: number | null;
  requested_by: string;
  created_at: ColumnType<Date, Date, never>;
  updated_at: ColumnType<Date, Date, Date>;
}
export type Reservation = Selectable<ReservationsTable>;

/** A charging profile a station accepted and has not cleared. */
export interface ChargingProfilesTable {
  station_id: string;
  charging_profile_id: number;
  connector_id: number;
  stack_level: number;
  purpose: string;
  transaction_id: number | null;
  profile: ColumnType<unknown, string, string>;
  set_at: ColumnType<Date, Date, Date>;
}
export type StoredChargingProfile = Selectable<ChargingProfilesTable>;

export type ReportKind = 'firmware' | 'diagnostics' | 'log' | 'security_event';

/** One status report of a station (firmware, diagnostics, log upload) or a security event. */
export interface StationReportsTable {
  id: string;
  /** the order reports arrived in */
  seq: Generated<number>;
  station_id: string;
  kind: ColumnType<ReportKind, ReportKind, ReportKind>;
  /** the reported status, or a security event's type */
  status: string;
  request_id: number | null;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  /** the station's time (a security event's timestamp), else when it arrived */
  reported_at: ColumnType<Date, Date, Date>;
  created_at: ColumnType<Date, Date, never>;
}
export type StationReport = Selectable<StationReportsTable>;
