import type { ChargingProfile, ChargingProfilePurpose, ChargingSchedule } from '../../shared/charging-profile.ts';

/**
 * What the domain needs of a charge station's connection: a call and its answer, where it is
 * connected, and closing it. The domain names the station by identity and never sees a socket or
 * knows which process holds it: src/ocpp implements this port for the sockets of one process,
 * src/cluster for every node of a cluster (forwarding to the node that holds the station).
 */
export interface StationPort {
  /**
   * Sends a call and resolves with the station's answer. Rejects with StationOfflineError when
   * the station is not connected (or drops the connection meanwhile) and StationTimeoutError
   * when it does not answer in time.
   */
  call<A extends StationAction>(
    identity: string,
    action: A,
    params: StationCalls[A]['req'],
    options?: CallOptions,
  ): Promise<StationCalls[A]['conf']>;
  /**
   * Where these stations are connected right now: identity → the node holding the connection.
   * A station missing from the map is offline. (Asynchronous: in a cluster it reads the
   * presence table for stations other nodes hold.)
   */
  locate(identities: readonly string[]): Promise<Map<string, StationLocation>>;
  /** Closes the station's connection, wherever it is held; nothing when it is offline. */
  disconnect(identity: string, reason: string): Promise<void>;
}

export interface StationLocation {
  /** the gateway node (NODE_ID) that holds the connection */
  node: string;
}

export interface CallOptions {
  timeoutMs?: number;
  /**
   * Send now even if another call to this station is still waiting for its answer. OCPP-J
   * asks for one call in flight at a time, and every other call keeps to that; a
   * RemoteStopTransaction that stops a driver spending money they no longer have is the one
   * exception, so a slow answer to another call cannot hold it back.
   */
  urgent?: boolean;
  /**
   * Who asked, for the station's command log (every call is kept there): an API key id (a console
   * session names its key), or `gateway` (the default) for calls the gateway makes of its own accord.
   */
  requestedBy?: string;
  /** why the gateway sends the call (`wallet_at_zero`, `boot_configuration`, …), kept in the log */
  reason?: string;
  /** the caller keeps the command log entry itself (StationCommands): the port does not add one */
  logged?: boolean;
}

