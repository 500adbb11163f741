import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { Webhook, WebhookAttempt, WebhookDelivery } from '../../db/tables/events.ts';
import type { Clock } from '../../shared/clock.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';

/** A Standard Webhooks secret: `whsec_` and 32 random bytes, base64. */
export function newWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}

export interface WebhookInput {
  url: string;
  /** event types, or ['*'] for every one */
  events: string[];
  active?: boolean | undefined;
  description?: string | null | undefined;
  /** undefined: every organization (unscoped keys only) */
  organization?: string | undefined;
}

/** Creates an endpoint; the secret is in the answer this once and never again. */
export async function createWebhook(db: Db, clock: Clock, input: WebhookInput): Promise<{ webhook: Webhook; secret: string }> {
  const now = clock.now();
  if (input.organization) {
    const org = await db.selectFrom('organizations').select('id').where('id', '=', input.organization).executeTakeFirst();
    if (!org) throw new NotFoundError('organization', input.organization);
  }
  const secret = newWebhookSecret();
  const webhook = await db
    .insertInto('webhooks')
    .values({
      id: newId(now),
      organization_id: input.organization ?? null,
      url: input.url,
      description: input.description ?? null,
      events: uniqueEvents(input.events),
      active: input.active ?? true,
      secret,
      disabled_reason: null,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { webhook, secret };
}

function uniqueEvents(events: string[]): string[] {
  return events.includes('*') ? ['*'] : [...new Set(events)];
}

export async function getWebhook(db: Db, id: string): Promise<Webhook> {
  const row = await db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError('webhook', id);
  return row;
}

export async function listWebhooks(
  db: Db,
  q: { limit: number; cursor?: string | undefined; organization?: string | undefined },
): Promise<Page<Webhook>> {
  let query = db.selectFrom('webhooks').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
  const before = decodeCursor(q.cursor);
  if (before) query = query.where('id', '<', before);
  if (q.organization) query = query.where('organization_id', '=', q.organization);
  return toPage(await query.execute(), q.limit, (w) => w.id);
}

/** Changes an endpoint; switching it on again (after it was disabled) clears its failure count. */
export async function updateWebhook(
  db: Db,
  clock: Clock,
  id: string,
  input: Partial<Pick<WebhookInput, 'url' | 'events' | 'active' | 'description'>>,
): Promise<Webhook> {
  const now = clock.now();
  const row = await db
    .updateTable('webhooks')
    .set({
      ...(input.url !== undefined ? { url: input.url } : {}),
      ...(input.events !== undefined ? { events: uniqueEvents(input.events) } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.active !== undefined ? { active: input.active } : {}),
      ...(input.active === true ? { consecutive_failures: 0, disabled_at: null, disabled_reason: null } : {}),
      updated_at: now,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('webhook', id);
  return row;
}

/** Deletes an endpoint with its deliveries and their attempts. */
export async function deleteWebhook(db: Db, id: string): Promise<void> {
  const res = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
  if (!res.numDeletedRows) throw new NotFoundError('webhook', id);
}

export type DeliveryView = WebhookDelivery & {
  event_id: string;
  event_type: string;
  attempt_log: Pick<WebhookAttempt, 'at' | 'status_code' | 'error' | 'duration_ms'>[];
};

/** An endpoint's deliveries, newest first, each with its attempts (the last 20). */
export async function listDeliveries(
  db: Db,
  webhookId: string,
  q: { limit: number; cursor?: string | undefined; status?: WebhookDelivery['status'] | undefined },
): Promise<Page<DeliveryView>> {
  await getWebhook(db, webhookId);
  let query = db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('outbox_events as e', 'e.seq', 'd.event_seq')
    .selectAll('d')
    .select(['e.id as event_id', 'e.type as event_type'])
    .where('d.webhook_id', '=', webhookId)
    .orderBy('d.id', 'desc')
    .limit(q.limit + 1);
  const before = decodeCursor(q.cursor);
  if (before) query = query.where('d.id', '<', before);
  if (q.status) query = query.where('d.status', '=', q.status);
  const page = toPage(await query.execute(), q.limit, (d) => d.id);
  const ids = page.data.map((d) => d.id);
  const attempts = ids.length
    ? await db
        .selectFrom('webhook_attempts')
        .select(['delivery_id', 'at', 'status_code', 'error', 'duration_ms'])
        .where('delivery_id', 'in', ids)
        .orderBy('id')
        .execute()
    : [];
  const byDelivery = new Map<string, DeliveryView['attempt_log']>();
  for (const a of attempts) {
    const list = byDelivery.get(a.delivery_id) ?? [];
    list.push({ at: a.at, status_code: a.status_code, error: a.error, duration_ms: a.duration_ms });
    byDelivery.set(a.delivery_id, list);
  }
  return {
    data: page.data.map((d) => ({ ...d, attempt_log: (byDelivery.get(d.id) ?? []).slice(-20) })),
    next_cursor: page.next_cursor,
  };
}

/**
 * Sends a delivery again: one still pending is due at once; one that was delivered or gave up
 * is replayed as a new delivery of the same event (same `webhook-id`, so receivers can tell),
 * keeping the old one's history. Returns the delivery that will be sent.
 */
export async function retryDelivery(db: Db, clock: Clock, webhookId: string, deliveryId: string): Promise<DeliveryView> {
  const now = clock.now();
  const d = await db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('id', '=', deliveryId)
    .where('webhook_id', '=', webhookId)
    .executeTakeFirst();
  if (!d) throw new NotFoundError('delivery', deliveryId);
  let id = d.id;
  if (d.status === 'pending') {
    await db.updateTable('webhook_deliveries').set({ next_attempt_at: sql<Date>`now()`, updated_at: now }).where('id', '=', d.id).execute();
  } else {
    id = newId(now);
    await db
      .insertInto('webhook_deliveries')
      .values({
        id,
        webhook_id: d.webhook_id,
        event_seq: d.event_seq,
        ordering_key: d.ordering_key,
        next_attempt_at: sql<Date>`now()`,
        locked_by: null,
        last_status_code: null,
        last_error: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
  const row = await db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('outbox_events as e', 'e.seq', 'd.event_seq')
    .selectAll('d')
    .select(['e.id as event_id', 'e.type as event_type'])
    .where('d.id', '=', id)
    .executeTakeFirstOrThrow();
  const attempts = await db
    .selectFrom('webhook_attempts')
    .select(['at', 'status_code', 'error', 'duration_ms'])
    .where('delivery_id', '=', id)
    .orderBy('id')
    .execute();
  return { ...row, attempt_log: attempts.slice(-20) };
}
