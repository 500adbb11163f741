import type { Config } from './config.ts';
import { openPostgres, type Db } from './db/index.ts';
import type { Logger } from './logger.ts';
import type { Clock } from './shared/clock.ts';
import { LocalConnections } from './ocpp/connections.ts';
import { ApiKeyVerifier } from './domain/apikeys/api-keys.ts';
import type { StationPort } from './domain/chargers/station-port.ts';
import { SessionService } from './domain/sessions/service.ts';
import { StationWrites } from './domain/chargers/station-writes.ts';
import { LocalLiveEvents, type LiveEvents } from './shared/events.ts';
import { BackgroundJobs, createCluster, type Cluster } from './cluster/index.ts';
import { stopTakeoverJob } from './cluster/stop-takeover.ts';
import { PrometheusMetrics } from './metrics.ts';
import { onCommitted } from './db/after-commit.ts';
import { LEDGER_DEBITED } from './domain/wallets/ledger.ts';
import { WebhookDispatcher } from './domain/events/dispatcher.ts';
import { ConnectionEvents } from './domain/events/connection-events.ts';
import { deleteOldEvents } from './domain/events/retention.ts';
import { OPEN_STATUSES } from './domain/sessions/billing.ts';
import { StationSecurity } from './domain/security/station-security.ts';
import { LocalListSync } from './domain/chargers/local-list-sync.ts';
import type { WalletMove } from './domain/wallets/ledger.ts';
import { StationCommands } from './domain/operations/commands.ts';
import { CommandLogWriter, deleteOldCommands, RecordedStations } from './domain/operations/command-log.ts';
import { registerReportEffects } from './domain/operations/reports.ts';
import { registerCapabilityEffects, StationCapabilities } from './domain/chargers/capabilities.ts';
import { Reservations } from './domain/operations/reservations.ts';

/**
 * Everything the gateway is made of, built once by the composition root and handed to both
 * adapters (the OCPP endpoint and the admin API): configuration, the database, the clock, the
 * logger, the stations, and the domain services.
 */
export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Every charge station, wherever it is connected: the domain's StationPort. On PostgreSQL this
   * process is a node of a cluster and reaches stations other nodes hold through them. Every call
   * sent through it is kept in the station's command log.
   */
  readonly stations: StationPort;
  /** writes the command log entries of calls sent through `stations` (batched, after each call) */
  readonly commandLog: CommandLogWriter;
  /** the station connections this process holds (the OCPP adapter registers them here) */
  readonly connections: LocalConnections;
  /** this node's membership of the cluster; undefined on the embedded database (one node) */
  readonly cluster: Cluster | undefined;
  /** closes the context's own connections (webhook delivery, billing), after everything stopped */
  closeOwnConnections(): Promise<void>;
  /** periodic work, run once per period across the cluster */
  readonly jobs: BackgroundJobs;
  /** what the gateway learns of each charger (TriggerMessage, sample interval, smart charging, stop delay), kept per station */
  readonly capabilities: StationCapabilities;
  /** boot, heartbeat and configuration records, group-committed */
  readonly stationWrites: StationWrites;
  readonly sessions: SessionService;
  /** operator calls to stations (reset, configuration, firmware…), logged with their answers */
  readonly commands: StationCommands;
  /** ReserveNow / CancelReservation, refused for a driver below the organization's minimum */
  readonly reservations: Reservations;
  readonly apiKeys: ApiKeyVerifier;
  /** keeps stations' local authorization lists in step with the wallets; undefined when LOCAL_AUTH_LIST_SYNC is off */
  readonly localList: LocalListSync | undefined;
  /** station credentials under the Security extension: password rotation, profiles, certificates */
  readonly security: StationSecurity;
  /** what changed, for whoever watches live (the console), published after each commit */
  readonly events: LiveEvents;
  /** this process's Prometheus metrics (GET /metrics) */
  readonly metrics: PrometheusMetrics;
  /** delivers the outbox to webhooks (every node runs one; each delivery is sent by one) */
  readonly webhooks: WebhookDispatcher;
  /** chargestation.connected / .disconnected, written to the outbox */
  readonly connectionEvents: ConnectionEvents;
}

