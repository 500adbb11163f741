/** What a SimStation can be told when it is created, and what its session calls return. */
import type { Logger } from 'pino';
import type { AnswerRule } from './answers.ts';
import type { TimestampFormat } from './clock.ts';
import type { KeyOverride } from './config.ts';
import type { BasicAuthMode, TlsOptions } from './connection.ts';
import type { EnergyUnit, PowerUnit } from './meter.ts';
import type {
  AuthorizationStatus,
  ChargePointStatus,
  FeatureProfile,
  InboundAction,
  Measurand,
  StatusDetails,
} from './ocpp-types.ts';
import type { EvOptions, PowerProfileName } from './power.ts';
import type { RpcClientOptions } from './rpc.ts';

/**
 * How RemoteStopTransaction is answered: `accept` (stop the matching transaction), `ignore` (no
 * CALLRESULT at all), `reject`, `rejectFirst` (once per transaction), `acceptNoStop` (answer
 * Accepted and keep charging).
 */
export type RemoteStopMode = 'accept' | 'ignore' | 'reject' | 'rejectFirst' | 'acceptNoStop';

/** How a firmware update ends (UpdateFirmware and SignedUpdateFirmware). */
export type FirmwareOutcome =
  | 'Installed'
  | 'DownloadFailed'
  | 'InstallationFailed'
  /** SignedUpdateFirmware only: the signature does not verify. */
  | 'InvalidSignature'
  /** SignedUpdateFirmware only. */
  | 'InstallVerificationFailed';

/** How a diagnostics or log upload ends; `NoFile`: GetDiagnostics answers without a fileName and uploads nothing. */
export type UploadOutcome = 'Uploaded' | 'Failed' | 'NoFile';

export interface SimStationOptions {
  /**
   * Central system endpoint(s), e.g. ws://127.0.0.1:9000/ocpp (the identity is appended). With
   * several (a list, or comma-separated), the station uses the first and moves to the next when
   * it cannot connect.
   */
  url: string | readonly string[];
  identity: string;
  /** HTTP Basic password (security profile 1/2). */
  password?: string;
  /** `challenge`: the first handshake goes without credentials, they follow a 401 challenge (default 'preemptive'). */
  basicAuth?: BasicAuthMode;
  /** TLS material for wss:// (`cert` + `key`: security profile 3). */
  tls?: TlsOptions;
  /** Never answer WebSocket pings (and send none): liveness only from messages. */
  pongless?: boolean;
  /** Number of connectors, 1..3 (default 1). */
  connectors?: number;
  vendor?: string;
  model?: string;
  serial?: string;
  firmwareVersion?: string;
  /**
   * Manual mode: start() only connects. The station sends nothing by itself (no boot, heartbeat,
   * status or sessions); a test drives it with send(), and it answers the central system's
   * calls without acting on RemoteStart/RemoteStop.
   */
  manual?: boolean;
  /** Time acceleration: 10 → a simulated minute passes in 6 real seconds (default 1). */
  timeScale?: number;
  /** The station's clock runs this many real seconds ahead of true time (negative: behind). */
  clockSkewSeconds?: number;
  /** `no-zone`: timestamps without a time zone designator (UTC wall time). Default 'utc'. */
  timestampFormat?: TimestampFormat;
  /** Charging power curve (default 'ac11'). */
  powerProfile?: PowerProfileName;
  /** Charge at this power in W whatever the state of charge (replaces the profile's curve). */
  fixedPowerW?: number;
  /** The EV plugged in for each session. */
  ev?: EvOptions;
  /** Initial energy register of every connector in Wh (default 0). */
  initialRegisterWh?: number;
  /** MeterValueSampleInterval before the central system sets one, in simulated s (default 60). */
  meterValueSampleInterval?: number;
  /** ClockAlignedDataInterval: clock-aligned readings (Sample.Clock) every this many simulated s (default 0: none). */
  clockAlignedDataInterval?: number;
  /** MeterValuesSampledData (default: register and power; DC adds SoC). */
  measurands?: readonly Measurand[];
  /** Heartbeat interval used when BootNotification returns 0, in simulated s (default 60). */
  defaultHeartbeatInterval?: number;
  /** After a session stops the cable is removed at once: Finishing → Available (default true). */
  unplugAfterStop?: boolean;
  /** Add Transaction.Begin/End register readings to StopTransaction (default true). */
  transactionData?: boolean;
  /** Configuration keys to add, change, or remove (null: the key is unknown to this station). */
  configuration?: Record<string, KeyOverride>;
  /** Feature profiles the station supports (default all six); the others' calls get NotImplemented. */
  features?: readonly FeatureProfile[];
  /** The Security extension's operations (default true; false: NotImplemented). */
  securityExtension?: boolean;
  /** How the station answers, per operation (see AnswerBook); e.g. { Reset: 'Rejected' }. */
  answers?: Partial<Record<InboundAction, AnswerRule>>;
  /** UpdateFirmware / SignedUpdateFirmware: how it ends, simulated seconds per step, the version after it. */
  firmware?: { outcome?: FirmwareOutcome; stepSeconds?: number; newVersion?: string };
  /** GetDiagnostics / GetLog: how the upload ends and simulated seconds per step. */
  uploads?: { outcome?: UploadOutcome; stepSeconds?: number };
  /** Send SecurityEventNotifications by itself (startup, reset, firmware, security changes). Default false. */
  securityEvents?: boolean;
  /** How ChangeConfiguration(AuthorizationKey) is read: `hex` (the whitepaper's, 16-20 bytes) or `plain`. Default 'hex'. */
  authorizationKeyEncoding?: 'hex' | 'plain';
  /** Initial SecurityProfile key (default 0). */
  securityProfile?: number;
  log?: Logger;

