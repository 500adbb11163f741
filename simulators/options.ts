/** What a SimStation can be told when it is created, and what its session calls return. */
import type { Logger } from 'pino';
import type { EnergyUnit } from './meter.ts';
import type { AuthorizationStatus, ChargePointStatus } from './ocpp-types.ts';
import type { EvOptions, PowerProfileName } from './power.ts';
import type { RpcClientOptions } from './rpc.ts';

export type RemoteStopMode = 'accept' | 'ignore' | 'reject' | 'rejectFirst';

export interface SimStationOptions {
  /** Central system endpoint, e.g. ws://127.0.0.1:9000/ocpp (the identity is appended). */
  url: string;
  identity: string;
  /** HTTP Basic password (security profile 1/2). */
  password?: string;
  /** Number of connectors, 1..3 (default 1). */
  connectors?: number;
  vendor?: string;
  model?: string;
  serial?: string;
  firmwareVersion?: string;
  /** Time acceleration: 10 → a simulated minute passes in 6 real seconds (default 1). */
  timeScale?: number;
  /** Charging power curve (default 'ac11'). */
  powerProfile?: PowerProfileName;
  /** The EV plugged in for each session. */
  ev?: EvOptions;
  /** Initial energy register of every connector in Wh (default 0). */
  initialRegisterWh?: number;
  /** MeterValueSampleInterval before the central system sets one, in simulated s (default 60). */
  meterValueSampleInterval?: number;
  /** Heartbeat interval used when BootNotification returns 0, in simulated s (default 60). */
  defaultHeartbeatInterval?: number;
  /** After a session stops the cable is removed at once: Finishing → Available (default true). */
  unplugAfterStop?: boolean;
  /** Add Transaction.Begin/End register readings to StopTransaction (default true). */
  transactionData?: boolean;
  log?: Logger;

  // --- misbehaviour -------------------------------------------------------------------------
  /** Every MeterValues / StopTransaction is sent twice. */
  duplicateSends?: boolean;
  /** Unit of the energy register in MeterValues / transactionData (default 'Wh'). */
  energyUnit?: EnergyUnit;
  /** Energy register only as L1/L2/L3 values that sum to the total. */
  threePhaseOnly?: boolean;
  /** How RemoteStopTransaction is answered (default 'accept'). */
  remoteStop?: RemoteStopMode;
  /** Every answer to a central-system call is delayed by this many real ms. */
  answerDelayMs?: number;
  /** Initial StopTransactionOnInvalidId (default true); false keeps charging on a rejected id. */
  stopTransactionOnInvalidId?: boolean;

  /** Passed through to ocpp-rpc's RPCClient (e.g. reconnect, callTimeoutMs, backoff). */
  rpcOptions?: Partial<RpcClientOptions>;
}

export type StartSessionResult =
  | { outcome: 'Started'; transactionId: number; idTagStatus: AuthorizationStatus }
  /** StartTransaction waits in the offline queue. */
  | { outcome: 'Queued'; sessionRef: number }
  | { outcome: 'NotAuthorized'; idTagStatus: AuthorizationStatus }
  | { outcome: 'Busy' }
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
}
