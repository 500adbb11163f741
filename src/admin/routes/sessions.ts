import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Session } from '../../db/tables/sessions.ts';
import type { AppContext } from '../../context.ts';
import { commonErrors, conflictErrors, errorSchema, idParams, iso, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { energyOf } from '../../domain/sessions/billing.ts';
import { chargingProfile } from '../ocpp-schemas.ts';
import { requester } from './command-route.ts';

const STATUSES = ['active', 'stopping', 'completed', 'rejected', 'stop_failed', 'held'] as const;

export const sessionSchema = z
  .object({
    _id: z.string(),
    transaction_id: z.number().int(),
    chargestation: z.string(),
    connector_id: z.number().int(),
    user: z.string().nullable(),
    token: z.string().nullable(),
    id_tag: z.string(),
    wallet: z.string().nullable(),
    status: z.enum(STATUSES),
    meter_start: z.number().int(),
    meter_last: z.number().int(),
    meter_stop: z.number().int().nullable(),
    energy_wh: z.number().int(),
    power_w: z.number().int().nullable(),
    started_at: isoDate,
    stopped_at: isoDate.nullable(),
    stop_reason: z.string().nullable(),
    termination: z.string().nullable(),
    ended_by: z
      .enum(['station', 'connector_status', 'new_transaction', 'operator'])
      .nullable()
      .describe("what ended it: its StopTransaction, its connector's status, a new transaction there, an operator"),
    closed_by: z.string().nullable().describe('the API key that closed it by hand'),
    refusal_reason: z.string().nullable(),
    stop_requested_at: isoDate.nullable().describe('when the gateway first asked the station to stop'),
    stop_attempts: z.number().int().describe('RemoteStopTransaction calls sent so far'),
    stopped_by: z
      .enum(['prediction'])
      .nullable()
      .describe("'prediction': stopped ahead of the wallet's predicted zero crossing, timed to end at zero; null: any other stop"),
    cost: z.object({
      amount: z.number().int().describe('cents; live for running sessions (TIME up to now)'),
      debited: z.number().int().describe('cents taken from the wallet for this session so far'),
      currency: z.string(),
    }),
    rate: z
      .object({
        _id: z.string(),
        currency: z.string(),
        price_components: z.array(z.object({ type: z.string(), price_e4: z.number(), tax_e4: z.number(), step_size: z.number() })),
      })
      .nullable()
      .describe('the snapshot the session is billed with; prices in ten-thousandths of a cent'),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Session' });

export function sessionRoutes(deps: AppContext): FastifyPluginAsyncZod {
  const json = (s: Session): z.infer<typeof sessionSchema> => ({
    _id: s.id,
    transaction_id: s.transaction_id,
    chargestation: s.station_id,
    connector_id: s.connector_id,
    user: s.user_id,
    token: s.token_id,
    id_tag: s.id_tag,
    wallet: s.wallet_id,
    status: s.status,
    meter_start: s.meter_start,
    meter_last: s.meter_last,
    meter_stop: s.meter_stop,
    energy_wh: energyOf(s),
    power_w: s.power_w,
    started_at: s.start_timestamp.toISOString(),
    stopped_at: iso(s.stop_timestamp),
    stop_reason: s.stop_reason,
    termination: s.termination,
    ended_by: s.ended_by,
    closed_by: s.closed_by,
    refusal_reason: s.refusal_reason,
    stop_requested_at: iso(s.stop_requested_at),
    stop_attempts: s.stop_attempts,
    stopped_by: s.stopped_by === 'prediction' ? 'prediction' : null,
    cost: { amount: deps.sessions.liveCost(s), debited: s.debited, currency: s.currency },
    rate: s.rate_snapshot
      ? { _id: s.rate_snapshot.rate_id, currency: s.rate_snapshot.currency, price_components: s.rate_snapshot.price_components }
      : null,
    createdAt: s.created_at.toISOString(),
    updatedAt: s.updated_at.toISOString(),
  });

  return async (app) => {
    const tags = ['sessions'];
    app.get('/sessions', {
      config: { tenancy: 'filtered' },
      schema: {
        tags,
        summary: 'List sessions, newest first',
        querystring: listQuery.extend({
          status: z.enum(STATUSES).optional(),
          user: objectId.optional(),
          chargestation: objectId.optional(),
        }),
        response: { 200: pageOf(sessionSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await deps.sessions.list({ ...req.query, visibleTo: req.tenant.filter(undefined) });
        return { data: page.data.map(json), next_cursor: page.next_cursor };
      },
    });
    app.get('/sessions/:id', {
      config: { tenancy: { params: { id: 'session' } } },
      schema: { tags, summary: 'Get a session', params: idParams, response: { 200: sessionSchema, ...commonErrors } },
      handler: async (req) => {
        return json(await deps.sessions.get(req.params.id));
      },
    });
    app.post('/sessions', {
      config: { tenancy: { body: { chargestation: 'chargestation', user: 'user' } } },
      schema: {
        tags,
        summary: 'Start a session remotely (RemoteStartTransaction)',
        description:
          "Checks the user's wallet against the organization minimum (409 insufficient_balance), the station's " +
          'connection (409 station_offline), then asks the station to start with the user\'s active token. ' +
          "Answers 202 with the station's answer; the session appears when the station sends StartTransaction. " +
          "The call is in the station's command log (GET /v1/chargestations/:id/commands) with the key that asked.",
        body: z.strictObject({
          type: z.literal('wallet'),
          chargestation: objectId,
          connector: z.number().int().min(1).max(100),
          user: objectId,
          charging_profile: chargingProfile
            .optional()
            .describe('a TxProfile the station applies to this transaction (Smart Charging; chargingProfilePurpose TxProfile)'),
        }),
        response: { 202: z.object({ status: z.string() }), ...conflictErrors, 504: errorSchema },
      },
      handler: async (req, reply) => {
        const { charging_profile, ...start } = req.body;
        return reply
          .status(202)
          .send(await deps.sessions.remoteStart({ ...start, chargingProfile: charging_profile, requestedBy: requester(req) }));
      },
    });
    app.post('/sessions/:id/close', {
      config: { tenancy: { params: { id: 'session' } } },
      schema: {
        tags,
        summary: 'Close a session by hand (operator settlement)',
        description:
          'Settles the session now, on `meter_stop` (Wh; default: the highest register the station reported), and ' +
          'closes it: for a session a station left open (its StopTransaction lost), or one held for an implausible ' +
          'reading. No plausibility check applies to the operator\'s register; a register below what was already ' +
          'billed bills nothing more. The ledger entry of the settlement names the API key, and so does the session ' +
          '(`closed_by`). 409 session_settled when the session is already settled.',
        params: idParams,
        body: z.strictObject({ meter_stop: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).optional(),
        response: { 200: sessionSchema, ...conflictErrors },
      },
      handler: async (req) => {
        const closed = await deps.sessions.closeSession(req.params.id, {
          meterStop: req.body?.meter_stop,
          closedBy: req.principal?.keyId ?? 'unknown',
        });
        return json(closed);
      },
    });
    app.post('/sessions/:id/stop', {
      config: { tenancy: { params: { id: 'session' } } },
      schema: {
        tags,
        summary: 'Stop a session (RemoteStopTransaction)',
        description:
          "Answers 202 with the station's first answer (Accepted, Rejected, offline, timeout); the gateway keeps " +
          'retrying with backoff and on reconnect until the station stops.',
        params: idParams,
        response: { 202: z.object({ status: z.string() }), ...conflictErrors },
      },
      handler: async (req, reply) => {
        return reply.status(202).send(await deps.sessions.remoteStop(req.params.id, requester(req)));
      },
    });
  };
}
