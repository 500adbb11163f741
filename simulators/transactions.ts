/**
 * Charging sessions and their transaction messages: Authorize → StartTransaction → samples →
 * StopTransaction, through the ordered, persistent transaction queue, and what the station does
 * when the central system refuses the idTag of a started transaction.
 */
import { performance } from 'node:perf_hooks';
import type { StationCore } from './core.ts';
import { wholeWh, type ConnectorState } from './connectors.ts';
import { energySamples } from './meter.ts';
import type { AuthorizationStatus, StartTransactionConf, StopReason } from './ocpp-types.ts';
import type { StartSessionResult, StopSessionResult } from './options.ts';
import { EvBattery } from './power.ts';
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
}

export interface EndedSession {
  message: TxMessage;
  meterStop: number;
  transactionId: number | undefined;
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
   * Authorize (when online) → StartTransaction → Charging, then periodic MeterValues.
   * Online, resolves once StartTransaction has been answered; offline, once it is queued.
   */
  async start(connectorId: number, idTag: string, options: { remote?: boolean; reserved?: boolean } = {}): Promise<StartSessionResult> {
    const { core } = this;
    const { connectors, metering } = core.parts;
    const connector = connectors.outlet(connectorId);
    if (!core.running) throw new Error(`${core.identity} is not started`);
    if (connector.session || (connector.starting && !options.reserved)) return { outcome: 'Busy' };
    connector.starting = true;
    try {
      if (connector.status === 'Available' || connector.status === 'Finishing') {
        connectors.setStatus(connector, 'Preparing');
      }
      const authorize = !options.remote || core.config.getBool('AuthorizeRemoteTxRequests', false);
      if (authorize && core.canSend()) {
        let status: AuthorizationStatus;
        try {
          status = (await core.call('Authorize', { idTag })).idTagInfo.status;
        } catch (err) {
          return { outcome: 'Failed', error: err };
        }
        if (status !== 'Accepted') {
          core.emit('authorizeRejected', { connectorId, idTag, status });
          return { outcome: 'NotAuthorized', idTagStatus: status };
        }
      }
      if (!core.running) return { outcome: 'Failed', error: new Error('station stopped') };
      if (connector.session) return { outcome: 'Busy' };

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
      const online = core.canSend();
      const message = this.queue.enqueue(connectorId, session.ref, {
        action: 'StartTransaction',
        body: { connectorId, idTag, meterStart, timestamp: core.clock.stamp(session.startedAt) },
      });
      connectors.setStatus(connector, 'Charging');
      metering.scheduleSample(connector);
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

  /** Ends every running session (reset, stop, power loss). */
  endAll(reason: StopReason): void {
    for (const connector of this.core.parts.connectors.all) {
      if (connector.session) this.end(connector, reason);
    }
  }

  /** Ends the connector's session: StopTransaction queued, then Finishing → Available unless `keepStatus`. */
  end(connector: ConnectorState, reason: StopReason, keepStatus = false): EndedSession {
    const { core } = this;
    const { connectors, metering } = core.parts;
    const session = connector.session!;
    metering.accrue(connector);
    metering.stopSampling(connector);
    session.stopped = true;
    connector.session = undefined;
    const meterStop = wholeWh(connector.registerWh);
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
    core.emit('sessionStopped', {
      connectorId: connector.id,
      transactionId: session.transactionId,
      sessionRef: session.ref,
      idTag: session.idTag,
      reason,
      meterStop,
    });
    if (!keepStatus) {
      connectors.setStatus(connector, 'Finishing');
      if (core.options.unplugAfterStop !== false) connectors.setStatus(connector, 'Available');
    }
    return { message, meterStop, transactionId: session.transactionId };
  }

  private onDelivered(message: TxMessage, result: unknown): void {
    const { core } = this;
    if (message.payload.action !== 'StartTransaction') return;
    const conf = result as StartTransactionConf;
    this.transactionIds.set(message.sessionRef, conf.transactionId);
    const connector = core.parts.connectors.find(message.connectorId);
    const session = connector?.session?.ref === message.sessionRef ? connector.session : undefined;
    if (session) session.transactionId = conf.transactionId;
    const { body } = message.payload;
    core.emit('sessionStarted', {
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
      core.config.getBool('StopTransactionOnInvalidId', true)
    ) {
      this.end(connector, 'DeAuthorized');
    }
  }
}
