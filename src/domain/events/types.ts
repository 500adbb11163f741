/**
 * The events the gateway sends to webhooks (SPEC section 6, docs/events.md). Each is written to
 * the outbox in the transaction of the change it describes; `data` is what the receiver gets.
 */
export const EVENT_TYPES = [
  'session.started',
  'session.stopped',
  'session.stop_failed',
  'wallet.topped_up',
  'wallet.balance_low',
  'wallet.depleted',
  'wallet.auto_top_up_requested',
  'chargestation.connected',
  'chargestation.disconnected',
  'alert.created',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An event to write to the outbox. */
export interface NewEvent {
  type: EventType;
  /**
   * Deliveries of events with the same key reach an endpoint in the order they were written:
   * `session:<id>`, `wallet:<id>`, `station:<id>`, `alert:<id>`.
   */
  orderingKey: string;
  data: Record<string, unknown>;
  /** the event is visible to this station's organization */
  stationId?: string | null | undefined;
  /** … and to this wallet owner's organization */
  walletId?: string | null | undefined;
  /** … and to this organization */
  organizationId?: string | null | undefined;
}
