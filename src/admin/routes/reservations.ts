import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import type { Reservation } from '../../db/tables/commands.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { reservationStatus } from '../../domain/operations/reservations.ts';
import { commonErrors, idParams, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { commandErrors, commandJson, commandSchema, requester } from './command-route.ts';
import { connector, dateTime, idTag, int32 } from '../ocpp-schemas.ts';
import { status } from './operations.ts';

const reservationSchema = z
  .object({
    _id: z.string(),
    reservation_id: z.number().int().describe('the OCPP reservationId'),
    chargestation: z.string(),
    connector_id: z.number().int().describe('0: any connector of the station'),
    id_tag: z.string(),
    parent_id_tag: z.string().nullable(),
    user: z.string().nullable(),
    expires_at: isoDate,
    status: z
      .enum(['requested', 'reserved', 'refused', 'failed', 'cancelled', 'used', 'expired'])
      .describe('requested: sent, no answer yet; refused: see station_status; used: a StartTransaction carried its id'),
    station_status: z.string().nullable().describe("the station's answer to ReserveNow"),
    session: z.string().nullable(),
    transaction_id: z.number().int().nullable(),
    requested_by: z.string(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Reservation' });

function reservationJson(r: Reservation, now: Date): z.infer<typeof reservationSchema> {
  return {
    _id: r.id,
    reservation_id: r.reservation_id,
    chargestation: r.station_id,
    connector_id: r.connector_id,
    id_tag: r.id_tag,
    parent_id_tag: r.parent_id_tag,
    user: r.user_id,
    expires_at: r.expires_at.toISOString(),
    status: reservationStatus(r, now),
    station_status: r.station_status,
    session: r.session_id,
    transaction_id: r.transaction_id,
    requested_by: r.requested_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** ReserveNow / CancelReservation under the station, and the reservations' state. */
export function reservationRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {

    const ops = ['chargestation operations'];
    const reservationParams = idParams.extend({ reservation_id: z.coerce.number().pipe(int32().min(0)) });

    app.post('/chargestations/:id/reservations', {
      config: { tenancy: { params: { id: 'chargestation' }, body: { user: 'user' } } },
      schema: {
        tags: ops,
        summary: 'Reserve a connector for a driver (ReserveNow)',
        description:
          "The driver (`user`: their active token; or a token's `id_tag`) must be allowed to start here: a wallet below " +
          'the organization minimum is 409 insufficient_balance and nothing is sent. connector_id 0: any connector. ' +
          "Answers 201 with the reservation (reserved, or refused with the station's status) and the command.",
        params: idParams,
        body: z
          .strictObject({
            connector_id: connector,
            user: objectId.optional(),
            id_tag: idTag.optional(),
            parent_id_tag: idTag.optional(),
            expires_at: dateTime,
          })
          .refine((b) => (b.user === undefined) !== (b.id_tag === undefined), { message: 'give exactly one of user and id_tag' }),
        response: {
          201: z.object({ reservation: reservationSchema, command: commandSchema(status(['Accepted', 'Faulted', 'Occupied', 'Rejected', 'Unavailable'])) }),
          ...commandErrors,
        },
      },
      handler: async (req, reply) => {
        const station = await deps.commands.station(req.params.id);
        // A scoped key reserves only for its own organization's drivers.
        if (req.body.id_tag !== undefined && req.tenant.scoped) {
          const owner = await deps.reservations.organizationOfIdTag(req.body.id_tag);
          if (owner !== req.tenant.organizationId) throw new NotFoundError('token', req.body.id_tag);
        }
        const now = deps.clock.now();
        const { reservation, result } = await deps.reservations.reserve(
          station,
          {
            connectorId: req.body.connector_id,
            user: req.body.user,
            idTag: req.body.id_tag,
            parentIdTag: req.body.parent_id_tag,
            expiresAt: new Date(req.body.expires_at),
          },
          requester(req),
          now,
        );
        return reply.status(201).send({ reservation: reservationJson(reservation, now), command: commandJson(result.command) as never });
      },
    });

    app.get('/chargestations/:id/reservations', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ops,
        summary: "A station's reservations, newest first",
        params: idParams,
        querystring: listQuery,
        response: { 200: pageOf(reservationSchema), ...commonErrors },
      },
      handler: async (req) => {
        await deps.commands.station(req.params.id);
        const page = await deps.reservations.list(req.params.id, req.query);
        const now = deps.clock.now();
        return { data: page.data.map((r) => reservationJson(r, now)), next_cursor: page.next_cursor };
      },
    });

    app.get('/chargestations/:id/reservations/:reservation_id', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: { tags: ops, summary: 'A reservation', params: reservationParams, response: { 200: reservationSchema, ...commonErrors } },
      handler: async (req) => reservationJson(await deps.reservations.get(req.params.id, req.params.reservation_id), deps.clock.now()),
    });

    app.delete('/chargestations/:id/reservations/:reservation_id', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ops,
        summary: 'Cancel a reservation (CancelReservation)',
        description: "Answers with the command, the station's answer in it; Accepted: the reservation is cancelled.",
        params: reservationParams,
        response: { 200: commandSchema(status(['Accepted', 'Rejected'])), ...commandErrors },
      },
      handler: async (req) => {
        const station = await deps.commands.station(req.params.id);
        const { command } = await deps.reservations.cancel(station, req.params.reservation_id, requester(req));
        return commandJson(command) as never;
      },
    });
  };
}
