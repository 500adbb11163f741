import type { AppContext } from '../../context.ts';
import type { Logger } from '../../logger.ts';
import type { InboundAction, InboundRequest, InboundResponses } from '../messages.ts';

/** The authenticated station a message came from (set at handshake). */
export interface StationSession {
  stationId: string;
  identity: string;
  organizationId: string;
  /** at the handshake, a session on this station was still waiting for its RemoteStopTransaction */
  stopsPending?: boolean;
}

export interface HandlerContext {
  /** everything the gateway is made of */
  deps: AppContext;
  station: StationSession;
  log: Logger;
}

export type Handler<A extends InboundAction> = (
  ctx: HandlerContext,
  request: InboundRequest<A>,
) => Promise<InboundResponses[A]>;
