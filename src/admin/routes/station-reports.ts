import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import type { ReportKind, StationReport, StoredChargingProfile } from '../../db/tables/commands.ts';
import { chargingProfilesOf, listReports } from '../../domain/operations/reports.ts';
import { commonErrors, idParams, isoDate, listQuery, pageOf } from '../schemas.ts';

const profileInForce = z
  .object({
    charging_profile_id: z.number().int(),
    connector_id: z.number().int(),
    stack_level: z.number().int(),
    purpose: z.string(),
    transaction_id: z.number().int().nullable(),
    profile: z.unknown().describe('the profile as sent (OCPP ChargingProfile)'),
    set_at: isoDate,
  })
  .meta({ id: 'ChargingProfileInForce' });

const reportSchema = z
  .object({
    status: z.string().describe("the reported status (a security event's type)"),
    request_id: z.number().int().nullable(),
    details: z.record(z.string(), z.unknown()),
    reported_at: isoDate,
    received_at: isoDate,
  })
  .meta({ id: 'StationReport' });

function profileJson(p: StoredChargingProfile): z.infer<typeof profileInForce> {
  return {
    charging_profile_id: p.charging_profile_id,
    connector_id: p.connector_id,
    stack_level: p.stack_level,
    purpose: p.purpose,
    transaction_id: p.transaction_id,
    profile: p.profile,
    set_at: p.set_at.toISOString(),
  };
}

function reportJson(r: StationReport): z.infer<typeof reportSchema> {
  return {
    status: r.status,
    request_id: r.request_id,
    details: r.details,
    reported_at: r.reported_at.toISOString(),
    received_at: r.created_at.toISOString(),
  };
}

/**
 * The operations an operator runs on a charge station (OCPP 1.6 CSMS→charger calls), one typed
 * route each, and the command log they write.
 */

/** What stations reported back: charging profiles in force, firmware/diagnostics/log progress, security events. */
export function stationReportRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const ops = ['chargestation operations'];

    app.get('/chargestations/:id/charging_profiles', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ops,
        summary: 'The charging profiles in force on a station',
        description: 'Those it accepted and has not cleared (a TxProfile until its transaction stops).',
        params: idParams,
        response: { 200: z.object({ data: z.array(profileInForce) }), ...commonErrors },
      },
      handler: async (req) => {
        await deps.commands.station(req.params.id);
        return { data: (await chargingProfilesOf(deps.db, req.params.id)).map(profileJson) };
      },
    });

    const reports: [string, ReportKind, string][] = [
      ['firmware', 'firmware', 'FirmwareStatusNotification progress, newest first'],
      ['diagnostics', 'diagnostics', 'DiagnosticsStatusNotification progress, newest first'],
      ['log', 'log', 'LogStatusNotification progress (Security extension), newest first'],
      ['security_events', 'security_event', 'SecurityEventNotifications, newest first (`status` is the event type)'],
    ];
    for (const [path, kind, summary] of reports) {
      app.get(`/chargestations/:id/${path}`, {
        config: { tenancy: { params: { id: 'chargestation' } } },
        schema: {
          tags: ops,
          summary,
          params: idParams,
          querystring: listQuery,
          response: { 200: pageOf(reportSchema), ...commonErrors },
        },
        handler: async (req) => {
          await deps.commands.station(req.params.id);
          const page = await listReports(deps.db, req.params.id, { kind, ...req.query });
          return { data: page.data.map(reportJson), next_cursor: page.next_cursor };
        },
      });
    }
  };
}
