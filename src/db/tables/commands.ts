import type { ColumnType, Selectable } from 'kysely';
import type { NullableTimestamp } from './organizations.ts';

/** How a command ended (`pending` while it waits for the station's answer). */
export type CommandStatus = 'pending' | 'answered' | 'call_error' | 'offline' | 'timeout' | 'failed';

/** One CSMS→station call sent through the admin API (migration 2026_11_27_0300_command_log). */
export interface StationCommandsTable {
  id: string;
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
  created_at: ColumnType<Date, Date, never>;
  answered_at: NullableTimestamp;
}

export type StationCommand = Selectable<StationCommandsTable>;
