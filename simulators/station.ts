/**
 * One simulated OCPP 1.6J charge point: the public face of the parts in this folder (connection,
 * boot, connectors, metering, transactions, local authorization, reservations, smart charging,
 * maintenance, security, and the answers to the central system's calls).
 */
import { EventEmitter } from 'node:events';
import type { AnswerBook } from './answers.ts';
import { Boot } from './boot.ts';
import { SimClock } from './clock.ts';
import { StationConfiguration } from './config.ts';
import { Connection } from './connection.ts';
import { Connectors, wholeWh, type Availability } from './connectors.ts';
import { StationCore, type ReceivedCall } from './core.ts';
import type { StationEvents } from './events.ts';
import { registerOperations } from './handlers.ts';
import { LocalAuthorization } from './local-auth.ts';
import { Maintenance } from './maintenance.ts';
import { Metering } from './metering.ts';
import type {
  BootNotificationConf,
  ChargePointStatus,
  DataTransferConf,
  DiagnosticsStatus,
  IdTagInfo,
  InboundAction,
  StatusDetails,
  StopReason,
  UploadLogStatus,
  SignedFirmwareStatus,
} from './ocpp-types.ts';
import type {
  ConnectorSnapshot,
  FirmwareOutcome,
  RemoteStopMode,
  SimStationOptions,
  StartSessionResult,
  StopSessionResult,
  UploadOutcome,
} from './options.ts';
import { fixedPowerProfile, getPowerProfile, type PowerProfile } from './power.ts';
import { Reservations, type Reservation } from './reservations.ts';
import { Security, type CertificateUse, type ClientCertificate, type InstalledCertificate } from './security.ts';
import { SmartCharging, type ChargingRateUnit, type InstalledProfile } from './smart-charging.ts';
import { Transactions, type StartOptions } from './transactions.ts';

export type * from './options.ts';

export class SimStation extends EventEmitter<StationEvents> {
  readonly identity: string;
  readonly config: StationConfiguration;
  readonly timeScale: number;
  readonly profile: PowerProfile;

  private readonly core: StationCore;
  private readonly link: Connection;
  private readonly bootPart: Boot;
  private readonly connectors: Connectors;
  private readonly metering: Metering;
  private readonly transactions: Transactions;
  private readonly localAuth: LocalAuthorization;
  private readonly reservationBook: Reservations;
  private readonly smartCharging: SmartCharging;
  private readonly maintenance: Maintenance;
  private readonly security: Security;

  constructor(options: SimStationOptions) {
    super();
    const connectorCount = options.connectors ?? 1;
    if (!Number.isInteger(connectorCount) || connectorCount < 1 || connectorCount > 3) {
      throw new Error(`connectors must be 1..3, got ${connectorCount}`);
    }
    const clock = new SimClock({
      timeScale: options.timeScale ?? 1,
      skewSeconds: options.clockSkewSeconds ?? 0,
      timestampFormat: options.timestampFormat ?? 'utc',
    });
    this.identity = options.identity;
    this.timeScale = clock.timeScale;
    const base = getPowerProfile(options.powerProfile ?? 'ac11');
    this.profile = options.fixedPowerW !== undefined ? fixedPowerProfile(base, options.fixedPowerW) : base;
    const measurands = options.measurands ?? [
      'Energy.Active.Import.Register',
      'Power.Active.Import',
      ...(this.profile.kind === 'DC' ? (['SoC'] as const) : []),
    ];
    this.config = new StationConfiguration(
      {
        numberOfConnectors: connectorCount,
        stopTransactionOnInvalidId: options.stopTransactionOnInvalidId ?? true,
        meterValueSampleInterval: options.meterValueSampleInterval ?? 60,
        heartbeatInterval: options.defaultHeartbeatInterval ?? 60,
        clockAlignedDataInterval: options.clockAlignedDataInterval ?? 0,
        meterValuesSampledData: measurands.join(','),
        ...(options.features ? { supportedFeatureProfiles: options.features.join(',') } : { supportedFeatureProfiles: 'Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger' }),
        securityProfile: options.securityProfile ?? 0,
      },
      {
        // a charger without the key drops refused transactions instead (dropRefusedTransactions)
        ...(options.dropRefusedTransactions ? { StopTransactionOnInvalidId: null } : {}),
        ...options.configuration,
      },
    );
    const core = new StationCore(options, clock, this.config, this.profile, this);
    this.core = core;
    this.link = new Connection(core, () => this.bootPart.resume());
    this.bootPart = new Boot(core);
    this.connectors = new Connectors(core, connectorCount, options.initialRegisterWh ?? 0);
    this.metering = new Metering(core);
    this.transactions = new Transactions(core);
    this.localAuth = new LocalAuthorization(core);
    this.reservationBook = new Reservations(core);
    this.smartCharging = new SmartCharging(core);
    this.maintenance = new Maintenance(core);
    this.security = new Security(core);
    core.parts = {
      link: this.link,
      boot: this.bootPart,
      connectors: this.connectors,
      metering: this.metering,
      transactions: this.transactions,
      localAuth: this.localAuth,
      reservations: this.reservationBook,
      smartCharging: this.smartCharging,
      maintenance: this.maintenance,
      security: this.security,
    };
    registerOperations(core);
  }

