import { z } from 'zod';
import { sql } from 'kysely';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminDeps } from '../server.ts';
import { scopeOf } from '../scope.ts';
import { commonErrors, isoDate } from '../schemas.ts';

const overviewSchema = z
  .object({
    stations: z.object({
      total: z.number().int().describe('active (registered, not deactivated) stations'),
      online: z.number().int(),
      offline: z.number().int(),
    }),
    sessions: z.object({
      active: z.number().int(),
      stopping: z.number().int(),
      stop_failed: z.number().int(),
    }),
    since: z.object({
      from: isoDate,
      sessions: z.number().int().describe('sessions started since `from` (refused starts left out)'),
      energy_wh: z.number().int().describe('energy of those sessions so far'),
      debited: z
        .array(z.object({ currency: z.string(), amount: z.number().int().describe('cents') }))
        .describe('what those sessions have cost their wallets so far, per currency'),
    }),
    alerts: z.object({ open: z.number().int().describe('alerts not acknowledged yet') }),
  })
  .meta({ id: 'Overview' });

export function overviewRoutes(deps: AdminDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/overview', {
      schema: {
        tags: ['overview'],
        summary: 'Figures for the console overview',
        description:
          'Stations online and offline, sessions running, energy and money of the sessions started since `since` ' +
          "(default: the last 24 hours; the console sends the viewer's midnight), and open alerts.",
        querystring: z.strictObject({ since: z.iso.datetime({ offset: true }).optional() }),
        response: { 200: overviewSchema, ...commonErrors },
      },
      handler: async (req) => {
        const org = scopeOf(deps.db, req).filter(undefined);
        const from = req.query.since ? new Date(req.query.since) : new Date(deps.clock.now().getTime() - 86_400_000);
        const { db } = deps;

        let stations = db.selectFrom('charge_stations').select('ocpp_id').where('active', '=', true);
        if (org) stations = stations.where('organization_id', '=', org);

        const open = ['active', 'stopping', 'stop_failed'] as const;
        let running = db
          .selectFrom('sessions as s')
          .select(['s.status', sql<number>`count(*)::int`.as('n')])
          .where('s.status', 'in', open)
          .groupBy('s.status');
        let recent = db
          .selectFrom('sessions as s')
          .select([
            's.currency',
            sql<number>`count(*)::int`.as('n'),
            sql<number>`coalesce(sum(s.meter_last - s.meter_start), 0)::bigint`.as('energy'),
            sql<number>`coalesce(sum(s.debited), 0)::bigint`.as('debited'),
          ])
          .where('s.start_timestamp', '>=', from)
          .where('s.status', '<>', 'rejected')
          .groupBy('s.currency');
        let alerts = db.selectFrom('alerts').select(sql<number>`count(*)::int`.as('n')).where('acknowledged_at', 'is', null);
        if (org) {
          const orgStations = db.selectFrom('charge_stations').select('id').where('organization_id', '=', org);
          const orgUsers = db.selectFrom('users').select('id').where('organization_id', '=', org);
          running = running.where((eb) => eb.or([eb('s.station_id', 'in', orgStations), eb('s.user_id', 'in', orgUsers)]));
          recent = recent.where((eb) => eb.or([eb('s.station_id', 'in', orgStations), eb('s.user_id', 'in', orgUsers)]));
          alerts = alerts.where('station_id', 'in', orgStations);
        }
        const [registered, byStatus, byCurrency, openAlerts] = await Promise.all([
          stations.execute(),
          running.execute(),
          recent.execute(),
          alerts.executeTakeFirstOrThrow(),
        ]);
        const online = registered.filter((s) => deps.connections.isOnline(s.ocpp_id)).length;
        const count = (status: string) => byStatus.find((r) => r.status === status)?.n ?? 0;
        return {
          stations: { total: registered.length, online, offline: registered.length - online },
          sessions: { active: count('active'), stopping: count('stopping'), stop_failed: count('stop_failed') },
          since: {
            from: from.toISOString(),
            sessions: byCurrency.reduce((n, r) => n + r.n, 0),
            energy_wh: byCurrency.reduce((n, r) => n + Number(r.energy), 0),
            debited: byCurrency.map((r) => ({ currency: r.currency, amount: Number(r.debited) })),
          },
          alerts: { open: openAlerts.n },
        };
      },
    });
  };
}
