import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.ts';
import { identityKey, isValidIdentity, IDENTITY_RULE } from '../domain/chargers/identity.ts';
import type { HandshakeStation } from '../domain/chargers/stations.ts';
import type { StationAuthenticator } from './station-auth.ts';
import type { StationSession } from './handlers/context.ts';

export const OCPP_SUBPROTOCOL = 'ocpp1.6';

/** The realm of the handshake's Basic challenge (RFC 7617). */
export const BASIC_CHALLENGE = 'Basic realm="OCPP", charset="UTF-8"';

/** A handshake the gateway answers itself with an HTTP error, then closes the socket. */
export interface Refusal {
  status: number;
  reason: string;
  headers?: Record<string, string>;
  /** for the log line: the identity as far as it could be read */
  identity?: string;
}

/** What a well-formed upgrade request asks for. */
export interface UpgradeRequest {
  /** decoded from the last path segment, valid by OCPP's rules, in the case the station sent */
  identity: string;
  /** from `Authorization: Basic`, when its user is the identity */
  password: Buffer | undefined;
  /** the connection is TLS (wss://) */
  tls?: boolean;
  /** the subject CN of a client certificate that verified against TLS_CLIENT_CA_FILE */
  clientCertificateCn?: string | undefined;
}

const refusal = (status: number, reason: string, identity?: string): Refusal =>
  identity === undefined ? { status, reason } : { status, reason, identity };

