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
  /**
   * Several gateway nodes (`url` first): when the connection is lost or refused the station
   * moves on to the next one, round the list, as a charger behind a failover list does.
   */
  urls?: readonly string[];
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
  /** MeterValues sent and not answered yet; how many were when the stop arrived */
  meterInFlight = 0;
  meterInFlightAtStop = 0;
  /** when the first MeterValues answer after the stop arrived (performance.now()) */
  answerAfterStopAt: number | undefined;
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
  /** index in `urls` of the node this station is (or was last) connected to */
  private urlIndex = 0;
  private failingOver = false;
  private closing = false;
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
      // One URL: ocpp-rpc reconnects by itself. Several: failOver() picks the next.
      reconnect: (options.urls?.length ?? 1) <= 1,
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
    if ((options.urls?.length ?? 1) > 1) this.client.on('close', () => void this.failOver());
    this.client.on('socketError', () => {});
    this.client.handle('ChangeConfiguration', async () => ({ status: 'Accepted' }));
    this.client.handle('RemoteStopTransaction', async ({ params }) => {
      if (this.remoteStopAt === undefined && params?.transactionId === this.transactionId) {
        this.remoteStopAt = now();
        this.meterInFlightAtStop = this.meterInFlight;
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

  /** The URL of the node this station is connected to (or was last). */
  get currentUrl(): string {
    return this.options.urls?.[this.urlIndex] ?? this.options.url;
  }

  /**
   * After a lost or refused connection, with several URLs: the next node, after a short random
   * pause (ocpp-rpc's backoff: 0.3 s doubling to 2 s, ±50 %) so a fleet does not arrive in step.
   */
  private async failOver(): Promise<void> {
    const urls = this.options.urls!;
    if (this.failingOver || this.closing) return;
    this.failingOver = true;
    try {
      for (let attempt = 0; attempt < 200 && !this.closing; attempt++) {
        this.urlIndex = (this.urlIndex + 1) % urls.length;
        await sleep(Math.min(2_000, 300 * 2 ** attempt) * (0.5 + Math.random()));
        if (this.closing) return;
        this.client.reconfigure({ endpoint: urls[this.urlIndex] } as RpcClientOptions);
        try {
          await this.client.connect();
          return;
        } catch {
          /* refused or unreachable: the next one */
        }
      }
    } finally {
      this.failingOver = false;
    }
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
    this.meterInFlight++;
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
      const end = now();
      if (this.remoteStopAt !== undefined) this.answerAfterStopAt ??= end;
      return { ok: true, timeout: false, end };
    } catch (err) {
      this.failed++;
      return { ok: false, timeout: err instanceof TimeoutError, end: now(), error: (err as Error).message };
    } finally {
      this.meterInFlight--;
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
    this.closing = true;
    this.clearHeartbeat();
    await this.client.close({ force: true }).catch(() => {});
  }
}

export interface FleetOptions {
  url: string;
  /** several gateway nodes: station i's list (it starts on the first); `url` is then unused */
  endpoints?: (i: number) => readonly string[];
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
        ...(o.endpoints ? { url: o.endpoints(i)[0]!, urls: o.endpoints(i) } : { url: o.url }),
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

/**
 * Station i of a fleet over several nodes: it starts on node i mod n, and its failover list goes
 * on from there (alternating direction), so a dead node's stations spread over all the others.
 */
export function spreadOver(urls: readonly string[], i: number): string[] {
  const n = urls.length;
  const first = i % n;
  const step = Math.floor(i / n) % 2 === 0 ? 1 : n - 1;
  return Array.from({ length: n }, (_, k) => urls[(first + k * step) % n]!);
}
