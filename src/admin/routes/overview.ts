import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import { overviewFigures } from '../../domain/overview.ts';
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

export function overviewRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/overview', {
      config: { tenancy: 'filtered' },
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
        const from = req.query.since ? new Date(req.query.since) : new Date(deps.clock.now().getTime() - 86_400_000);
        return overviewFigures(deps.db, {
          organization: req.tenant.filter(undefined),
          from,
          locate: (identities) => deps.stations.locate(identities),
        });
      },
    });
  };
}
