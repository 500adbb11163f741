import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.ts';
import type { StationCommand } from '../../db/tables/commands.ts';
import type { StationAction, StationCalls } from '../../domain/chargers/station-port.ts';
import type { CommandStation } from '../../domain/operations/commands.ts';
import { errorSchema, idParams, iso, isoDate, conflictErrors } from '../schemas.ts';

/** A command as the log shows it; `answer` typed by the route that sent it. */
export function commandSchema<T extends z.ZodType>(answer: T) {
  return z.object({
    _id: z.string(),
    chargestation: z.string(),
    action: z.string().describe('the OCPP 1.6 action sent'),
    status: z
      .enum(['pending', 'answered', 'call_error', 'offline', 'timeout', 'failed'])
      .describe("answered: the station's answer is in `answer` (whatever its status); otherwise `error` says what happened"),
    payload: z.unknown().describe('the call as sent'),
    answer: answer.nullable().describe("the station's answer"),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    requested_by: z.string().describe('the API key id that asked (a console session names its key), or `gateway` for a call the gateway made of its own accord'),
    reason: z
      .string()
      .nullable()
      .describe(
        'why the gateway sent it (`wallet_at_zero`, `predictive_stop`, `predictive_reading`, `predictive_sample_interval`, `boot_configuration`, `local_list_sync`, `operator_stop`, …); null for an operator operation',
      ),
    createdAt: isoDate,
    answeredAt: isoDate.nullable(),
  });
}

export const anyCommandSchema = commandSchema(z.unknown()).meta({ id: 'StationCommand' });

export function commandJson(c: StationCommand) {
  return {
    _id: c.id,
    chargestation: c.station_id,
    action: c.action,
    status: c.status,
    payload: c.payload,
    answer: c.answer ?? null,
    error: c.error,
    requested_by: c.requested_by,
    reason: c.reason,
    createdAt: c.created_at.toISOString(),
    answeredAt: iso(c.answered_at),
  };
}

/** Who asked, as the command log records it. */
export function requester(req: FastifyRequest): string {
  return req.principal?.keyId ?? 'unknown';
}

/** Errors a command route can answer besides its own 200. */
export const commandErrors = {
  ...conflictErrors,
  502: errorSchema.describe("the station answered with a CALLERROR (`details.ocpp_error_code`)"),
  504: errorSchema.describe('the station did not answer in time'),
} as const;

export interface CommandRouteSpec<A extends StationAction, B extends z.ZodType | undefined, Q extends z.ZodType | undefined> {
  method: 'POST' | 'GET' | 'PATCH' | 'DELETE' | 'PUT';
  /** relative to /v1 and starting with `/chargestations/:id/` */
  url: string;
  action: A;
  summary: string;
  description?: string;
  body?: B;
  querystring?: Q;
  /** extra path parameters besides `id` */
  params?: z.ZodObject;
  /** the station's answer, as documented in the OpenAPI document */
  answer: z.ZodType;
  /**
   * The call's payload from the request; may check the request against the gateway's rules first
   * (throwing an AppError refuses it before anything is sent).
   */
  payload: (input: {
    body: B extends z.ZodType ? z.output<B> : undefined;
    query: Q extends z.ZodType ? z.output<Q> : undefined;
    params: Record<string, string | number>;
    station: CommandStation;
    req: FastifyRequest;
  }) => StationCalls[A]['req'] | Promise<StationCalls[A]['req']>;
  timeoutMs?: number;
}

/**
 * One typed route that sends one OCPP operation to the station `:id`: the request is validated by
 * its zod schemas (and documented by them), turned into the call's payload, sent through the
 * command log (StationCommands), and answered 200 with the command, the station's answer in it.
 * Tenancy: the station must belong to a scoped key's organization (404 otherwise).
 */
export function commandRoute<A extends StationAction, B extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined>(
  app: FastifyInstance,
  deps: AppContext,
  spec: CommandRouteSpec<A, B, Q>,
): void {
  const params = spec.params ? idParams.extend(spec.params.shape) : idParams;
  app.route({
    method: spec.method,
    url: spec.url,
    config: { tenancy: { params: { id: 'chargestation' } } },
    schema: {
      tags: ['chargestation operations'],
      summary: spec.summary,
      description: `${spec.description ?? ''}${spec.description ? '\n\n' : ''}Sends OCPP 1.6 \`${spec.action}\`; answers with the command as logged, the station's answer in \`answer\`. 409 station_offline when it is not connected, 504 when it does not answer in time, 502 when it answers with a CALLERROR.`,
      params,
      ...(spec.body ? { body: spec.body } : {}),
      ...(spec.querystring ? { querystring: spec.querystring } : {}),
      response: { 200: commandSchema(spec.answer), ...commandErrors },
    },
    handler: async (req) => {
      const p = req.params as Record<string, string | number> & { id: string };
      const station = await deps.commands.station(p.id);
      const payload = await spec.payload({
        body: req.body as never,
        query: req.query as never,
        params: p,
        station,
        req,
      });
      const { command } = await deps.commands.sendTo(station, spec.action, payload, {
        requestedBy: requester(req),
        ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
      });
      return commandJson(command);
    },
  });
}