export function isRefusal(r: object): r is Refusal {
  return 'status' in r;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
const BASIC = /^[ \t]*basic[ \t]+([A-Za-z0-9+/_-]+={0,2})[ \t]*$/i;
/** An encoded identity longer than this cannot decode to 48 valid characters. */
const MAX_ENCODED_IDENTITY = 3 * 48;

/** Percent-decodes a path segment; undefined when the encoding is malformed (`%ZZ`, bad UTF-8). */
export function decodeSegment(segment: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(segment)) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Reads an upgrade request the way the gateway needs it, refusing anything malformed with a
 * 4xx. It never throws: every header is optional, repeated, or hostile as far as it knows.
 */
export function parseUpgrade(req: IncomingMessage): UpgradeRequest | Refusal {
  if (req.method !== 'GET') return { ...refusal(405, 'a WebSocket handshake is a GET'), headers: { Allow: 'GET' } };
  const { headers } = req;
  if (typeof headers.upgrade !== 'string' || headers.upgrade.trim().toLowerCase() !== 'websocket') {
    return refusal(400, 'not a WebSocket upgrade');
  }
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || !WEBSOCKET_KEY.test(key.trim())) return refusal(400, 'missing or invalid Sec-WebSocket-Key');
  const version = headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return refusal(400, 'missing or unsupported Sec-WebSocket-Version');

  const target = req.url ?? '';
  if (!target.startsWith('/')) return refusal(400, 'the request target must be a path');
  // A trailing `/` is ignored: `/ocpp/CP-001/` is `CP-001`.
  const path = target.replace(/[?#].*$/s, '').replace(/\/+$/, '');
  const segment = path.slice(path.lastIndexOf('/') + 1);
  if (!segment) return refusal(400, 'no charge point identity in the path');
  if (segment.length > MAX_ENCODED_IDENTITY) return refusal(400, 'charge point identity too long');
  const identity = decodeSegment(segment);
  if (identity === undefined) return refusal(400, 'malformed percent-encoding in the path', segment);
  if (!isValidIdentity(identity)) return refusal(400, `invalid charge point identity: ${IDENTITY_RULE}`, identity);

  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return refusal(400, `subprotocol ${OCPP_SUBPROTOCOL} required`, identity);
  const protocols = offered.split(',').map((p) => p.trim());
  if (!protocols.every((p) => TOKEN.test(p)) || new Set(protocols).size !== protocols.length) {
    return refusal(400, 'malformed Sec-WebSocket-Protocol', identity);
  }
  if (!protocols.includes(OCPP_SUBPROTOCOL)) return refusal(400, `subprotocol ${OCPP_SUBPROTOCOL} required`, identity);

  return { identity, password: basicPassword(headers.authorization, identity), ...tlsOf(req) };
}

/** Whether the socket is TLS, and the CN of a client certificate that verified (security profile 3). */
function tlsOf(req: IncomingMessage): { tls: boolean; clientCertificateCn?: string } {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted) return { tls: false };
  if (!socket.authorized || typeof socket.getPeerCertificate !== 'function') return { tls: true };
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? { tls: true, clientCertificateCn: cn } : { tls: true };
}

/**
 * The security profile a handshake reached (OCPP 1.6 security whitepaper): 3 over TLS with a
 * verified client certificate naming the station (its CN is the identity), 2 over TLS with a
 * verified Basic password, 1 with a verified Basic password over plain WebSocket, else 0.
 */
export function reachedProfile(request: UpgradeRequest, identity: string, passwordVerified: boolean): number {
  if (request.tls && request.clientCertificateCn !== undefined && request.clientCertificateCn.toLowerCase() === identity.toLowerCase()) return 3;
  if (passwordVerified) return request.tls ? 2 : 1;
  return 0;
}

/**
 * The password of `Authorization: Basic base64(identity:password)`. The user must be the
 * identity (ignoring case, as identities are matched); the password may hold any bytes,
 * colons included (OCPP's security whitepaper recommends random binary keys). Anything else
 * counts as no credentials: a station with a password then gets the 401 challenge.
 */
function basicPassword(header: string | undefined, identity: string): Buffer | undefined {
  const match = header === undefined ? null : BASIC.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64');
  const user = `${identity}:`;
  if (decoded.length < user.length) return undefined;
  if (decoded.subarray(0, user.length).toString('latin1').toLowerCase() !== user.toLowerCase()) return undefined;
  return decoded.subarray(user.length);
}

export interface AdmissionDeps {
  /** stations by `identityKey` */
  stations: { get(key: string): Promise<HandshakeStation | undefined> };
  authenticator: StationAuthenticator;
  log: Logger;
  /**
   * The station logged in with the new password of an unanswered AuthorizationKey rotation: it
   * has taken it, so the old one is retired.
   */
  passwordRotationUsed?: (stationId: string, hash: string) => Promise<void>;
}

/**
 * Decides a well-formed handshake: the station must be registered and active (404), and present
 * its password when it has one (401 with a Basic challenge; 429 while a guessing source backs off).
 */
export async function admit(
  request: UpgradeRequest,
  source: string,
  deps: AdmissionDeps,
): Promise<StationSession | Refusal> {
  const { identity } = request;
  let station: HandshakeStation | undefined;
  try {
    station = await deps.stations.get(identityKey(identity));
  } catch (err) {
    deps.log.error({ err, identity }, 'station lookup failed during handshake');
    return { ...refusal(503, 'Service Unavailable', identity), headers: { 'Retry-After': '5' } };
  }
  if (!station || !station.active) {
    const wait = deps.authenticator.unknownIdentity(source);
    return wait === undefined
      ? refusal(404, 'Not Found', identity)
      : { ...refusal(429, 'Too Many Requests', identity), headers: { 'Retry-After': String(wait) } };
  }
  const required = station.security_profile ?? 0;
  // Profile 3 authenticates by certificate; below it the password is the credential.
  const byCertificate = required >= 3 || reachedProfile(request, station.ocpp_id, false) === 3;
  let passwordVerified = false;
  if (station.password_hash && !byCertificate) {
    const hashes = station.pending_password_hash ? [station.password_hash, station.pending_password_hash] : [station.password_hash];
    const verdict = await deps.authenticator.verify(source, station.ocpp_id, request.password, hashes);
    if (!verdict.ok) {
      return verdict.retryAfterS
        ? { ...refusal(429, 'Too Many Requests', identity), headers: { 'Retry-After': String(verdict.retryAfterS) } }
        : { ...refusal(401, 'Unauthorized', identity), headers: { 'WWW-Authenticate': BASIC_CHALLENGE } };
    }
    passwordVerified = true;
    if (verdict.matched === station.pending_password_hash && deps.passwordRotationUsed) {
      await deps.passwordRotationUsed(station.id, verdict.matched).catch((err: unknown) =>
        deps.log.warn({ err: (err as Error).message, identity }, 'could not retire the old password'),
      );
    }
  }
  // A station configured for a security profile never connects below it.
  if (required > 0 && reachedProfile(request, station.ocpp_id, passwordVerified) < required) {
    return refusal(403, `security profile ${required} required`, identity);
  }
  return {
    stationId: station.id,
    identity: station.ocpp_id,
    organizationId: station.organization_id,
    stopsPending: station.stops_pending,
  };
}

/** Answers a handshake with an HTTP error and closes the socket. */
export function writeRefusal(socket: Duplex, { status, reason, headers = {} }: Refusal): void {
  if (socket.writable) {
    const body = `${reason}\n`;
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
      'Connection: close',
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** The part of ocpp-rpc's RPCServer the gate hands admitted upgrades to. */
interface UpgradeTarget {
  handleUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => Promise<void>;
}

/** What ocpp-rpc passes to its auth callback; only `request` is used. */
interface RpcHandshake {
  request: IncomingMessage;
}

/**
 * The OCPP port's upgrade path. Every request is parsed and decided here, before ocpp-rpc sees
 * it, so nothing a client sends reaches code that can throw past our own handling: a malformed
 * request gets a 4xx and its socket is closed. An admitted request is handed to ocpp-rpc with a
 * URL, subprotocol and headers rewritten to what was admitted (its identity is the station's
 * registered one, whatever case the station connected with), and its auth callback accepts
 * exactly the session decided here.
 */
export class UpgradeGate {
  private readonly admitted = new WeakMap<IncomingMessage, StationSession>();

  constructor(
    private readonly deps: AdmissionDeps & {
      rpc: UpgradeTarget;
      /** true when the socket arrived while the port was full (see sockets.ts) */
      overCapacity?: (socket: Duplex) => boolean;
    },
  ) {}

  /** The `upgrade` listener of the OCPP port's HTTP server. */
  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node's HTTP server stops listening for errors on an upgraded socket; a reset during our
    // own asynchronous checks must not become an uncaught 'error' event.
    socket.on('error', () => {});
    this.upgrade(req, socket, head).catch((err: unknown) => {
      this.deps.log.error({ err }, 'handshake failed');
      this.refuse(req, socket, refusal(500, 'Internal Server Error'));
    });
  };

  /** ocpp-rpc's auth callback: accepts what `upgrade` admitted (nothing else reaches it). */
  readonly authorize = (
    accept: (session: StationSession, protocol: string) => void,
    reject: (code: number, message: string) => void,
    handshake: RpcHandshake,
  ): void => {
    const session = this.admitted.get(handshake.request);
    if (!session) return reject(500, 'Internal Server Error');
    this.admitted.delete(handshake.request);
    accept(session, OCPP_SUBPROTOCOL);
  };

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.deps.overCapacity?.(socket)) {
      return this.refuse(req, socket, { ...refusal(503, 'too many connections'), headers: { 'Retry-After': '10' } });
    }
    const parsed = parseUpgrade(req);
    if (isRefusal(parsed)) return this.refuse(req, socket, parsed);
    const decision = await admit(parsed, req.socket.remoteAddress ?? 'unknown', this.deps);
    if (isRefusal(decision)) return this.refuse(req, socket, decision);
    if (socket.destroyed) return;
    this.admitted.set(req, decision);
    req.url = `/ocpp/${encodeURIComponent(decision.identity)}`;
    req.headers['sec-websocket-protocol'] = OCPP_SUBPROTOCOL;
    delete req.headers.authorization;
    // Node hands `upgrade` listeners a net.Socket (a TLSSocket over TLS), typed as a Duplex.
    await this.deps.rpc.handleUpgrade(req, socket as Socket, head);
  }

  private refuse(req: IncomingMessage, socket: Duplex, r: Refusal): void {
    this.deps.log.warn(
      {
        ...(r.identity !== undefined ? { identity: r.identity.slice(0, 100) } : {}),
        status: r.status,
        reason: r.reason,
        remoteAddress: req.socket.remoteAddress,
      },
      'handshake rejected',
    );
    writeRefusal(socket, r);
  }
}
