/**
 * The connectors of a station (0 = the charge point as a whole): their state, availability and
 * faults, their status and the StatusNotifications that report it (held while the station cannot
 * send, sent on resume).
 */
import type { StationCore } from './core.ts';
import type { ChargePointStatus, StatusDetails } from './ocpp-types.ts';
import type { Reservation } from './reservations.ts';
import type { Session } from './transactions.ts';
import type { MeterValuesReq } from './ocpp-types.ts';

export type Availability = 'Operative' | 'Inoperative';

/** A periodic reading held back (late or burst delivery). */
export interface HeldReading {
  sessionRef: number;
  body: Omit<MeterValuesReq, 'transactionId'>;
}

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
  /** ChangeAvailability; kept across reboots. */
  availability: Availability;
  /** Inoperative requested while a transaction ran: applied when it ends. */
  scheduledInoperative: boolean;
  reservation?: Reservation;
  /** A fault reported with setError(): the connector is Faulted until clearError(). */
  error?: StatusDetails;
  /** Periodic readings not sent yet (late or burst delivery). */
  held: HeldReading[];
  /** Wakes the station when the charging limit changes next. */
  limitTimer?: NodeJS.Timeout;
  /** The charging limit last reported (chargingLimit event), W. */
  lastLimitW?: number;
}

/** Integer Wh of the register, tolerant of floating-point dust (99.99999999 → 100). */
export function wholeWh(wh: number): number {
  return Math.floor(wh + 1e-6);
}

/** Statuses of a connector in use (a cable or a transaction). */
const OCCUPIED: ReadonlySet<ChargePointStatus> = new Set(['Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE', 'Finishing']);

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
      availability: 'Operative' as Availability,
      scheduledInoperative: false,
      held: [],
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

  /** Out of service: itself or the whole charge point made Inoperative. */
  inoperative(connector: ConnectorState): boolean {
    return connector.availability === 'Inoperative' || this.all[0]!.availability === 'Inoperative';
  }

  /** In use: a session, a start under way, or a cable in. */
  occupied(connector: ConnectorState): boolean {
    return connector.session !== undefined || connector.starting || OCCUPIED.has(connector.status);
  }

  /** The status of a connector without a session: Faulted, Unavailable, Reserved or Available. */
  idleStatus(connector: ConnectorState): ChargePointStatus {
    if (connector.error) return 'Faulted';
    if (this.inoperative(connector)) return 'Unavailable';
    if (connector.reservation) return 'Reserved';
    return 'Available';
  }

  /** Puts an idle connector in the status its state calls for. */
  settle(connector: ConnectorState): void {
    if (connector.session || connector.starting) return;
    if (connector.id > 0 && connector.status === 'Preparing' && this.idleStatus(connector) === 'Available') return;
    this.setStatus(connector, this.idleStatus(connector));
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
    const details = { ...core.options.statusDetails, ...connector.error };
    core
      .call('StatusNotification', {
        connectorId,
        errorCode: details.errorCode ?? 'NoError',
        status: connector.status,
        timestamp: core.clock.stamp(),
        ...(details.info !== undefined ? { info: details.info } : {}),
        ...(details.vendorId !== undefined ? { vendorId: details.vendorId } : {}),
        ...(details.vendorErrorCode !== undefined ? { vendorErrorCode: details.vendorErrorCode } : {}),
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

  /** A fault: the connector reports Faulted with these details (a session on it keeps its own status). */
  setError(connector: ConnectorState, details: StatusDetails): void {
    connector.error = { errorCode: 'OtherError', ...details };
    if (connector.session) {
      connector.statusDirty = true;
      this.sendStatus(connector.id);
      return;
    }
    if (connector.status === 'Faulted') this.sendStatus(connector.id);
    else this.setStatus(connector, 'Faulted');
  }

  clearError(connector: ConnectorState): void {
    if (!connector.error) return;
    connector.error = undefined;
    if (connector.session) this.sendStatus(connector.id);
    else this.settle(connector);
  }
}
