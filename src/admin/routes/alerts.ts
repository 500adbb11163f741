import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Alert } from '../../db/tables/sessions.ts';
import type { AdminDeps } from '../server.ts';
import { scopeOf } from '../scope.ts';
import { commonErrors, idParams, iso, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { decodeCursor, toPage } from '../../shared/pagination.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { alertRaised } from '../../domain/live.ts';

const alertSchema = z
  .object({
    _id: z.string(),
    kind: z.string(),
    chargestation: z.string().nullable(),
    session: z.string().nullable(),
    transaction_id: z.number().int().nullable(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
    acknowledged: z.boolean(),
    acknowledgedAt: isoDate.nullable(),
    acknowledgedBy: z.string().nullable().describe('the API key id that acknowledged it'),
    createdAt: isoDate,
  })
  .meta({ id: 'Alert' });

function json(a: Alert): z.infer<typeof alertSchema> {
  return {
    _id: a.id,
    kind: a.kind,
    chargestation: a.station_id,
    session: a.session_id,
    transaction_id: a.transaction_id,
    message: a.message,
    details: a.details,
    acknowledged: a.acknowledged_at !== null,
    acknowledgedAt: iso(a.acknowledged_at),
    acknowledgedBy: a.acknowledged_by,
    createdAt: a.created_at.toISOString(),
  };
}

export function alertRoutes(deps: AdminDeps): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['alerts'];
    /** Alerts a scoped key may see: those of its organization's stations. */
    const visible = (org: string | undefined) =>
      org ? deps.db.selectFrom('charge_stations').select('id').where('organization_id', '=', org) : undefined;

    app.get('/alerts', {
      schema: {
        tags,
        summary: 'What stations did that an operator should look at, newest first',
        description:
          'Kinds: unknown_transaction, transaction_station_mismatch, meter_backwards, meter_values_without_session, remote_stop_failed. ' +
          '`open=true` lists only those not acknowledged yet.',
        querystring: listQuery.extend({
          chargestation: objectId.optional(),
          session: objectId.optional(),
          kind: z.string().max(64).optional(),
          open: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
        }),
        response: { 200: pageOf(alertSchema), ...commonErrors },
      },
      handler: async (req) => {
        let q = deps.db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(req.query.limit + 1);
        const before = decodeCursor(req.query.cursor);
        if (before) q = q.where('id', '<', before);
        if (req.query.chargestation) q = q.where('station_id', '=', req.query.chargestation);
        if (req.query.session) q = q.where('session_id', '=', req.query.session);
        if (req.query.kind) q = q.where('kind', '=', req.query.kind);
        if (req.query.open !== undefined) q = q.where('acknowledged_at', req.query.open ? 'is' : 'is not', null);
        const stations = visible(scopeOf(deps.db, req).filter(undefined));
        if (stations) q = q.where('station_id', 'in', stations);
        const page = toPage(await q.execute(), req.query.limit, (a) => a.id);
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });

    app.post('/alerts/:id/ack', {
      schema: {
        tags,
        summary: 'Acknowledge an alert',
        description: 'Marks the alert as seen by an operator; it leaves the open list. Acknowledging it again changes nothing.',
        params: idParams,
        response: { 200: alertSchema, ...commonErrors },
      },
      handler: async (req) => {
        const stations = visible(scopeOf(deps.db, req).filter(undefined));
        let q = deps.db
          .updateTable('alerts')
          .set((eb) => ({
            acknowledged_at: eb.fn.coalesce('acknowledged_at', eb.val(deps.clock.now())),
            acknowledged_by: eb.fn.coalesce('acknowledged_by', eb.val(req.principal?.keyId ?? null)),
          }))
          .where('id', '=', req.params.id);
        if (stations) q = q.where('station_id', 'in', stations);
        const alert = await q.returningAll().executeTakeFirst();
        if (!alert) throw new NotFoundError('alert', req.params.id);
        deps.events?.publish(alertRaised({ stationId: alert.station_id ?? undefined, sessionId: alert.session_id ?? undefined, kind: alert.kind }));
        return json(alert);
      },
    });
  };
}
