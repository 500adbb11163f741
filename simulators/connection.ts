/**
 * The station's WebSocket link on ocpp-rpc's RPCClient: one or several central-system URLs (a
 * station whose node fails moves on to the next), HTTP Basic credentials (sent at once, or only
 * after the server's challenge), TLS client certificates, the reconnect loop, outbound calls with
 * their CALL→CALLRESULT latency, and the link's events.
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { StationCore } from './core.ts';
import type { OutboundAction, OutboundCalls } from './ocpp-types.ts';
import { RPCClient, type RpcClient, type RpcClientOptions } from './rpc.ts';
import { sleep } from './timers.ts';
import { checkRequest, stationValidator, uncheckedPayload } from './validation.ts';
import { withVendorExtras } from './vendor.ts';

/** TLS material for wss:// (security profile 2: `ca`; profile 3 adds the client `cert` and `key`). */
export interface TlsOptions {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
}

/** `preemptive`: credentials on every handshake; `challenge`: only after a 401 with WWW-Authenticate: Basic. */
export type BasicAuthMode = 'preemptive' | 'challenge';

interface Backoff {
  initialDelay: number;
  maxDelay: number;
  factor: number;
  randomisationFactor: number;
}

const DEFAULT_BACKOFF: Backoff = { initialDelay: 1_000, maxDelay: 10_000, factor: 2, randomisationFactor: 0.25 };
const RETRY_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000];

/** Splits and tidies one URL, a comma-separated list, or a list of URLs. */
export function endpointList(url: string | readonly string[]): string[] {
  const list = (typeof url === 'string' ? url.split(',') : [...url]).map((u) => u.trim().replace(/\/+$/, ''));
  const urls = list.filter((u) => u.length > 0);
  if (urls.length === 0) throw new Error('at least one central system URL is needed');
  return urls;
}

/** The 401 of a server that asks for HTTP Basic credentials. */
function isBasicChallenge(err: unknown): boolean {
  const e = err as { code?: unknown; response?: { headers?: Record<string, string | string[] | undefined> } };
  const header = e?.response?.headers?.['www-authenticate'];
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return e?.code === 401 && /^\s*basic\b/i.test(value);
}

export class Connection {
  readonly client: RpcClient;
  readonly urls: readonly string[];
  private urlIndex = 0;
  private password: Buffer | undefined;
  private tls: TlsOptions | undefined;
  private readonly basicAuth: BasicAuthMode;
  private readonly autoReconnect: boolean;
  private readonly backoff: Backoff;
  private readonly baseWsOpts: Record<string, unknown>;
  private isConnected = false;
  private deliberateClose = false;
  private reconnecting = false;
  private readonly callStarts = new Map<string, number>();

  constructor(
    private readonly core: StationCore,
    private readonly onOpen: () => void,
  ) {
    const { options } = core;
    this.urls = endpointList(options.url);
    this.password = options.password === undefined ? undefined : Buffer.from(options.password);
    this.tls = options.tls;
    this.basicAuth = options.basicAuth ?? 'preemptive';
    this.autoReconnect = options.rpcOptions?.reconnect !== false;
    this.backoff = { ...DEFAULT_BACKOFF, ...(options.rpcOptions?.backoff as Partial<Backoff> | undefined) };
    this.baseWsOpts = {
      // a central system that accepts TCP but never upgrades must not hang start()
      handshakeTimeout: 30_000,
      ...(options.rpcOptions?.wsOpts as Record<string, unknown> | undefined),
      // a charger that never answers WebSocket pings (liveness only from its messages)
      ...(options.pongless ? { autoPong: false } : {}),
    };
    this.client = new RPCClient({
      ...options.rpcOptions,
      ...(options.pongless ? { pingIntervalMs: 0 } : {}),
      // the station reconnects by itself, so that it can move to another URL or new credentials
      reconnect: false,
      wsOpts: this.wsOpts(),
      endpoint: this.urls[0],
      identity: options.identity,
      password: null,
      protocols: ['ocpp1.6'],
      strictMode: true,
      strictModeValidators: [stationValidator],
    } as unknown as RpcClientOptions);
    this.attachClientEvents();
  }

  /** WebSocket open. */
  get connected(): boolean {
    return this.isConnected;
  }

  /** The URL the station is (or will next be) connected to. */
  get url(): string {
    return this.urls[this.urlIndex]!;
  }

  async call<A extends OutboundAction>(action: A, params: OutboundCalls[A][0]): Promise<OutboundCalls[A][1]> {
    return (await this.client.call(action, this.asSent(action, params))) as OutboundCalls[A][1];
  }

  /**
   * The payload as this station's firmware writes it. Vendor extras and zone-less timestamps do
   * not pass ocpp-rpc's outbound validation, so such payloads go unchecked (with extras, the
   * standard part is checked first).
   */
  private asSent(action: string, params: unknown): unknown {
    const { options, clock } = this.core;
    const zoneless = clock.format === 'no-zone';
    if (options.vendorExtras) {
      if (!zoneless) checkRequest(action, params);
      return uncheckedPayload(withVendorExtras(action, params));
    }
    return zoneless ? uncheckedPayload({ ...(params as object) }) : params;
  }

