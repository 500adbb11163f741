import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { GeneratedTimestamp, NullableTimestamp } from './organizations.ts';

/** Answers a station gave to our configuration calls, by key. */
export type StationConfigAnswers = Record<
  string,
  {
    /** null: the station did not show it (GetConfiguration without a value, an unknown key) */
    value: string | null;
    /** the answer to our ChangeConfiguration, or `Read` (GetConfiguration) / `Unknown` (its unknownKey) */
    status: string;
    at: string;
    readonly?: boolean;
  }
>;

/** An entry of a local authorization list (OCPP IdTagInfo). */
export interface LocalListInfo {
  status: 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';
  parentIdTag?: string;
  expiryDate?: string;
}

export interface ChargeStationsTable {
  id: string;
  ocpp_id: string;
  organization_id: string;
  /** scrypt hash; null = no Basic auth required */
  password_hash: string | null;
  active: Generated<boolean>;
  vendor: string | null;
  model: string | null;
  serial_number: string | null;
  charge_box_serial_number: string | null;
  firmware_version: string | null;
  iccid: string | null;
  imsi: string | null;
  meter_type: string | null;
  meter_serial_number: string | null;
  booted_at: NullableTimestamp;
  last_heartbeat_at: NullableTimestamp;
  configuration: ColumnType<StationConfigAnswers, string | undefined, string>;
  firmware_status: string | null;
  firmware_status_at: NullableTimestamp;
  diagnostics_status: string | null;
  diagnostics_status_at: NullableTimestamp;
  diagnostics_file_name: ColumnType<string | null, string | null | undefined, string | null>;
  log_status: ColumnType<string | null, string | null | undefined, string | null>;
  log_status_at: NullableTimestamp;
  /** the local authorization list version last learnt from the station */
  local_list_version: ColumnType<number | null, number | null | undefined, number | null>;
  local_list_version_at: NullableTimestamp;
  /** when GetConfiguration was last answered (its values are in `configuration`) */
  configuration_read_at: NullableTimestamp;
  rate_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** the station's maximum power (W); null = the gateway's default (MAX_STATION_POWER_KW) */
  max_power_w: ColumnType<number | null, number | null | undefined, number | null>;
  /** the lowest security profile (1-3) the station may connect with; null = none required */
  security_profile: ColumnType<number | null, number | null | undefined, number | null>;
  /** an AuthorizationKey rotation waiting for the station's answer: the new password's hash */
  pending_password_hash: ColumnType<string | null, string | null | undefined, string | null>;
  password_rotated_at: NullableTimestamp;
  /** the version of the last local list the sync sent and the station accepted */
  local_list_synced_version: ColumnType<number | null, number | null | undefined, number | null>;
  /** the synced list as the station holds it: idTag → its idTagInfo */
  local_list_sent: ColumnType<Record<string, LocalListInfo> | null, string | null | undefined, string | null>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type ChargeStation = Selectable<ChargeStationsTable>;
export type NewChargeStation = Insertable<ChargeStationsTable>;
export type ChargeStationUpdate = Updateable<ChargeStationsTable>;

export interface ConnectorsTable {
  station_id: string;
  /** 0 = the station as a whole */
  connector_id: number;
  status: string | null;
  error_code: string | null;
  info: string | null;
  vendor_id: string | null;
  vendor_error_code: string | null;
  status_at: NullableTimestamp;
  rate_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** what an operator last asked (ChangeAvailability): Operative / Inoperative */
  availability: ColumnType<string | null, string | null | undefined, string | null>;
  /** the station's answer to it: Accepted, or Scheduled (after the running transaction) */
  availability_status: ColumnType<string | null, string | null | undefined, string | null>;
  availability_at: NullableTimestamp;
  updated_at: GeneratedTimestamp;
}

export type Connector = Selectable<ConnectorsTable>;

/** What the gateway has learnt about a charger (migration 2026_11_28_0200_station_capabilities); null = not learnt. */
export interface StationCapabilitiesTable {
  station_id: string;
  trigger_meter_values: boolean | null;
  sample_interval_change: boolean | null;
  smart_charging: boolean | null;
  stop_delay_energy_s: number | null;
  stop_delay_time_s: number | null;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}
export type StationCapabilitiesRow = Selectable<StationCapabilitiesTable>;
