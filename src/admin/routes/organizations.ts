import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Organization } from '../../db/tables/organizations.ts';
import {
  createOrganization,
  listOrganizations,
  requireOrganization,
  updateOrganization,
} from '../../domain/organizations/organizations.ts';
import type { AppContext } from '../../context.ts';
import { cents, commonErrors, currencyCode, idParams, isoDate, listQuery, pageOf } from '../schemas.ts';

const fields = {
  name: z.string().min(1).max(200),
  minimum_balance_to_start_session: cents({ min: 0, max: 100_000_000 }).describe(
    'cents a wallet must hold to start a session',
  ),
  currency: currencyCode,
  test_mode: z.boolean(),
};

export const organizationSchema = z
  .object({
    _id: z.string(),
    name: z.string(),
    minimum_balance_to_start_session: z.number().int(),
    currency: z.string(),
    test_mode: z.boolean(),
    default: z.boolean(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Organization' });

function json(o: Organization): z.infer<typeof organizationSchema> {
  return {
    _id: o.id,
    name: o.name,
    minimum_balance_to_start_session: o.minimum_balance_to_start_session,
    currency: o.currency,
    test_mode: o.test_mode,
    default: o.is_default,
    createdAt: o.created_at.toISOString(),
    updatedAt: o.updated_at.toISOString(),
  };
}

export function organizationRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['organizations'];
    app.post('/organizations', {
      config: { tenancy: 'global' },
      schema: {
        tags,
        summary: 'Create an organization',
        body: z.strictObject({
          name: fields.name,
          minimum_balance_to_start_session: fields.minimum_balance_to_start_session.default(2000),
          currency: fields.currency.default('USD'),
          test_mode: fields.test_mode.default(false),
        }),
        response: { 201: organizationSchema, ...commonErrors },
      },
      handler: async (req, reply) => {
        return reply.status(201).send(json(await createOrganization(deps.db, deps.clock, req.body)));
      },
    });
    app.get('/organizations', {
      config: { tenancy: 'filtered' },
      schema: { tags, summary: 'List organizations', querystring: listQuery, response: { 200: pageOf(organizationSchema), ...commonErrors } },
      handler: async (req) => {
        if (req.tenant.scoped) {
          return { data: [json(await requireOrganization(deps.db, req.tenant.organizationId!))], next_cursor: null };
        }
        const page = await listOrganizations(deps.db, req.query);
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });
    app.get('/organizations/:id', {
      config: { tenancy: { params: { id: 'organization' } } },
      schema: { tags, summary: 'Get an organization', params: idParams, response: { 200: organizationSchema, ...commonErrors } },
      handler: async (req) => {
        return json(await requireOrganization(deps.db, req.params.id));
      },
    });
    app.patch('/organizations/:id', {
      config: { tenancy: { params: { id: 'organization' } } },
      schema: {
        tags,
        summary: 'Update an organization',
        description: 'A new minimum applies to the next Authorize/StartTransaction; running sessions continue.',
        params: idParams,
        body: z.strictObject({
          name: fields.name.optional(),
          minimum_balance_to_start_session: fields.minimum_balance_to_start_session.optional(),
          currency: fields.currency.optional(),
          test_mode: fields.test_mode.optional(),
        }),
        response: { 200: organizationSchema, ...commonErrors },
      },
      handler: async (req) => {
        return json(await updateOrganization(deps.db, deps.clock, req.params.id, req.body));
      },
    });
  };
}
