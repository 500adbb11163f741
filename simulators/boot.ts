/**
 * Boot and liveness: BootNotification (retried until Accepted), the heartbeat at the interval the
 * central system gave, resuming after a reconnect, and reboots (Reset, a firmware installed).
 */
import type { StationCore } from './core.ts';
import type { BootNotificationConf, BootNotificationReq, StopReason } from './ocpp-types.ts';
import { sleep } from './timers.ts';

export class Boot {
  private isBooted = false;
  private generation = 0;
  private resetting = false;
  private heartbeatIntervalS = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The version BootNotification reports (a firmware update changes it). */
  firmwareVersion: string;

  constructor(private readonly core: StationCore) {
    this.firmwareVersion = core.options.firmwareVersion ?? 'sim-1.0.0';
  }

  /** BootNotification accepted in the current connection cycle. */
  get booted(): boolean {
    return this.isBooted;
  }

  get heartbeatInterval(): number {
    return this.heartbeatIntervalS;
  }

  get isResetting(): boolean {
    return this.resetting;
  }

  /** The station must boot again (reboot, stop): no heartbeats until it has. */
  forget(): void {
    this.isBooted = false;
    this.generation++;
    this.core.timers.clear(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** stop(): every timer of the station is cleared by the caller. */
  stopped(): void {
    this.forget();
    this.retryTimer = undefined;
  }

  payload(): BootNotificationReq {
    const { options, profile, identity } = this.core;
    const payload: BootNotificationReq = {
      chargePointVendor: (options.vendor ?? 'SimVendor').slice(0, 20),
      chargePointModel: (options.model ?? `Sim-${profile.name.toUpperCase()}`).slice(0, 20),
      firmwareVersion: this.firmwareVersion,
    };
    payload.chargePointSerialNumber = (options.serial ?? identity).slice(0, 25);
    return payload;
  }

  /**
   * Sends BootNotification. On Accepted: heartbeat with the returned interval, status for
   * connector 0 and every connector (when `announce`), then queued messages are sent.
   */
  async boot(announce: boolean): Promise<BootNotificationConf | undefined> {
    const { core } = this;
    const generation = ++this.generation;
    core.timers.clear(this.retryTimer);
    this.retryTimer = undefined;
    let conf: BootNotificationConf;
    try {
      conf = await core.call('BootNotification', this.payload());
    } catch (err) {
      core.warn('BootNotification failed', err);
      if (core.running && generation === this.generation && !this.isBooted) this.scheduleRetry(10, announce);
      return undefined;
    }
    if (!core.running || generation !== this.generation) return conf;
    core.emit('bootResponse', conf);
    if (conf.status !== 'Accepted') {
      if (!this.isBooted) this.scheduleRetry(conf.interval > 0 ? conf.interval : 10, announce);
      return conf;
    }
    this.isBooted = true;
    this.heartbeatIntervalS = conf.interval > 0 ? conf.interval : core.config.getInt('HeartbeatInterval', 60);
    core.config.set('HeartbeatInterval', String(this.heartbeatIntervalS));
    this.scheduleHeartbeat();
    core.parts.metering.scheduleClockAligned();
    if (announce) core.parts.connectors.sendAllStatuses();
    core.emit('booted', conf);
    void core.parts.transactions.queue.pump();
    core.parts.security.booted();
    core.parts.maintenance.booted();
    return conf;
  }

  /** Sends a Heartbeat now. */
  async heartbeat(): Promise<void> {
    await this.core.call('Heartbeat', {});
  }

  /** HeartbeatInterval changed by the central system. */
  setHeartbeatInterval(seconds: number): void {
    this.heartbeatIntervalS = seconds;
    this.scheduleHeartbeat();
  }

  /** After a reconnect within the same boot: statuses that changed meanwhile, then the queue. */
  resume(): void {
    const { core } = this;
    if (!core.canSend()) return;
    core.parts.connectors.sendDirtyStatuses();
    void core.parts.transactions.queue.pump();
    core.parts.security.resumed();
  }

  /** Connects again after the link was closed on purpose, and boots if needed. */
  async reconnectAndBoot(): Promise<void> {
    if (!(await this.core.parts.link.connectWithRetry())) return;
    if (!this.isBooted) await this.boot(true);
  }

  /**
   * Closes the link and connects again (new credentials, a reconnect storm); with `reboot` the
   * station also boots again. `force` drops the socket instead of closing it.
   */
  async reconnect(options: { reboot?: boolean; force?: boolean } = {}): Promise<void> {
    const { core } = this;
    if (!core.running || core.offline) return;
    await core.parts.link.close(options.force ? { force: true } : { code: 1000, reason: 'reconnecting' });
    if (options.reboot) this.forget();
    await this.reconnectAndBoot();
  }

  /** Reset: stop sessions (SoftReset/HardReset), flush, close, reconnect with a fresh boot. */
  async reset(type: 'Hard' | 'Soft'): Promise<void> {
    if (this.resetting || !this.core.running) return;
    this.core.emit('reset', { type });
    this.core.parts.security.event('ResetOrReboot', `${type} reset requested by the central system`);
    await this.reboot(type === 'Hard' ? 'HardReset' : 'SoftReset', type === 'Hard' ? 5 : 2);
  }

  /**
   * Reboots: sessions end with `reason` (a hard reset may lose them, see forgetSessionsOnRestart),
   * their StopTransactions are flushed, the link closes, values waiting for a reboot take effect,
   * and after `downtimeSeconds` (simulated) the station connects and boots again.
   * Resolves true once booted.
   */
  async reboot(reason: StopReason, downtimeSeconds: number): Promise<boolean> {
    const { core } = this;
    const { connectors, transactions, link } = core.parts;
    if (this.resetting || !core.running) return false;
    this.resetting = true;
    try {
      transactions.endAll(reason);
      for (const connector of connectors.outlets()) connectors.settle(connector);
      if (core.canSend()) await transactions.queue.drained(core.simToRealMs(30));
      if (!core.running) return false;
      this.forget();
      await link.close({ code: 1000, reason: `reboot (${reason})` });
      core.config.applyPending();
      if (!(await sleep(core.simToRealMs(downtimeSeconds), core.abort.signal))) return false;
      if (!(await link.connectWithRetry())) return false;
      return (await this.boot(true))?.status === 'Accepted';
    } finally {
      this.resetting = false;
    }
  }

  private scheduleRetry(simSeconds: number, announce: boolean): void {
    const { core } = this;
    core.timers.clear(this.retryTimer);
    this.retryTimer = core.timers.timeout(() => {
      this.retryTimer = undefined;
      if (!core.running || this.isBooted) return;
      if (!core.parts.link.connected) {
        this.scheduleRetry(simSeconds, announce);
        return;
      }
      void this.boot(announce);
    }, core.simToRealMs(simSeconds));
  }

  private scheduleHeartbeat(): void {
    const { core } = this;
    core.timers.clear(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (!core.running || this.heartbeatIntervalS <= 0) return;
    this.heartbeatTimer = core.timers.timeout(() => {
      this.heartbeatTimer = undefined;
      if (core.canSend()) this.heartbeat().catch((err: unknown) => core.warn('Heartbeat failed', err));
      this.scheduleHeartbeat();
    }, core.simToRealMs(this.heartbeatIntervalS));
  }
}
