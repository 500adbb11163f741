import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Rate } from '../../db/tables/wallets.ts';
import { createRate, getRate, listRates, toComponentOutput, updateRate } from '../../domain/billing/rates.ts';
import type { AppContext } from '../../context.ts';
import { commonErrors, currencyCode, idParams, isoDate, listQuery, pageOf } from '../schemas.ts';

const priceComponent = z.strictObject({
  type: z.enum(['ENERGY', 'TIME', 'FLAT']),
  price: z
    .number()
    .min(0, 'must not be negative')
    .describe('cents per kWh (ENERGY), per hour (TIME) or per session (FLAT); up to 4 decimals'),
  tax: z.number().min(0).max(100).optional().describe('percent, up to 4 decimals'),
  step_size: z
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .optional()
    .describe('Wh (ENERGY) or seconds (TIME): the quantity is rounded up to a multiple at settlement'),
});

const components = z.array(priceComponent).min(1, 'at least one price component').max(10);

export const rateSchema = z
  .object({
    _id: z.string(),
    description: z.string().nullable(),
    currency: z.string(),
    price_components: z.array(
      z.object({ type: z.string(), price: z.number(), tax: z.number(), step_size: z.number().int() }),
    ),
    active: z.boolean(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Rate' });

export function rateJson(r: Rate): z.infer<typeof rateSchema> {
  return {
    _id: r.id,
    description: r.description,
    currency: r.currency,
    price_components: toComponentOutput(r.price_components),
    active: r.active,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function rateRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['rates'];
    app.post('/rates', {
      config: { tenancy: 'global' },
      schema: {
        tags,
        summary: 'Create a rate',
        body: z.strictObject({
          description: z.string().max(500).optional(),
          currency: currencyCode.default('USD'),
          price_components: components,
          active: z.boolean().optional(),
        }),
        response: { 201: rateSchema, ...commonErrors },
      },
      handler: async (req, reply) => {
        return reply.status(201).send(rateJson(await createRate(deps.db, deps.clock, req.body)));
      },
    });
    app.get('/rates', {
      config: { tenancy: 'shared' },
      schema: { tags, summary: 'List rates', querystring: listQuery, response: { 200: pageOf(rateSchema), ...commonErrors } },
      handler: async (req) => {
        const page = await listRates(deps.db, req.query);
        return { data: page.data.map(rateJson), next_cursor: page.next_cursor };
      },
    });
    app.get('/rates/:id', {
      config: { tenancy: 'shared' },
      schema: { tags, summary: 'Get a rate', params: idParams, response: { 200: rateSchema, ...commonErrors } },
      handler: async (req) => rateJson(await getRate(deps.db, req.params.id)),
    });
    app.patch('/rates/:id', {
      config: { tenancy: 'global' },
      schema: {
        tags,
        summary: 'Update a rate',
        description: 'Sessions already running keep the rate they started with.',
        params: idParams,
        body: z.strictObject({
          description: z.string().max(500).optional(),
          currency: currencyCode.optional(),
          price_components: components.optional(),
          active: z.boolean().optional(),
        }),
        response: { 200: rateSchema, ...commonErrors },
      },
      handler: async (req) => {
        return rateJson(await updateRate(deps.db, deps.clock, req.params.id, req.body));
      },
    });
  };
}
