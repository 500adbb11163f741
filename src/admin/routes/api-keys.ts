import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiKey } from '../../db/tables/api-keys.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../../domain/apikeys/manage.ts';
import type { AppContext } from '../../context.ts';
import { commonErrors, idParams, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';

export const apiKeySchema = z
  .object({
    _id: z.string(),
    name: z.string(),
    prefix: z.string().describe('the first characters of the key, to tell keys apart'),
    organization: z.string().nullable(),
    revoked: z.boolean(),
    createdAt: isoDate,
    revokedAt: isoDate.nullable(),
  })
  .meta({ id: 'ApiKey' });

function json(k: ApiKey): z.infer<typeof apiKeySchema> {
  return {
    _id: k.id,
    name: k.name,
    prefix: k.prefix,
    organization: k.organization_id,
    revoked: k.revoked_at !== null,
    createdAt: k.created_at.toISOString(),
    revokedAt: k.revoked_at ? k.revoked_at.toISOString() : null,
  };
}

export function apiKeyRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['api keys'];
    app.post('/api_keys', {
      config: { tenancy: 'global' },
      schema: {
        tags,
        summary: 'Create an API key',
        description: 'The answer holds the key in clear (`key`): the only time it is shown. It is stored hashed.',
        body: z.strictObject({ name: z.string().min(1).max(100), organization: objectId.optional() }),
        response: { 201: apiKeySchema.extend({ key: z.string() }), ...commonErrors },
      },
      handler: async (req, reply) => {
        const { apiKey, key } = await createApiKey(deps.db, deps.clock, req.body);
        deps.log.info({ apiKey: apiKey.id, name: apiKey.name }, 'API key created');
        return reply.status(201).send({ ...json(apiKey), key });
      },
    });
    app.get('/api_keys', {
      config: { tenancy: 'global' },
      schema: { tags, summary: 'List API keys', querystring: listQuery, response: { 200: pageOf(apiKeySchema), ...commonErrors } },
      handler: async (req) => {
        const page = await listApiKeys(deps.db, req.query);
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });
    app.delete('/api_keys/:id', {
      config: { tenancy: 'global' },
      schema: { tags, summary: 'Revoke an API key', params: idParams, response: { 200: apiKeySchema, ...commonErrors } },
      handler: async (req) => {
        const key = await revokeApiKey(deps.db, deps.clock, req.params.id);
        deps.log.info({ apiKey: key.id }, 'API key revoked');
        return json(key);
      },
    });
  };
}