  // ---------------------------------------------------------------------------------------------
  // State

  /** WebSocket open. */
  get connected(): boolean {
    return this.link.connected;
  }

  /** The central-system URL in use (or tried next). */
  get url(): string {
    return this.link.url;
  }

  /** BootNotification accepted in the current connection cycle. */
  get booted(): boolean {
    return this.bootPart.booted;
  }

  get started(): boolean {
    return this.core.running;
  }

  /** goOffline() in effect. */
  get offline(): boolean {
    return this.core.offline;
  }

  get connectorCount(): number {
    return this.connectors.count;
  }

  /** Heartbeat interval in simulated seconds (from BootNotification or ChangeConfiguration). */
  get heartbeatInterval(): number {
    return this.bootPart.heartbeatInterval;
  }

  /** MeterValueSampleInterval in simulated seconds. */
  get meterValueSampleInterval(): number {
    return this.metering.sampleInterval;
  }

  /** Transaction messages waiting for delivery. */
  get queueLength(): number {
    return this.transactions.queue.length;
  }

  /** Pending timers (0 after stop()). */
  get pendingTimers(): number {
    return this.core.timers.size;
  }

  /** The firmware version BootNotification reports (changed by a firmware update). */
  get firmwareVersion(): string {
    return this.bootPart.firmwareVersion;
  }

  connectorStatus(connectorId: number): ChargePointStatus {
    return this.connectors.at(connectorId).status;
  }

  /** ChangeAvailability's state of the connector (0: the charge point). */
  availability(connectorId: number): Availability {
    return this.connectors.at(connectorId).availability;
  }

  /** The central system's id of the running transaction, once StartTransaction was answered. */
  transactionId(connectorId: number): number | undefined {
    return this.connectors.at(connectorId).session?.transactionId;
  }

  /** A session (started or queued) is running on the connector. */
  hasSession(connectorId: number): boolean {
    return this.connectors.at(connectorId).session !== undefined;
  }

  /** Cumulative energy register in Wh (integer). */
  registerWh(connectorId: number): number {
    return this.metering.registerWh(this.connectors.at(connectorId));
  }

  /** Power being delivered right now in W. */
  powerW(connectorId: number): number {
    const connector = this.connectors.at(connectorId);
    this.metering.accrue(connector);
    return this.metering.currentPower(connector);
  }

  /** The charging limit in force on the connector (smart charging), W; undefined when none. */
  limitW(connectorId: number): number | undefined {
    return this.metering.limitW(this.connectors.at(connectorId));
  }

  snapshot(connectorId: number): ConnectorSnapshot {
    const connector = this.connectors.at(connectorId);
    this.metering.accrue(connector);
    return {
      connectorId,
      status: connector.status,
      registerWh: wholeWh(connector.registerWh),
      powerW: this.metering.currentPower(connector),
      transactionId: connector.session?.transactionId,
      idTag: connector.session?.idTag,
      soc: connector.session?.ev.soc,
      limitW: this.metering.limitW(connector),
      availability: connector.availability,
      reservationId: connector.reservation?.id,
    };
  }

  /**
   * How the station answers the central system's calls: `answers.set('Reset', 'Rejected')`,
   * `answers.once('UnlockConnector', 'UnlockFailed')`, `answers.set('TriggerMessage', { noReply: true })`,
   * `answers.set('GetDiagnostics', { callError: 'NotSupported' })`, `answers.set(action, undefined)`.
   */
  get answers(): AnswerBook {
    return this.core.answers;
  }

  /** The central system's calls received (of one action, or all), oldest first, with the answers given. */
  received(action?: InboundAction | string): ReceivedCall[] {
    return this.core.received.filter((c) => action === undefined || c.action === action);
  }

  /** The local authorization list (SendLocalList) and its version. */
  localList(): { version: number; entries: Map<string, IdTagInfo> } {
    return { version: this.localAuth.version(), entries: this.localAuth.entries() };
  }

  /** The authorization cache (AuthorizationCacheEnabled). */
  authorizationCache(): Map<string, IdTagInfo> {
    return this.localAuth.cached();
  }

  /** Reservations in force. */
  reservations(): Reservation[] {
    return this.reservationBook.list();
  }

  /** Charging profiles installed (on one connector, or all). */
  chargingProfiles(connectorId?: number): InstalledProfile[] {
    return this.smartCharging.profiles(connectorId);
  }

