/** Events a SimStation emits (see SimStation#on / #waitFor). */
import type {
  AuthorizationStatus,
  BootNotificationConf,
  ChargePointStatus,
  InboundAction,
  SignedFirmwareStatus,
  StopReason,
  UploadLogStatus,
  DiagnosticsStatus,
} from './ocpp-types.ts';

export interface OutboundCallEvent {
  messageId: string;
  action: string;
  params: unknown;
}

export interface CallResultEvent extends OutboundCallEvent {
  result: unknown;
  /** CALL written → CALLRESULT received, in ms. */
  latencyMs: number;
}

export interface CallErrorEvent extends OutboundCallEvent {
  error: unknown;
  latencyMs: number;
}

export interface InboundCallEvent {
  action: InboundAction | string;
  params: Record<string, unknown>;
}

export interface InboundResultEvent extends InboundCallEvent {
  /** undefined when the station deliberately did not answer. */
  response: unknown;
}

export interface SessionStartedEvent {
  connectorId: number;
  transactionId: number;
  idTag: string;
  meterStart: number;
  idTagStatus: AuthorizationStatus;
  /** Local session reference (also used by the offline queue). */
  sessionRef: number;
}

export interface SessionStoppedEvent {
  connectorId: number;
  /** undefined when the StartTransaction has not been answered yet (offline). */
  transactionId: number | undefined;
  sessionRef: number;
  idTag: string;
  reason: StopReason;
  meterStop: number;
}

/** A session the station let go of without any StopTransaction. */
export interface SessionDroppedEvent {
  connectorId: number;
  transactionId: number | undefined;
  sessionRef: number;
  idTag: string;
  /** `InvalidId`: refused by the central system (dropRefusedTransactions); `Forgotten`: lost in a restart. */
  reason: 'InvalidId' | 'Forgotten';
}

export interface ReservationEvent {
  connectorId: number;
  reservationId: number;
  idTag: string;
  state: 'Reserved' | 'Used' | 'Expired' | 'Cancelled';
}

export interface StationEvents {
  connected: [];
  disconnected: [{ code: number; reason: string }];
  /** Every BootNotification answer, whatever its status. */
  bootResponse: [BootNotificationConf];
  /** BootNotification Accepted (status notifications follow). */
  booted: [BootNotificationConf];
  call: [OutboundCallEvent];
  callResult: [CallResultEvent];
  callError: [CallErrorEvent];
  inboundCall: [InboundCallEvent];
  inboundResult: [InboundResultEvent];
  remoteStart: [{ connectorId: number | undefined; idTag: string; status: 'Accepted' | 'Rejected' }];
  remoteStop: [{ transactionId: number; status: 'Accepted' | 'Rejected' | 'Ignored' }];
  configurationChanged: [{ key: string; value: string; status: string }];
  reset: [{ type: 'Hard' | 'Soft' }];
  status: [{ connectorId: number; status: ChargePointStatus }];
  authorizeRejected: [{ connectorId: number; idTag: string; status: AuthorizationStatus }];
  sessionStarted: [SessionStartedEvent];
  sessionStopped: [SessionStoppedEvent];
  meterSample: [{ connectorId: number; sessionRef: number; registerWh: number; powerW: number }];
  evFull: [{ connectorId: number }];
  sessionDropped: [SessionDroppedEvent];
  /** ChangeAvailability took effect (scheduled ones once the transaction ended). */
  availability: [{ connectorId: number; availability: 'Operative' | 'Inoperative' }];
  reservation: [ReservationEvent];
  /** The charging limit in force on a connector changed (undefined: none). */
  chargingLimit: [{ connectorId: number; limitW: number | undefined }];
  /** A step of a firmware update (FirmwareStatusNotification or SignedFirmwareStatusNotification). */
  firmwareStatus: [{ status: SignedFirmwareStatus; requestId?: number; signed: boolean }];
  /** A step of a diagnostics or log upload. */
  uploadStatus: [{ kind: 'Diagnostics' | 'Log'; status: DiagnosticsStatus | UploadLogStatus; requestId?: number }];
  /** New credentials in use: a Basic-auth password (AuthorizationKey), a client certificate, a security profile. */
  credentialsChanged: [{ kind: 'password' | 'certificate' | 'securityProfile' }];
  warning: [{ message: string; error?: unknown }];
}
