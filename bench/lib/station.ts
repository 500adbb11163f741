import ocppRpc from 'ocpp-rpc';
import { now, pMap, sleep } from './util.ts';

/** ocpp-rpc is CommonJS; see src/ocpp/rpc.ts. */
const { RPCClient, TimeoutError } = ocppRpc;
type RpcClient = InstanceType<typeof RPCClient>;
type RpcClientOptions = ConstructorParameters<typeof RPCClient>[0];

const WS_OPEN = 1;

export interface StationOptions {
  /** ws://host:port/ocpp (the identity is appended) */
  url: string;
  identity: string;
  /** source address in 127.0.0.0/8, to spread sockets over several ephemeral port ranges */
  localAddress?: string;
  callTimeoutMs: number;
  /** send Heartbeat at the interval BootNotification returns */
  heartbeats?: boolean;
}

export interface CallOutcome {
  ok: boolean;
  timeout: boolean;
  /** performance.now() when the answer (or the failure) arrived */
  end: number;
  error?: string;
}

/**
 * A lean OCPP 1.6J charge point for load: no schema validation, one call in flight (ocpp-rpc's
 * callConcurrency 1), reconnects by itself with a short backoff and sends BootNotification on
 * every (re)connection. Keeps what the ledger check needs: the registers sent and answered.
 */
