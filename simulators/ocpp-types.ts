/** The OCPP 1.6J (and Security extension) message shapes the simulator sends and answers. */
import type { SecurityExtensionAction } from '../src/ocpp/schemas/index.ts';
import { SECURITY_EXTENSION_ACTIONS } from '../src/ocpp/schemas/index.ts';

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

export type Measurand =
  | 'Energy.Active.Import.Register'
  | 'Power.Active.Import'
  | 'Power.Offered'
  | 'Current.Import'
  | 'Current.Offered'
  | 'Voltage'
  | 'SoC';
export type ReadingContext = 'Sample.Periodic' | 'Sample.Clock' | 'Transaction.Begin' | 'Transaction.End' | 'Trigger';
export type Phase = 'L1' | 'L2' | 'L3';
export type UnitOfMeasure = 'Wh' | 'kWh' | 'W' | 'kW' | 'A' | 'V' | 'Percent';

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

export type ChargePointErrorCode =
  | 'ConnectorLockFailure'
  | 'EVCommunicationError'
  | 'GroundFailure'
  | 'HighTemperature'
  | 'InternalError'
  | 'LocalListConflict'
  | 'NoError'
  | 'OtherError'
  | 'OverCurrentFailure'
  | 'PowerMeterFailure'
  | 'PowerSwitchFailure'
  | 'ReaderFailure'
  | 'ResetFailure'
  | 'UnderVoltage'
  | 'OverVoltage'
  | 'WeakSignal';

/** What a StatusNotification may say beyond the status. */
export interface StatusDetails {
  errorCode?: ChargePointErrorCode;
  info?: string;
  vendorId?: string;
  vendorErrorCode?: string;
}

export interface StatusNotificationReq extends StatusDetails {
  connectorId: number;
  errorCode: ChargePointErrorCode;
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
  reservationId?: number;
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

export interface DataTransferReq {
  vendorId: string;
  messageId?: string;
  data?: string;
}
export interface DataTransferConf {
  status: 'Accepted' | 'Rejected' | 'UnknownMessageId' | 'UnknownVendorId';
  data?: string;
}

export type DiagnosticsStatus = 'Idle' | 'Uploaded' | 'UploadFailed' | 'Uploading';
export type FirmwareStatus = 'Downloaded' | 'DownloadFailed' | 'Downloading' | 'Idle' | 'InstallationFailed' | 'Installing' | 'Installed';
/** SignedFirmwareStatusNotification (Security extension). */
export type SignedFirmwareStatus =
  | FirmwareStatus
  | 'DownloadScheduled'
  | 'DownloadPaused'
  | 'InstallRebooting'
  | 'InstallScheduled'
  | 'InstallVerificationFailed'
  | 'InvalidSignature'
  | 'SignatureVerified';
export type UploadLogStatus =
  | 'BadMessage'
  | 'Idle'
  | 'NotSupportedOperation'
  | 'PermissionDenied'
  | 'Uploaded'
  | 'UploadFailure'
  | 'Uploading';

export interface SecurityEventNotificationReq {
  type: string;
  timestamp: string;
  techInfo?: string;
}

type Empty = Record<string, never>;

/** Outbound action name → [request, response]. */
export interface OutboundCalls {
  BootNotification: [BootNotificationReq, BootNotificationConf];
  Heartbeat: [HeartbeatReq, HeartbeatConf];
  StatusNotification: [StatusNotificationReq, StatusNotificationConf];
  Authorize: [AuthorizeReq, AuthorizeConf];
  StartTransaction: [StartTransactionReq, StartTransactionConf];
  MeterValues: [MeterValuesReq, MeterValuesConf];
  StopTransaction: [StopTransactionReq, StopTransactionConf];
  DataTransfer: [DataTransferReq, DataTransferConf];
  DiagnosticsStatusNotification: [{ status: DiagnosticsStatus }, Empty];
  FirmwareStatusNotification: [{ status: FirmwareStatus }, Empty];
  SecurityEventNotification: [SecurityEventNotificationReq, Empty];
  SignCertificate: [{ csr: string }, { status: 'Accepted' | 'Rejected' }];
  SignedFirmwareStatusNotification: [{ status: SignedFirmwareStatus; requestId?: number }, Empty];
  LogStatusNotification: [{ status: UploadLogStatus; requestId?: number }, Empty];
}
export type OutboundAction = keyof OutboundCalls;

/** Actions whose delivery must survive disconnections (OCPP 1.6 §4.7 "transaction-related"). */
export type TransactionAction = 'StartTransaction' | 'MeterValues' | 'StopTransaction';

/** Security-extension messages a charge point sends; the central system sends the others. */
const SECURITY_FROM_CHARGER = [
  'LogStatusNotification',
  'SecurityEventNotification',
  'SignCertificate',
  'SignedFirmwareStatusNotification',
] as const satisfies readonly SecurityExtensionAction[];

type SecurityToCharger = Exclude<SecurityExtensionAction, (typeof SECURITY_FROM_CHARGER)[number]>;

/** Calls a central system can make to a charge point in OCPP 1.6J, by feature profile. */
const PROFILE_ACTIONS = [
  // Core
  'ChangeAvailability',
  'ChangeConfiguration',
  'ClearCache',
  'DataTransfer',
  'GetConfiguration',
  'RemoteStartTransaction',
  'RemoteStopTransaction',
  'Reset',
  'UnlockConnector',
  // Firmware Management
  'GetDiagnostics',
  'UpdateFirmware',
  // Local Auth List Management
  'GetLocalListVersion',
  'SendLocalList',
  // Reservation
  'CancelReservation',
  'ReserveNow',
  // Smart Charging
  'ClearChargingProfile',
  'GetCompositeSchedule',
  'SetChargingProfile',
  // Remote Trigger
  'TriggerMessage',
] as const;

export type InboundAction = (typeof PROFILE_ACTIONS)[number] | SecurityToCharger;

/** Every call a central system can make to a charge point in OCPP 1.6J and its Security extension. */
export const INBOUND_ACTIONS: readonly InboundAction[] = [
  ...PROFILE_ACTIONS,
  ...SECURITY_EXTENSION_ACTIONS.filter(
    (action): action is SecurityToCharger => !(SECURITY_FROM_CHARGER as readonly string[]).includes(action),
  ),
];

/** OCPP 1.6 feature profiles (SupportedFeatureProfiles). */
export type FeatureProfile =
  | 'Core'
  | 'FirmwareManagement'
  | 'LocalAuthListManagement'
  | 'Reservation'
  | 'SmartCharging'
  | 'RemoteTrigger';

export const FEATURE_PROFILES: readonly FeatureProfile[] = [
  'Core',
  'FirmwareManagement',
  'LocalAuthListManagement',
  'Reservation',
  'SmartCharging',
  'RemoteTrigger',
];
