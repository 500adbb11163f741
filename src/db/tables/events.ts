import type { ColumnType, Generated, Selectable } from 'kysely';
import type { GeneratedTimestamp, NullableTimestamp } from './organizations.ts';

/** An event in the transactional outbox (written in the transaction of the change it describes). */
export interface OutboxEventsTable {
  seq: Generated<number>;
  id: Generated<string>;
  type: string;
  /** deliveries of events with the same key go out in `seq` order (wallet:…, session:…, station:…) */
  ordering_key: string;
  /** the organizations whose webhooks may receive it */
  organizations: ColumnType<string[], string[] | undefined, string[]>;
  data: ColumnType<Record<string, unknown>, string, string>;
  created_at: GeneratedTimestamp;
  fanned_out_at: NullableTimestamp;
}
export type OutboxEvent = Selectable<OutboxEventsTable>;

export interface WebhooksTable {
  id: string;
  /** null: every organization's events (created with an unscoped key) */
  organization_id: string | null;
  url: string;
  description: string | null;
  /** event types, or ['*'] */
  events: string[];
  active: Generated<boolean>;
  /** whsec_…: the signing secret, returned once at creation, never logged */
  secret: string;
  consecutive_failures: Generated<number>;
  disabled_at: NullableTimestamp;
  disabled_reason: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type Webhook = Selectable<WebhooksTable>;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event_seq: number;
  ordering_key: string;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: NullableTimestamp;
  /** the lease of the node sending it */
  locked_until: NullableTimestamp;
  locked_by: string | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;

export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  at: Date;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  node_id: string | null;
}
export type WebhookAttempt = Selectable<WebhookAttemptsTable>;
