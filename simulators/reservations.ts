/**
 * Reservations (ReserveNow / CancelReservation): a connector (or, with connector 0, any one of
 * them) held for an idTag until it expires, is cancelled, or the idTag starts a transaction there
 * (whose StartTransaction then carries the reservationId).
 */
import type { StationCore } from './core.ts';
import type { ConnectorState } from './connectors.ts';

export interface Reservation {
  id: number;
  connectorId: number;
  idTag: string;
  parentIdTag?: string;
  expiryDate: Date;
  timer?: NodeJS.Timeout;
}

export type ReserveStatus = 'Accepted' | 'Faulted' | 'Occupied' | 'Rejected' | 'Unavailable';

export interface ReserveNowParams {
  connectorId: number;
  expiryDate: string;
  idTag: string;
  parentIdTag?: string;
  reservationId: number;
}

export class Reservations {
  /** A reservation of connector 0 (the charge point as a whole). */
  private stationWide: Reservation | undefined;

  constructor(private readonly core: StationCore) {}

  /** Every reservation in force. */
  list(): Reservation[] {
    const own = this.core.parts.connectors.all.flatMap((c) => (c.reservation ? [c.reservation] : []));
    return this.stationWide ? [this.stationWide, ...own] : own;
  }

  find(reservationId: number): Reservation | undefined {
    return this.list().find((r) => r.id === reservationId);
  }

  /** What ReserveNow answers. */
  check(params: ReserveNowParams): ReserveStatus {
    const { connectors } = this.core.parts;
    const connector = connectors.find(params.connectorId);
    if (!connector) return 'Rejected';
    const replacing = this.find(params.reservationId);
    if (params.connectorId === 0) {
      if (!this.core.config.getBool('ReserveConnectorZeroSupported', false)) return 'Rejected';
      if (this.stationWide && replacing !== this.stationWide) return 'Occupied';
      const free = connectors.outlets().filter((c) => this.isFreeFor(c, replacing));
      if (free.length > 0) return 'Accepted';
      if (connectors.outlets().every((c) => c.error)) return 'Faulted';
      return connectors.outlets().every((c) => connectors.inoperative(c)) ? 'Unavailable' : 'Occupied';
    }
    if (connector.error) return 'Faulted';
    if (connectors.inoperative(connector)) return 'Unavailable';
    return this.isFreeFor(connector, replacing) ? 'Accepted' : 'Occupied';
  }

  /** ReserveNow accepted: a reservation with the same id is replaced. */
  reserve(params: ReserveNowParams): void {
    const { core } = this;
    const previous = this.find(params.reservationId);
    if (previous) this.release(previous, 'Cancelled');
    const reservation: Reservation = {
      id: params.reservationId,
      connectorId: params.connectorId,
      idTag: params.idTag,
      ...(params.parentIdTag !== undefined ? { parentIdTag: params.parentIdTag } : {}),
      expiryDate: new Date(params.expiryDate),
    };
    reservation.timer = core.timers.timeout(() => {
      reservation.timer = undefined;
      this.release(reservation, 'Expired');
    }, core.clock.realMsUntil(reservation.expiryDate));
    if (params.connectorId === 0) {
      this.stationWide = reservation;
    } else {
      const connector = core.parts.connectors.at(params.connectorId);
      connector.reservation = reservation;
      core.parts.connectors.settle(connector);
    }
    core.emit('reservation', { connectorId: params.connectorId, reservationId: reservation.id, idTag: reservation.idTag, state: 'Reserved' });
  }

  /** CancelReservation: Accepted when it existed. */
  cancel(reservationId: number): 'Accepted' | 'Rejected' {
    const reservation = this.find(reservationId);
    if (!reservation) return 'Rejected';
    this.release(reservation, 'Cancelled');
    return 'Accepted';
  }

  /**
   * A start of `idTag` (with its parentIdTag, when known) on the connector: the reservation it
   * uses, or 'blocked' when the connector is held for someone else.
   */
  claim(connector: ConnectorState, idTag: string, parentIdTag?: string): Reservation | 'blocked' | undefined {
    const matches = (r: Reservation) => r.idTag === idTag || (r.parentIdTag !== undefined && r.parentIdTag === parentIdTag);
    if (connector.reservation) return matches(connector.reservation) ? connector.reservation : 'blocked';
    const wide = this.stationWide;
    if (!wide) return undefined;
    if (matches(wide)) return wide;
    // Someone else may start as long as a connector stays free for the station-wide reservation.
    const othersFree = this.core.parts.connectors.outlets().filter((c) => c !== connector && this.isFreeFor(c, undefined));
    return othersFree.length > 0 ? undefined : 'blocked';
  }

  /** The reservation was used by a StartTransaction. */
  consume(reservation: Reservation): void {
    this.release(reservation, 'Used');
  }

  /** stop(): timers are cleared by the caller; reservations stay (a reboot keeps them). */
  rearm(): void {
    for (const reservation of this.list()) {
      reservation.timer = this.core.timers.timeout(() => {
        reservation.timer = undefined;
        this.release(reservation, 'Expired');
      }, this.core.clock.realMsUntil(reservation.expiryDate));
    }
  }

  private isFreeFor(connector: ConnectorState, replacing: Reservation | undefined): boolean {
    const { connectors } = this.core.parts;
    if (connector.error || connectors.inoperative(connector) || connectors.occupied(connector)) return false;
    return !connector.reservation || connector.reservation === replacing;
  }

  private release(reservation: Reservation, state: 'Used' | 'Expired' | 'Cancelled'): void {
    const { core } = this;
    core.timers.clear(reservation.timer);
    reservation.timer = undefined;
    if (this.stationWide === reservation) {
      this.stationWide = undefined;
    } else {
      const connector = core.parts.connectors.find(reservation.connectorId);
      if (connector?.reservation !== reservation) return;
      connector.reservation = undefined;
      if (state !== 'Used') core.parts.connectors.settle(connector);
    }
    core.emit('reservation', { connectorId: reservation.connectorId, reservationId: reservation.id, idTag: reservation.idTag, state });
  }
}
