/** Events a SimStation emits (see SimStation#on / #waitFor). */
import type {
  AuthorizationStatus,
  BootNotificationConf,
  ChargePointStatus,
  InboundAction,
  StopReason,
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
  warning: [{ message: string; error?: unknown }];
}
