import { TimeoutError } from './rpc.ts';
import type { Logger } from '../logger.ts';
import { StationOfflineError, StationTimeoutError } from '../shared/errors.ts';
import type {
  CallOptions,
  StationAction,
  StationCalls,
  StationLocation,
  StationPort,
} from '../domain/chargers/station-port.ts';

/** The part of ocpp-rpc's server-side client that the registry uses. */
export interface LiveClient {
  identity: string;
  /** WebSocket ready state (1 = open) */
  readonly state: number;
  /** `signal` ends the call (rejected with an AbortError) when aborted. */
  call(method: string, params: unknown, options?: { callTimeoutMs?: number; signal?: AbortSignal }): Promise<unknown>;
  close(options?: { code?: number; reason?: string; awaitPending?: boolean; force?: boolean }): Promise<unknown>;
  once(event: 'close', listener: () => void): unknown;
}

const WS_OPEN = 1;

/** Options of a call sent from this process's sockets. */
export interface LocalCallOptions extends CallOptions {
  /**
   * performance.now() after which the call is not sent any more (it waited too long behind
   * other calls): its caller, on another node, has given up on it.
   */
  sendBy?: number;
}

/** Told of every connection this process starts and stops holding (the cluster's presence). */
export interface ConnectionListener {
  attached(client: LiveClient): void;
  detached(client: LiveClient): void;
}

/**
 * The station port for the connections this process holds: one live client per identity (a new
 * connection replaces the old one), calls queued one at a time per station (urgent stops excepted).
 * On its own it is the whole port of a single-node gateway (`node` names this process).
 */
export class LocalConnections implements StationPort {
  private readonly clients = new Map<string, LiveClient>();
  /** Per connection: the end of its queue of ordinary calls (one in flight at a time). */
  private readonly queues = new WeakMap<LiveClient, Promise<unknown>>();
  private listener: ConnectionListener | undefined;

  constructor(
    private readonly log: Logger,
    private readonly node: string,
    /** a call's timeout when its caller names none (OCPP_CALL_TIMEOUT_S) */
    private readonly callTimeoutMs = 30_000,
  ) {}

  /** One listener (the cluster's presence) is told of every attach and detach. */
  listen(listener: ConnectionListener): void {
    this.listener = listener;
  }

  /** Registers a new connection; an older one for the same identity is closed. */
  attach(client: LiveClient): void {
    const previous = this.clients.get(client.identity);
    this.clients.set(client.identity, client);
    client.once('close', () => {
      if (this.clients.get(client.identity) === client) this.clients.delete(client.identity);
      this.listener?.detached(client);
    });
    this.listener?.attached(client);
    if (previous && previous !== client) {
      this.log.info({ identity: client.identity }, 'station reconnected; closing its previous connection');
      void previous.close({ code: 1000, reason: 'Replaced by a new connection' }).catch(() => {});
    }
  }

  get(identity: string): LiveClient | undefined {
    return this.clients.get(identity);
  }

  isOnline(identity: string): boolean {
    return this.clients.has(identity);
  }

  online(): string[] {
    return [...this.clients.keys()];
  }

  async locate(identities: readonly string[]): Promise<Map<string, StationLocation>> {
    return new Map(identities.filter((id) => this.clients.has(id)).map((id) => [id, { node: this.node }]));
  }

  async call<A extends StationAction>(
    identity: string,
    action: A,
    params: StationCalls[A]['req'],
    options: LocalCallOptions = {},
  ): Promise<StationCalls[A]['conf']> {
    const client = this.clients.get(identity);
    if (!client) throw new StationOfflineError(identity);
    const send = () => {
      if (options.sendBy !== undefined && performance.now() > options.sendBy) {
        return Promise.reject(new TimeoutError(`${action} waited past its deadline; not sent`));
      }
      const asked = options.timeoutMs;
      // a timer takes at most 2^31 - 1 ms (longer ones fire at once); no or a nonsense timeout is the default
      const timeoutMs = asked !== undefined && Number.isFinite(asked) && asked > 0 ? Math.min(asked, 2_147_483_647) : this.callTimeoutMs;
      return callWithin(client, action, params, timeoutMs);
    };
    let pending: Promise<unknown>;
    if (options.urgent) {
      pending = send();
    } else {
      const previous = this.queues.get(client) ?? Promise.resolve();
      pending = previous.then(send, send);
      this.queues.set(client, pending.catch(() => {}));
    }
    try {
      return (await pending) as StationCalls[A]['conf'];
    } catch (err) {
      if (err instanceof TimeoutError) throw new StationTimeoutError(identity, action);
      // The connection closed before or during the call (ocpp-rpc rejects pending calls then).
      if (client.state !== WS_OPEN || this.clients.get(identity) !== client) {
        throw new StationOfflineError(identity);
      }
      throw err;
    }
  }

  async disconnect(identity: string, reason: string): Promise<void> {
    const client = this.clients.get(identity);
    if (!client) return;
    this.clients.delete(identity);
    await client.close({ code: 1000, reason }).catch(() => {});
  }

  /** Closes every connection, letting calls in flight finish (graceful stop). */
  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.close({ code: 1001, reason: 'Server stopping', awaitPending: true })));
  }
}

/**
 * One call with a timer of our own. ocpp-rpc's call timeout costs ~50 µs per call: it builds a
 * TimeoutError (a stack trace) for every call, and when the answer comes it aborts a
 * timers/promises timer, which builds an AbortError (another). In a reconnect storm, where each
 * station's boot pass sends several calls, that was a sixth of a node's busy time. A plain timer
 * that aborts the call's signal ends it the same way (ocpp-rpc rejects it and forgets it) for ~10 µs.
 * ocpp-rpc listens to the signal only once the call leaves its own queue, so this relies on the
 * server's callConcurrency being unbounded (server.ts): LocalConnections does the queueing.
 */
async function callWithin(client: LiveClient, action: string, params: unknown, timeoutMs: number): Promise<unknown> {
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);
  try {
    return await client.call(action, params, { callTimeoutMs: Number.POSITIVE_INFINITY, signal: abort.signal });
  } catch (err) {
    if (timedOut) throw new TimeoutError(`${action}: no answer within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
