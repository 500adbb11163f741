/**
 * One simulated OCPP 1.6J charge point: the public face of the parts in this folder (connection,
 * boot, connectors, metering, transactions, answers to the central system).
 */
import { EventEmitter } from 'node:events';
import { Boot } from './boot.ts';
import { SimClock } from './clock.ts';
import { StationConfiguration } from './config.ts';
import { Connection } from './connection.ts';
import { Connectors, wholeWh } from './connectors.ts';
import { StationCore } from './core.ts';
import type { StationEvents } from './events.ts';
import { Handlers } from './handlers.ts';
import { Metering } from './metering.ts';
import type { BootNotificationConf, ChargePointStatus, StopReason } from './ocpp-types.ts';
import type {
  ConnectorSnapshot,
  RemoteStopMode,
  SimStationOptions,
  StartSessionResult,
  StopSessionResult,
} from './options.ts';
import { getPowerProfile, type PowerProfile } from './power.ts';
import { Transactions } from './transactions.ts';

export type { ConnectorSnapshot, RemoteStopMode, SimStationOptions, StartSessionResult, StopSessionResult } from './options.ts';

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
  private readonly handlers: Handlers;

  constructor(options: SimStationOptions) {
    super();
    const connectorCount = options.connectors ?? 1;
    if (!Number.isInteger(connectorCount) || connectorCount < 1 || connectorCount > 3) {
      throw new Error(`connectors must be 1..3, got ${connectorCount}`);
    }
    const clock = new SimClock({ timeScale: options.timeScale ?? 1 });
    this.identity = options.identity;
    this.timeScale = clock.timeScale;
    this.profile = getPowerProfile(options.powerProfile ?? 'ac11');
    this.config = new StationConfiguration({
      numberOfConnectors: connectorCount,
      stopTransactionOnInvalidId: options.stopTransactionOnInvalidId ?? true,
      meterValueSampleInterval: options.meterValueSampleInterval ?? 60,
      heartbeatInterval: options.defaultHeartbeatInterval ?? 60,
    });
    const core = new StationCore(options, clock, this.config, this.profile, this);
    this.core = core;
    this.link = new Connection(core, () => this.bootPart.resume());
    this.bootPart = new Boot(core);
    this.connectors = new Connectors(core, connectorCount, options.initialRegisterWh ?? 0);
    this.metering = new Metering(core);
    this.transactions = new Transactions(core);
    core.parts = {
      link: this.link,
      boot: this.bootPart,
      connectors: this.connectors,
      metering: this.metering,
      transactions: this.transactions,
    };
    this.handlers = new Handlers(core);
    this.handlers.register();
  }

  // ---------------------------------------------------------------------------------------------
  // State

  /** WebSocket open. */
  get connected(): boolean {
    return this.link.connected;
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

  connectorStatus(connectorId: number): ChargePointStatus {
    return this.connectors.at(connectorId).status;
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
    try {
      await this.link.connect();
    } catch (err) {
      core.running = false;
      throw err;
    }
    return this.bootPart.boot(true);
  }

  /**
   * Closes the connection and clears every timer. With `endSessions`, running sessions are
   * stopped first and their StopTransactions given `flushTimeoutMs` to be delivered.
   */
  async stop(options: { endSessions?: boolean; reason?: StopReason; flushTimeoutMs?: number } = {}): Promise<void> {
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
    for (const connector of this.connectors.all) connector.meterTimer = undefined;
    this.transactions.queue.releaseWaiters();
    try {
      await this.link.close({ code: 1000, reason: 'Simulator stopped' });
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
  async reconnect(options: { reboot?: boolean } = {}): Promise<void> {
    const { core } = this;
    if (!core.running || core.offline) return;
    await this.link.close({ force: true });
    if (options.reboot) this.bootPart.forget();
    await this.bootPart.reconnectAndBoot();
  }

  /** Switches how RemoteStopTransaction is answered from now on (see SimStationOptions.remoteStop). */
  setRemoteStopMode(mode: RemoteStopMode): void {
    this.handlers.remoteStopMode = mode;
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
    this.connectors.setStatus(connector, 'Available');
  }

  /**
   * Authorize (when online) → StartTransaction → Charging, then periodic MeterValues.
   * Online, resolves once StartTransaction has been answered; offline, once it is queued.
   */
  startSession(
    connectorId: number,
    idTag: string,
    options: { remote?: boolean; reserved?: boolean } = {},
  ): Promise<StartSessionResult> {
    return this.transactions.start(connectorId, idTag, options);
  }

  /**
   * StopTransaction (meterStop, timestamp, reason, idTag, transactionData) → Finishing → Available.
   * Online, resolves once StopTransaction has been answered.
   */
  stopSession(connectorId: number, reason: StopReason = 'Local'): Promise<StopSessionResult> {
    return this.transactions.stop(connectorId, reason);
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
}