/** Parts tests replace; anything not given is built from the configuration. */
export interface ContextOverrides extends Partial<Pick<AppContext, 'clock' | 'log'>> {
  /** waits between RemoteStopTransaction attempts (tests shorten them) */
  stopRetryDelaysMs?: readonly number[];
  /** grace for a StopTransaction after a connector's Available ended its session (tests shorten it) */
  implicitEndAlertDelayMs?: number;
}

export function buildContext(
  config: Config,
  db: Db,
  base: {
    clock: Clock;
    log: Logger;
    database: 'postgres' | 'pglite';
    poolStats?: (() => { total: number; idle: number; waiting: number }) | undefined;
  },
  overrides: ContextOverrides = {},
): AppContext {
  const { clock, log } = base;
  const connections = new LocalConnections(log.child({ component: 'ocpp' }), config.nodeId, config.ocppCallTimeoutS * 1000);
  const events = new LocalLiveEvents((err) => log.error({ err }, 'live event listener failed'));
  // A cluster needs PostgreSQL: the embedded database serves one process.
  const cluster =
    base.database === 'postgres' && config.databaseUrl
      ? createCluster({
          db,
          databaseUrl: config.databaseListenUrl ?? config.databaseUrl,
          poolUrl: config.databaseUrl,
          nodeId: config.nodeId,
          leaseS: config.clusterLeaseS,
          defaultCallTimeoutMs: config.ocppCallTimeoutS * 1000,
          log,
          connections,
        })
      : undefined;
  // The one place calls to stations leave: each is kept in the command log, with who asked.
  const commandLog = new CommandLogWriter({ db, log: log.child({ component: 'command_log' }) });
  const stations = new RecordedStations(cluster?.stations ?? connections, commandLog, clock);
  const commands = new StationCommands({ db, clock, log: log.child({ component: 'commands' }), stations });
  registerReportEffects(commands);
  const capabilities = new StationCapabilities({ db, log: log.child({ component: 'capabilities' }) });
  registerCapabilityEffects(commands);
  let webhooks: WebhookDispatcher | undefined;
  const metrics = new PrometheusMetrics(
    {
      stationsConnected: () => connections.online().length,
      sessionsActive: async () =>
        Number(
          (
            await db
              .selectFrom('sessions')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('status', 'in', [...OPEN_STATUSES])
              .executeTakeFirstOrThrow()
          ).n,
        ),
      webhookQueueDepth: () => webhooks!.queueDepth(),
      dbPool: () => base.poolStats?.(),
    },
    { node: config.nodeId },
  );
  // Every committed ledger debit, whichever path and pool wrote it (see LEDGER_DEBITED).
  const countDebits = (pool: Db) =>
    onCommitted(pool, LEDGER_DEBITED, (d) => metrics.debited(d.cents, d.entries), (err) =>
      log.error({ err }, 'could not count committed ledger debits'),
    );
  countDebits(db);
  // Webhook delivery on two connections of its own whose commits do not wait for the WAL flush:
  // its claims and attempt records (several commits per delivery) then neither hold billing's
  // pool nor queue fsyncs beside its commits. Safe to lose in a crash: delivery is at least
  // once, and a lost claim or record means the delivery is sent again (transactions stay atomic).
  const deliveryDb =
    base.database === 'postgres' && config.databaseUrl
      ? openPostgres(config.databaseUrl, { poolSize: 2, applicationName: `gateway ${config.nodeId} webhooks`, synchronousCommit: false })
      : undefined;
  webhooks = new WebhookDispatcher(
    { db: deliveryDb?.db ?? db, clock, log: log.child({ component: 'webhooks' }), nodeId: config.nodeId, metrics },
    config.webhooks,
  );
  // MeterValues billing on a connection of its own: batches never queue behind the main pool.
  // The batcher writes one batch at a time (MeterBatcher's concurrency 1), so one connection is
  // all it uses; a second batch in flight would wait for it.
  const billingDb =
    base.database === 'postgres' && config.databaseUrl
      ? openPostgres(config.databaseUrl, { poolSize: 1, applicationName: `gateway ${config.nodeId} billing` })
      : undefined;
  if (billingDb) countDebits(billingDb.db);
  // Built after the commands it sends through; the billing path reaches it through this closure.
  let localList: LocalListSync | undefined;
  const sessions = new SessionService(
    {
      db,
      billingDb: billingDb?.db,
      urgentDb: cluster?.signals,
      stopRelay: cluster?.stopRelay,
      clock,
      log: log.child({ component: 'sessions' }),
      stations,
      events,
      metrics,
      commands,
      capabilities,
    },
    {
      sweepIntervalMs: config.billingSweepIntervalS * 1000,
      ...(config.localListSync ? { onBalancesMoved: (moved: readonly WalletMove[]) => localList?.balancesMoved(moved) } : {}),
      defaultMaxPowerW: config.maxStationPowerW,
      maxStartAgeMs: config.maxStartAgeMs,
      timeSilenceCapMs: config.timeBillingSilenceCapS * 1000,
      predictive: {
        ...config.predictiveStop,
        normalSampleIntervalS: config.meterValueSampleIntervalS,
        callTimeoutMs: config.ocppCallTimeoutS * 1000,
      },
      ...(overrides.stopRetryDelaysMs ? { stopRetryDelaysMs: overrides.stopRetryDelaysMs } : {}),
      ...(overrides.implicitEndAlertDelayMs !== undefined ? { implicitEndAlertDelayMs: overrides.implicitEndAlertDelayMs } : {}),
    },
  );
  // Sessions of ours whose wallet another node's debit took to zero: sent as our own.
  cluster?.onStops((targets) => sessions.stopsHandedHere(targets));
  // A stop handed over while this node was not listening: its station is ours, so send it now.
  cluster?.onResync((identities) => {
    sessions.stopper.resendOwed(identities).catch((err: unknown) => log.warn({ err }, 'could not re-send owed stops after a resync'));
  });
  if (config.localListSync) localList = new LocalListSync({ db, clock, log: log.child({ component: 'local_list' }), commands, stations });
  const security = new StationSecurity({
    db,
    clock,
    log: log.child({ component: 'security' }),
    commands,
    tls: Boolean(config.tls),
    clientCertificates: Boolean(config.tls && config.tlsClientCaFile),
    ca: config.securityCa,
  });
  const jobs = new BackgroundJobs({ db, nodeId: config.nodeId, log: log.child({ component: 'jobs' }) }, [
    { name: 'time_sweep', everyMs: config.billingSweepIntervalS * 1000, run: () => sessions.sweep() },
    stopTakeoverJob({ db, clock, log, stopper: sessions.stopper, leaseS: config.clusterLeaseS }),
    { name: 'event_retention', everyMs: 3_600_000, run: () => deleteOldEvents(db, config.eventRetentionDays) },
    { name: 'command_log_retention', everyMs: 3_600_000, run: () => deleteOldCommands(db, config.commandLogRetentionDays) },
    ...(cluster?.jobs ?? []),
    ...(localList ? [{ name: 'local_list_reconcile', everyMs: 300_000, run: () => localList!.reconcileAll() }] : []),
  ]);
  return {
    config,
    db,
    clock,
    log,
    stations,
    commandLog,
    connections,
    cluster,
    closeOwnConnections: async () => {
      await Promise.all([deliveryDb?.close(), billingDb?.close()]);
    },
    jobs,
    capabilities,
    stationWrites: new StationWrites(db),
    sessions,
    commands,
    reservations: new Reservations({ db, commands }),
    security,
    localList,
    apiKeys: new ApiKeyVerifier(db, config.adminApiKey),
    events,
    metrics,
    webhooks,
    connectionEvents: new ConnectionEvents({ db, clock, log, nodeId: config.nodeId }),
  };
}
