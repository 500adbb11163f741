/**
 * Charging sessions and their transaction messages: Authorize (or the local list/cache) →
 * StartTransaction → samples → StopTransaction, through the ordered, persistent transaction
 * queue; what the station does when the central system refuses the idTag of a started
 * transaction; stops that take time; sessions a restart loses.
 */
import { performance } from 'node:perf_hooks';
import type { StationCore } from './core.ts';
import { wholeWh, type ConnectorState } from './connectors.ts';
import { energySamples } from './meter.ts';
import type { AuthorizationStatus, IdTagInfo, StartTransactionConf, StopReason, StopTransactionConf } from './ocpp-types.ts';
import type { StartSessionResult, StopSessionResult } from './options.ts';
import { EvBattery } from './power.ts';
import type { Reservation } from './reservations.ts';
import { TxQueue, type TxMessage } from './tx-queue.ts';

export interface Session {
  /** Local reference, also used by the transaction queue before the transactionId is known. */
  ref: number;
  idTag: string;
  transactionId?: number;
  meterStart: number;
  startedAt: Date;
  ev: EvBattery;
  lastAccrualMs: number;
  stopped: boolean;
  /** A stop under way: power falls linearly from `fromW` to 0 over `durationMs` (performance.now() base). */
  ramp?: { startMs: number; durationMs: number; fromW: number };
}

export interface EndedSession {
  message: TxMessage;
  meterStop: number;
  transactionId: number | undefined;
}

export interface StartOptions {
  /** A RemoteStartTransaction: no Authorize unless AuthorizeRemoteTxRequests. */
  remote?: boolean;
  /** The connector was already marked as starting (by the remote start). */
  reserved?: boolean;
}

export class Transactions {
  readonly queue: TxQueue;
  /** session ref → central system transactionId */
  private readonly transactionIds = new Map<number, number>();
  private sessionCounter = 0;

  constructor(private readonly core: StationCore) {
    this.queue = new TxQueue({
      canSend: () => core.canSend(),
      call: (action, payload) => core.parts.link.call(action, payload as never),
      transactionIdFor: (ref) => this.transactionIds.get(ref),
      onDelivered: (message, result) => this.onDelivered(message, result),
      duplicate: () => core.options.duplicateSends === true,
      maxAttempts: () => core.config.getInt('TransactionMessageAttempts', 3),
      retryDelayMs: (attempt) => core.simToRealMs(core.config.getInt('TransactionMessageRetryInterval', 10) * attempt),
      signal: () => core.abort.signal,
      warn: (message, error) => core.warn(message, error),
    });
  }

  /**
   * Authorize (when online, unless the local list pre-authorizes) → StartTransaction → Charging,
   * then periodic MeterValues. Online, resolves once StartTransaction has been answered; offline,
   * once it is queued.
   */
  async start(connectorId: number, idTag: string, options: StartOptions = {}): Promise<StartSessionResult> {
    const { core } = this;
    const { connectors, reservations } = core.parts;
    const connector = connectors.outlet(connectorId);
    if (!core.running) throw new Error(`${core.identity} is not started`);
    if (connector.starting && !options.reserved) return { outcome: 'Busy' };
    connector.starting = true;
    try {
      if (connector.session) return { outcome: 'Busy' };
      if (connector.error || connectors.inoperative(connector)) return { outcome: 'Unavailable', status: connectors.idleStatus(connector) };
      if (connector.status === 'Available' || connector.status === 'Finishing' || connector.status === 'Reserved') {
        connectors.setStatus(connector, 'Preparing');
      }
      const verdict = await this.authorize(idTag, options);
      if ('failed' in verdict) return { outcome: 'Failed', error: verdict.failed };
      if (verdict.status !== 'Accepted') {
        core.emit('authorizeRejected', { connectorId, idTag, status: verdict.status });
        connectors.settle(connector);
        return { outcome: 'NotAuthorized', idTagStatus: verdict.status };
      }
      if (!core.running) return { outcome: 'Failed', error: new Error('station stopped') };
      if (connector.session) return { outcome: 'Busy' };
      const reservation = reservations.claim(connector, idTag, verdict.parentIdTag);
      if (reservation === 'blocked') {
        connector.starting = false;
        connectors.settle(connector);
        return { outcome: 'Unavailable', status: 'Reserved' };
      }
      return await this.begin(connector, idTag, reservation);
    } finally {
      connector.starting = false;
    }
  }