  // --- field behaviour and misbehaviour --------------------------------------------------------
  /** Every MeterValues / StopTransaction is sent twice. */
  duplicateSends?: boolean;
  /** Unit of the energy register in MeterValues / transactionData (default 'Wh'). */
  energyUnit?: EnergyUnit;
  /** Unit of power values (default 'W'). */
  powerUnit?: PowerUnit;
  /** Energy register only as L1/L2/L3 values that sum to the total. */
  threePhaseOnly?: boolean;
  /** How RemoteStopTransaction is answered (default 'accept'). */
  remoteStop?: RemoteStopMode;
  /**
   * Simulated seconds from an accepted RemoteStopTransaction until the station has stopped and
   * sends StopTransaction, power falling to zero meanwhile; [min, max] picks one per stop.
   */
  stopDelaySeconds?: number | readonly [number, number];
  /** Every answer to a central-system call is delayed by this many real ms. */
  answerDelayMs?: number;
  /** Initial StopTransactionOnInvalidId (default true); false keeps charging on a rejected id. */
  stopTransactionOnInvalidId?: boolean;
  /**
   * The station does not support StopTransactionOnInvalidId (the key is unknown): a transaction
   * whose idTag the central system refuses is dropped without StopTransaction, the connector
   * back to Available.
   */
  dropRefusedTransactions?: boolean;
  /**
   * A restart (start() after stop(), a hard reset) loses running sessions without any
   * StopTransaction, so the next start on that connector is a second StartTransaction while the
   * central system still has the first open.
   */
  forgetSessionsOnRestart?: boolean;
  /** StopTransaction's meterStop is this many Wh below the register (and the last MeterValues). */
  meterStopDeficitWh?: number;
  /** vendorId / vendorErrorCode / info carried by every StatusNotification. */
  statusDetails?: Omit<StatusDetails, 'errorCode'>;
  /** Unknown extra properties in every payload the station sends (sent without outbound validation). */
  vendorExtras?: boolean;
  /** Each periodic reading is held this many simulated seconds before it is sent (late readings). */
  lateReadingsSeconds?: number;
  /** Periodic readings are held and sent in bursts of this many. */
  readingBurst?: number;

  /** Passed through to ocpp-rpc's RPCClient (e.g. reconnect: false, callTimeoutMs, backoff). */
  rpcOptions?: Partial<RpcClientOptions>;
}

export type StartSessionResult =
  | { outcome: 'Started'; transactionId: number; idTagStatus: AuthorizationStatus }
  /** StartTransaction waits in the offline queue. */
  | { outcome: 'Queued'; sessionRef: number }
  | { outcome: 'NotAuthorized'; idTagStatus: AuthorizationStatus }
  | { outcome: 'Busy' }
  /** The connector is reserved for another idTag, or out of service. */
  | { outcome: 'Unavailable'; status: ChargePointStatus }
  | { outcome: 'Failed'; error: unknown };

export type StopSessionResult =
  | { outcome: 'Stopped'; meterStop: number; transactionId: number | undefined; delivered: boolean }
  | { outcome: 'Queued'; meterStop: number }
  | { outcome: 'NoSession' };

export interface ConnectorSnapshot {
  connectorId: number;
  status: ChargePointStatus;
  registerWh: number;
  powerW: number;
  transactionId: number | undefined;
  idTag: string | undefined;
  soc: number | undefined;
  /** The charging limit in force (smart charging), W; undefined when none. */
  limitW: number | undefined;
  availability: 'Operative' | 'Inoperative';
  reservationId: number | undefined;
}
