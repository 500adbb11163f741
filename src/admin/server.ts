import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { AddressInfo } from 'node:net';
import type { AppContext } from '../context.ts';
import type { Principal } from '../domain/apikeys/api-keys.ts';
import { errorBody, makeErrorHandler, unstorableField } from './errors.ts';
import { enforceTenancy, Tenant } from './tenancy.ts';
import { FailureThrottle } from '../shared/throttle.ts';
import { chargeStationRoutes } from './routes/chargestations.ts';
import { organizationRoutes } from './routes/organizations.ts';
import { userRoutes } from './routes/users.ts';
import { topUpRoutes } from './routes/top-ups.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { rateRoutes } from './routes/rates.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { alertRoutes } from './routes/alerts.ts';
import { eventRoutes } from './routes/events.ts';
import { overviewRoutes } from './routes/overview.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { operationRoutes } from './routes/operations.ts';
import { reservationRoutes } from './routes/reservations.ts';
import { stationReportRoutes } from './routes/station-reports.ts';
import { securityRoutes } from './routes/security.ts';
import { ConsoleAuth } from './console-session.ts';
import { consoleRoutes } from '../console/routes.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Routes that answer without an API key. */
const PUBLIC_PATHS = new Set(['/healthz', '/v1/openapi.json']);

export interface AdminServer {
  readonly app: FastifyInstance;
  listen(host: string, port: number): Promise<AddressInfo>;
  close(): Promise<void>;
}

export async function createAdminServer(deps: AppContext): Promise<AdminServer> {
  const log = deps.log.child({ component: 'admin' });
  const app = Fastify({
    // Our own pino logger logs what matters (errors, one debug line per request).
    logger: false,
    bodyLimit: 256 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    // Errors the router raises before any route runs (a malformed URL, an over-long id).
    frameworkErrors: (err, _req, reply) => {
      const fe = err as { statusCode?: number; message: string };
      const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 400;
      void (reply as FastifyReply)
        .status(status)
        .send(errorBody(status === 414 ? 'uri_too_long' : 'bad_request', fe.message));
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(makeErrorHandler(log));
  app.addHook('preValidation', async (req, reply) => {
    const bad = unstorableField(req);
    if (!bad) return;
    const message = 'must not contain a NUL character or half of a surrogate pair';
    return reply
      .status(400)
      .send(errorBody('validation_error', `${bad.in}${bad.field ? '.' + bad.field : ''}: ${message}`, [{ ...bad, message }]));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );

  app.addHook('onResponse', async (req, reply) => {
    log.debug(
      { method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Prepaid OCPP gateway admin API',
        description:
          'Operators manage organizations, users, wallets, tokens, rates, charge stations and sessions. ' +
          'Authenticate with `Authorization: Bearer <api key>`. Amounts are integer cents.',
        version: '1',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/v1/docs' });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const badKeys = new FailureThrottle(deps.config.authFailuresPerSource, 60_000);
  const consoleAuth = new ConsoleAuth({ ...deps, authFailuresPerSource: deps.config.authFailuresPerSource });
  await app.register(consoleRoutes(consoleAuth));

  // Every /v1 route and GET /metrics: an API key (or, on /v1, the console's session cookie).
  const authenticate = async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path) || path.startsWith('/v1/docs')) return;
    // The key is checked first (a SHA-256 and an index probe, cheap): a valid key always
    // works, whatever else came from its address. Only invalid keys back off (429).
    const header = req.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    // No Bearer key: the operator console's session cookie (src/admin/console-session.ts).
    const principal = match ? await deps.apiKeys.verify(match[1]!) : await consoleAuth.principal(req);
    if (!principal) {
      const source = req.socket.remoteAddress ?? 'unknown';
      const wait = badKeys.retryAfterS(source);
      badKeys.fail(source);
      if (wait > 0) {
        return reply
          .status(429)
          .header('Retry-After', String(wait))
          .send(errorBody('too_many_requests', 'too many requests with an invalid API key; retry later'));
      }
      return reply
        .status(401)
        .header('WWW-Authenticate', 'Bearer')
        .send(errorBody('unauthorized', 'a valid API key is required (Authorization: Bearer <key>)'));
    }
    req.principal = principal;
    req.tenant = new Tenant(principal.organizationId);
  };

  // Prometheus scrapes with `authorization: Bearer <key>`, like any admin client.
  app.get('/metrics', { onRequest: authenticate, schema: { hide: true } }, async (req, reply) => {
    // The figures are the whole gateway's: not for a key limited to one organization.
    if (req.principal?.organizationId) {
      return reply.status(403).send(errorBody('forbidden', 'an organization-scoped API key cannot read /metrics'));
    }
    const { contentType, body } = await deps.metrics.scrape();
    return reply.header('content-type', contentType).send(body);
  });

  await app.register(
    async (v1) => {
      v1.decorateRequest('tenant', null as unknown as Tenant);
      enforceTenancy(v1, deps.db);
      v1.addHook('onRequest', authenticate);
      for (const routes of [
        organizationRoutes,
        userRoutes,
        topUpRoutes,
        tokenRoutes,
        rateRoutes,
        chargeStationRoutes,
        operationRoutes,
        reservationRoutes,
        stationReportRoutes,
        securityRoutes,
        sessionRoutes,
        alertRoutes,
        apiKeyRoutes,
        overviewRoutes,
        eventRoutes,
        webhookRoutes,
      ]) {
        await v1.register(routes(deps));
      }
    },
    { prefix: '/v1' },
  );

  return {
    app,
    listen: async (host, port) => {
      await app.listen({ host, port });
      return app.server.address() as AddressInfo;
    },
    close: () => app.close(),
  };
}
