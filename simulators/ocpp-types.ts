/** The subset of OCPP 1.6J message shapes the simulator sends and answers. */

export type ChargePointStatus =
  | 'Available'
  | 'Preparing'
  | 'Charging'
  | 'SuspendedEVSE'
  | 'SuspendedEV'
  | 'Finishing'
  | 'Reserved'
  | 'Unavailable'
  | 'Faulted';

export type StopReason =
  | 'EmergencyStop'
  | 'EVDisconnected'
  | 'HardReset'
  | 'Local'
  | 'Other'
  | 'PowerLoss'
  | 'Reboot'
  | 'Remote'
  | 'SoftReset'
  | 'UnlockCommand'
  | 'DeAuthorized';

export type AuthorizationStatus = 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';

export interface IdTagInfo {
  status: AuthorizationStatus;
  expiryDate?: string;
  parentIdTag?: string;
}

export type Measurand = 'Energy.Active.Import.Register' | 'Power.Active.Import' | 'SoC';
export type ReadingContext = 'Sample.Periodic' | 'Transaction.Begin' | 'Transaction.End' | 'Trigger';
export type Phase = 'L1' | 'L2' | 'L3';
export type UnitOfMeasure = 'Wh' | 'kWh' | 'W' | 'Percent';

export interface SampledValue {
  value: string;
  context?: ReadingContext;
  measurand?: Measurand;
  phase?: Phase;
  location?: 'Outlet' | 'EV';
  unit?: UnitOfMeasure;
}

export interface MeterValue {
  timestamp: string;
  sampledValue: SampledValue[];
}

export interface BootNotificationReq {
  chargePointVendor: string;
  chargePointModel: string;
  chargePointSerialNumber?: string;
  chargeBoxSerialNumber?: string;
  firmwareVersion?: string;
  meterType?: string;
}
export interface BootNotificationConf {
  status: 'Accepted' | 'Pending' | 'Rejected';
  currentTime: string;
  interval: number;
}

export type HeartbeatReq = Record<string, never>;
export interface HeartbeatConf {
  currentTime: string;
}

export interface StatusNotificationReq {
  connectorId: number;
  errorCode: 'NoError';
  status: ChargePointStatus;
  timestamp?: string;
}
export type StatusNotificationConf = Record<string, never>;

export interface AuthorizeReq {
  idTag: string;
}
export interface AuthorizeConf {
  idTagInfo: IdTagInfo;
}

export interface StartTransactionReq {
  connectorId: number;
  idTag: string;
  meterStart: number;
  timestamp: string;
}
export interface StartTransactionConf {
  idTagInfo: IdTagInfo;
  transactionId: number;
}

export interface MeterValuesReq {
  connectorId: number;
  transactionId?: number;
  meterValue: MeterValue[];
}
export type MeterValuesConf = Record<string, never>;

export interface StopTransactionReq {
  transactionId: number;
  idTag?: string;
  meterStop: number;
  timestamp: string;
  reason?: StopReason;
  transactionData?: MeterValue[];
}
export interface StopTransactionConf {
  idTagInfo?: IdTagInfo;
}

/** Outbound action name → [request, response]. */
export interface OutboundCalls {
  BootNotification: [BootNotificationReq, BootNotificationConf];
  Heartbeat: [HeartbeatReq, HeartbeatConf];
  StatusNotification: [StatusNotificationReq, StatusNotificationConf];
  Authorize: [AuthorizeReq, AuthorizeConf];
  StartTransaction: [StartTransactionReq, StartTransactionConf];
  MeterValues: [MeterValuesReq, MeterValuesConf];
  StopTransaction: [StopTransactionReq, StopTransactionConf];
}
export type OutboundAction = keyof OutboundCalls;

/** Actions whose delivery must survive disconnections (OCPP 1.6 §4.7 "transaction-related"). */
export type TransactionAction = 'StartTransaction' | 'MeterValues' | 'StopTransaction';

export type InboundAction =
  | 'RemoteStartTransaction'
  | 'RemoteStopTransaction'
  | 'ChangeConfiguration'
  | 'GetConfiguration'
  | 'TriggerMessage'
  | 'Reset'
  | 'UnlockConnector';
