import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { parseCookie, stringifySetCookie } from 'cookie';
import { z } from 'zod';
import type { Db } from '../db/index.ts';
import type { Clock } from '../shared/clock.ts';
import type { ApiKeyVerifier, Principal } from '../domain/apikeys/api-keys.ts';
import {
  CONSOLE_SESSION_TTL_MS,
  createConsoleSession,
  csrfTokenOf,
  findConsoleSession,
  revokeConsoleSession,
} from '../domain/apikeys/console-sessions.ts';
import { ForbiddenError } from '../shared/errors.ts';
import { hashApiKey } from '../shared/secrets.ts';
import { FailureThrottle } from '../shared/throttle.ts';
import { errorBody } from './errors.ts';
import { errorSchema, isoDate } from './schemas.ts';

/**
 * The console signs in with an API key once and then holds a session cookie (HttpOnly,
 * SameSite=Strict, Secure over TLS) that the /v1 routes accept instead of a Bearer key. The key
 * never reaches a URL, a log line or the browser's storage. A request that changes something
 * must also carry the session's anti-CSRF token in a header, which another site can neither
 * read nor send.
 */
export const CONSOLE_COOKIE = 'gw_console';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const sessionSchema = z
  .object({
    organization: z.string().nullable().describe("the key's organization; null for a key that sees every organization"),
    csrf_token: z.string().describe('send as X-CSRF-Token on every request that changes something'),
    expires_at: isoDate,
  })
  .meta({ id: 'ConsoleSession' });

function sameText(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export interface ConsoleAuthDeps {
  db: Db;
  clock: Clock;
  apiKeys: ApiKeyVerifier;
  /** failed sign-ins per minute from one source before it gets 429 */
  authFailuresPerSource?: number | undefined;
}

export class ConsoleAuth {
  private readonly badKeys: FailureThrottle;

  constructor(private readonly deps: ConsoleAuthDeps) {
    this.badKeys = new FailureThrottle(deps.authFailuresPerSource ?? 100, 60_000);
  }

  private tokenOf(req: FastifyRequest): string | undefined {
    const header = req.headers.cookie;
    return header ? parseCookie(header)[CONSOLE_COOKIE] : undefined;
  }

  /**
   * For the /v1 auth hook: the principal behind a console cookie, or undefined. A request that
   * changes something without the session's CSRF token is refused (403).
   */
  async principal(req: FastifyRequest): Promise<Principal | undefined> {
    const token = this.tokenOf(req);
    if (!token) return undefined;
    const session = await findConsoleSession(this.deps.db, this.deps.clock, token);
    if (!session) return undefined;
    if (!SAFE_METHODS.has(req.method)) this.requireCsrf(req, token);
    return this.deps.apiKeys.verifyDigest(session.api_key_hash);
  }

  private requireCsrf(req: FastifyRequest, token: string): void {
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameText(sent, csrfTokenOf(token))) {
      throw new ForbiddenError(`a console request that changes something must carry the ${CSRF_HEADER} header`);
    }
  }

  private setCookie(req: FastifyRequest, reply: FastifyReply, value: string, maxAgeS: number): void {
    reply.header(
      'set-cookie',
      stringifySetCookie({
        name: CONSOLE_COOKIE,
        value,
        httpOnly: true,
        sameSite: 'strict',
        secure: req.protocol === 'https',
        path: '/',
        maxAge: maxAgeS,
      }),
    );
  }

  /** POST/GET/DELETE /console/api/session: sign in, who am I, sign out. */
  routes(): FastifyPluginAsyncZod {
    return async (app) => {
      const tags = ['console'];
      app.post('/console/api/session', {
        schema: {
          tags,
          summary: 'Sign in to the console with an API key',
          description:
            'Sets an HttpOnly session cookie that the /v1 routes accept in place of a Bearer key. The key is checked ' +
            'again on every request, so revoking it ends the session.',
          security: [],
          body: z.strictObject({ key: z.string().min(1).max(200) }),
          response: { 200: sessionSchema, 400: errorSchema, 401: errorSchema, 429: errorSchema },
        },
        handler: async (req, reply) => {
          const source = req.socket.remoteAddress ?? 'unknown';
          if (this.badKeys.blocked(source)) {
            return reply
              .status(429)
              .header('Retry-After', String(this.badKeys.retryAfterS(source)))
              .send(errorBody('too_many_requests', 'too many sign-ins with an invalid API key; retry later'));
          }
          const digest = hashApiKey(req.body.key);
          const principal = await this.deps.apiKeys.verifyDigest(digest);
          if (!principal) {
            this.badKeys.fail(source);
            return reply.status(401).send(errorBody('unauthorized', 'this API key is not valid'));
          }
          const { token, expiresAt } = await createConsoleSession(this.deps.db, this.deps.clock, {
            digest,
            organizationId: principal.organizationId,
          });
          this.setCookie(req, reply, token, Math.floor(CONSOLE_SESSION_TTL_MS / 1000));
          return {
            organization: principal.organizationId,
            csrf_token: csrfTokenOf(token),
            expires_at: expiresAt.toISOString(),
          };
        },
      });

      app.get('/console/api/session', {
        schema: {
          tags,
          summary: "The console's current sign-in",
          security: [],
          response: { 200: sessionSchema, 401: errorSchema },
        },
        handler: async (req, reply) => {
          const token = this.tokenOf(req);
          const session = token ? await findConsoleSession(this.deps.db, this.deps.clock, token) : undefined;
          const principal = session ? await this.deps.apiKeys.verifyDigest(session.api_key_hash) : undefined;
          if (!token || !session || !principal) {
            return reply.status(401).send(errorBody('unauthorized', 'not signed in'));
          }
          return {
            organization: principal.organizationId,
            csrf_token: csrfTokenOf(token),
            expires_at: session.expires_at.toISOString(),
          };
        },
      });

      app.delete('/console/api/session', {
        schema: {
          tags,
          summary: 'Sign out of the console',
          description: 'Revokes the session at once and clears its cookie. Needs the X-CSRF-Token header.',
          security: [],
          response: { 204: z.null(), 403: errorSchema },
        },
        handler: async (req, reply) => {
          const token = this.tokenOf(req);
          if (token) {
            this.requireCsrf(req, token);
            await revokeConsoleSession(this.deps.db, this.deps.clock, token);
          }
          this.setCookie(req, reply, '', 0);
          return reply.status(204).send(null);
        },
      });
    };
  }
}
