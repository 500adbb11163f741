import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Token } from '../../db/tables/wallets.ts';
import { createToken, getToken, listTokens, updateToken } from '../../domain/tokens/tokens.ts';
import type { AppContext } from '../../context.ts';
import { commonErrors, conflictErrors, idParams, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';

const fields = {
  physicalId: z
    .string()
    .min(1)
    .max(20, 'must be at most 20 characters (OCPP idTag)')
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .describe('the OCPP idTag (case-insensitive)'),
  type: z.enum(['ISO14443', 'Central']),
  user: objectId,
  active: z.boolean(),
  expiresAt: z.iso.datetime({ offset: true }).nullable(),
};

export const tokenSchema = z
  .object({
    _id: z.string(),
    physicalId: z.string(),
    type: z.string(),
    user: z.string(),
    active: z.boolean(),
    expiresAt: isoDate.nullable(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Token' });

function json(t: Token): z.infer<typeof tokenSchema> {
  return {
    _id: t.id,
    physicalId: t.physical_id,
    type: t.type,
    user: t.user_id,
    active: t.active,
    expiresAt: t.expires_at ? t.expires_at.toISOString() : null,
    createdAt: t.created_at.toISOString(),
    updatedAt: t.updated_at.toISOString(),
  };
}

const toDate = (v: string | null | undefined) => (v === undefined ? undefined : v === null ? null : new Date(v));

export function tokenRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['tokens'];
    app.post('/tokens', {
      config: { tenancy: { body: { user: 'user' } } },
      schema: {
        tags,
        summary: 'Create a token (an idTag a user charges with)',
        body: z.strictObject({
          physicalId: fields.physicalId,
          type: fields.type.default('ISO14443'),
          user: fields.user,
          active: fields.active.optional(),
          expiresAt: fields.expiresAt.optional(),
        }),
        response: { 201: tokenSchema, ...conflictErrors },
      },
      handler: async (req, reply) => {
        const token = await createToken(deps.db, deps.clock, { ...req.body, expiresAt: toDate(req.body.expiresAt) });
        return reply.status(201).send(json(token));
      },
    });
    app.get('/tokens', {
      config: { tenancy: 'filtered' },
      schema: {
        tags,
        summary: 'List tokens',
        querystring: listQuery.extend({ user: objectId.optional() }),
        response: { 200: pageOf(tokenSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await listTokens(deps.db, { ...req.query, organization: req.tenant.filter(undefined) });
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });
    app.get('/tokens/:id', {
      config: { tenancy: { params: { id: 'token' } } },
      schema: { tags, summary: 'Get a token', params: idParams, response: { 200: tokenSchema, ...commonErrors } },
      handler: async (req) => {
        return json(await getToken(deps.db, req.params.id));
      },
    });
    app.patch('/tokens/:id', {
      config: { tenancy: { params: { id: 'token' }, body: { user: 'user' } } },
      schema: {
        tags,
        summary: 'Update a token',
        params: idParams,
        body: z.strictObject({
          physicalId: fields.physicalId.optional(),
          type: fields.type.optional(),
          user: fields.user.optional(),
          active: fields.active.optional(),
          expiresAt: fields.expiresAt.optional(),
        }),
        response: { 200: tokenSchema, ...conflictErrors },
      },
      handler: async (req) => {
        return json(await updateToken(deps.db, deps.clock, req.params.id, { ...req.body, expiresAt: toDate(req.body.expiresAt) }));
      },
    });
  };
}
