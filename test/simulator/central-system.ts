/** A minimal OCPP 1.6J central system on ocpp-rpc's RPCServer, recording every call it receives. */
import type { AddressInfo } from 'node:net';
import type { EventEmitter } from 'node:events';
import { RPCServer } from '../../simulators/rpc.ts';

export interface RecordedCall {
  identity: string;
  action: string;
  params: Record<string, any>;
  /** Date.now() when received. */
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
  /** Required Basic-auth password, if any. */
  password?: string;
  /** Delay before answering BootNotification, in ms. */
  bootDelayMs?: number;
}

export class TestCentralSystem {
  readonly calls: RecordedCall[] = [];
  readonly validationFailures: unknown[] = [];
  readonly clients = new Map<string, ServerClient>();
  nextTransactionId = 1000;
  /** Highest number of BootNotifications being answered at the same time. */
  maxConcurrentBoots = 0;
  private concurrentBoots = 0;
  url = '';
  private readonly server: InstanceType<typeof RPCServer>;
  private waiters: Array<() => void> = [];

  private constructor(private readonly options: CentralSystemOptions) {
    this.server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true, callTimeoutMs: 5_000 });
  }

  static async start(options: CentralSystemOptions = {}): Promise<TestCentralSystem> {
    const cs = new TestCentralSystem(options);
    await cs.listen();
    return cs;
  }

  private async listen(): Promise<void> {
    const { password } = this.options;
    this.server.auth((accept, reject, handshake) => {
      if (password !== undefined && handshake.password?.toString('utf8') !== password) {
        reject(401, 'Unauthorized');
        return;
      }
      accept({}, 'ocpp1.6');
    });
    (this.server as unknown as EventEmitter).on('client', (client: ServerClient) => this.attach(client));
    const http = await this.server.listen(0, '127.0.0.1');
    const { port } = http.address() as AddressInfo;
    this.url = `ws://127.0.0.1:${port}/ocpp`;
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
      client.handle(action, ({ params }) => {
        const p = params ?? {};
        this.calls.push({ identity, action, params: p, at: Date.now() });
        const result = answer(p);
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
    on('StatusNotification', () => ({}));
    on('Authorize', (p) => ({ idTagInfo: { status: status(String(p.idTag)) } }));
    on('StartTransaction', (p) => ({
      transactionId: this.nextTransactionId++,
      idTagInfo: { status: status(String(p.idTag)) },
    }));
    on('MeterValues', () => ({}));
    on('StopTransaction', () => ({ idTagInfo: { status: 'Accepted' } }));
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
  }
}