  /** The composite schedule the station would answer to GetCompositeSchedule. */
  compositeSchedule(connectorId: number, durationSeconds: number, unit?: ChargingRateUnit): Record<string, unknown> {
    return this.smartCharging.composite(connectorId, durationSeconds, unit);
  }

  /** Certificates installed with InstallCertificate. */
  certificates(use?: CertificateUse): InstalledCertificate[] {
    return this.security.certificates(use);
  }

  /** The station's own certificate, once CertificateSigned was accepted. */
  get clientCertificate(): ClientCertificate | undefined {
    return this.security.clientCertificate;
  }

  /** Firmware update in progress (Idle when none). */
  get firmwareStatus(): { status: SignedFirmwareStatus; requestId?: number; signed: boolean } {
    return this.maintenance.firmwareStatus;
  }

  get diagnosticsStatus(): DiagnosticsStatus {
    return this.maintenance.diagnosticsStatus;
  }

  get logStatus(): { status: UploadLogStatus; requestId?: number } {
    return this.maintenance.logStatus;
  }

  /** Resolves with the arguments of the next `event` that satisfies `predicate`. */
  waitFor<K extends keyof StationEvents>(
    event: K,
    predicate: (...args: StationEvents[K]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<StationEvents[K]> {
    return new Promise((resolve, reject) => {
      const emitter = this as unknown as EventEmitter;
      const listener = (...args: unknown[]) => {
        const typed = args as StationEvents[K];
        if (!predicate(...typed)) return;
        clearTimeout(timer);
        emitter.off(event, listener);
        resolve(typed);
      };
      const timer = setTimeout(() => {
        emitter.off(event, listener);
        reject(new Error(`${this.identity}: timed out after ${timeoutMs} ms waiting for '${event}'`));
      }, timeoutMs);
      emitter.on(event, listener);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Connects and sends BootNotification. Resolves with the first BootNotification answer
   * (undefined if that call failed; booting is then retried in the background; always undefined
   * in manual mode, which only connects). Rejects when the WebSocket cannot be opened.
   */
  async start(): Promise<BootNotificationConf | undefined> {
    const { core } = this;
    if (core.running) throw new Error(`${this.identity} is already started`);
    // Sessions left over from a stop() without endSessions were cut by a "power loss". They end
    // before the station counts as running again, so their meterStop is the register exactly as
    // it was at stop(): accrue() adds nothing while the station is not running. The
    // StopTransactions wait in the transaction queue until the station has booted.
    this.transactions.endAll('PowerLoss');
    core.running = true;
    core.offline = false;
    core.abort = new AbortController();
    this.reservationBook.rearm();
    try {
      await this.link.connect();
    } catch (err) {
      core.running = false;
      core.timers.clearAll();
      throw err;
    }
    if (core.manual) return undefined;
    return this.bootPart.boot(true);
  }

  /**
   * Closes the connection and clears every timer. With `endSessions`, running sessions are
   * stopped first and their StopTransactions given `flushTimeoutMs` to be delivered; `force`
   * drops the socket instead of closing it.
   */
  async stop(
    options: { endSessions?: boolean; reason?: StopReason; flushTimeoutMs?: number; force?: boolean } = {},
  ): Promise<void> {
    const { core } = this;
    if (!core.running) return;
    if (options.endSessions) {
      this.transactions.endAll(options.reason ?? 'Local');
      if (core.canSend()) await this.transactions.queue.drained(options.flushTimeoutMs ?? 5_000);
    }
    this.metering.accrueAll();
    core.running = false;
    this.bootPart.stopped();
    core.abort.abort();
    core.timers.clearAll();
    for (const connector of this.connectors.all) {
      connector.meterTimer = undefined;
      connector.limitTimer = undefined;
    }
    this.transactions.queue.releaseWaiters();
    try {
      await this.link.close(options.force ? { force: true } : { code: 1000, reason: 'Simulator stopped' });
    } catch (err) {
      core.warn('close failed', err);
    }
    this.link.reset();
  }

  /** Network loss: drops the connection; transaction messages queue up until goOnline(). */
  async goOffline(): Promise<void> {
    const { core } = this;
    if (!core.running || core.offline) return;
    core.offline = true;
    await this.link.close({ force: true });
  }

  /** Reconnects after goOffline(); queued messages are then replayed (see flush()). */
  async goOnline(): Promise<void> {
    const { core } = this;
    if (!core.running || !core.offline) return;
    core.offline = false;
    await this.bootPart.reconnectAndBoot();
  }

  /**
   * Drops the socket and reconnects at once (reconnect storms). With `reboot` the station
   * also sends a fresh BootNotification and status notifications; sessions keep running.
   */
  reconnect(options: { reboot?: boolean } = {}): Promise<void> {
    return this.bootPart.reconnect({ ...options, force: true });
  }

  /** Switches how RemoteStopTransaction is answered from now on (see SimStationOptions.remoteStop). */
  setRemoteStopMode(mode: RemoteStopMode): void {
    this.core.remoteStopMode = mode;
  }

  /** How the next firmware updates end. */
  setFirmwareOutcome(outcome: FirmwareOutcome): void {
    this.maintenance.firmwareOutcome = outcome;
  }

  /** How the next diagnostics and log uploads end. */
  setUploadOutcome(outcome: UploadOutcome): void {
    this.maintenance.uploadOutcome = outcome;
  }

  /** Waits until every queued transaction message has been delivered (true) or the timeout. */
  flush(timeoutMs = 10_000): Promise<boolean> {
    return this.transactions.queue.drained(timeoutMs);
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions

  /** Cable in: Available → Preparing. */
  plugIn(connectorId: number): void {
    const connector = this.connectors.outlet(connectorId);
    if (connector.status === 'Available') this.connectors.setStatus(connector, 'Preparing');
  }

  /** Cable out: stops a running session (EVDisconnected), then → Available. */
  unplug(connectorId: number): void {
    const connector = this.connectors.outlet(connectorId);
    if (connector.session) this.transactions.end(connector, 'EVDisconnected', true);
    this.connectors.setStatus(connector, this.connectors.idleStatus(connector));
  }

  /**
   * Authorize (when online) → StartTransaction → Charging, then periodic MeterValues.
   * Online, resolves once StartTransaction has been answered; offline, once it is queued.
   * A reservation of the idTag on the connector is used (StartTransaction carries its id).
   */
  startSession(connectorId: number, idTag: string, options: StartOptions = {}): Promise<StartSessionResult> {
    return this.transactions.start(connectorId, idTag, options);
  }

  /**
   * StopTransaction (meterStop, timestamp, reason, idTag, transactionData) → Finishing → Available.
   * Online, resolves once StopTransaction has been answered.
   */
  stopSession(connectorId: number, reason: StopReason = 'Local'): Promise<StopSessionResult> {
    return this.transactions.stop(connectorId, reason);
  }

  /**
   * The station forgets the connector's session without any StopTransaction (as a charger that
   * lost it in a crash): the central system still has it open, and the next start on this
   * connector is a second StartTransaction there.
   */
  abandonSession(connectorId: number): void {
    this.transactions.drop(this.connectors.outlet(connectorId), 'Forgotten');
  }

  /** The EV reports full: Charging → SuspendedEV, power 0. */
  evFull(connectorId: number): void {
    const connector = this.connectors.outlet(connectorId);
    const session = connector.session;
    if (!session) return;
    this.metering.accrue(connector);
    session.ev.markFull();
    this.metering.checkEvFull(connector);
  }

  /** A fault on the connector: StatusNotification Faulted with the error code and vendor details. */
  setError(connectorId: number, details: StatusDetails): void {
    this.connectors.setError(this.connectors.at(connectorId), details);
  }

  /** The fault is gone: back to the status the connector's state calls for. */
  clearError(connectorId: number): void {
    this.connectors.clearError(this.connectors.at(connectorId));
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound messages

  /** Sends a Heartbeat now. */
  heartbeat(): Promise<void> {
    return this.bootPart.heartbeat();
  }

  /** Sends the current status of a connector (0 = the whole charge point) now. */
  sendStatus(connectorId: number): void {
    this.connectors.sendStatus(connectorId);
  }

  /** Sends clock-aligned readings now (as at a ClockAlignedDataInterval boundary). */
  sendClockAlignedReadings(at: Date = this.core.clock.now()): void {
    this.metering.sendClockAligned(at);
  }

  /** SecurityEventNotification (queued while the station cannot send). */
  sendSecurityEvent(type: string, techInfo?: string): void {
    this.security.send(type, techInfo);
  }

  /** A new key and CSR, sent with SignCertificate; resolves with the central system's status. */
  signCertificate(): Promise<'Accepted' | 'Rejected'> {
    return this.security.signCertificate();
  }

  /** DataTransfer from the station. */
  dataTransfer(vendorId: string, messageId?: string, data?: string): Promise<DataTransferConf> {
    return this.core.call('DataTransfer', {
      vendorId,
      ...(messageId !== undefined ? { messageId } : {}),
      ...(data !== undefined ? { data } : {}),
    });
  }

  /**
   * Any call, as a test writes it (manual mode's way of talking). Checked against the schemas
   * unless `validate` is false; resolves with the answer, rejects with a CALLERROR.
   */
  send(action: string, payload: unknown, options: { validate?: boolean; callTimeoutMs?: number } = {}): Promise<any> {
    return this.link.send(action, payload, options);
  }

  /** Writes a frame as is (its answer, if any, is not awaited). */
  sendRaw(frame: string): void {
    this.link.sendRaw(frame);
  }
}
