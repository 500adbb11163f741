/** A minimal OCPP 1.6J central system on ocpp-rpc's RPCServer, recording every call and handshake it receives. */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { EventEmitter } from 'node:events';
import { RPCServer } from '../../simulators/rpc.ts';

export interface RecordedCall {
  identity: string;
  action: string;
  params: Record<string, any>;
  /** Date.now() when received. */
  at: number;
}

export interface RecordedHandshake {
  identity: string;
  /** The Basic-auth password sent, if any. */
  password: string | undefined;
  /** A TLS client certificate was presented and verified. */
  clientCertificate: boolean;
  /** The HTTP status the handshake was refused with (undefined: accepted). */
  refused?: number;
  at: number;
}

type ServerClient = EventEmitter & {
  identity: string;
  handle(method: string, handler: (ctx: { params?: Record<string, any> }) => unknown): void;
  call(method: string, params?: unknown, options?: Record<string, unknown>): Promise<any>;
  close(options?: Record<string, unknown>): Promise<unknown>;
};

export interface CentralSystemOptions {
  heartbeatInterval?: number;
  bootStatus?: 'Accepted' | 'Pending' | 'Rejected';
  /** idTag → status for Authorize and StartTransaction (default Accepted). */
  idTagStatus?: (idTag: string) => 'Accepted' | 'Blocked' | 'Expired' | 'Invalid';
  /** Required Basic-auth password, if any (a function: per identity, and may change). */
  password?: string | ((identity: string) => string | undefined);
  /** A 401 carries `WWW-Authenticate: Basic realm="…"` (a challenge). */
  challenge?: boolean;
  /** Serve wss:// with this certificate; `ca` + `requestCert` ask stations for a client certificate. */
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean };
  /** Delay before answering BootNotification, in ms. */
  bootDelayMs?: number;
  /** Validate every message against the schemas (default true); false accepts vendor extras. */
  strict?: boolean;
  /** Answers to other charger-initiated calls (default: their empty or Accepted answer). */
  answers?: Record<string, (params: Record<string, any>, identity: string) => unknown>;
}

/** What a central system answers to the calls a charge point makes, when the test sets nothing else. */
const DEFAULT_ANSWERS: Record<string, unknown> = {
  StatusNotification: {},
  MeterValues: {},
  DiagnosticsStatusNotification: {},
  FirmwareStatusNotification: {},
  SecurityEventNotification: {},
  SignedFirmwareStatusNotification: {},
  LogStatusNotification: {},
  SignCertificate: { status: 'Accepted' },
  DataTransfer: { status: 'Accepted', data: 'ok' },
};

export class TestCentralSystem {
  readonly calls: RecordedCall[] = [];
  readonly handshakes: RecordedHandshake[] = [];
  readonly validationFailures: unknown[] = [];
  readonly clients = new Map<string, ServerClient>();
  nextTransactionId = 1000;
  /** Highest number of BootNotifications being answered at the same time. */
  maxConcurrentBoots = 0;
  private concurrentBoots = 0;
  url = '';
  private readonly server: InstanceType<typeof RPCServer>;
  private http: Server | undefined;
  private waiters: Array<() => void> = [];

