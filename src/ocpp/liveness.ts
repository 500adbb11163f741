import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.ts';

export interface LivenessOptions {
  /** ping a station after this long without a frame from it; 0 = never ping */
  pingIntervalMs: number;
  /** the Heartbeat interval stations are given at boot */
  heartbeatIntervalMs: number;
}

/** The parts of ocpp-rpc's server-side client that liveness uses. */
export interface WatchedClient {
  on(event: 'ping' | 'message' | 'close', listener: (arg: { outbound?: boolean }) => void): unknown;
  close(options: { force: boolean }): Promise<unknown>;
}

/**
 * ocpp-rpc keeps a connection's `ws` WebSocket in `_ws` (declared `protected` in its typings,
 * for its own subclasses). We need it only to send pings: ocpp-rpc's own keepalive drops a
 * station that misses one pong even while the station is sending calls.
 */
function pingerOf(client: WatchedClient): { ping(): void } | undefined {
  const ws = (client as unknown as { _ws?: { ping?: unknown } })._ws;
  return ws && typeof ws.ping === 'function' ? (ws as { ping(): void }) : undefined;
}

/**
 * Drops only silent connections. Any frame from the station (a call, an answer, a pong, its own
 * ping; every byte read from its socket) proves it is alive. After `pingIntervalMs` without a
 * frame the gateway pings; how long a silence it then tolerates depends on what the station
 * has shown on this connection:
 *
 * - it has answered a ping: two ping intervals (one ping missed), as a half-open socket should
 *   be found quickly;
 * - it has sent calls but never answered a ping (firmware that ignores pings): twice the
 *   Heartbeat interval, since it promised a frame at least that often;
 * - it has sent nothing at all since its handshake: two ping intervals;
 * - pings are off (`pingIntervalMs` 0): twice the Heartbeat interval.
 */
export function watchLiveness(client: WatchedClient, socket: Duplex, options: LivenessOptions, log: Logger): void {
  const { pingIntervalMs: ping, heartbeatIntervalMs: heartbeat } = options;
  const pinger = pingerOf(client);
  if (!pinger && ping > 0) log.warn('cannot ping this connection (ocpp-rpc internals changed?); relying on its frames');
  let lastFrame = Date.now();
  let lastPing = 0;
  let answeredPing = false;
  let spoke = false;
  let timer: NodeJS.Timeout | undefined;

  socket.on('data', () => {
    lastFrame = Date.now();
  });
  // ocpp-rpc emits 'ping' (with the round trip) for every pong it receives.
  client.on('ping', () => {
    answeredPing = true;
  });
  client.on('message', ({ outbound }) => {
    if (!outbound) spoke = true;
  });
  client.on('close', () => clearTimeout(timer));

  const silenceLimit = () =>
    ping > 0 && (answeredPing || !spoke) ? 2 * ping : Math.max(2 * heartbeat, 2 * ping);

  const check = () => {
    const now = Date.now();
    const limit = silenceLimit();
    const silent = now - lastFrame;
    if (silent >= limit) {
      log.info({ silentS: Math.round(silent / 1000), answeredPing, spoke }, 'station silent; connection dropped');
      client.close({ force: true }).catch(() => {});
      return;
    }
    let next = lastFrame + limit;
    if (ping > 0) {
      if (silent >= ping && now - lastPing >= ping) {
        lastPing = now;
        try {
          pinger?.ping();
        } catch {
          // the socket is closing; its close event ends this watch
        }
      }
      next = Math.min(next, Math.max(lastFrame, lastPing) + ping);
    }
    timer = setTimeout(check, Math.max(next - now, 10)).unref();
  };
  timer = setTimeout(check, ping > 0 ? ping : silenceLimit()).unref();
}