export class BenchStation {
  readonly identity: string;
  readonly client: RpcClient;
  /** BootNotifications answered, and when the last one was (performance.now()) */
  boots = 0;
  lastBootAt = 0;
  transactionId: number | undefined;
  meterStart = 0;
  /** the last register sent, and the highest one answered (Wh) */
  register = 0;
  answeredRegister = 0;
  sent = 0;
  answered = 0;
  failed = 0;
  /** when RemoteStopTransaction for this session arrived (performance.now()) */
  remoteStopAt: number | undefined;
  /** set once the station stops its session (no more MeterValues) */
  stopping = false;
  /** the meterStop of the StopTransaction sent, and whether it was answered */
  meterStop: number | undefined;
  stopAnswered = false;
  heartbeatErrors = 0;
  /** WebSocket connection attempts (reconnects included) and BootNotifications refused or failed */
  connectAttempts = 0;
  bootErrors = 0;
  onRemoteStop: ((s: BenchStation) => void) | undefined;
  private opens = 0;
  private bootWaiters: (() => void)[] = [];
  private hbTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: StationOptions) {
    this.identity = options.identity;
    this.client = new RPCClient({
      endpoint: options.url,
      identity: options.identity,
      protocols: ['ocpp1.6'],
      strictMode: false,
      callTimeoutMs: options.callTimeoutMs,
      callConcurrency: 1,
      pingIntervalMs: 0,
      reconnect: true,
      maxReconnects: 200,
      backoff: { initialDelay: 300, maxDelay: 2_000, factor: 2, randomisationFactor: 0.5 },
      wsOpts: {
        handshakeTimeout: 30_000,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
    } as RpcClientOptions);
    this.client.on('connecting', () => void this.connectAttempts++);
    this.client.on('open', () => void this.bootLoop());
    this.client.on('disconnect', () => this.clearHeartbeat());
    this.client.on('socketError', () => {});
    this.client.handle('ChangeConfiguration', async () => ({ status: 'Accepted' }));
    this.client.handle('RemoteStopTransaction', async ({ params }) => {
      if (this.remoteStopAt === undefined && params?.transactionId === this.transactionId) {
        this.remoteStopAt = now();
        if (this.onRemoteStop) setImmediate(() => this.onRemoteStop?.(this));
      }
      return { status: 'Accepted' };
    });
    this.client.handle(async ({ method }) =>
      method === 'GetConfiguration' ? { configurationKey: [] } : { status: 'Rejected' },
    );
  }

  get online(): boolean {
    return this.client.state === WS_OPEN;
  }

  /** Connects; resolves after the BootNotification of this connection is answered. */
  async connect(timeoutMs = 30_000): Promise<void> {
    const booted = new Promise<void>((resolve) => this.bootWaiters.push(resolve));
    await this.client.connect();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.identity}: BootNotification not answered`)), timeoutMs);
    });
    try {
      await Promise.race([booted, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** BootNotification on every connection, retried (with a growing pause, ~1 min at most) until answered. */
  private async bootLoop(): Promise<void> {
    const open = ++this.opens;
    for (let attempt = 0; attempt < 40 && this.online && open === this.opens; attempt++) {
      try {
        const conf = (await this.client.call('BootNotification', {
          chargePointVendor: 'Bench',
          chargePointModel: 'LoadGen',
        })) as { interval?: number };
        this.boots++;
        this.lastBootAt = now();
        for (const resolve of this.bootWaiters.splice(0)) resolve();
        if (this.options.heartbeats) this.scheduleHeartbeats((conf.interval ?? 300) * 1000);
        return;
      } catch {
        this.bootErrors++;
        await sleep(Math.min(2_000, 250 * 1.5 ** attempt));
      }
    }
  }

  private scheduleHeartbeats(intervalMs: number): void {
    this.clearHeartbeat();
    const beat = () => {
      this.client.call('Heartbeat', {}).catch(() => void this.heartbeatErrors++);
      this.hbTimer = setTimeout(beat, intervalMs);
      this.hbTimer.unref();
    };
    // A random phase, so the fleet does not beat in step.
    this.hbTimer = setTimeout(beat, Math.random() * intervalMs);
    this.hbTimer.unref();
  }

  private clearHeartbeat(): void {
    if (this.hbTimer) clearTimeout(this.hbTimer);
    this.hbTimer = undefined;
  }

  async startTransaction(idTag: string, meterStart: number): Promise<{ status: string; transactionId: number }> {
    const conf = (await this.client.call('StartTransaction', {
      connectorId: 1,
      idTag,
      meterStart,
      timestamp: new Date().toISOString(),
    })) as { transactionId: number; idTagInfo: { status: string } };
    this.transactionId = conf.transactionId;
    this.meterStart = meterStart;
    this.register = meterStart;
    this.answeredRegister = meterStart;
    return { status: conf.idTagInfo.status, transactionId: conf.transactionId };
  }

  /** One MeterValues with the register raised by `deltaWh`. */
  async meter(deltaWh: number): Promise<CallOutcome> {
    this.register += deltaWh;
    const register = this.register;
    this.sent++;
    try {
      await this.client.call('MeterValues', {
        connectorId: 1,
        transactionId: this.transactionId,
        meterValue: [
          {
            timestamp: new Date().toISOString(),
            sampledValue: [
              { value: String(register), context: 'Sample.Periodic', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
            ],
          },
        ],
      });
      this.answered++;
      if (register > this.answeredRegister) this.answeredRegister = register;
      return { ok: true, timeout: false, end: now() };
    } catch (err) {
      this.failed++;
      return { ok: false, timeout: err instanceof TimeoutError, end: now(), error: (err as Error).message };
    }
  }

  async stopTransaction(reason: string): Promise<void> {
    this.stopping = true;
    this.meterStop = this.register;
    await this.client.call('StopTransaction', {
      transactionId: this.transactionId,
      meterStop: this.meterStop,
      timestamp: new Date().toISOString(),
      reason,
    });
    this.stopAnswered = true;
  }

  async close(): Promise<void> {
    this.clearHeartbeat();
    await this.client.close({ force: true }).catch(() => {});
  }
}

export interface FleetOptions {
  url: string;
  prefix: string;
  count: number;
  callTimeoutMs: number;
  heartbeats?: boolean;
  /** spread sockets over 127.0.0.2 … 127.0.0.(1+n) */
  sourceAddresses?: number;
  /** identities: `${prefix}${index padded to width}` */
  width?: number;
}

export function identities(prefix: string, count: number, width = 5): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
}

export function makeFleet(o: FleetOptions): BenchStation[] {
  return identities(o.prefix, o.count, o.width).map(
    (identity, i) =>
      new BenchStation({
        url: o.url,
        identity,
        callTimeoutMs: o.callTimeoutMs,
        ...(o.heartbeats ? { heartbeats: true } : {}),
        ...(o.sourceAddresses ? { localAddress: `127.0.0.${2 + (i % o.sourceAddresses)}` } : {}),
      }),
  );
}

/** Connects and boots every station (at most `concurrency` handshakes at once). */
export async function connectAll(stations: readonly BenchStation[], concurrency = 200): Promise<void> {
  await pMap(stations, concurrency, (s) => s.connect());
}

export async function closeAll(stations: readonly BenchStation[]): Promise<void> {
  await pMap(stations, 500, (s) => s.close());
}