  private constructor(private readonly options: CentralSystemOptions) {
    this.server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: options.strict !== false, callTimeoutMs: 5_000 });
  }

  static async start(options: CentralSystemOptions = {}): Promise<TestCentralSystem> {
    const cs = new TestCentralSystem(options);
    await cs.listen();
    return cs;
  }

  private passwordFor(identity: string): string | undefined {
    const { password } = this.options;
    return typeof password === 'function' ? password(identity) : password;
  }

  private async listen(): Promise<void> {
    const { tls, challenge } = this.options;
    this.server.auth((accept, reject, handshake) => {
      const required = this.passwordFor(handshake.identity);
      const sent = handshake.password?.toString('utf8');
      const socket = (handshake.request as IncomingMessage).socket as TLSSocket;
      const record: RecordedHandshake = {
        identity: handshake.identity,
        password: sent,
        clientCertificate: typeof socket.authorized === 'boolean' && socket.authorized && !!socket.getPeerCertificate?.()?.subject,
        at: Date.now(),
      };
      this.handshakes.push(record);
      if (required !== undefined && sent !== required) {
        record.refused = 401;
        reject(401, 'Unauthorized');
        return;
      }
      accept({}, 'ocpp1.6');
    });
    (this.server as unknown as EventEmitter).on('client', (client: ServerClient) => this.attach(client));
    const http = tls
      ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requestCert ?? false, rejectUnauthorized: false })
      : createHttpServer();
    http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
      const identity = decodeURIComponent((request.url ?? '').split('/').pop() ?? '');
      if (challenge && !request.headers.authorization && this.passwordFor(identity) !== undefined) {
        // the challenge a client that sends credentials only when asked is waiting for
        this.handshakes.push({ identity, password: undefined, clientCertificate: false, refused: 401, at: Date.now() });
        socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="ocpp"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      void this.server.handleUpgrade(request, socket, head);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    this.http = http;
    const { port } = http.address() as AddressInfo;
    this.url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/ocpp`;
  }

  private attach(client: ServerClient): void {
    const identity = client.identity;
    this.clients.set(identity, client);
    client.on('close', () => {
      if (this.clients.get(identity) === client) this.clients.delete(identity);
    });
    client.on('strictValidationFailure', (failure: unknown) => this.validationFailures.push(failure));
    const status = (idTag: string) => this.options.idTagStatus?.(idTag) ?? 'Accepted';
    const on = (action: string, answer: (params: Record<string, any>) => unknown) => {
      client.handle(action, async ({ params }) => {
        const p = params ?? {};
        this.calls.push({ identity, action, params: p, at: Date.now() });
        const custom = this.options.answers?.[action];
        const result = await (custom ? custom(p, identity) : answer(p));
        this.notify();
        return result;
      });
    };
    on('BootNotification', async () => {
      this.concurrentBoots++;
      this.maxConcurrentBoots = Math.max(this.maxConcurrentBoots, this.concurrentBoots);
      if (this.options.bootDelayMs) await new Promise((r) => setTimeout(r, this.options.bootDelayMs));
      this.concurrentBoots--;
      return {
        status: this.options.bootStatus ?? 'Accepted',
        currentTime: new Date().toISOString(),
        interval: this.options.heartbeatInterval ?? 300,
      };
    });
    on('Heartbeat', () => ({ currentTime: new Date().toISOString() }));
    on('Authorize', (p) => ({ idTagInfo: { status: status(String(p.idTag)) } }));
    on('StartTransaction', (p) => ({
      transactionId: this.nextTransactionId++,
      idTagInfo: { status: status(String(p.idTag)) },
    }));
    on('StopTransaction', () => ({ idTagInfo: { status: 'Accepted' } }));
    for (const [action, answer] of Object.entries(DEFAULT_ANSWERS)) on(action, () => answer);
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  callsOf(identity: string, action?: string): RecordedCall[] {
    return this.calls.filter((c) => c.identity === identity && (action === undefined || c.action === action));
  }

  /** Resolves once `count` calls match (by identity/action/predicate). */
  async waitForCalls(
    identity: string,
    action: string,
    count = 1,
    predicate: (c: RecordedCall) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<RecordedCall[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matches = this.callsOf(identity, action).filter(predicate);
      if (matches.length >= count) return matches;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`timed out waiting for ${count} × ${action} from ${identity} (got ${matches.length})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve();
        }, remaining);
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.waiters.push(wake);
      });
    }
  }

  /** Sends a call to a connected station. */
  async send(identity: string, action: string, params: unknown, options?: Record<string, unknown>): Promise<any> {
    const client = this.clients.get(identity);
    if (!client) throw new Error(`${identity} is not connected`);
    return client.call(action, params, options);
  }

  async close(): Promise<void> {
    this.notify();
    await this.server.close({ force: true });
    const http = this.http;
    this.http = undefined;
    if (http) {
      http.closeAllConnections?.();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }
}
