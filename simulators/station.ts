/**
 * One simulated OCPP 1.6J charge point on ocpp-rpc's RPCClient: boot, heartbeats, status
 * notifications, charging sessions with metering, answers to central-system calls, an offline
 * queue for transaction messages, and switchable misbehaviour.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { StationConfiguration } from './config.ts';
import type { StationEvents } from './events.ts';
import { buildMeterValue, energySamples, type EnergyUnit, type MeterFormat } from './meter.ts';
import type {
  AuthorizationStatus,
  BootNotificationConf,
  BootNotificationReq,
  ChargePointStatus,
  InboundAction,
  MeterValuesReq,
  OutboundAction,
  OutboundCalls,
  StartTransactionConf,
  StopReason,
  TransactionAction,
} from './ocpp-types.ts';
import { EvBattery, getPowerProfile, type EvOptions, type PowerProfile, type PowerProfileName } from './power.ts';
import { createRPCError, NOREPLY, RPCClient, type HandlerContext, type RpcClient, type RpcClientOptions } from './rpc.ts';
import { sleep, TimerRegistry } from './timers.ts';
import { TxQueue, type TxMessage } from './tx-queue.ts';

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

interface Session {
  ref: number;
  idTag: string;
  transactionId?: number;
  meterStart: number;
  startedAt: Date;
  ev: EvBattery;
  lastAccrualMs: number;
  stopped: boolean;
}

interface ConnectorState {
  id: number;
  status: ChargePointStatus;
  statusDirty: boolean;
  /** Cumulative import register, Wh (fractional internally, reported as integer). */
  registerWh: number;
  session?: Session;
  starting: boolean;
  meterTimer?: NodeJS.Timeout;
}

/** Integer Wh of the register, tolerant of floating-point dust (99.99999999 → 100). */
function wholeWh(wh: number): number {
  return Math.floor(wh + 1e-6);
}

const CONNECTION_LOSS_MESSAGES = new Set([
  'Client going away',
  'Client disconnected',
  'Cannot make call while socket not open',
]);

function isConnectionLoss(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || CONNECTION_LOSS_MESSAGES.has(error.message));
}

const RECONNECT_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000];

export class SimStation extends EventEmitter<StationEvents> {
  readonly identity: string;
  readonly config: StationConfiguration;
  readonly timeScale: number;
  readonly profile: PowerProfile;

  private readonly options: SimStationOptions;
  private readonly client: RpcClient;
  private readonly log: Logger | undefined;
  private readonly timers = new TimerRegistry();
  private readonly connectors: ConnectorState[];
  private readonly txQueue: TxQueue;
  private readonly format: MeterFormat;
  /** session ref → central system transactionId */
  private readonly transactionIds = new Map<number, number>();
  private readonly callStarts = new Map<string, number>();
  private readonly remoteStopsRejected = new Set<number>();
  private abort = new AbortController();

  private running = false;
  private isConnected = false;
  private isBooted = false;
  private offlineMode = false;
  private remoteStopMode: RemoteStopMode;
  private resetting = false;
  private bootGeneration = 0;
  private sessionCounter = 0;
  private heartbeatIntervalS = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private bootRetryTimer: NodeJS.Timeout | undefined;