/** Calls the gateway sends to a station, with their answers (OCPP 1.6J, Core and the feature profiles). */
export interface StationCalls {
  ChangeConfiguration: {
    req: { key: string; value: string };
    conf: { status: 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported' };
  };
  RemoteStartTransaction: {
    req: { connectorId?: number; idTag: string; chargingProfile?: ChargingProfile };
    conf: { status: 'Accepted' | 'Rejected' };
  };
  RemoteStopTransaction: {
    req: { transactionId: number };
    conf: { status: 'Accepted' | 'Rejected' };
  };
  GetConfiguration: {
    req: { key?: string[] };
    conf: {
      configurationKey?: { key: string; readonly: boolean; value?: string }[];
      unknownKey?: string[];
    };
  };
  TriggerMessage: {
    req: { requestedMessage: TriggerableMessage; connectorId?: number };
    conf: { status: 'Accepted' | 'Rejected' | 'NotImplemented' };
  };
  Reset: { req: { type: 'Hard' | 'Soft' }; conf: { status: 'Accepted' | 'Rejected' } };
  UnlockConnector: {
    req: { connectorId: number };
    conf: { status: 'Unlocked' | 'UnlockFailed' | 'NotSupported' };
  };
  ChangeAvailability: {
    req: { connectorId: number; type: 'Inoperative' | 'Operative' };
    conf: { status: 'Accepted' | 'Rejected' | 'Scheduled' };
  };
  ClearCache: { req: Record<string, never>; conf: { status: 'Accepted' | 'Rejected' } };
  DataTransfer: {
    req: { vendorId: string; messageId?: string; data?: string };
    conf: { status: 'Accepted' | 'Rejected' | 'UnknownMessageId' | 'UnknownVendorId'; data?: string };
  };
  GetLocalListVersion: { req: Record<string, never>; conf: { listVersion: number } };
  SendLocalList: {
    req: { listVersion: number; localAuthorizationList?: AuthorizationData[]; updateType: 'Differential' | 'Full' };
    conf: { status: 'Accepted' | 'Failed' | 'NotSupported' | 'VersionMismatch' };
  };
  ReserveNow: {
    req: { connectorId: number; expiryDate: string; idTag: string; parentIdTag?: string; reservationId: number };
    conf: { status: 'Accepted' | 'Faulted' | 'Occupied' | 'Rejected' | 'Unavailable' };
  };
  CancelReservation: { req: { reservationId: number }; conf: { status: 'Accepted' | 'Rejected' } };
  UpdateFirmware: {
    req: { location: string; retries?: number; retrieveDate: string; retryInterval?: number };
    conf: Record<string, never>;
  };
  GetDiagnostics: {
    req: { location: string; retries?: number; retryInterval?: number; startTime?: string; stopTime?: string };
    conf: { fileName?: string };
  };
  SetChargingProfile: {
    req: { connectorId: number; csChargingProfiles: ChargingProfile };
    conf: { status: 'Accepted' | 'Rejected' | 'NotSupported' };
  };
  ClearChargingProfile: {
    req: {
      id?: number;
      connectorId?: number;
      chargingProfilePurpose?: ChargingProfilePurpose;
      stackLevel?: number;
    };
    conf: { status: 'Accepted' | 'Unknown' };
  };
  GetCompositeSchedule: {
    req: { connectorId: number; duration: number; chargingRateUnit?: 'A' | 'W' };
    conf: {
      status: 'Accepted' | 'Rejected';
      connectorId?: number;
      scheduleStart?: string;
      chargingSchedule?: ChargingSchedule;
    };
  };
  // Security extension (OCPP 1.6 security whitepaper, edition 3)
  InstallCertificate: {
    req: { certificateType: 'CentralSystemRootCertificate' | 'ManufacturerRootCertificate'; certificate: string };
    conf: { status: 'Accepted' | 'Failed' | 'Rejected' };
  };
  GetInstalledCertificateIds: {
    req: { certificateType: 'CentralSystemRootCertificate' | 'ManufacturerRootCertificate' };
    conf: { status: 'Accepted' | 'NotFound'; certificateHashData?: CertificateHashData[] };
  };
  DeleteCertificate: {
    req: { certificateHashData: CertificateHashData };
    conf: { status: 'Accepted' | 'Failed' | 'NotFound' };
  };
  ExtendedTriggerMessage: {
    req: {
      requestedMessage:
        | 'BootNotification'
        | 'LogStatusNotification'
        | 'FirmwareStatusNotification'
        | 'Heartbeat'
        | 'MeterValues'
        | 'SignChargePointCertificate'
        | 'StatusNotification';
      connectorId?: number;
    };
    conf: { status: 'Accepted' | 'Rejected' | 'NotImplemented' };
  };
  CertificateSigned: { req: { certificateChain: string }; conf: { status: 'Accepted' | 'Rejected' } };
  SignedUpdateFirmware: {
    req: {
      requestId: number;
      retries?: number;
      retryInterval?: number;
      firmware: { location: string; retrieveDateTime: string; installDateTime?: string; signingCertificate: string; signature: string };
    };
    conf: { status: 'Accepted' | 'Rejected' | 'AcceptedCanceled' | 'InvalidCertificate' | 'RevokedCertificate' };
  };
  GetLog: {
    req: {
      logType: 'DiagnosticsLog' | 'SecurityLog';
      requestId: number;
      retries?: number;
      retryInterval?: number;
      log: { remoteLocation: string; oldestTimestamp?: string; latestTimestamp?: string };
    };
    conf: { status: 'Accepted' | 'Rejected' | 'AcceptedCanceled'; filename?: string };
  };
}
export type StationAction = keyof StationCalls;

/** How OCPP's Security extension names a certificate. */
export interface CertificateHashData {
  hashAlgorithm: 'SHA256' | 'SHA384' | 'SHA512';
  issuerNameHash: string;
  issuerKeyHash: string;
  serialNumber: string;
}

export type TriggerableMessage =
  | 'BootNotification'
  | 'DiagnosticsStatusNotification'
  | 'FirmwareStatusNotification'
  | 'Heartbeat'
  | 'MeterValues'
  | 'StatusNotification';

export type AuthorizationStatus = 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';

export interface AuthorizationData {
  idTag: string;
  idTagInfo?: { status: AuthorizationStatus; expiryDate?: string; parentIdTag?: string };
}

export type { ChargingProfile, ChargingProfilePurpose, ChargingSchedule };
