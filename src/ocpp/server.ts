import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { RPCServer } from './rpc.ts';
import { findStationsForHandshake, type HandshakeStation } from '../domain/chargers/stations.ts';
import { BatchLoader } from '../shared/group-commit.ts';
import { StationAuthenticator } from './station-auth.ts';
import type { LocalConnections } from './connections.ts';
import { attachHandlers } from './handlers/index.ts';
import type { StationSession } from './handlers/context.ts';
import type { AppContext } from '../context.ts';
import { enforceOcpp16ErrorSpelling } from './wire.ts';
import { ocpp16Validator } from './validator.ts';

export const OCPP_SUBPROTOCOL = 'ocpp1.6';
/** Frames above this size close the connection (WebSocket code 1009). */
export const MAX_FRAME_BYTES = 64 * 1024;

export interface OcppServerOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string } | undefined;
  pingIntervalS: number;
  callTimeoutS: number;
  /** consecutive malformed frames before the station is disconnected; 0 = never */
  maxBadMessages: number;
  /** failed handshakes per minute per source address / per identity before 429 */
  authFailuresPerSource: number;
  authFailuresPerIdentity: number;
}

export interface OcppServer {
  readonly connections: LocalConnections;
  listen(): Promise<AddressInfo>;
  /** Stops accepting, closes stations after their pending calls, closes the port. */
  close(): Promise<void>;
}

interface Handshake {
  identity: string;
  protocols: Set<string>;
  password?: Buffer;
  remoteAddress?: string;
}

/** The OCPP-J WebSocket endpoint: handshake checks, one RPC client per station, handlers. */
export function createOcppServer(
  options: OcppServerOptions,
  deps: AppContext,
): OcppServer {
  const log = deps.log.child({ component: 'ocpp' });
  const connections = deps.connections;

  const rpc = new RPCServer({
    protocols: [OCPP_SUBPROTOCOL],
    strictMode: true,
    // ocpp-rpc types validators as its own class; ours has the same two members it uses.
    strictModeValidators: [ocpp16Validator as never],
    pingIntervalMs: options.pingIntervalS * 1000,
    callTimeoutMs: options.callTimeoutS * 1000,
    respondWithDetailedErrors: false,
    // LocalConnections orders calls itself (one at a time, urgent stops excepted).
    callConcurrency: Number.POSITIVE_INFINITY,
    wssOptions: { maxPayload: MAX_FRAME_BYTES },
    maxBadMessages: options.maxBadMessages > 0 ? options.maxBadMessages : Number.POSITIVE_INFINITY,
  });

  const authenticator = new StationAuthenticator({
    perSource: options.authFailuresPerSource,
    perIdentity: options.authFailuresPerIdentity,
    windowMs: 60_000,
  });

  // Handshakes arriving together (a fleet reconnecting) share one station query.
  const stations = new BatchLoader<string, HandshakeStation>((ids) => findStationsForHandshake(deps.db, ids), 500);

  rpc.auth(
    async (
      accept: (session?: StationSession, protocol?: string) => void,
      reject: (code: number, message: string) => void,
      handshake: Handshake,
    ) => {
      const { identity } = handshake;
      const source = handshake.remoteAddress ?? 'unknown';
      const wait = authenticator.throttled(identity, source);
      if (wait !== undefined) return reject(429, 'Too Many Requests');
      if (!handshake.protocols.has(OCPP_SUBPROTOCOL)) {
        return reject(400, `subprotocol ${OCPP_SUBPROTOCOL} required`);
      }
      let station;
      try {
        station = await stations.get(identity);
      } catch (err) {
        log.error({ err, identity }, 'station lookup failed during handshake');
        return reject(503, 'Service Unavailable');
      }
      if (!station || !station.active) {
        authenticator.failed(undefined, source);
        return reject(404, 'Not Found');
      }
      if (station.password_hash) {
        const ok = await authenticator.check(identity, handshake.password, station.password_hash);
        if (!ok) {
          authenticator.failed(identity, source);
          return reject(401, 'Unauthorized');
        }
      }
      accept(
        { stationId: station.id, identity, organizationId: station.organization_id, stopsPending: station.stops_pending },
        OCPP_SUBPROTOCOL,
      );
    },
  );

  rpc.on(
    'upgradeAborted',
    ({ error, identity, request }: { error: { code?: number; message?: string }; identity: string; request: IncomingMessage }) => {
      log.warn(
        {
          identity,
          status: typeof error?.code === 'number' ? error.code : 500,
          reason: error?.message,
          remoteAddress: request.socket.remoteAddress,
        },
        'handshake rejected',
      );
    },
  );

  rpc.on('client', (client: any) => {
    enforceOcpp16ErrorSpelling(client);
    const session = client.session as StationSession;
    const clog = log.child({ identity: session.identity });
    clog.info({ remoteAddress: client.handshake.remoteAddress }, 'station connected');
    connections.attach(client);
    client.on('badMessage', ({ error }: { error: Error }) => {
      clog.warn({ reason: error.message }, 'bad message from station');
    });
    client.on('strictValidationFailure', ({ method, error, outbound }: any) => {
      if (!outbound) clog.warn({ action: method, reason: error?.message }, 'message failed schema validation');
    });
    client.once('close', ({ code, reason }: { code: number; reason: string }) => {
      clog.info({ code, reason }, 'station disconnected');
    });
    attachHandlers(client, { deps, station: session, log: clog });
    // Stops that were not confirmed get another attempt as soon as the station is back. (A stop
    // marked after the handshake's look-up is retried by the stopper's own timer.)
    if (session.stopsPending) deps.sessions.onStationConnected(session.identity);
  });

  let server: Server;
  if (options.tls) {
    server = createHttpsServer({
      cert: readFileSync(options.tls.certFile),
      key: readFileSync(options.tls.keyFile),
    });
  } else {
    server = createHttpServer();
  }
  server.on('request', (_req, res) => {
    res.statusCode = 426;
    res.setHeader('Upgrade', 'websocket');
    res.end('OCPP 1.6J endpoint: connect with a WebSocket to /ocpp/<chargePointId>\n');
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    rpc.handleUpgrade(req, socket as Socket, head);
  });

  return {
    connections,
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        // A fleet reconnecting after a restart arrives at once: a deep accept queue keeps
        // stations from waiting out TCP retransmission timers (the kernel caps it at somaxconn).
        server.listen({ port: options.port, host: options.host, backlog: 4096 }, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await connections.closeAll();
      await rpc.close({ code: 1001, reason: 'Server stopping', awaitPending: true });
      server.closeAllConnections?.();
      await closed;
    },
  };
}
