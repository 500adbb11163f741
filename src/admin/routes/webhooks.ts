import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Webhook } from '../../db/tables/events.ts';
import type { AppContext } from '../../context.ts';
import { EVENT_TYPES } from '../../domain/events/types.ts';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  retryDelivery,
  updateWebhook,
  type DeliveryView,
} from '../../domain/events/webhooks.ts';
import { commonErrors, idParams, iso, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { forbiddenLiteral } from '../../shared/webhook-address.ts';

const url = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .max(2000)
  .refine((u) => !forbiddenLiteral(u), 'must not be a link-local, unspecified or multicast address (no webhook receiver has one)')
  .describe('where events are POSTed (not to link-local addresses such as 169.254.169.254)');
const events = z
  .array(z.enum(['*', ...EVENT_TYPES]))
  .min(1)
  .max(EVENT_TYPES.length + 1)
  .describe('event types to receive, or ["*"] for all');

const eventTypesSchema = z
  .object({ data: z.array(z.enum(EVENT_TYPES)).describe('event types, as `events` of a webhook names them') })
  .meta({ id: 'WebhookEventTypes' });

export const webhookSchema = z
  .object({
    _id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    active: z.boolean(),
    organization: z.string().nullable().describe('null: events of every organization'),
    consecutive_failures: z.number().int(),
    disabled_at: isoDate.nullable().describe('when the gateway switched it off after repeated failures'),
    disabled_reason: z.string().nullable(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Webhook' });

const createdSchema = webhookSchema
  .extend({ secret: z.string().describe('whsec_…: the signing secret, shown this once') })
  .meta({ id: 'WebhookCreated' });

export const deliverySchema = z
  .object({
    _id: z.string(),
    webhook: z.string(),
    event: z.object({ _id: z.string().describe('also the webhook-id header'), type: z.string() }),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: isoDate.nullable(),
    delivered_at: isoDate.nullable(),
    attempt_log: z.array(
      z.object({ at: isoDate, status_code: z.number().int().nullable(), error: z.string().nullable(), duration_ms: z.number().int() }),
    ),
    createdAt: isoDate,
  })
  .meta({ id: 'WebhookDelivery' });

function json(w: Webhook): z.infer<typeof webhookSchema> {
  return {
    _id: w.id,
    url: w.url,
    description: w.description,
    events: w.events,
    active: w.active,
    organization: w.organization_id,
    consecutive_failures: w.consecutive_failures,
    disabled_at: iso(w.disabled_at),
    disabled_reason: w.disabled_reason,
    createdAt: w.created_at.toISOString(),
    updatedAt: w.updated_at.toISOString(),
  };
}

function deliveryJson(d: DeliveryView): z.infer<typeof deliverySchema> {
  return {
    _id: d.id,
    webhook: d.webhook_id,
    event: { _id: d.event_id, type: d.event_type },
    status: d.status,
    attempts: d.attempts,
    last_status_code: d.last_status_code,
    last_error: d.last_error,
    next_attempt_at: d.status === 'pending' ? iso(d.next_attempt_at) : null,
    delivered_at: iso(d.delivered_at),
    attempt_log: d.attempt_log.map((a) => ({ at: a.at.toISOString(), status_code: a.status_code, error: a.error, duration_ms: a.duration_ms })),
    createdAt: d.created_at.toISOString(),
  };
}

export function webhookRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['webhooks'];
    app.post('/webhooks', {
      config: { tenancy: { body: { organization: 'organization' } } },
      schema: {
        tags,
        summary: 'Create a webhook endpoint',
        description:
          'Events are POSTed as `{type, timestamp, data}`, signed the Standard Webhooks way (`webhook-id`, ' +
          '`webhook-timestamp`, `webhook-signature`). The answer carries the signing `secret` (`whsec_…`) this once. ' +
          'A key scoped to an organization creates endpoints for its own organization only; an unscoped key may ' +
          'leave `organization` out to receive the events of every organization. See docs/events.md.',
        body: z.strictObject({
          url,
          events,
          active: z.boolean().optional(),
          description: z.string().max(500).nullable().optional(),
          organization: objectId.optional(),
        }),
        response: { 201: createdSchema, ...commonErrors },
      },
      handler: async (req, reply) => {
        const organization = req.tenant.organizationFor(req.body.organization);
        const { webhook, secret } = await createWebhook(deps.db, deps.clock, { ...req.body, organization });
        deps.log.info({ webhook: webhook.id, organization: webhook.organization_id, events: webhook.events }, 'webhook created');
        return reply.status(201).send({ ...json(webhook), secret });
      },
    });
    app.get('/webhooks', {
      config: { tenancy: 'filtered' },
      schema: {
        tags,
        summary: 'List webhook endpoints',
        querystring: listQuery.extend({ organization: objectId.optional() }),
        response: { 200: pageOf(webhookSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await listWebhooks(deps.db, { ...req.query, organization: req.tenant.filter(req.query.organization) });
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });
    app.get('/webhooks/event_types', {
      config: { tenancy: 'shared' },
      schema: {
        tags,
        summary: 'The event types an endpoint can subscribe to',
        description: 'Every type the gateway sends, in the order docs/events.md lists them; `events: ["*"]` also receives types added later.',
        response: { 200: eventTypesSchema, ...commonErrors },
      },
      handler: async () => ({ data: [...EVENT_TYPES] }),
    });
    app.get('/webhooks/:id', {
      config: { tenancy: { params: { id: 'webhook' } } },
      schema: { tags, summary: 'Get a webhook endpoint', params: idParams, response: { 200: webhookSchema, ...commonErrors } },
      handler: async (req) => json(await getWebhook(deps.db, req.params.id)),
    });
    app.patch('/webhooks/:id', {
      config: { tenancy: { params: { id: 'webhook' } } },
      schema: {
        tags,
        summary: 'Update a webhook endpoint',
        description: 'Setting `active: true` on an endpoint the gateway disabled clears its failure count; its pending deliveries resume.',
        params: idParams,
        body: z.strictObject({
          url: url.optional(),
          events: events.optional(),
          active: z.boolean().optional(),
          description: z.string().max(500).nullable().optional(),
        }),
        response: { 200: webhookSchema, ...commonErrors },
      },
      handler: async (req) => json(await updateWebhook(deps.db, deps.clock, req.params.id, req.body)),
    });
    app.delete('/webhooks/:id', {
      config: { tenancy: { params: { id: 'webhook' } } },
      schema: {
        tags,
        summary: 'Delete a webhook endpoint (and its delivery history)',
        params: idParams,
        response: { 204: z.null().describe('deleted'), ...commonErrors },
      },
      handler: async (req, reply) => {
        await deleteWebhook(deps.db, req.params.id);
        return reply.status(204).send(null);
      },
    });
    app.get('/webhooks/:id/deliveries', {
      config: { tenancy: { params: { id: 'webhook' } } },
      schema: {
        tags,
        summary: "An endpoint's deliveries, newest first",
        description: 'Each delivery with its attempts (status code or error, duration) and, while pending, when the next attempt is due.',
        params: idParams,
        querystring: listQuery.extend({ status: z.enum(['pending', 'delivered', 'failed']).optional() }),
        response: { 200: pageOf(deliverySchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await listDeliveries(deps.db, req.params.id, req.query);
        return { data: page.data.map(deliveryJson), next_cursor: page.next_cursor };
      },
    });
    app.post('/webhooks/:id/deliveries/:delivery/retry', {
      config: { tenancy: { params: { id: 'webhook' } } },
      schema: {
        tags,
        summary: 'Send a delivery again now',
        description:
          'A pending delivery is due at once; a delivered or failed one is replayed as a new delivery of the same event ' +
          '(same `webhook-id`). Answers the delivery that will be sent.',
        params: z.strictObject({ id: objectId, delivery: objectId }),
        response: { 202: deliverySchema, ...commonErrors },
      },
      handler: async (req, reply) => {
        const d = await retryDelivery(deps.db, deps.clock, req.params.id, req.params.delivery);
        deps.webhooks.kick();
        return reply.status(202).send(deliveryJson(d));
      },
    });
  };
}