  /**
   * StopTransaction (meterStop, timestamp, reason, idTag, transactionData) → Finishing → Available.
   * Online, resolves once StopTransaction has been answered.
   */
  async stop(connectorId: number, reason: StopReason = 'Local'): Promise<StopSessionResult> {
    const connector = this.core.parts.connectors.outlet(connectorId);
    if (!connector.session) return { outcome: 'NoSession' };
    const online = this.core.canSend();
    const { message, meterStop, transactionId } = this.end(connector, reason);
    if (!online) return { outcome: 'Queued', meterStop };
    const outcome = await message.done;
    if (!outcome.delivered && outcome.reason === 'stopped') return { outcome: 'Queued', meterStop };
    return {
      outcome: 'Stopped',
      meterStop,
      transactionId: transactionId ?? this.transactionIds.get(message.sessionRef),
      delivered: outcome.delivered,
    };
  }

  /**
   * A stop that takes `delaySeconds` of simulated time: power falls to zero meanwhile, then
   * StopTransaction. A second request while it runs changes nothing.
   */
  stopAfter(connector: ConnectorState, reason: StopReason, delaySeconds: number): void {
    const { core } = this;
    const session = connector.session;
    if (!session || session.ramp) return;
    if (delaySeconds <= 0) {
      void this.stop(connector.id, reason).catch((err: unknown) => core.warn('stop failed', err));
      return;
    }
    core.parts.metering.accrue(connector);
    const durationMs = core.simToRealMs(delaySeconds);
    session.ramp = { startMs: performance.now(), durationMs, fromW: core.parts.metering.currentPower(connector) };
    core.timers.timeout(() => {
      if (connector.session !== session) return;
      void this.stop(connector.id, reason).catch((err: unknown) => core.warn('stop failed', err));
    }, durationMs);
  }

  /** Ends every running session (reset, stop, power loss); with forgetSessionsOnRestart a restart loses them instead. */
  endAll(reason: StopReason): void {
    const forget = this.core.options.forgetSessionsOnRestart === true && (reason === 'PowerLoss' || reason === 'HardReset');
    for (const connector of this.core.parts.connectors.all) {
      if (!connector.session) continue;
      if (forget) this.drop(connector, 'Forgotten');
      else this.end(connector, reason);
    }
  }

  /** Ends the connector's session: StopTransaction queued, then Finishing → Available unless `keepStatus`. */
  end(connector: ConnectorState, reason: StopReason, keepStatus = false): EndedSession {
    const { core } = this;
    const { metering } = core.parts;
    const session = this.detach(connector);
    const register = wholeWh(connector.registerWh);
    // a faulty meter, as seen in the field: the stop register below the last reading
    const meterStop = Math.max(0, register - (core.options.meterStopDeficitWh ?? 0));
    const stoppedAt = core.clock.now();
    const body = {
      idTag: session.idTag,
      meterStop,
      timestamp: core.clock.stamp(stoppedAt),
      reason,
      ...(core.options.transactionData === false
        ? {}
        : {
            transactionData: [
              {
                timestamp: core.clock.stamp(session.startedAt),
                sampledValue: energySamples(session.meterStart, 'Transaction.Begin', metering.format),
              },
              {
                timestamp: core.clock.stamp(stoppedAt),
                sampledValue: energySamples(meterStop, 'Transaction.End', metering.format),
              },
            ],
          }),
    };
    const message = this.queue.enqueue(connector.id, session.ref, { action: 'StopTransaction', body });
    core.emit('sessionStopped', { ...this.identify(connector, session), reason, meterStop });
    this.afterSession(connector, keepStatus);
    return { message, meterStop, transactionId: session.transactionId };
  }

  /**
   * The station lets go of a session without any StopTransaction: refused and dropped by a
   * charger without StopTransactionOnInvalidId, or lost in a restart. Its messages not yet sent
   * go too; the connector is Available again.
   */
  drop(connector: ConnectorState, reason: 'InvalidId' | 'Forgotten'): void {
    if (!connector.session) return;
    this.core.parts.metering.discardHeld(connector);
    const session = this.detach(connector);
    this.queue.discard(session.ref);
    this.core.emit('sessionDropped', { ...this.identify(connector, session), reason });
    this.afterSession(connector, false, true);
  }

  /** The session leaves its connector: energy counted up to now, samples stopped (held ones sent). */
  private detach(connector: ConnectorState): Session {
    const { metering } = this.core.parts;
    const session = connector.session!;
    metering.accrue(connector);
    metering.stopSampling(connector);
    session.stopped = true;
    connector.session = undefined;
    return session;
  }

  private identify(connector: ConnectorState, session: Session) {
    return { connectorId: connector.id, transactionId: session.transactionId, sessionRef: session.ref, idTag: session.idTag };
  }

