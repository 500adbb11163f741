import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Logger } from '../logger.ts';
import { storable, toStorable } from '../shared/storable.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  StationCallError,
  StationOfflineError,
  StationTimeoutError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '../shared/errors.ts';

/** The one error shape of the admin API. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

function statusFor(err: AppError): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError || err instanceof StationOfflineError) return 409;
  if (err instanceof StationCallError) return 502;
  if (err instanceof UnavailableError) return 503;
  if (err instanceof StationTimeoutError) return 504;
  return 500;
}

/**
 * The first text in a request that PostgreSQL cannot keep (a NUL, half of a surrogate pair), as
 * `{in, field}`: keys and values of the body, the query and the path parameters. Such text is
 * refused before validation as a 400 naming its field, like any other bad value (reaching the
 * database it could only be refused without a name).
 */
export function unstorableField(req: Pick<FastifyRequest, 'body' | 'query' | 'params'>): { in: string; field: string } | undefined {
  const walk = (v: unknown, path: string, depth: number): string | undefined => {
    if (typeof v === 'string') return storable(v) ? undefined : path;
    if (!v || typeof v !== 'object' || depth > 64) return undefined;
    for (const [k, x] of Object.entries(v)) {
      const at = Array.isArray(v) ? `${path}${path ? '.' : ''}${k}` : `${path}${path ? '.' : ''}${storable(k) ? k : toStorable(k)}`;
      if (!storable(k)) return at;
      const found = walk(x, at, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const where of ['params', 'query', 'body'] as const) {
    const field = walk(req[where], '', 0);
    if (field !== undefined) return { in: where === 'params' ? 'params' : where === 'query' ? 'querystring' : 'body', field };
  }
  return undefined;
}

/** Maps every error to `{error: {code, message, details}}` with the right status. */
export function makeErrorHandler(log: Logger) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = (err as FastifyError).validationContext ?? 'body';
      const details = err.validation.map((v) => {
        const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
        const keys = (v.params as { keys?: string[] }).keys;
        // An unknown field names itself, so the client sees which one to drop.
        const field = keys?.length ? [path, keys.join(',')].filter(Boolean).join('.') : path;
        return { in: where, field, message: v.message };
      });
      const first = details[0]!;
      return reply
        .status(400)
        .send(
          errorBody(
            'validation_error',
            `${first.in}${first.field ? '.' + first.field : ''}: ${first.message}`,
            details,
          ),
        );
    }
    if (err instanceof AppError) {
      const status = statusFor(err);
      if (status === 500) log.error({ err, url: req.url }, 'request failed');
      return reply.status(status).send(errorBody(err.code, err.message, err.details));
    }
    const fe = err as FastifyError;
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code =
        fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
        fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
        err instanceof SyntaxError
          ? 'invalid_json'
          : fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? 'payload_too_large'
            : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
              ? 'unsupported_media_type'
              : 'bad_request';
      return reply.status(fe.statusCode).send(errorBody(code, fe.message));
    }
    // The database refused a value as data (a NUL byte in text, a number out of range): the
    // request was bad, not the server.
    const sqlstate = (err as { code?: unknown }).code;
    if (typeof sqlstate === 'string' && /^22[0-9A-Z]{3}$/.test(sqlstate)) {
      return reply.status(400).send(errorBody('invalid_input', 'a value in the request cannot be stored or compared'));
    }
    if (isDatabaseUnavailable(err)) {
      log.warn({ url: req.url, reason: (err as Error).message }, 'database unavailable');
      return reply
        .status(503)
        .header('Retry-After', '5')
        .send(errorBody('service_unavailable', 'the database is unavailable; retry shortly'));
    }
    log.error({ err, url: req.url, method: req.method }, 'request failed');
    return reply.status(500).send(errorBody('internal_error', 'internal error'));
  };
}
