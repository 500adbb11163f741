import type { Config } from './config.ts';
import { createDb } from './db/index.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createLogger } from './logger.ts';
import { systemClock } from './shared/clock.ts';
import { createOcppServer, type OcppServer } from './ocpp/server.ts';
import { createAdminServer } from './admin/server.ts';
import { ensureBootstrapKey } from './domain/apikeys/api-keys.ts';
import { buildContext, type AppContext, type ContextOverrides } from './context.ts';

/** Replaceable parts, for tests. */
export interface AppOverrides extends ContextOverrides {
  /** start an in-memory embedded database from this dump (tests) */
  pgliteTemplate?: Blob;
}

export interface Started {
  ocppPort: number;
  adminPort: number;
  /** Set only when this start created the first API key; shown once, never stored. */
  bootstrapApiKey?: string;
}

export interface App {
  readonly context: AppContext;
  readonly config: Config;
  readonly log: AppContext['log'];
  readonly db: AppContext['db'];
  readonly sessions: AppContext['sessions'];
  readonly ocpp: OcppServer;
  /** Listens on both ports and starts the background work. */
  start(): Promise<Started>;
  /** Stops in the reverse order of building: ports, background work, pending writes, database. */
  stop(): Promise<void>;
}

/**
 * The composition root: opens and migrates the database, builds the context and both adapters
 * once. Nothing listens until start().
 */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  // Every line says which node wrote it (a cluster's logs are read side by side).
  const log = (overrides.log ?? createLogger(config.logLevel)).child({ node: config.nodeId });
  const clock = overrides.clock ?? systemClock;
  const dbHandle = await createDb({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.dbPoolSize,
    pgliteTemplate: overrides.pgliteTemplate,
  });
  let bootstrapApiKey: string | undefined;
  let context: AppContext;
  let ocpp: OcppServer;
  let admin: Awaited<ReturnType<typeof createAdminServer>>;
  try {
    const applied = await migrateToLatest(dbHandle.db);
    log.info({ database: dbHandle.kind, applied }, 'database ready');
    bootstrapApiKey = config.adminApiKey ? undefined : await ensureBootstrapKey(dbHandle.db, clock);
    context = buildContext(config, dbHandle.db, { clock, log, database: dbHandle.kind, poolStats: dbHandle.poolStats }, overrides);
    await context.security.ready(); // a CA that cannot be loaded stops the start
    ocpp = createOcppServer(
      {
        host: config.host,
        port: config.ocppPort,
        tls: config.tls ? { ...config.tls, clientCaFile: config.tlsClientCaFile } : undefined,
        pingIntervalS: config.wsPingIntervalS,
        callTimeoutS: config.ocppCallTimeoutS,
        maxBadMessages: config.ocppMaxBadMessages,
        authFailuresPerSource: config.authFailuresPerSource,
        authFailuresPerIdentity: config.authFailuresPerIdentity,
        maxConnections: config.ocppMaxConnections,
        handshakeTimeoutS: config.ocppHandshakeTimeoutS,
        calls: {
          maxQueued: config.ocppMaxQueuedCalls,
          maxRefused: config.ocppMaxRefusedCalls,
          maxConnectorId: config.ocppMaxConnectorId,
          refusedStartsPerMinute: config.ocppRefusedStartsPerMinute,
        },
      },
      context,
    );
    admin = await createAdminServer(context);
  } catch (err) {
    await dbHandle.close().catch((closeErr: unknown) => log.error({ err: closeErr }, 'could not close the database'));
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const app: App = {
    context,
    config,
    log,
    db: context.db,
    sessions: context.sessions,
    ocpp,
    async start() {
      try {
        // Joins the cluster before any station can connect: presence needs the node's row.
        await context.cluster?.start();
        const ocppAddr = await ocpp.listen();
        context.jobs.start();
        await context.webhooks.start();
        const adminAddr = await admin.listen(config.host, config.adminPort);
        log.info({ ocppPort: ocppAddr.port, adminPort: adminAddr.port, tls: Boolean(config.tls) }, 'gateway listening');
        return {
          ocppPort: ocppAddr.port,
          adminPort: adminAddr.port,
          ...(bootstrapApiKey ? { bootstrapApiKey } : {}),
        };
      } catch (err) {
        await app.stop().catch((stopErr: unknown) => log.error({ err: stopErr }, 'could not stop after a failed start'));
        throw err;
      }
    },
    stop() {
      stopping ??= (async () => {
        // Stop taking new work on both ports, let stations' pending calls finish, then the db.
        context.events.close();
        await Promise.allSettled([ocpp.close(), admin.close()]);
        await context.jobs.stop();
        await context.webhooks.stop();
        await context.connectionEvents.drain();
        // The stations are closed: hand their presence and this node's lease back at once.
        await context.cluster?.stop();
        await context.sessions.close();
        await context.localList?.drain();
        await context.stationWrites.drain();
        // Best effort: with the database away the command log retries its batch for ~30 s.
        await within(5_000, Promise.all([context.commandLog.drain(), context.capabilities.drain()]));
        await context.cluster?.close();
        await context.closeOwnConnections();
        await dbHandle.close();
        log.info('gateway stopped');
      })();
      return stopping;
    },
  };
  return app;
}

/** Resolves when `work` settles or after `ms`, whichever comes first (never rejects). */
function within(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
