/**
 * The station's WebSocket link on ocpp-rpc's RPCClient: connecting (with retries), closing,
 * outbound calls with their CALL→CALLRESULT latency, and the link's events.
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { StationCore } from './core.ts';
import type { OutboundAction, OutboundCalls } from './ocpp-types.ts';
import { RPCClient, type RpcClient, type RpcClientOptions } from './rpc.ts';
import { sleep } from './timers.ts';

const RECONNECT_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000];

export class Connection {
  readonly client: RpcClient;
  private isConnected = false;
  private readonly callStarts = new Map<string, number>();

  constructor(
    private readonly core: StationCore,
    private readonly onOpen: () => void,
  ) {
    const { options } = core;
    this.client = new RPCClient({
      reconnect: true,
      ...options.rpcOptions,
      // a central system that accepts TCP but never upgrades must not hang start()
      wsOpts: { handshakeTimeout: 30_000, ...options.rpcOptions?.wsOpts },
      endpoint: options.url,
      identity: options.identity,
      password: options.password ?? null,
      protocols: ['ocpp1.6'],
      strictMode: true,
    } as RpcClientOptions);
    this.attachClientEvents();
  }

  /** WebSocket open. */
  get connected(): boolean {
    return this.isConnected;
  }

  async call<A extends OutboundAction>(action: A, params: OutboundCalls[A][0]): Promise<OutboundCalls[A][1]> {
    return (await this.client.call(action, params)) as OutboundCalls[A][1];
  }

  /** Opens the WebSocket once; rejects when it cannot be opened. */
  async connect(): Promise<void> {
    await this.client.connect();
  }

  /** Connects, retrying with a growing pause, until connected (true) or the station stops (false). */
  async connectWithRetry(): Promise<boolean> {
    const { core } = this;
    for (let attempt = 0; core.running && !core.offline; attempt++) {
      try {
        await this.client.connect();
        return true;
      } catch (err) {
        core.warn('connect failed', err);
        const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]!;
        if (!(await sleep(delay, core.abort.signal))) return false;
      }
    }
    return false;
  }

  /** A deliberate close (ocpp-rpc does not reconnect after it); `force` drops the socket at once. */
  async close(options: { code?: number; reason?: string; force?: boolean }): Promise<void> {
    try {
      await this.client.close(options);
    } finally {
      this.isConnected = false;
    }
  }

  /** Forgets the latency bookkeeping of calls cut short by stop(). */
  reset(): void {
    this.callStarts.clear();
  }

  private attachClientEvents(): void {
    const { core } = this;
    const client = this.client as unknown as EventEmitter;
    client.on('open', () => {
      this.isConnected = true;
      core.log?.debug('connected');
      core.emit('connected');
      if (core.offline) return;
      this.onOpen();
    });
    client.on('disconnect', ({ code, reason }: { code: number; reason: string }) => {
      this.isConnected = false;
      core.log?.debug({ code, reason }, 'disconnected');
      core.emit('disconnected', { code, reason: String(reason ?? '') });
    });
    client.on('close', () => {
      this.isConnected = false;
    });
    client.on('call', ({ outbound, payload }: { outbound: boolean; payload: [number, string, string, unknown] }) => {
      if (!outbound) return;
      const [, messageId, action, params] = payload;
      this.callStarts.set(messageId, performance.now());
      core.log?.debug({ action }, 'call');
      core.emit('call', { messageId, action, params });
    });
    client.on(
      'callResult',
      (event: { outbound: boolean; messageId: string; method: string; params: unknown; result: unknown }) => {
        if (!event.outbound) return;
        core.emit('callResult', {
          messageId: event.messageId,
          action: event.method,
          params: event.params,
          result: event.result,
          latencyMs: this.takeLatency(event.messageId),
        });
      },
    );
    client.on(
      'callError',
      (event: { outbound: boolean; messageId: string; method: string; params: unknown; error: unknown }) => {
        if (!event.outbound) return;
        if (!core.running) {
          // Cut short by our own stop (abort, then close): not an error of the central system.
          this.takeLatency(event.messageId);
          return;
        }
        core.emit('callError', {
          messageId: event.messageId,
          action: event.method,
          params: event.params,
          error: event.error,
          latencyMs: this.takeLatency(event.messageId),
        });
      },
    );
    client.on('strictValidationFailure', (event: { method: string; outbound: boolean; isCall: boolean; error: unknown }) => {
      core.warn(
        `schema validation failed: ${event.method} ${event.isCall ? 'request' : 'response'} (${event.outbound ? 'outbound' : 'inbound'})`,
        event.error,
      );
    });
    client.on('badMessage', ({ error }: { error: unknown }) => core.warn('bad message from central system', error));
    client.on('socketError', (err: unknown) => core.log?.debug({ err }, 'socket error'));
  }

  private takeLatency(messageId: string): number {
    const start = this.callStarts.get(messageId);
    this.callStarts.delete(messageId);
    return start === undefined ? Number.NaN : performance.now() - start;
  }
}
