import WebSocket, { type ClientOptions as WsOptions } from 'ws';
import { RPCClient } from '../../src/ocpp/rpc.ts';

export interface ClientOptions {
  password?: string;
  protocols?: string[];
  /** validate our own outbound calls (default true); false lets a test send bad payloads */
  strict?: boolean;
  wsOpts?: Record<string, unknown>;
}

/**
 * A bare RPCClient charger (strict mode, no reconnect) that records every frame it receives.
 * Kept apart from the simulator on purpose: the handshake and hostile-input tests need a client
 * that offers arbitrary subprotocol lists (or none), turns strict mode off, and reads every raw
 * frame, none of which a charge point (and so the simulator) ever does. Every test that plays a
 * well-behaved charger uses the simulator (aCharger is its manual mode).
 */
export function stationClient(url: string, identity: string, options: ClientOptions = {}) {
  // ocpp-rpc's typings mark every option required; it fills defaults itself.
  const client = new RPCClient({
    endpoint: url,
    identity,
    protocols: options.protocols ?? ['ocpp1.6'],
    strictMode: options.strict !== false && (options.protocols ?? ['ocpp1.6']).includes('ocpp1.6'),
    reconnect: false,
    callTimeoutMs: 10_000,
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(options.wsOpts ? { wsOpts: options.wsOpts } : {}),
  } as ConstructorParameters<typeof RPCClient>[0]);
  const received: unknown[] = [];
  client.on('message', ({ message, outbound }: { message: string; outbound: boolean }) => {
    if (!outbound) received.push(JSON.parse(message));
  });
  return Object.assign(client as unknown as TestStation, { received });
}

/** ocpp-rpc's client with the loose typings tests want: any action, any payload. */
export interface TestStation {
  readonly protocol: string | undefined;
  readonly identity: string;
  received: unknown[];
  connect(): Promise<unknown>;
  close(options?: { code?: number; reason?: string; awaitPending?: boolean; force?: boolean }): Promise<unknown>;
  call(action: string, params?: unknown, options?: { callTimeoutMs?: number }): Promise<any>;
  handle(action: string, handler: (call: { params: any; messageId: string }) => unknown): void;
  sendRaw(frame: string): void;
  on(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
}

/** The HTTP status a refused WebSocket handshake answered with. */
export async function handshakeStatus(client: { connect(): Promise<unknown> }): Promise<number> {
  try {
    await client.connect();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
  throw new Error('the handshake was accepted');
}

/** Waits until `check` returns a truthy value (polls every 20 ms) or fails after `ms`. */
export async function eventually<T>(check: () => T | Promise<T>, ms = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`condition not met within ${ms} ms${last ? `: ${String(last)}` : ''}`);
}

/** A bare `ws` WebSocket to the gateway offering ocpp1.6, once open (for frames and behaviours ocpp-rpc would not produce). */
export async function openSocket(url: string, identity: string, options: WsOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(`${url}/${identity}`, ['ocpp1.6'], options);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}
