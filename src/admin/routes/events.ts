import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ServerResponse } from 'node:http';
import type { Db } from '../../db/index.ts';
import { coalesce, type LiveEvent, type LiveEventType } from '../../shared/events.ts';
import type { AppContext } from '../../context.ts';
import { organizationsOfStations, organizationsOfWallets } from '../../domain/tenancy.ts';
import { errorBody } from '../errors.ts';
import { commonErrors, errorSchema, objectId } from '../schemas.ts';

const TYPES = ['session', 'station', 'wallet', 'alert'] as const;
/** Open streams per gateway process; more are answered 503. */
const MAX_STREAMS = 200;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 20_000;
/** How long a station's or wallet's organization is remembered for scoped streams. */
const ORG_TTL_MS = 30_000;

/**
 * Which organization owns a station or a wallet, remembered for a while so a scoped stream
 * costs a query per new subject, not per event. A `station` event that asks for a refresh
 * (it may have moved to another organization) forgets what was remembered of that station.
 */
class Owners {
  private readonly stations = new Map<string, { org: string | null; at: number }>();
  private readonly wallets = new Map<string, { org: string | null; at: number }>();

  constructor(private readonly db: Db) {}

  async load(batch: readonly LiveEvent[]): Promise<void> {
    const now = Date.now();
    const fresh = (m: Map<string, { at: number }>, id: string) => {
      const hit = m.get(id);
      return hit !== undefined && now - hit.at < ORG_TTL_MS;
    };
    for (const e of batch) if (e.type === 'station' && e.refresh) this.stations.delete(e.id);
    const stations = [...new Set(batch.flatMap((e) => (e.station && !fresh(this.stations, e.station) ? [e.station] : [])))];
    const wallets = [...new Set(batch.flatMap((e) => (e.wallet && !fresh(this.wallets, e.wallet) ? [e.wallet] : [])))];
    if (stations.length) {
      const orgs = await organizationsOfStations(this.db, stations);
      for (const id of stations) this.stations.set(id, { org: orgs.get(id) ?? null, at: now });
    }
    if (wallets.length) {
      const orgs = await organizationsOfWallets(this.db, wallets);
      for (const id of wallets) this.wallets.set(id, { org: orgs.get(id) ?? null, at: now });
    }
    if (this.stations.size > 50_000) this.stations.clear();
    if (this.wallets.size > 50_000) this.wallets.clear();
  }

  /** Like Scope.session: visible to the organization of its station or of its wallet's owner. */
  visible(e: LiveEvent, org: string): boolean {
    return (
      (!!e.station && this.stations.get(e.station)?.org === org) || (!!e.wallet && this.wallets.get(e.wallet)?.org === org)
    );
  }
}

const streamQuery = z.strictObject({
  types: z
    .string()
    .max(100)
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      const list = v.split(',');
      const bad = list.filter((t) => !(TYPES as readonly string[]).includes(t));
      if (bad.length) {
        ctx.addIssue({ code: 'custom', message: `unknown event types: ${bad.join(', ')} (known: ${TYPES.join(', ')})` });
        return z.NEVER;
      }
      return new Set(list as LiveEventType[]);
    })
    .describe('comma-separated event types to receive (default: all)'),
  session: objectId.optional().describe("only this session's events (and other types as asked)"),
  station: objectId.optional().describe("only events of this station's sessions, alerts and status"),
  wallet: objectId.optional().describe("only events of this wallet's sessions and balance"),
  lifecycle: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('only changes of state (starts, stops, connections, status, alerts), not every billed reading or heartbeat'),
});

type Filter = z.infer<typeof streamQuery>;

function wanted(e: LiveEvent, f: Filter): boolean {
  if (f.types && !f.types.has(e.type)) return false;
  if (f.lifecycle && !e.refresh) return false;
  if (f.session && e.type === 'session' && e.id !== f.session) return false;
  if (f.station && e.station !== f.station) return false;
  if (f.wallet && e.wallet !== f.wallet) return false;
  return true;
}

/** One open stream: what is waiting to be written, merged per subject while the socket is busy. */
class Stream {
  private readonly pending = new Map<string, LiveEvent>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly res: ServerResponse,
    private readonly filter: Filter,
    private readonly org: string | null,
    private readonly owners: Owners,
    private readonly onError: (err: unknown) => void,
  ) {
    res.on('drain', () => this.write());
  }

  take(batch: readonly LiveEvent[]): void {
    const mine = batch.filter((e) => wanted(e, this.filter));
    if (!mine.length) return;
    if (this.org === null) {
      for (const e of mine) coalesce(this.pending, e);
      this.write();
      return;
    }
    // Scoped: whose events these are needs a look-up; batches stay in order.
    const org = this.org;
    this.chain = this.chain
      .then(() => this.owners.load(mine))
      .then(() => {
        for (const e of mine) if (this.owners.visible(e, org)) coalesce(this.pending, e);
        this.write();
      })
      .catch(this.onError);
  }

  write(): void {
    if (this.res.writableEnded || this.res.writableNeedDrain || !this.pending.size) return;
    let text = '';
    for (const e of this.pending.values()) {
      const body = { id: e.id, station: e.station ?? null, wallet: e.wallet ?? null, refresh: e.refresh ?? false, ...e.data };
      text += `event: ${e.type}\ndata: ${JSON.stringify(body)}\n\n`;
    }
    this.pending.clear();
    this.res.write(text);
  }
}

export function eventRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const owners = new Owners(deps.db);
    const open = new Set<ServerResponse>();
    app.addHook('preClose', async () => {
      for (const res of open) res.end();
    });

    app.get('/events/stream', {
      config: { tenancy: 'filtered' },
      schema: {
        tags: ['events'],
        summary: 'Live changes, as server-sent events (text/event-stream)',
        description:
          'What the operator console watches. Each event is sent after the change has committed, at most about four ' +
          'times a second per subject (changes in between are merged). Event names: `session` (data: `id`, `station`, ' +
          '`wallet`, and when a reading was billed `energy_wh`, `cost`, `debited`, `power_w`, `balance`), `station` ' +
          '(`online`, `lastHeartbeat`), `wallet` (`balance`), `alert` (`kind`, `session`). `refresh: true` means more ' +
          'changed than the event carries: read the resource again. The stream opens with a `ready` event. An ' +
          "organization-scoped key receives only its organization's events.",
        querystring: streamQuery,
        response: {
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: z.string() } } },
          ...commonErrors,
          503: errorSchema,
        },
      },
      handler: async (req, reply) => {
        if (open.size >= MAX_STREAMS) {
          return reply.status(503).header('Retry-After', '10').send(errorBody('service_unavailable', 'too many open event streams'));
        }
        const res = reply.raw;
        reply.hijack();
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(`retry: 3000\nevent: ready\ndata: {}\n\n`);
        const stream = new Stream(res, req.query, req.principal?.organizationId ?? null, owners, (err) =>
          deps.log.error({ err }, 'live event stream failed'),
        );
        open.add(res);
        const unsubscribe = deps.events.subscribe((batch) => stream.take(batch));
        const keepalive = setInterval(() => {
          if (!res.writableNeedDrain) res.write(': keep-alive\n\n');
        }, KEEPALIVE_MS);
        keepalive.unref();
        res.once('close', () => {
          clearInterval(keepalive);
          unsubscribe();
          open.delete(res);
        });
      },
    });
  };
}
