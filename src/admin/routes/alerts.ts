import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Alert } from '../../db/tables/sessions.ts';
import type { AppContext } from '../../context.ts';
import { commonErrors, idParams, iso, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { acknowledgeAlert, listAlerts } from '../../domain/sessions/alerts.ts';
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
    count: z.number().int().describe('how many times it happened while open: repeats of an open alert of the same kind, station and session add here'),
    last_seen_at: isoDate.describe('when it last happened'),
    acknowledged: z.boolean().describe('acknowledged alerts are closed: a repeat opens a new alert'),
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
    count: a.count,
    last_seen_at: a.last_seen_at.toISOString(),
    acknowledged: a.acknowledged_at !== null,
    acknowledgedAt: iso(a.acknowledged_at),
    acknowledgedBy: a.acknowledged_by,
    createdAt: a.created_at.toISOString(),
  };
}

export function alertRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['alerts'];

    app.get('/alerts', {
      config: { tenancy: 'filtered' },
      schema: {
        tags,
        summary: 'What stations did that an operator should look at, newest first',
        description:
          'Kinds: unknown_transaction, transaction_station_mismatch, meter_backwards, meter_values_without_session (a transactionId ' +
          'the gateway does not know; clock-aligned readings without one are normal and raise nothing), remote_stop_failed, ' +
          'meter_implausible, meter_stop_below_reading, energy_after_stop, start_after_stop, transaction_replaced, ' +
          'transaction_ended_by_status, security_event (a station reported a security event that is not routine), start_time_adjusted (a StartTransaction stamped after it arrived, or longer before it than OCPP_MAX_START_AGE_H: billed from the time the gateway believes). Repeats of an open alert (same kind, station and session) are counted in it (`count`, ' +
          '`last_seen_at`), not listed again. ' +
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
        const page = await listAlerts(deps.db, { ...req.query, organization: req.tenant.filter(undefined) });
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });

    app.post('/alerts/:id/ack', {
      config: { tenancy: { params: { id: 'alert' } } },
      schema: {
        tags,
        summary: 'Acknowledge an alert',
        description: 'Marks the alert as seen by an operator; it leaves the open list. Acknowledging it again changes nothing.',
        params: idParams,
        response: { 200: alertSchema, ...commonErrors },
      },
      handler: async (req) => {
        const alert = await acknowledgeAlert(deps.db, req.params.id, deps.clock.now(), req.principal?.keyId ?? null);
        deps.events.publish(alertRaised({ stationId: alert.station_id ?? undefined, sessionId: alert.session_id ?? undefined, kind: alert.kind }));
        return json(alert);
      },
    });
  };
}
