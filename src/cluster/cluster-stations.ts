import type { Logger } from '../logger.ts';
import type {
  CallOptions,
  StationAction,
  StationCalls,
  StationLocation,
  StationPort,
} from '../domain/chargers/station-port.ts';
import type { LocalConnections } from '../ocpp/connections.ts';
import { createRPCError } from '../ocpp/rpc.ts';
import { StationOfflineError, StationTimeoutError } from '../shared/errors.ts';
import type { CallForwarder } from './call-forwarder.ts';
import type { Answer } from './notices.ts';
import type { Presence } from './presence.ts';

/** How long a disconnect forwarded to another node may take. */
const DISCONNECT_TIMEOUT_MS = 5_000;

/**
 * The station port of a cluster node: a station this process holds is called over its own
 * socket, exactly as on one node; any other is reached through the node that holds it
 * (CallForwarder), with the same answers and errors. A station that moved between the look-up
 * and the call is looked up once more.
 */
export class ClusterStations implements StationPort {
  constructor(
    private readonly deps: {
      connections: LocalConnections;
      forwarder: CallForwarder;
      presence: Presence;
      log: Logger;
      /** a call's timeout when the caller gives none (the OCPP server's default) */
      defaultTimeoutMs: number;
    },
  ) {}

  async call<A extends StationAction>(
    identity: string,
    action: A,
    params: StationCalls[A]['req'],
    options: CallOptions = {},
  ): Promise<StationCalls[A]['conf']> {
    const { connections, forwarder, defaultTimeoutMs } = this.deps;
    for (let lookup = 0; lookup < 2; lookup++) {
      if (connections.get(identity)) return connections.call(identity, action, params, options);
      const answer = await forwarder.send({
        identity,
        kind: 'call',
        action,
        params,
        urgent: options.urgent === true,
        timeoutMs: options.timeoutMs ?? defaultTimeoutMs,
      });
      if (!answer) throw new StationOfflineError(identity);
      if (answer.o === 'not_held') continue;
      return unwrap(identity, action, answer) as StationCalls[A]['conf'];
    }
    throw new StationOfflineError(identity);
  }

  locate(identities: readonly string[]): Promise<Map<string, StationLocation>> {
    return this.deps.presence.locate(identities);
  }

  async disconnect(identity: string, reason: string): Promise<void> {
    const { connections, forwarder, log } = this.deps;
    if (connections.get(identity)) return connections.disconnect(identity, reason);
    const answer = await forwarder.send({
      identity,
      kind: 'disconnect',
      action: 'disconnect',
      params: { reason },
      urgent: true,
      timeoutMs: DISCONNECT_TIMEOUT_MS,
    });
    if (answer && answer.o !== 'answer' && answer.o !== 'not_held') {
      log.warn({ identity, outcome: answer.o }, 'could not close a station connection held by another node');
    }
  }
}

/** The holder's outcome as the caller on one node would have seen it: an answer or an error. */
function unwrap(identity: string, action: string, answer: Answer): unknown {
  switch (answer.o) {
    case 'answer':
      return answer.r;
    case 'not_held':
    case 'offline':
      throw new StationOfflineError(identity);
    case 'timeout':
      throw new StationTimeoutError(identity, action);
    case 'rpc_error': {
      const e = answer.r as { code: string; message: string; details: object };
      throw createRPCError(e.code, e.message, e.details) as Error;
    }
    default:
      throw new Error((answer.r as { message?: string } | undefined)?.message ?? `${action} failed on the node holding ${identity}`);
  }
}
