import type { Config } from './config.ts';
import type { Db } from './db/index.ts';
import type { Logger } from './logger.ts';
import type { Clock } from './shared/clock.ts';
import { LocalConnections } from './ocpp/connections.ts';
import { ApiKeyVerifier } from './domain/apikeys/api-keys.ts';
import { SessionService } from './domain/sessions/service.ts';
import { StationWrites } from './domain/chargers/station-writes.ts';
import { LocalLiveEvents, type LiveEvents } from './shared/events.ts';

/**
 * Everything the gateway is made of, built once by the composition root and handed to both
 * adapters (the OCPP endpoint and the admin API): configuration, the database, the clock, the
 * logger, the stations this process holds, and the domain services.
 */
export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly clock: Clock;
  readonly log: Logger;
  /** the station connections this process holds; the domain sees them as its StationPort */
  readonly stations: LocalConnections;
  /** boot, heartbeat and configuration records, group-committed */
  readonly stationWrites: StationWrites;
  readonly sessions: SessionService;
  readonly apiKeys: ApiKeyVerifier;
  /** what changed, for whoever watches live (the console), published after each commit */
  readonly events: LiveEvents;
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
  base: { clock: Clock; log: Logger },
  overrides: ContextOverrides = {},
): AppContext {
  const { clock, log } = base;
  const stations = new LocalConnections(log.child({ component: 'ocpp' }));
  const events = new LocalLiveEvents((err) => log.error({ err }, 'live event listener failed'));
  return {
    config,
    db,
    clock,
    log,
    stations,
    stationWrites: new StationWrites(db),
    sessions: new SessionService(
      { db, clock, log: log.child({ component: 'sessions' }), stations, events },
      {
        sweepIntervalMs: config.billingSweepIntervalS * 1000,
        defaultMaxPowerW: config.maxStationPowerW,
        timeSilenceCapMs: config.timeBillingSilenceCapS * 1000,
        ...(overrides.stopRetryDelaysMs ? { stopRetryDelaysMs: overrides.stopRetryDelaysMs } : {}),
        ...(overrides.implicitEndAlertDelayMs !== undefined ? { implicitEndAlertDelayMs: overrides.implicitEndAlertDelayMs } : {}),
      },
    ),
    apiKeys: new ApiKeyVerifier(db, config.adminApiKey),
    events,
  };
}
