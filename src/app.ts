import type { Config } from './config.ts';
import { createDb, type DbHandle } from './db/index.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createLogger, type Logger } from './logger.ts';
import { systemClock, type Clock } from './shared/clock.ts';
import { createOcppServer, type OcppServer } from './ocpp/server.ts';
import { createAdminServer, type AdminServer } from './admin/server.ts';
import { ApiKeyVerifier, ensureBootstrapKey } from './domain/apikeys/api-keys.ts';
import { LocalConnections } from './ocpp/connections.ts';
import { SessionService } from './domain/sessions/service.ts';
import { StationWrites } from './domain/chargers/station-writes.ts';

/** Replaceable parts, for tests. */
export interface AppOverrides {
  clock?: Clock;
  log?: Logger;
  /** waits between RemoteStopTransaction attempts (tests shorten them) */
  stopRetryDelaysMs?: readonly number[];
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
  readonly config: Config;
  readonly log: Logger;
  /** Available after start(). */
  readonly db: DbHandle['db'];
  readonly ocpp: OcppServer;
  readonly sessions: SessionService;
  start(): Promise<Started>;
  stop(): Promise<void>;
}

/** The composition root: builds every part once; stop() takes them down in reverse order. */
export function createApp(config: Config, overrides: AppOverrides = {}): App {
  const log = overrides.log ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  let dbHandle: DbHandle | undefined;
  let ocpp: OcppServer | undefined;
  let admin: AdminServer | undefined;
  let sessions: SessionService | undefined;
  let writes: StationWrites | undefined;
  let stopping: Promise<void> | undefined;

  const app: App = {
    config,
    log,
    get db() {
      if (!dbHandle) throw new Error('the app has not started');
      return dbHandle.db;
    },
    get ocpp() {
      if (!ocpp) throw new Error('the app has not started');
      return ocpp;
    },
    get sessions() {
      if (!sessions) throw new Error('the app has not started');
      return sessions;
    },
    async start() {
      dbHandle = await createDb({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        poolSize: config.dbPoolSize,
        pgliteTemplate: overrides.pgliteTemplate,
      });
      try {
        const applied = await migrateToLatest(dbHandle.db);
        log.info({ database: dbHandle.kind, applied }, 'database ready');
        const bootstrapApiKey = config.adminApiKey
          ? undefined
          : await ensureBootstrapKey(dbHandle.db, clock);

        const connections = new LocalConnections(log.child({ component: 'ocpp' }));
        sessions = new SessionService(
          { db: dbHandle.db, clock, log: log.child({ component: 'sessions' }), connections },
          {
            sweepIntervalMs: config.billingSweepIntervalS * 1000,
            ...(overrides.stopRetryDelaysMs ? { stopRetryDelaysMs: overrides.stopRetryDelaysMs } : {}),
          },
        );
        const stationWrites = new StationWrites(dbHandle.db);
        writes = stationWrites;
        ocpp = createOcppServer(
          {
            host: config.host,
            port: config.ocppPort,
            tls: config.tls,
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
          {
            db: dbHandle.db,
            clock,
            log,
            connections,
            sessions,
            stationWrites,
            settings: {
              heartbeatIntervalS: config.heartbeatIntervalS,
              meterValueSampleIntervalS: config.meterValueSampleIntervalS,
            },
          },
        );
        admin = await createAdminServer({
          db: dbHandle.db,
          clock,
          log,
          connections,
          sessions,
          apiKeys: new ApiKeyVerifier(dbHandle.db, config.adminApiKey),
          authFailuresPerSource: config.authFailuresPerSource,
        });
        const ocppAddr = await ocpp.listen();
        sessions.startSweeping();
        const adminAddr = await admin.listen(config.host, config.adminPort);
        log.info(
          {
            ocppPort: ocppAddr.port,
            adminPort: adminAddr.port,
            tls: Boolean(config.tls),
          },
          'gateway listening',
        );
        return {
          ocppPort: ocppAddr.port,
          adminPort: adminAddr.port,
          ...(bootstrapApiKey ? { bootstrapApiKey } : {}),
        };
      } catch (err) {
        await app.stop().catch(() => {});
        throw err;
      }
    },
    stop() {
      stopping ??= (async () => {
        // Stop taking new work on both ports, let stations' pending calls finish, then the db.
        await Promise.allSettled([ocpp?.close(), admin?.close()]);
        await sessions?.close();
        await writes?.drain();
        await dbHandle?.close();
        log.info('gateway stopped');
      })();
      return stopping;
    },
  };
  return app;
}