  constructor(options: SimStationOptions) {
    super();
    const connectorCount = options.connectors ?? 1;
    if (!Number.isInteger(connectorCount) || connectorCount < 1 || connectorCount > 3) {
      throw new Error(`connectors must be 1..3, got ${connectorCount}`);
    }
    const timeScale = options.timeScale ?? 1;
    if (!(timeScale > 0)) throw new Error(`timeScale must be > 0, got ${timeScale}`);

    this.options = options;
    this.remoteStopMode = options.remoteStop ?? 'accept';
    this.identity = options.identity;
    this.timeScale = timeScale;
    this.profile = getPowerProfile(options.powerProfile ?? 'ac11');
    this.log = options.log?.child({ station: options.identity });
    this.format = { energyUnit: options.energyUnit ?? 'Wh', threePhaseOnly: options.threePhaseOnly ?? false };
    this.config = new StationConfiguration({
      numberOfConnectors: connectorCount,
      stopTransactionOnInvalidId: options.stopTransactionOnInvalidId ?? true,
      meterValueSampleInterval: options.meterValueSampleInterval ?? 60,
      heartbeatInterval: options.defaultHeartbeatInterval ?? 60,
    });
    this.connectors = Array.from({ length: connectorCount + 1 }, (_, id) => ({
      id,
      status: 'Available' as ChargePointStatus,
      statusDirty: false,
      registerWh: id === 0 ? 0 : (options.initialRegisterWh ?? 0),
      starting: false,
    }));

    this.client = new RPCClient({
      reconnect: true,
      ...options.rpcOptions,
      // a central system that accepts TCP but never upgrades must not hang start()
      wsOpts: { handshakeTimeout: 30_000, ...options.rpcOptions?.wsOpts },
      endpoint: options.url,
      identity: options.identity,
      password: options.password ?? null,
      protocols: ['ocpp1.6'],
      strictMode: true,
    } as RpcClientOptions);
    this.attachClientEvents();
    this.registerHandlers();

    this.txQueue = new TxQueue({
      canSend: () => this.canSend(),
      call: (action, payload) => this.call(action, payload as OutboundCalls[typeof action][0]),
      transactionIdFor: (ref) => this.transactionIds.get(ref),
      onDelivered: (message, result) => this.onTxDelivered(message, result),
      duplicate: () => this.options.duplicateSends === true,
      maxAttempts: () => this.config.getInt('TransactionMessageAttempts', 3),
      retryDelayMs: (attempt) => this.simToRealMs(this.config.getInt('TransactionMessageRetryInterval', 10) * attempt),
      signal: () => this.abort.signal,
      warn: (message, error) => this.warn(message, error),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // State

  /** WebSocket open. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** BootNotification accepted in the current connection cycle. */
  get booted(): boolean {
    return this.isBooted;
  }

  get started(): boolean {
    return this.running;
  }

  /** goOffline() in effect. */
  get offline(): boolean {
    return this.offlineMode;
  }

  get connectorCount(): number {
    return this.connectors.length - 1;
  }

  /** Heartbeat interval in simulated seconds (from BootNotification or ChangeConfiguration). */
  get heartbeatInterval(): number {
    return this.heartbeatIntervalS;
  }

  /** MeterValueSampleInterval in simulated seconds. */
  get meterValueSampleInterval(): number {
    return this.config.getInt('MeterValueSampleInterval', 60);
  }

  /** Transaction messages waiting for delivery. */
  get queueLength(): number {
    return this.txQueue.length;
  }

  /** Pending timers (0 after stop()). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  connectorStatus(connectorId: number): ChargePointStatus {
    return this.connectorAt(connectorId).status;
  }

  /** The central system's id of the running transaction, once StartTransaction was answered. */
  transactionId(connectorId: number): number | undefined {
    return this.connectorAt(connectorId).session?.transactionId;
  }

  /** A session (started or queued) is running on the connector. */
  hasSession(connectorId: number): boolean {
    return this.connectorAt(connectorId).session !== undefined;
  }

  /** Cumulative energy register in Wh (integer). */
  registerWh(connectorId: number): number {
    const connector = this.connectorAt(connectorId);
    this.accrue(connector);
    return wholeWh(connector.registerWh);
  }

  /** Power being delivered right now in W. */
  powerW(connectorId: number): number {
    const connector = this.connectorAt(connectorId);
    this.accrue(connector);
    return this.currentPower(connector);
  }

  snapshot(connectorId: number): ConnectorSnapshot {
    const connector = this.connectorAt(connectorId);
    this.accrue(connector);
    return {
      connectorId,
      status: connector.status,
      registerWh: wholeWh(connector.registerWh),
      powerW: this.currentPower(connector),
      transactionId: connector.session?.transactionId,
      idTag: connector.session?.idTag,
      soc: connector.session?.ev.soc,
    };
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
   * (undefined if that call failed; booting is then retried in the background).
   * Rejects when the WebSocket cannot be opened.
   */
  async start(): Promise<BootNotificationConf | undefined> {
    if (this.running) throw new Error(`${this.identity} is already started`);
    // Sessions left over from a stop() without endSessions were cut by a "power loss". They end
    // before the station counts as running again, so their meterStop is the register exactly as
    // it was at stop(): accrue() adds nothing while the station is not running. The
    // StopTransactions wait in the transaction queue until the station has booted.
    for (const connector of this.connectors) {
      if (connector.session) this.endSession(connector, 'PowerLoss');
    }
    this.running = true;
    this.offlineMode = false;
    this.abort = new AbortController();
    try {
      await this.client.connect();
    } catch (err) {
      this.running = false;
      throw err;
    }
    return this.boot(true);
  }

  /**
   * Closes the connection and clears every timer. With `endSessions`, running sessions are
   * stopped first and their StopTransactions given `flushTimeoutMs` to be delivered.
   */
  async stop(options: { endSessions?: boolean; reason?: StopReason; flushTimeoutMs?: number } = {}): Promise<void> {
    if (!this.running) return;
    if (options.endSessions) {
      for (const connector of this.connectors) {
        if (connector.session) this.endSession(connector, options.reason ?? 'Local');
      }
      if (this.canSend()) await this.txQueue.drained(options.flushTimeoutMs ?? 5_000);
    }
    for (const connector of this.connectors) this.accrue(connector);
    this.running = false;
    this.isBooted = false;
    this.bootGeneration++;
    this.abort.abort();
    this.timers.clearAll();
    this.heartbeatTimer = undefined;
    this.bootRetryTimer = undefined;
    for (const connector of this.connectors) connector.meterTimer = undefined;
    this.txQueue.releaseWaiters();
    try {
      await this.client.close({ code: 1000, reason: 'Simulator stopped' });
    } catch (err) {
      this.warn('close failed', err);
    }
    this.isConnected = false;
    this.callStarts.clear();
  }

  /** Network loss: drops the connection; transaction messages queue up until goOnline(). */
  async goOffline(): Promise<void> {
    if (!this.running || this.offlineMode) return;
    this.offlineMode = true;
    await this.client.close({ force: true });
    this.isConnected = false;
  }

  /** Reconnects after goOffline(); queued messages are then replayed (see flush()). */
  async goOnline(): Promise<void> {
    if (!this.running || !this.offlineMode) return;
    this.offlineMode = false;
    if (!(await this.connectWithRetry())) return;
    if (!this.isBooted) await this.boot(true);
  }

  /**
   * Drops the socket and reconnects at once (reconnect storms). With `reboot` the station
   * also sends a fresh BootNotification and status notifications; sessions keep running.
   */
  async reconnect(options: { reboot?: boolean } = {}): Promise<void> {
    if (!this.running || this.offlineMode) return;
    await this.client.close({ force: true });
    this.isConnected = false;
    if (options.reboot) {
      this.isBooted = false;
      this.bootGeneration++;
      this.timers.clear(this.heartbeatTimer);
    }
    if (!(await this.connectWithRetry())) return;
    if (!this.isBooted) await this.boot(true);
  }

  /** Switches how RemoteStopTransaction is answered from now on (see SimStationOptions.remoteStop). */
  setRemoteStopMode(mode: RemoteStopMode): void {
    this.remoteStopMode = mode;
  }

  /** Waits until every queued transaction message has been delivered (true) or the timeout. */
  flush(timeoutMs = 10_000): Promise<boolean> {
    return this.txQueue.drained(timeoutMs);
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions

  /** Cable in: Available → Preparing. */
  plugIn(connectorId: number): void {
    const connector = this.sessionConnector(connectorId);
    if (connector.status === 'Available') this.setStatus(connector, 'Preparing');
  }

  /** Cable out: stops a running session (EVDisconnected), then → Available. */
  unplug(connectorId: number): void {
    const connector = this.sessionConnector(connectorId);
    if (connector.session) {
      this.endSession(connector, 'EVDisconnected', true);
    }
    this.setStatus(connector, 'Available');
  }

  /**
   * Authorize (when online) → StartTransaction → Charging, then periodic MeterValues.
   * Online, resolves once StartTransaction has been answered; offline, once it is queued.
   */
  async startSession(
    connectorId: number,
    idTag: string,
    options: { remote?: boolean; reserved?: boolean } = {},
  ): Promise<StartSessionResult> {
    const connector = this.sessionConnector(connectorId);
    if (!this.running) throw new Error(`${this.identity} is not started`);
    if (connector.session || (connector.starting && !options.reserved)) return { outcome: 'Busy' };
    connector.starting = true;
    try {
      if (connector.status === 'Available' || connector.status === 'Finishing') {
        this.setStatus(connector, 'Preparing');
      }
      const authorize = !options.remote || this.config.getBool('AuthorizeRemoteTxRequests', false);
      if (authorize && this.canSend()) {
        let status: AuthorizationStatus;
        try {
          status = (await this.call('Authorize', { idTag })).idTagInfo.status;
        } catch (err) {
          return { outcome: 'Failed', error: err };
        }
        if (status !== 'Accepted') {
          this.emit('authorizeRejected', { connectorId, idTag, status });
          return { outcome: 'NotAuthorized', idTagStatus: status };
        }
      }
      if (!this.running) return { outcome: 'Failed', error: new Error('station stopped') };
      if (connector.session) return { outcome: 'Busy' };

      const meterStart = wholeWh(connector.registerWh);
      const session: Session = {
        ref: ++this.sessionCounter,
        idTag,
        meterStart,
        startedAt: new Date(),
        ev: new EvBattery(this.profile, this.options.ev),
        lastAccrualMs: performance.now(),
        stopped: false,
      };
      connector.session = session;
      const online = this.canSend();
      const message = this.txQueue.enqueue(connectorId, session.ref, {
        action: 'StartTransaction',
        body: { connectorId, idTag, meterStart, timestamp: session.startedAt.toISOString() },
      });
      this.setStatus(connector, 'Charging');
      this.scheduleMeterSample(connector);
      if (!online) return { outcome: 'Queued', sessionRef: session.ref };

      const outcome = await message.done;
      if (!outcome.delivered) {
        return outcome.reason === 'stopped'
          ? { outcome: 'Queued', sessionRef: session.ref }
          : { outcome: 'Failed', error: outcome.error };
      }
      const conf = outcome.result as StartTransactionConf;
      return { outcome: 'Started', transactionId: conf.transactionId, idTagStatus: conf.idTagInfo.status };
    } finally {
      connector.starting = false;
    }
  }

  /**
   * StopTransaction (meterStop, timestamp, reason, idTag, transactionData) → Finishing → Available.
   * Online, resolves once StopTransaction has been answered.
   */
  async stopSession(connectorId: number, reason: StopReason = 'Local'): Promise<StopSessionResult> {
    const connector = this.sessionConnector(connectorId);
    if (!connector.session) return { outcome: 'NoSession' };
    const online = this.canSend();
    const { message, meterStop, transactionId } = this.endSession(connector, reason);
    if (!online) return { outcome: 'Queued', meterStop };
    const outcome = await message.done;
    if (!outcome.delivered && outcome.reason === 'stopped') return { outcome: 'Queued', meterStop };
    return { outcome: 'Stopped', meterStop, transactionId: transactionId ?? this.transactionIds.get(message.sessionRef), delivered: outcome.delivered };
  }

  /** The EV reports full: Charging → SuspendedEV, power 0. */
  evFull(connectorId: number): void {
    const connector = this.sessionConnector(connectorId);
    const session = connector.session;
    if (!session) return;
    this.accrue(connector);
    session.ev.markFull();
    this.checkEvFull(connector);
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound messages

  /** Sends a Heartbeat now. */
  async heartbeat(): Promise<void> {
    await this.call('Heartbeat', {});
  }

  /** Sends the current status of a connector (0 = the whole charge point) now. */
  sendStatus(connectorId: number): void {
    const connector = this.connectorAt(connectorId);
    if (!this.canSend()) {
      connector.statusDirty = true;
      return;
    }
    connector.statusDirty = false;
    this.call('StatusNotification', {
      connectorId,
      errorCode: 'NoError',
      status: connector.status,
      timestamp: new Date().toISOString(),
    }).catch((err: unknown) => {
      connector.statusDirty = true;
      this.warn('StatusNotification failed', err);
    });
  }

  private async call<A extends OutboundAction>(action: A, params: OutboundCalls[A][0]): Promise<OutboundCalls[A][1]> {
    return (await this.client.call(action, params)) as OutboundCalls[A][1];
  }

  private canSend(): boolean {
    return this.running && this.isConnected && this.isBooted && !this.offlineMode;
  }

  private bootPayload(): BootNotificationReq {
    const payload: BootNotificationReq = {
      chargePointVendor: (this.options.vendor ?? 'SimVendor').slice(0, 20),
      chargePointModel: (this.options.model ?? `Sim-${this.profile.name.toUpperCase()}`).slice(0, 20),
      firmwareVersion: this.options.firmwareVersion ?? 'sim-1.0.0',
    };
    const serial = this.options.serial ?? this.identity;
    payload.chargePointSerialNumber = serial.slice(0, 25);
    return payload;
  }

  /**
   * Sends BootNotification. On Accepted: heartbeat with the returned interval, status for
   * connector 0 and every connector (when `announce`), then queued messages are sent.
   */
  private async boot(announce: boolean): Promise<BootNotificationConf | undefined> {
    const generation = ++this.bootGeneration;
    this.timers.clear(this.bootRetryTimer);
    this.bootRetryTimer = undefined;
    let conf: BootNotificationConf;
    try {
      conf = await this.call('BootNotification', this.bootPayload());
    } catch (err) {
      this.warn('BootNotification failed', err);
      if (this.running && generation === this.bootGeneration && !this.isBooted) this.scheduleBoot(10, announce);
      return undefined;
    }
    if (!this.running || generation !== this.bootGeneration) return conf;
    this.emit('bootResponse', conf);
    if (conf.status !== 'Accepted') {
      if (!this.isBooted) this.scheduleBoot(conf.interval > 0 ? conf.interval : 10, announce);
      return conf;
    }
    this.isBooted = true;
    this.heartbeatIntervalS = conf.interval > 0 ? conf.interval : this.config.getInt('HeartbeatInterval', 60);
    this.config.change('HeartbeatInterval', String(this.heartbeatIntervalS));
    this.scheduleHeartbeat();
    if (announce) {
      for (const connector of this.connectors) this.sendStatus(connector.id);
    }
    this.emit('booted', conf);
    void this.txQueue.pump();
    return conf;
  }

  private scheduleBoot(simSeconds: number, announce: boolean): void {
    this.timers.clear(this.bootRetryTimer);
    this.bootRetryTimer = this.timers.timeout(() => {
      this.bootRetryTimer = undefined;
      if (!this.running || this.isBooted) return;
      if (!this.isConnected) {
        this.scheduleBoot(simSeconds, announce);
        return;
      }
      void this.boot(announce);
    }, this.simToRealMs(simSeconds));
  }

  private scheduleHeartbeat(): void {
    this.timers.clear(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (!this.running || this.heartbeatIntervalS <= 0) return;
    this.heartbeatTimer = this.timers.timeout(() => {
      this.heartbeatTimer = undefined;
      if (this.canSend()) this.heartbeat().catch((err: unknown) => this.warn('Heartbeat failed', err));
      this.scheduleHeartbeat();
    }, this.simToRealMs(this.heartbeatIntervalS));
  }

  /** After a reconnect within the same boot: statuses that changed meanwhile, then the queue. */
  private resume(): void {
    if (!this.canSend()) return;
    for (const connector of this.connectors) {
      if (connector.statusDirty) this.sendStatus(connector.id);
    }
    void this.txQueue.pump();
  }

  private async connectWithRetry(): Promise<boolean> {
    for (let attempt = 0; this.running && !this.offlineMode; attempt++) {
      try {
        await this.client.connect();
        return true;
      } catch (err) {
        this.warn('connect failed', err);
        const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]!;
        if (!(await sleep(delay, this.abort.signal))) return false;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions internals

  private endSession(
    connector: ConnectorState,
    reason: StopReason,
    keepStatus = false,
  ): { message: TxMessage; meterStop: number; transactionId: number | undefined } {
    const session = connector.session!;
    this.accrue(connector);
    this.timers.clear(connector.meterTimer);
    connector.meterTimer = undefined;
    session.stopped = true;
    connector.session = undefined;
    const meterStop = wholeWh(connector.registerWh);
    const timestamp = new Date();
    const body = {
      idTag: session.idTag,
      meterStop,
      timestamp: timestamp.toISOString(),
      reason,
      ...(this.options.transactionData === false
        ? {}
        : {
            transactionData: [
              {
                timestamp: session.startedAt.toISOString(),
                sampledValue: energySamples(session.meterStart, 'Transaction.Begin', this.format),
              },
              {
                timestamp: timestamp.toISOString(),
                sampledValue: energySamples(meterStop, 'Transaction.End', this.format),
              },
            ],
          }),
    };
    const message = this.txQueue.enqueue(connector.id, session.ref, { action: 'StopTransaction', body });
    this.emit('sessionStopped', {
      connectorId: connector.id,
      transactionId: session.transactionId,
      sessionRef: session.ref,
      idTag: session.idTag,
      reason,
      meterStop,
    });
    if (!keepStatus) {
      this.setStatus(connector, 'Finishing');
      if (this.options.unplugAfterStop !== false) this.setStatus(connector, 'Available');
    }
    return { message, meterStop, transactionId: session.transactionId };
  }

  private onTxDelivered(message: TxMessage, result: unknown): void {
    if (message.payload.action !== 'StartTransaction') return;
    const conf = result as StartTransactionConf;
    this.transactionIds.set(message.sessionRef, conf.transactionId);
    const connector = this.connectors[message.connectorId];
    const session = connector?.session?.ref === message.sessionRef ? connector.session : undefined;
    if (session) session.transactionId = conf.transactionId;
    const { body } = message.payload;
    this.emit('sessionStarted', {
      connectorId: message.connectorId,
      transactionId: conf.transactionId,
      idTag: body.idTag,
      meterStart: body.meterStart,
      idTagStatus: conf.idTagInfo.status,
      sessionRef: message.sessionRef,
    });
    if (
      connector &&
      session &&
      !session.stopped &&
      conf.idTagInfo.status !== 'Accepted' &&
      this.config.getBool('StopTransactionOnInvalidId', true)
    ) {
      this.endSession(connector, 'DeAuthorized');
    }
  }

  private scheduleMeterSample(connector: ConnectorState): void {
    this.timers.clear(connector.meterTimer);
    connector.meterTimer = undefined;
    const interval = this.meterValueSampleInterval;
    if (!connector.session || interval <= 0 || !this.running) return;
    connector.meterTimer = this.timers.timeout(() => {
      connector.meterTimer = undefined;
      this.sampleMeter(connector);
      this.scheduleMeterSample(connector);
    }, this.simToRealMs(interval));
  }

  private sampleMeter(connector: ConnectorState): void {
    const session = connector.session;
    if (!session) return;
    this.accrue(connector);
    const registerWh = wholeWh(connector.registerWh);
    const powerW = this.currentPower(connector);
    const body: Omit<MeterValuesReq, 'transactionId'> = {
      connectorId: connector.id,
      meterValue: [
        buildMeterValue(
          {
            timestamp: new Date(),
            registerWh,
            powerW,
            soc: this.profile.kind === 'DC' ? session.ev.soc : undefined,
          },
          'Sample.Periodic',
          this.format,
        ),
      ],
    };
    this.txQueue.enqueue(connector.id, session.ref, { action: 'MeterValues', body });
    this.emit('meterSample', { connectorId: connector.id, sessionRef: session.ref, registerWh, powerW });
  }

  /** TriggerMessage(MeterValues): a one-off reading, sent directly. */
  private sendTriggeredMeterValues(connector: ConnectorState): void {
    if (!this.canSend()) return;
    this.accrue(connector);
    const session = connector.session;
    const payload: MeterValuesReq = {
      connectorId: connector.id,
      meterValue: [
        buildMeterValue(
          { timestamp: new Date(), registerWh: wholeWh(connector.registerWh), powerW: this.currentPower(connector) },
          'Trigger',
          this.format,
        ),
      ],
    };
    if (session?.transactionId !== undefined) payload.transactionId = session.transactionId;
    this.call('MeterValues', payload).catch((err: unknown) => this.warn('triggered MeterValues failed', err));
  }

  /** Adds the energy delivered since the last accrual to the register. */
  private accrue(connector: ConnectorState): void {
    const session = connector.session;
    if (!session) return;
    const now = performance.now();
    const simSeconds = ((now - session.lastAccrualMs) / 1000) * this.timeScale;
    session.lastAccrualMs = now;
    // A stopped station delivers nothing (its register is frozen until it starts again).
    if (connector.status === 'Charging' && this.running) {
      connector.registerWh += session.ev.charge(simSeconds);
    }
    this.checkEvFull(connector);
  }

  private checkEvFull(connector: ConnectorState): void {
    if (connector.session?.ev.full && connector.status === 'Charging') {
      this.setStatus(connector, 'SuspendedEV');
      this.emit('evFull', { connectorId: connector.id });
    }
  }

  private currentPower(connector: ConnectorState): number {
    if (!connector.session || connector.status !== 'Charging') return 0;
    return Math.round(connector.session.ev.powerW);
  }

  private setStatus(connector: ConnectorState, status: ChargePointStatus): void {
    if (connector.status === status) return;
    connector.status = status;
    this.emit('status', { connectorId: connector.id, status });
    this.sendStatus(connector.id);
  }

  private connectorAt(connectorId: number): ConnectorState {
    const connector = this.connectors[connectorId];
    if (!Number.isInteger(connectorId) || !connector) {
      throw new Error(`${this.identity}: no connector ${connectorId}`);
    }
    return connector;
  }

  private sessionConnector(connectorId: number): ConnectorState {
    if (connectorId === 0) throw new Error(`${this.identity}: connector 0 cannot charge`);
    return this.connectorAt(connectorId);
  }

  private simToRealMs(simSeconds: number): number {
    return Math.max(1, (simSeconds * 1000) / this.timeScale);
  }

  /**
   * Reports a problem. Calls cut short by our own disconnects (goOffline, storms, stop) are
   * expected and only logged at debug level.
   */
  private warn(message: string, error?: unknown): void {
    if (!this.running || isConnectionLoss(error)) {
      this.log?.debug({ err: error }, message);
      return;
    }
    this.log?.warn({ err: error }, message);
    this.emit('warning', { message, error });
  }

  // ---------------------------------------------------------------------------------------------
  // Connection events and inbound calls

  private attachClientEvents(): void {
    const client = this.client as unknown as EventEmitter;
    client.on('open', () => {
      this.isConnected = true;
      this.log?.debug('connected');
      this.emit('connected');
      if (this.offlineMode) return;
      this.resume();
    });
    client.on('disconnect', ({ code, reason }: { code: number; reason: string }) => {
      this.isConnected = false;
      this.log?.debug({ code, reason }, 'disconnected');
      this.emit('disconnected', { code, reason: String(reason ?? '') });
    });
    client.on('close', () => {
      this.isConnected = false;
    });
    client.on('call', ({ outbound, payload }: { outbound: boolean; payload: [number, string, string, unknown] }) => {
      if (!outbound) return;
      const [, messageId, action, params] = payload;
      this.callStarts.set(messageId, performance.now());
      this.log?.debug({ action }, 'call');
      this.emit('call', { messageId, action, params });
    });
    client.on(
      'callResult',
      (event: { outbound: boolean; messageId: string; method: string; params: unknown; result: unknown }) => {
        if (!event.outbound) return;
        this.emit('callResult', {
          messageId: event.messageId,
          action: event.method,
          params: event.params,
          result: event.result,
          latencyMs: this.takeLatency(event.messageId),
        });
      },
    );
    client.on(
      'callError',
      (event: { outbound: boolean; messageId: string; method: string; params: unknown; error: unknown }) => {
        if (!event.outbound) return;
        if (!this.running) {
          // Cut short by our own stop (abort, then close): not an error of the central system.
          this.takeLatency(event.messageId);
          return;
        }
        this.emit('callError', {
          messageId: event.messageId,
          action: event.method,
          params: event.params,
          error: event.error,
          latencyMs: this.takeLatency(event.messageId),
        });
      },
    );
    client.on('strictValidationFailure', (event: { method: string; outbound: boolean; isCall: boolean; error: unknown }) => {
      this.warn(
        `schema validation failed: ${event.method} ${event.isCall ? 'request' : 'response'} (${event.outbound ? 'outbound' : 'inbound'})`,
        event.error,
      );
    });
    client.on('badMessage', ({ error }: { error: unknown }) => this.warn('bad message from central system', error));
    client.on('socketError', (err: unknown) => this.log?.debug({ err }, 'socket error'));
  }

  private takeLatency(messageId: string): number {
    const start = this.callStarts.get(messageId);
    this.callStarts.delete(messageId);
    return start === undefined ? Number.NaN : performance.now() - start;
  }

  private handle(
    action: InboundAction,
    handler: (params: Record<string, unknown>) => Record<string, unknown> | typeof NOREPLY,
  ): void {
    this.client.handle(action, async ({ params }: HandlerContext) => {
      const args = params ?? {};
      this.emit('inboundCall', { action, params: args });
      const delay = this.options.answerDelayMs ?? 0;
      if (delay > 0) await sleep(delay, this.abort.signal);
      if (!this.running) throw createRPCError('GenericError', 'station stopping');
      const response = handler(args);
      this.emit('inboundResult', { action, params: args, response: response === NOREPLY ? undefined : response });
      // ocpp-rpc treats the NOREPLY symbol as "send nothing"; its typings do not know it.
      return response as Record<string, unknown>;
    });
  }

  private registerHandlers(): void {
    this.client.handle(async ({ method, params }: HandlerContext) => {
      this.emit('inboundCall', { action: method ?? '', params: params ?? {} });
      throw createRPCError('NotImplemented', `${method} is not implemented by the simulator`);
    });

    this.handle('RemoteStartTransaction', (params) => {
      const idTag = String(params.idTag);
      const requested = typeof params.connectorId === 'number' ? params.connectorId : undefined;
      const isFree = (c: ConnectorState | undefined): c is ConnectorState =>
        !!c && c.id > 0 && !c.session && !c.starting && ['Available', 'Preparing', 'Finishing'].includes(c.status);
      const connector =
        requested !== undefined ? this.connectors[requested] : this.connectors.find((c) => isFree(c));
      if (!isFree(connector)) {
        this.emit('remoteStart', { connectorId: requested, idTag, status: 'Rejected' });
        return { status: 'Rejected' };
      }
      connector.starting = true;
      this.timers.immediate(() => {
        this.startSession(connector.id, idTag, { remote: true, reserved: true }).catch((err: unknown) =>
          this.warn('remote start failed', err),
        );
      });
      this.emit('remoteStart', { connectorId: connector.id, idTag, status: 'Accepted' });
      return { status: 'Accepted' };
    });

    this.handle('RemoteStopTransaction', (params) => {
      const transactionId = Number(params.transactionId);
      const mode = this.remoteStopMode;
      if (mode === 'ignore') {
        this.emit('remoteStop', { transactionId, status: 'Ignored' });
        return NOREPLY;
      }
      const connector = this.connectors.find((c) => c.session?.transactionId === transactionId);
      let status: 'Accepted' | 'Rejected' = connector ? 'Accepted' : 'Rejected';
      if (mode === 'reject') status = 'Rejected';
      if (mode === 'rejectFirst' && connector && !this.remoteStopsRejected.has(transactionId)) {
        this.remoteStopsRejected.add(transactionId);
        status = 'Rejected';
      }
      if (status === 'Accepted' && connector) {
        this.timers.immediate(() => {
          if (connector.session?.transactionId !== transactionId) return;
          this.stopSession(connector.id, 'Remote').catch((err: unknown) => this.warn('remote stop failed', err));
        });
      }
      this.emit('remoteStop', { transactionId, status });
      return { status };
    });

    this.handle('ChangeConfiguration', (params) => {
      const key = String(params.key);
      const value = String(params.value);
      const status = this.config.change(key, value);
      if (status === 'Accepted') {
        if (key === 'MeterValueSampleInterval') {
          for (const connector of this.connectors) {
            if (connector.session) this.scheduleMeterSample(connector);
          }
        } else if (key === 'HeartbeatInterval') {
          this.heartbeatIntervalS = this.config.getInt('HeartbeatInterval', this.heartbeatIntervalS);
          this.scheduleHeartbeat();
        }
      }
      this.emit('configurationChanged', { key, value, status });
      return { status };
    });

    this.handle('GetConfiguration', (params) => {
      const keys = Array.isArray(params.key) ? params.key.map(String) : undefined;
      const { configurationKey, unknownKey } = this.config.get(keys);
      return unknownKey.length > 0 ? { configurationKey, unknownKey } : { configurationKey };
    });

    this.handle('TriggerMessage', (params) => {
      const requested = String(params.requestedMessage);
      const connectorId = typeof params.connectorId === 'number' ? params.connectorId : undefined;
      if (connectorId !== undefined && !this.connectors[connectorId]) return { status: 'Rejected' };
      const targets =
        connectorId !== undefined ? [this.connectors[connectorId]!] : this.connectors;
      switch (requested) {
        case 'BootNotification':
          this.timers.immediate(() => void this.boot(false));
          return { status: 'Accepted' };
        case 'Heartbeat':
          this.timers.immediate(() => this.heartbeat().catch((err: unknown) => this.warn('Heartbeat failed', err)));
          return { status: 'Accepted' };
        case 'StatusNotification':
          this.timers.immediate(() => targets.forEach((c) => this.sendStatus(c.id)));
          return { status: 'Accepted' };
        case 'MeterValues':
          this.timers.immediate(() =>
            targets.filter((c) => c.id > 0).forEach((c) => this.sendTriggeredMeterValues(c)),
          );
          return { status: 'Accepted' };
        default:
          return { status: 'NotImplemented' };
      }
    });

    this.handle('Reset', (params) => {
      const type = params.type === 'Hard' ? 'Hard' : 'Soft';
      if (this.resetting) return { status: 'Rejected' };
      this.timers.immediate(() => {
        this.performReset(type).catch((err: unknown) => this.warn('reset failed', err));
      });
      return { status: 'Accepted' };
    });

    this.handle('UnlockConnector', (params) => {
      const connectorId = Number(params.connectorId);
      const connector = this.connectors[connectorId];
      if (!connector || connectorId === 0) return { status: 'NotSupported' };
      this.timers.immediate(() => {
        if (connector.session) this.endSession(connector, 'UnlockCommand');
        else if (connector.status === 'Preparing' || connector.status === 'Finishing') {
          this.setStatus(connector, 'Available');
        }
      });
      return { status: 'Unlocked' };
    });
  }

  /** Reset: stop sessions (SoftReset/HardReset), flush, close, reconnect with a fresh boot. */
  private async performReset(type: 'Hard' | 'Soft'): Promise<void> {
    if (this.resetting || !this.running) return;
    this.resetting = true;
    try {
      this.emit('reset', { type });
      const reason: StopReason = type === 'Hard' ? 'HardReset' : 'SoftReset';
      for (const connector of this.connectors) {
        if (connector.session) this.endSession(connector, reason);
        else if (connector.id > 0) this.setStatus(connector, 'Available');
      }
      if (this.canSend()) await this.txQueue.drained(this.simToRealMs(30));
      if (!this.running) return;
      this.isBooted = false;
      this.bootGeneration++;
      this.timers.clear(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
      // A deliberate close: ocpp-rpc does not auto-reconnect after it.
      await this.client.close({ code: 1000, reason: `${type} reset` });
      this.isConnected = false;
      if (!(await sleep(this.simToRealMs(type === 'Hard' ? 5 : 2), this.abort.signal))) return;
      if (!(await this.connectWithRetry())) return;
      await this.boot(true);
    } finally {
      this.resetting = false;
    }
  }
}