  /** Authorize online (or decide locally), remembering the answer in the cache. */
  private async authorize(idTag: string, options: StartOptions): Promise<{ status: AuthorizationStatus; parentIdTag?: string } | { failed: unknown }> {
    const { core } = this;
    const { localAuth } = core.parts;
    const mustAsk = !options.remote || core.config.getBool('AuthorizeRemoteTxRequests', false);
    if (!mustAsk) return { status: 'Accepted', ...this.parentOf(idTag) };
    if (!core.canSend()) return { status: localAuth.offlineDecision(idTag), ...this.parentOf(idTag) };
    if (localAuth.preAuthorized(idTag)) return { status: 'Accepted', ...this.parentOf(idTag) };
    try {
      const info = (await core.call('Authorize', { idTag })).idTagInfo;
      localAuth.remember(idTag, info);
      return { status: info.status, ...(info.parentIdTag !== undefined ? { parentIdTag: info.parentIdTag } : {}) };
    } catch (err) {
      return { failed: err };
    }
  }

  private parentOf(idTag: string): { parentIdTag?: string } {
    const parent = this.core.parts.localAuth.lookup(idTag)?.parentIdTag;
    return parent === undefined ? {} : { parentIdTag: parent };
  }

  /** The session starts: StartTransaction queued, Charging, samples. */
  private async begin(connector: ConnectorState, idTag: string, reservation: Reservation | undefined): Promise<StartSessionResult> {
    const { core } = this;
    const { connectors, metering, reservations } = core.parts;
    const meterStart = wholeWh(connector.registerWh);
    const session: Session = {
      ref: ++this.sessionCounter,
      idTag,
      meterStart,
      startedAt: core.clock.now(),
      ev: new EvBattery(core.profile, core.options.ev),
      lastAccrualMs: performance.now(),
      stopped: false,
    };
    connector.session = session;
    if (reservation) reservations.consume(reservation);
    const online = core.canSend();
    const message = this.queue.enqueue(connector.id, session.ref, {
      action: 'StartTransaction',
      body: {
        connectorId: connector.id,
        idTag,
        meterStart,
        ...(reservation ? { reservationId: reservation.id } : {}),
        timestamp: core.clock.stamp(session.startedAt),
      },
    });
    connectors.setStatus(connector, 'Charging');
    metering.scheduleSample(connector);
    metering.limitChanged(connector);
    if (!online) return { outcome: 'Queued', sessionRef: session.ref };

    const outcome = await message.done;
    if (!outcome.delivered) {
      return outcome.reason === 'stopped'
        ? { outcome: 'Queued', sessionRef: session.ref }
        : { outcome: 'Failed', error: outcome.error };
    }
    const conf = outcome.result as StartTransactionConf;
    return { outcome: 'Started', transactionId: conf.transactionId, idTagStatus: conf.idTagInfo.status };
  }

  /** The connector after its session: TxProfiles removed, a scheduled Inoperative applied, Finishing → idle. */
  private afterSession(connector: ConnectorState, keepStatus: boolean, skipFinishing = false): void {
    const { connectors, smartCharging } = this.core.parts;
    smartCharging.transactionEnded(connector.id);
    this.core.parts.metering.limitChanged(connector);
    if (connector.scheduledInoperative) {
      connector.scheduledInoperative = false;
      connector.availability = 'Inoperative';
      this.core.emit('availability', { connectorId: connector.id, availability: 'Inoperative' });
    }
    if (keepStatus) return;
    if (!skipFinishing) connectors.setStatus(connector, 'Finishing');
    if (this.core.options.unplugAfterStop !== false || skipFinishing) connectors.setStatus(connector, connectors.idleStatus(connector));
  }

  private onDelivered(message: TxMessage, result: unknown): void {
    const { core } = this;
    const { localAuth, connectors } = core.parts;
    if (message.payload.action === 'StopTransaction') {
      const info = (result as StopTransactionConf | undefined)?.idTagInfo;
      if (message.payload.body.idTag) localAuth.remember(message.payload.body.idTag, info);
      return;
    }
    if (message.payload.action !== 'StartTransaction') return;
    const conf = result as StartTransactionConf;
    this.transactionIds.set(message.sessionRef, conf.transactionId);
    const connector = connectors.find(message.connectorId);
    const session = connector?.session?.ref === message.sessionRef ? connector.session : undefined;
    if (session) session.transactionId = conf.transactionId;
    const { body } = message.payload;
    localAuth.remember(body.idTag, conf.idTagInfo as IdTagInfo);
    core.emit('sessionStarted', {
      connectorId: message.connectorId,
      transactionId: conf.transactionId,
      idTag: body.idTag,
      meterStart: body.meterStart,
      idTagStatus: conf.idTagInfo.status,
      sessionRef: message.sessionRef,
    });
    if (!connector || !session || session.stopped || conf.idTagInfo.status === 'Accepted') return;
    if (core.options.dropRefusedTransactions) this.drop(connector, 'InvalidId');
    else if (core.config.getBool('StopTransactionOnInvalidId', true)) this.end(connector, 'DeAuthorized');
  }
}
