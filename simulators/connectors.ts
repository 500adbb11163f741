/**
 * The connectors of a station (0 = the charge point as a whole): their state, their status and
 * the StatusNotifications that report it (held while the station cannot send, sent on resume).
 */
import type { StationCore } from './core.ts';
import type { ChargePointStatus } from './ocpp-types.ts';
import type { Session } from './transactions.ts';

export interface ConnectorState {
  readonly id: number;
  status: ChargePointStatus;
  /** The status changed while it could not be sent. */
  statusDirty: boolean;
  /** Cumulative import register, Wh (fractional internally, reported as integer). */
  registerWh: number;
  session?: Session;
  /** A start (local or remote) is under way. */
  starting: boolean;
  meterTimer?: NodeJS.Timeout;
}

/** Integer Wh of the register, tolerant of floating-point dust (99.99999999 → 100). */
export function wholeWh(wh: number): number {
  return Math.floor(wh + 1e-6);
}

export class Connectors {
  /** Index = connector id; [0] is the charge point. */
  readonly all: ConnectorState[];

  constructor(
    private readonly core: StationCore,
    count: number,
    initialRegisterWh: number,
  ) {
    this.all = Array.from({ length: count + 1 }, (_, id) => ({
      id,
      status: 'Available' as ChargePointStatus,
      statusDirty: false,
      registerWh: id === 0 ? 0 : initialRegisterWh,
      starting: false,
    }));
  }

  get count(): number {
    return this.all.length - 1;
  }

  /** Connectors 1..n. */
  outlets(): ConnectorState[] {
    return this.all.slice(1);
  }

  find(connectorId: number): ConnectorState | undefined {
    return Number.isInteger(connectorId) ? this.all[connectorId] : undefined;
  }

  at(connectorId: number): ConnectorState {
    const connector = this.find(connectorId);
    if (!connector) throw new Error(`${this.core.identity}: no connector ${connectorId}`);
    return connector;
  }

  /** A connector that can carry a session (not 0). */
  outlet(connectorId: number): ConnectorState {
    if (connectorId === 0) throw new Error(`${this.core.identity}: connector 0 cannot charge`);
    return this.at(connectorId);
  }

  /** The connector whose running session the central system knows by this id. */
  byTransaction(transactionId: number): ConnectorState | undefined {
    return this.all.find((c) => c.session?.transactionId === transactionId);
  }

  setStatus(connector: ConnectorState, status: ChargePointStatus): void {
    if (connector.status === status) return;
    connector.status = status;
    this.core.emit('status', { connectorId: connector.id, status });
    this.sendStatus(connector.id);
  }

  /** Sends the current status of a connector (0 = the whole charge point) now, or when it can. */
  sendStatus(connectorId: number): void {
    const { core } = this;
    const connector = this.at(connectorId);
    if (!core.canSend()) {
      connector.statusDirty = true;
      return;
    }
    connector.statusDirty = false;
    core
      .call('StatusNotification', {
        connectorId,
        errorCode: 'NoError',
        status: connector.status,
        timestamp: core.clock.stamp(),
      })
      .catch((err: unknown) => {
        connector.statusDirty = true;
        core.warn('StatusNotification failed', err);
      });
  }

  /** Statuses that changed while the station could not send. */
  sendDirtyStatuses(): void {
    for (const connector of this.all) {
      if (connector.statusDirty) this.sendStatus(connector.id);
    }
  }

  sendAllStatuses(): void {
    for (const connector of this.all) this.sendStatus(connector.id);
  }
}
