import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RPCServer } from './rpc.ts';
import { findStationsForHandshake, type HandshakeStation } from '../domain/chargers/stations.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { BatchLoader } from '../shared/group-commit.ts';
import { StationAuthenticator } from './station-auth.ts';
import type { LocalConnections } from './connections.ts';
import { attachHandlers } from './handlers/index.ts';
import type { StationSession } from './handlers/context.ts';
import type { AppContext } from '../context.ts';
import { enforceOcpp16ErrorSpelling } from './wire.ts';
import { ocpp16Validator } from './validator.ts';
import { stationChanged } from '../domain/live.ts';
import { OCPP_SUBPROTOCOL, UpgradeGate } from './handshake.ts';
import { SocketGuard } from './sockets.ts';
import { watchLiveness } from './liveness.ts';
import { RefusedStartBudget, StationCallLimits, type CallLimitOptions } from './limits.ts';

export { OCPP_SUBPROTOCOL };
/** Frames above this size close the connection (WebSocket code 1009). */
export const MAX_FRAME_BYTES = 64 * 1024;

export interface OcppServerOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string | undefined } | undefined;
  pingIntervalS: number;
  callTimeoutS: number;
  /** consecutive malformed frames before the station is disconnected; 0 = never */
  maxBadMessages: number;
  /** failed handshakes per minute per source address / per identity and source before they back off */
  authFailuresPerSource: number;
  authFailuresPerIdentity: number;
  /** sockets open on the port at once; more are refused (503) */
  maxConnections: number;
  /** from accept to a completed upgrade */
  handshakeTimeoutS: number;
  /** per-station limits on inbound calls */
  calls: CallLimitOptions;
}

export interface OcppServer {
  readonly connections: LocalConnections;
  listen(): Promise<AddressInfo>;
  /** Stops accepting, closes stations after their pending calls, closes the port. */
  close(): Promise<void>;
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
    // Liveness is ours (liveness.ts): ocpp-rpc's keepalive drops a station that misses a pong
    // even while it sends calls.
    pingIntervalMs: 0,
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

  // Handshakes arriving together (a fleet reconnecting) share one station query; a key the
  // database refuses fails only its own handshake.
  const stations = new BatchLoader<string, HandshakeStation>(
    (keys) => findStationsForHandshake(deps.db, keys),
    500,
    (err) => !isDatabaseUnavailable(err),
  );

  let server: Server;
  if (options.tls) {
    server = createHttpsServer({
      cert: readFileSync(options.tls.certFile),
      key: readFileSync(options.tls.keyFile),
      handshakeTimeout: options.handshakeTimeoutS * 1000,
      // Security profile 3: a client certificate is asked for and checked against the CA, but
      // not required here; the handshake decides per station (a profile 2 station sends none).
      ...(options.tls.clientCaFile ? { ca: readFileSync(options.tls.clientCaFile), requestCert: true, rejectUnauthorized: false } : {}),
    });
  } else {
    server = createHttpServer();
  }
  const sockets = new SocketGuard(
    server,
    { maxConnections: options.maxConnections, handshakeTimeoutMs: options.handshakeTimeoutS * 1000, tls: Boolean(options.tls) },
    log,
  );
  const gate = new UpgradeGate({
    stations,
    authenticator,
    log,
    passwordRotationUsed: (stationId, hash) => deps.security.passwordRotationUsed(stationId, hash),
    rpc,
    overCapacity: (socket) => sockets.isOverCapacity(socket),
  });
  rpc.auth(gate.authorize);
  server.on('upgrade', gate.onUpgrade);
  server.on('request', (req, res) => {
    if (sockets.isOverCapacity(req.socket)) {
      res.writeHead(503, { 'Retry-After': '10', Connection: 'close' }).end();
      return;
    }
    res.statusCode = 426;
    res.setHeader('Upgrade', 'websocket');
    res.end('OCPP 1.6J endpoint: connect with a WebSocket to /ocpp/<chargePointId>\n');
  });
  const starts = new RefusedStartBudget(options.calls.refusedStartsPerMinute);

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
    const socket = client.handshake.request.socket;
    sockets.upgraded(socket);
    const clog = log.child({ identity: session.identity });
    clog.info({ remoteAddress: client.handshake.remoteAddress }, 'station connected');
    connections.attach(client);
    deps.events.publish(stationChanged(session.stationId, { online: true }));
    deps.connectionEvents.connected(session);
    client.on('badMessage', ({ error }: { error: Error }) => {
      clog.warn({ reason: error.message }, 'bad message from station');
    });
    client.on('strictValidationFailure', ({ method, error, outbound }: any) => {
      if (!outbound) {
        clog.warn({ action: method, reason: error?.message }, 'message failed schema validation');
        deps.metrics.ocppMessage(String(method), String(error?.rpcErrorCode ?? 'FormationViolation'));
      }
    });
    client.once('close', ({ code, reason }: { code: number; reason: string }) => {
      clog.info({ code, reason }, 'station disconnected');
      deps.events.publish(stationChanged(session.stationId, { online: connections.isOnline(session.identity) }));
      // A connection replaced by a newer one of the same station is no disconnection.
      if (!connections.isOnline(session.identity)) deps.connectionEvents.disconnected(session);
    });
    watchLiveness(
      client,
      socket,
      { pingIntervalMs: options.pingIntervalS * 1000, heartbeatIntervalMs: deps.config.heartbeatIntervalS * 1000 },
      clog,
    );
    const limits = new StationCallLimits(options.calls, session, starts, () => {
      clog.warn({ refused: options.calls.maxRefused }, 'station flooding calls; disconnected');
      // Dropped, not closed gracefully: a closing handshake would first read (and refuse) every
      // frame the station has already pushed into the socket, which can be hundreds of
      // thousands. Nothing more is read from it; the refusals already decided go out first
      // (next turn of the event loop), then the socket is destroyed.
      socket.pause();
      setImmediate(() => void client.close({ force: true }).catch(() => {}));
    });
    attachHandlers(client, { deps, station: session, log: clog }, undefined, limits);
    // Stops that were not confirmed get another attempt as soon as the station is back. (A stop
    // marked after the handshake's look-up is retried by the stopper's own timer.)
    if (session.stopsPending) deps.sessions.onStationConnected(session.identity);
    // A (re)connected station's local list is brought up to date (Full when its version differs).
    deps.localList?.onConnected(session).catch((err: unknown) => clog.warn({ err: (err as Error).message }, 'local list sync failed'));
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
