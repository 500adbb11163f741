import { TimeoutError } from './rpc.ts';
import type { Logger } from '../logger.ts';
import { StationOfflineError, StationTimeoutError } from '../shared/errors.ts';
import type { CallOptions, StationAction, StationCalls, StationPort } from '../domain/chargers/station-port.ts';

/** The part of ocpp-rpc's server-side client that the registry uses. */
export interface LiveClient {
  identity: string;
  /** WebSocket ready state (1 = open) */
  readonly state: number;
  call(method: string, params: unknown, options?: { callTimeoutMs?: number }): Promise<unknown>;
  close(options?: { code?: number; reason?: string; awaitPending?: boolean; force?: boolean }): Promise<unknown>;
  once(event: 'close', listener: () => void): unknown;
}

const WS_OPEN = 1;

/**
 * The station port for the connections this process holds: one live client per identity (a new
 * connection replaces the old one), calls queued one at a time per station (urgent stops excepted).
 */
export class LocalConnections implements StationPort {
  private readonly clients = new Map<string, LiveClient>();
  /** Per connection: the end of its queue of ordinary calls (one in flight at a time). */
  private readonly queues = new WeakMap<LiveClient, Promise<unknown>>();

  constructor(private readonly log: Logger) {}

  /** Registers a new connection; an older one for the same identity is closed. */
  attach(client: LiveClient): void {
    const previous = this.clients.get(client.identity);
    this.clients.set(client.identity, client);
    client.once('close', () => {
      if (this.clients.get(client.identity) === client) this.clients.delete(client.identity);
    });
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

  async call<A extends StationAction>(
    identity: string,
    action: A,
    params: StationCalls[A]['req'],
    options: CallOptions = {},
  ): Promise<StationCalls[A]['conf']> {
    const client = this.clients.get(identity);
    if (!client) throw new StationOfflineError(identity);
    const send = () =>
      client.call(action, params, options.timeoutMs ? { callTimeoutMs: options.timeoutMs } : {});
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
