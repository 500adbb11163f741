import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import { commonErrors, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { listAlerts } from '../../domain/sessions/alerts.ts';

const alertSchema = z
  .object({
    _id: z.string(),
    kind: z.string(),
    chargestation: z.string().nullable(),
    session: z.string().nullable(),
    transaction_id: z.number().int().nullable(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
    createdAt: isoDate,
  })
  .meta({ id: 'Alert' });

export function alertRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/alerts', {
      config: { tenancy: 'filtered' },
      schema: {
        tags: ['alerts'],
        summary: 'What stations did that an operator should look at, newest first',
        description:
          'Kinds: unknown_transaction, transaction_station_mismatch, meter_backwards, meter_values_without_session, remote_stop_failed.',
        querystring: listQuery.extend({ chargestation: objectId.optional(), kind: z.string().max(64).optional() }),
        response: { 200: pageOf(alertSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await listAlerts(deps.db, { ...req.query, organization: req.tenant.filter(undefined) });
        return {
          data: page.data.map((a) => ({
            _id: a.id,
            kind: a.kind,
            chargestation: a.station_id,
            session: a.session_id,
            transaction_id: a.transaction_id,
            message: a.message,
            details: a.details,
            createdAt: a.created_at.toISOString(),
          })),
          next_cursor: page.next_cursor,
        };
      },
    });
  };
}
