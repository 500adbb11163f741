import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import { commonErrors, idParams, listQuery, pageOf } from '../schemas.ts';
import { anyCommandSchema, commandJson, commandRoute } from './command-route.ts';

const status = <T extends readonly [string, ...string[]]>(values: T) => z.object({ status: z.enum(values) });

/**
 * The operations an operator runs on a charge station (OCPP 1.6 CSMS→charger calls), one typed
 * route each, and the command log they write.
 */
export function operationRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/chargestations/:id/commands', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ['chargestation operations'],
        summary: "A station's command log, newest first",
        description: 'Every call sent to the station through this API: its payload, the answer or what went wrong, who asked.',
        params: idParams,
        querystring: listQuery.extend({ action: z.string().max(64).optional().describe('only this OCPP action') }),
        response: { 200: pageOf(anyCommandSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await deps.commands.list(req.params.id, req.query);
        return { data: page.data.map(commandJson), next_cursor: page.next_cursor };
      },
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/reset',
      action: 'Reset',
      summary: 'Reset a station (Reset)',
      description: 'Soft: the station stops its transactions and restarts its software; Hard: it reboots.',
      body: z.strictObject({ type: z.enum(['Hard', 'Soft']).default('Soft') }),
      answer: status(['Accepted', 'Rejected']),
      payload: ({ body }) => ({ type: body.type }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/unlock',
      action: 'UnlockConnector',
      summary: 'Unlock a connector (UnlockConnector)',
      description: 'Releases a stuck cable; a transaction running there is stopped by the station.',
      body: z.strictObject({ connector_id: z.number().int().min(1).max(100) }),
      answer: status(['Unlocked', 'UnlockFailed', 'NotSupported']),
      payload: ({ body }) => ({ connectorId: body.connector_id }),
    });
  };
}
