import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.ts';

export interface SocketGuardOptions {
  /** sockets open on the port (handshaking or connected); more are refused */
  maxConnections: number;
  /** from accept to a completed WebSocket upgrade */
  handshakeTimeoutMs: number;
  tls: boolean;
}

/** File descriptors kept free for everything but the OCPP port (admin API, database pool, files). */
export const RESERVED_DESCRIPTORS = 512;

/** The process's open-file limit on Linux (Node raises the soft limit to the hard one at start). */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Over-capacity sockets waiting for their 503 at any one time; past this they are just closed. */
const MAX_REFUSING = 100;
/** How long an over-capacity socket may take to send the request its 503 answers. */
const REFUSE_WITHIN_MS = 2_000;

/**
 * Keeps the OCPP port from exhausting the process's file descriptors (which would also stop the
 * admin port and the database pool from opening sockets):
 *
 * - at most `maxConnections` sockets are open at once (fewer if the process's open-file limit
 *   would not leave RESERVED_DESCRIPTORS free for the rest). A socket over the cap is answered 503
 *   with `Retry-After` as soon as its request arrives (plain HTTP); over TLS it is closed at once,
 *   before any TLS work, since no HTTP can be spoken without the TLS handshake;
 * - a socket that has not completed its WebSocket upgrade `handshakeTimeoutMs` after it was
 *   accepted is closed, whether it sent nothing, half a request, or is still being decided.
 */
export class SocketGuard {
  private open = 0;
  private refusing = 0;
  /** `maxConnections`, lowered to leave RESERVED_DESCRIPTORS free under the open-file limit */
  readonly maxConnections: number;
  private readonly overCapacity = new WeakSet<object>();
  private readonly deadlines = new WeakMap<object, NodeJS.Timeout>();

  constructor(
    server: Server,
    private readonly options: SocketGuardOptions,
    private readonly log: Logger,
    fileLimit = openFileLimit(),
  ) {
    this.maxConnections = options.maxConnections;
    if (fileLimit !== undefined && options.maxConnections > fileLimit - RESERVED_DESCRIPTORS) {
      this.maxConnections = Math.max(1, fileLimit - RESERVED_DESCRIPTORS);
      log.warn(
        { configured: options.maxConnections, openFileLimit: fileLimit, cap: this.maxConnections },
        'OCPP_MAX_CONNECTIONS is above what the open-file limit allows; capped lower (raise ulimit -n to allow more)',
      );
    }
    server.on('connection', (socket: Socket) => this.accepted(socket));
    // Over TLS the HTTP exchange runs on the TLS socket; the TLS handshake itself has the
    // server's own `handshakeTimeout`.
    server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => this.arm(socket));
  }

  /** Sockets open on the port now. */
  get openSockets(): number {
    return this.open;
  }

  isOverCapacity(socket: object): boolean {
    return this.overCapacity.has(socket);
  }

  /** The socket's upgrade completed: it is a station connection now, the handshake deadline is off. */
  upgraded(socket: object): void {
    clearTimeout(this.deadlines.get(socket));
    this.deadlines.delete(socket);
  }

  private accepted(socket: Socket): void {
    if (this.open < this.maxConnections) {
      this.open += 1;
      socket.once('close', () => (this.open -= 1));
      return;
    }
    if (this.options.tls || this.refusing >= MAX_REFUSING) {
      socket.destroy();
      return;
    }
    this.refusing += 1;
    this.overCapacity.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSE_WITHIN_MS).unref();
    socket.once('close', () => {
      this.refusing -= 1;
      clearTimeout(timer);
    });
  }

  private arm(socket: Socket): void {
    if (this.overCapacity.has(socket) || socket.destroyed) return;
    const timer = setTimeout(() => {
      this.log.debug({ remoteAddress: socket.remoteAddress }, 'handshake not completed in time; socket closed');
      socket.destroy();
    }, this.options.handshakeTimeoutMs).unref();
    this.deadlines.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  }
}
