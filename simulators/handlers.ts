/** The station's answers to the central system's calls, and what it does after each answer. */
import type { StationCore } from './core.ts';
import type { ConnectorState } from './connectors.ts';
import type { InboundAction } from './ocpp-types.ts';
import type { RemoteStopMode } from './options.ts';
import { createRPCError, NOREPLY, type HandlerContext } from './rpc.ts';
import { sleep } from './timers.ts';

type Reply = Record<string, unknown> | typeof NOREPLY;

export class Handlers {
  remoteStopMode: RemoteStopMode;
  private readonly remoteStopsRejected = new Set<number>();

  constructor(private readonly core: StationCore) {
    this.remoteStopMode = core.options.remoteStop ?? 'accept';
  }

  register(): void {
    const { core } = this;
    const client = core.parts.link.client;
    client.handle(async ({ method, params }: HandlerContext) => {
      core.emit('inboundCall', { action: method ?? '', params: params ?? {} });
      throw createRPCError('NotImplemented', `${method} is not implemented by the simulator`);
    });
    this.handle('RemoteStartTransaction', (params) => this.remoteStart(params));
    this.handle('RemoteStopTransaction', (params) => this.remoteStop(params));
    this.handle('ChangeConfiguration', (params) => this.changeConfiguration(params));
    this.handle('GetConfiguration', (params) => this.getConfiguration(params));
    this.handle('TriggerMessage', (params) => this.triggerMessage(params));
    this.handle('Reset', (params) => this.reset(params));
    this.handle('UnlockConnector', (params) => this.unlockConnector(params));
  }

  private handle(action: InboundAction, handler: (params: Record<string, unknown>) => Reply): void {
    const { core } = this;
    core.parts.link.client.handle(action, async ({ params }: HandlerContext) => {
      const args = params ?? {};
      core.emit('inboundCall', { action, params: args });
      const delay = core.options.answerDelayMs ?? 0;
      if (delay > 0) await sleep(delay, core.abort.signal);
      if (!core.running) throw createRPCError('GenericError', 'station stopping');
      const response = handler(args);
      core.emit('inboundResult', { action, params: args, response: response === NOREPLY ? undefined : response });
      // ocpp-rpc treats the NOREPLY symbol as "send nothing"; its typings do not know it.
      return response as Record<string, unknown>;
    });
  }

  private remoteStart(params: Record<string, unknown>): Reply {
    const { core } = this;
    const { connectors, transactions } = core.parts;
    const idTag = String(params.idTag);
    const requested = typeof params.connectorId === 'number' ? params.connectorId : undefined;
    const isFree = (c: ConnectorState | undefined): c is ConnectorState =>
      !!c && c.id > 0 && !c.session && !c.starting && ['Available', 'Preparing', 'Finishing'].includes(c.status);
    const connector = requested !== undefined ? connectors.find(requested) : connectors.all.find((c) => isFree(c));
    if (!isFree(connector)) {
      core.emit('remoteStart', { connectorId: requested, idTag, status: 'Rejected' });
      return { status: 'Rejected' };
    }
    connector.starting = true;
    core.timers.immediate(() => {
      transactions
        .start(connector.id, idTag, { remote: true, reserved: true })
        .catch((err: unknown) => core.warn('remote start failed', err));
    });
    core.emit('remoteStart', { connectorId: connector.id, idTag, status: 'Accepted' });
    return { status: 'Accepted' };
  }

  private remoteStop(params: Record<string, unknown>): Reply {
    const { core } = this;
    const transactionId = Number(params.transactionId);
    const mode = this.remoteStopMode;
    if (mode === 'ignore') {
      core.emit('remoteStop', { transactionId, status: 'Ignored' });
      return NOREPLY;
    }
    const connector = core.parts.connectors.byTransaction(transactionId);
    let status: 'Accepted' | 'Rejected' = connector ? 'Accepted' : 'Rejected';
    if (mode === 'reject') status = 'Rejected';
    if (mode === 'rejectFirst' && connector && !this.remoteStopsRejected.has(transactionId)) {
      this.remoteStopsRejected.add(transactionId);
      status = 'Rejected';
    }
    if (status === 'Accepted' && connector) {
      core.timers.immediate(() => {
        if (connector.session?.transactionId !== transactionId) return;
        core.parts.transactions.stop(connector.id, 'Remote').catch((err: unknown) => core.warn('remote stop failed', err));
      });
    }
    core.emit('remoteStop', { transactionId, status });
    return { status };
  }

  private changeConfiguration(params: Record<string, unknown>): Reply {
    const { core } = this;
    const key = String(params.key);
    const value = String(params.value);
    const status = core.config.change(key, value);
    if (status === 'Accepted') {
      if (key === 'MeterValueSampleInterval') core.parts.metering.rescheduleAll();
      else if (key === 'HeartbeatInterval') {
        core.parts.boot.setHeartbeatInterval(core.config.getInt('HeartbeatInterval', core.parts.boot.heartbeatInterval));
      }
    }
    core.emit('configurationChanged', { key, value, status });
    return { status };
  }

  private getConfiguration(params: Record<string, unknown>): Reply {
    const keys = Array.isArray(params.key) ? params.key.map(String) : undefined;
    const { configurationKey, unknownKey } = this.core.config.get(keys);
    return unknownKey.length > 0 ? { configurationKey, unknownKey } : { configurationKey };
  }

  private triggerMessage(params: Record<string, unknown>): Reply {
    const { core } = this;
    const { connectors, boot, metering } = core.parts;
    const requested = String(params.requestedMessage);
    const connectorId = typeof params.connectorId === 'number' ? params.connectorId : undefined;
    if (connectorId !== undefined && !connectors.find(connectorId)) return { status: 'Rejected' };
    const targets = connectorId !== undefined ? [connectors.at(connectorId)] : connectors.all;
    switch (requested) {
      case 'BootNotification':
        core.timers.immediate(() => void boot.boot(false));
        return { status: 'Accepted' };
      case 'Heartbeat':
        core.timers.immediate(() => boot.heartbeat().catch((err: unknown) => core.warn('Heartbeat failed', err)));
        return { status: 'Accepted' };
      case 'StatusNotification':
        core.timers.immediate(() => targets.forEach((c) => connectors.sendStatus(c.id)));
        return { status: 'Accepted' };
      case 'MeterValues':
        core.timers.immediate(() => targets.filter((c) => c.id > 0).forEach((c) => metering.sendTriggered(c)));
        return { status: 'Accepted' };
      default:
        return { status: 'NotImplemented' };
    }
  }

  private reset(params: Record<string, unknown>): Reply {
    const { core } = this;
    const type = params.type === 'Hard' ? 'Hard' : 'Soft';
    if (core.parts.boot.isResetting) return { status: 'Rejected' };
    core.timers.immediate(() => {
      core.parts.boot.reset(type).catch((err: unknown) => core.warn('reset failed', err));
    });
    return { status: 'Accepted' };
  }

  private unlockConnector(params: Record<string, unknown>): Reply {
    const { core } = this;
    const { connectors, transactions } = core.parts;
    const connectorId = Number(params.connectorId);
    const connector = connectors.find(connectorId);
    if (!connector || connectorId === 0) return { status: 'NotSupported' };
    core.timers.immediate(() => {
      if (connector.session) transactions.end(connector, 'UnlockCommand');
      else if (connector.status === 'Preparing' || connector.status === 'Finishing') {
        connectors.setStatus(connector, 'Available');
      }
    });
    return { status: 'Unlocked' };
  }
}