  /** Any action and payload, checked against the schemas unless `validate` is false. */
  async send(action: string, payload: unknown, options: { validate?: boolean; callTimeoutMs?: number } = {}): Promise<unknown> {
    const body = options.validate === false && payload !== null && typeof payload === 'object' ? uncheckedPayload(payload) : payload;
    return this.client.call(action, body, options.callTimeoutMs === undefined ? {} : { callTimeoutMs: options.callTimeoutMs });
  }

  /** A frame written as is: no schema, no message bookkeeping (hostile-input tests). */
  sendRaw(frame: string): void {
    this.client.sendRaw(frame);
  }

  /** HTTP Basic password for the next handshakes (AuthorizationKey). */
  setPassword(password: string | Buffer | undefined): void {
    this.password = password === undefined ? undefined : Buffer.from(password);
  }

  /** TLS material for the next handshakes (a new client certificate). */
  setTls(tls: TlsOptions | undefined): void {
    this.tls = tls;
    this.reconfigure({ wsOpts: this.wsOpts() });
  }

  get tlsOptions(): TlsOptions | undefined {
    return this.tls;
  }

  /** Opens the WebSocket, trying each URL once from the current one; rejects when none accepts. */
  async connect(): Promise<void> {
    let lastError: unknown;
    for (let tried = 0; tried < this.urls.length; tried++) {
      try {
        await this.handshake();
        return;
      } catch (err) {
        lastError = err;
        this.core.log?.debug({ err, url: this.url }, 'connect failed');
        this.nextUrl();
      }
    }
    throw lastError;
  }

  /** Connects, retrying with a growing pause (and the next URL), until connected (true) or the station stops (false). */
  async connectWithRetry(): Promise<boolean> {
    const { core } = this;
    for (let attempt = 0; core.running && !core.offline; attempt++) {
      try {
        await this.handshake();
        return true;
      } catch (err) {
        core.warn('connect failed', err);
        this.nextUrl();
        const delay = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!;
        if (!(await sleep(delay, core.abort.signal))) return false;
      }
    }
    return false;
  }

  /** A deliberate close: the station does not reconnect by itself; `force` drops the socket at once. */
  async close(options: { code?: number; reason?: string; force?: boolean }): Promise<void> {
    this.deliberateClose = true;
    try {
      await this.client.close(options);
    } finally {
      this.deliberateClose = false;
      this.isConnected = false;
    }
  }

  /** Forgets the latency bookkeeping of calls cut short by stop(). */
  reset(): void {
    this.callStarts.clear();
  }

  /** ocpp-rpc merges these into its options (its typings ask for a whole set). */
  private reconfigure(options: Record<string, unknown>): void {
    this.client.reconfigure(options as unknown as RpcClientOptions);
  }

  private wsOpts(): Record<string, unknown> {
    return { ...this.baseWsOpts, ...(this.tls ?? {}) };
  }

  private nextUrl(): void {
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
  }

  /** One handshake with the current URL; with challenge-first auth, a second one after the 401. */
  private async handshake(): Promise<void> {
    const challengeFirst = this.basicAuth === 'challenge' && this.password !== undefined;
    this.reconfigure({ endpoint: this.url, password: challengeFirst ? null : (this.password ?? null) });
    try {
      await this.client.connect();
    } catch (err) {
      if (!challengeFirst || !isBasicChallenge(err)) throw err;
      this.core.log?.debug('asked for credentials: handshaking again with them');
      this.reconfigure({ password: this.password });
      await this.client.connect();
    }
  }

  private shouldReconnect(): boolean {
    const { core } = this;
    return this.autoReconnect && core.running && !core.offline && !this.isConnected;
  }

  /** After the link dropped by itself: back off and reconnect, moving through the URLs. */
  private async reconnectLoop(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; this.shouldReconnect(); attempt++) {
        // every URL is tried at one backoff level before the pause grows
        if (!(await sleep(this.backoffDelay(Math.floor(attempt / this.urls.length)), this.core.abort.signal))) return;
        if (!this.shouldReconnect()) return;
        try {
          await this.handshake();
          return;
        } catch (err) {
          this.core.log?.debug({ err, url: this.url }, 'reconnect failed');
          this.nextUrl();
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private backoffDelay(level: number): number {
    const { initialDelay, maxDelay, factor, randomisationFactor } = this.backoff;
    const base = Math.min(maxDelay, initialDelay * factor ** level);
    return base * (1 + (Math.random() * 2 - 1) * randomisationFactor);
  }

  private attachClientEvents(): void {
    const { core } = this;
    const client = this.client as unknown as EventEmitter;
    client.on('open', () => {
      this.isConnected = true;
      core.log?.debug({ url: this.url }, 'connected');
      core.emit('connected');
      if (core.offline) return;
      this.onOpen();
    });
    client.on('disconnect', ({ code, reason }: { code: number; reason: string }) => {
      this.isConnected = false;
      core.log?.debug({ code, reason }, 'disconnected');
      core.emit('disconnected', { code, reason: String(reason ?? '') });
      if (!this.deliberateClose) void this.reconnectLoop();
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
