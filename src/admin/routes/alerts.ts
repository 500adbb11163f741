import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminDeps } from '../server.ts';
import { scopeOf } from '../scope.ts';
import { commonErrors, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { decodeCursor, toPage } from '../../shared/pagination.ts';

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

export function alertRoutes(deps: AdminDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/alerts', {
      schema: {
        tags: ['alerts'],
        summary: 'What stations did that an operator should look at, newest first',
        description:
          'Kinds: unknown_transaction, transaction_station_mismatch, meter_backwards, meter_values_without_session, remote_stop_failed.',
        querystring: listQuery.extend({ chargestation: objectId.optional(), kind: z.string().max(64).optional() }),
        response: { 200: pageOf(alertSchema), ...commonErrors },
      },
      handler: async (req) => {
        let q = deps.db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(req.query.limit + 1);
        const before = decodeCursor(req.query.cursor);
        if (before) q = q.where('id', '<', before);
        if (req.query.chargestation) q = q.where('station_id', '=', req.query.chargestation);
        if (req.query.kind) q = q.where('kind', '=', req.query.kind);
        const org = scopeOf(deps.db, req).filter(undefined);
        if (org) {
          q = q.where('station_id', 'in', deps.db.selectFrom('charge_stations').select('id').where('organization_id', '=', org));
        }
        const page = toPage(await q.execute(), req.query.limit, (a) => a.id);
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
