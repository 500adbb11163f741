import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import type { StationConnections } from '../connections.ts';
import type { SessionService } from '../../domain/sessions/service.ts';
import type { StationWrites } from '../../domain/chargers/station-writes.ts';
import type { InboundAction, InboundRequest, InboundResponses } from '../messages.ts';
import type { LiveEvents } from '../../shared/events.ts';

/** What every OCPP handler may use; built once by the composition root. */
export interface OcppDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  connections: StationConnections;
  sessions: SessionService;
  /** boot, heartbeat and configuration records, group-committed */
  stationWrites: StationWrites;
  /** what the console watches live (published after each change) */
  events?: LiveEvents | undefined;
  settings: {
    heartbeatIntervalS: number;
    meterValueSampleIntervalS: number;
  };
}

/** The authenticated station a message came from (set at handshake). */
export interface StationSession {
  stationId: string;
  identity: string;
  organizationId: string;
  /** at the handshake, a session on this station was still waiting for its RemoteStopTransaction */
  stopsPending?: boolean;
}

export interface HandlerContext {
  deps: OcppDeps;
  station: StationSession;
  log: Logger;
}

export type Handler<A extends InboundAction> = (
  ctx: HandlerContext,
  request: InboundRequest<A>,
) => Promise<InboundResponses[A]>;
