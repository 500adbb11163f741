/**
 * What every part of a simulated station shares: its identity and options, clock, timers,
 * configuration, event emitter, the running/offline flags, and the other parts. SimStation
 * builds one core and its parts; each part is one idea (connection, boot, connectors,
 * metering, transactions, the central system's operations).
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AnswerBook } from './answers.ts';
import type { SimClock } from './clock.ts';
import type { StationConfiguration } from './config.ts';
import type { StationEvents } from './events.ts';
import type { FeatureProfile, OutboundAction, OutboundCalls } from './ocpp-types.ts';
import { FEATURE_PROFILES } from './ocpp-types.ts';
import type { PowerProfile } from './power.ts';
import type { RemoteStopMode, SimStationOptions } from './options.ts';
import { TimerRegistry } from './timers.ts';
import type { Connection } from './connection.ts';
import type { Boot } from './boot.ts';
import type { Connectors } from './connectors.ts';
import type { Metering } from './metering.ts';
import type { Transactions } from './transactions.ts';
import type { LocalAuthorization } from './local-auth.ts';
import type { Reservations } from './reservations.ts';
import type { SmartCharging } from './smart-charging.ts';
import type { Maintenance } from './maintenance.ts';
import type { Security } from './security.ts';

export interface StationParts {
  link: Connection;
  boot: Boot;
  connectors: Connectors;
  metering: Metering;
  transactions: Transactions;
  localAuth: LocalAuthorization;
  reservations: Reservations;
  smartCharging: SmartCharging;
  maintenance: Maintenance;
  security: Security;
}

/** A call of the central system and what the station answered (undefined: no answer, or a CALLERROR). */
export interface ReceivedCall {
  action: string;
  params: Record<string, unknown>;
  response: Record<string, unknown> | undefined;
  /** The CALLERROR code, when the station answered with one. */
  callError?: string;
  /** Date.now() when the call arrived. */
  at: number;
}

/** How many received calls a station keeps (the oldest go first). */
const RECEIVED_LOG_SIZE = 500;

const CONNECTION_LOSS_MESSAGES = new Set([
  'Client going away',
  'Client disconnected',
  'Cannot make call while socket not open',
]);

/** A call cut short by a disconnect (ours or the network's), not an answer of the central system. */
export function isConnectionLoss(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || CONNECTION_LOSS_MESSAGES.has(error.message));
}

export class StationCore {
  readonly identity: string;
  readonly timers = new TimerRegistry();
  readonly log: Logger | undefined;
  /** start() .. stop() */
  running = false;
  /** goOffline() in effect */
  offline = false;
  /** Aborted by stop(): ends every wait of the station. */
  abort = new AbortController();
  /** Set by SimStation right after construction. */
  parts!: StationParts;
  readonly answers: AnswerBook;
  readonly manual: boolean;
  readonly features: ReadonlySet<FeatureProfile>;
  /** The central system's calls, newest last. */
  readonly received: ReceivedCall[] = [];
  /** How RemoteStopTransaction is answered (SimStation.setRemoteStopMode). */
  remoteStopMode: RemoteStopMode;

  constructor(
    readonly options: SimStationOptions,
    readonly clock: SimClock,
    readonly config: StationConfiguration,
    readonly profile: PowerProfile,
    private readonly emitter: EventEmitter<StationEvents>,
  ) {
    this.identity = options.identity;
    this.log = options.log?.child({ station: options.identity });
    this.answers = new AnswerBook(options.answers ?? {});
    this.manual = options.manual === true;
    this.features = new Set(options.features ?? FEATURE_PROFILES);
    this.remoteStopMode = options.remoteStop ?? 'accept';
  }

  record(call: ReceivedCall): void {
    this.received.push(call);
    if (this.received.length > RECEIVED_LOG_SIZE) this.received.splice(0, this.received.length - RECEIVED_LOG_SIZE);
  }

  emit<K extends keyof StationEvents>(event: K, ...args: StationEvents[K]): void {
    (this.emitter as unknown as EventEmitter).emit(event, ...args);
  }

  /** Connected, booted (in manual mode: connected) and not deliberately offline. */
  canSend(): boolean {
    return this.running && this.parts.link.connected && (this.parts.boot.booted || this.manual) && !this.offline;
  }

  call<A extends OutboundAction>(action: A, params: OutboundCalls[A][0]): Promise<OutboundCalls[A][1]> {
    return this.parts.link.call(action, params);
  }

  /** Sends and forgets: a failure is only reported. */
  send<A extends OutboundAction>(action: A, params: OutboundCalls[A][0]): void {
    this.call(action, params).catch((err: unknown) => this.warn(`${action} failed`, err));
  }

  /**
   * Reports a problem. Calls cut short by our own disconnects (goOffline, storms, stop) are
   * expected and only logged at debug level.
   */
  warn(message: string, error?: unknown): void {
    if (!this.running || isConnectionLoss(error)) {
      this.log?.debug({ err: error }, message);
      return;
    }
    this.log?.warn({ err: error }, message);
    this.emit('warning', { message, error });
  }

  simToRealMs(simSeconds: number): number {
    return this.clock.simToRealMs(simSeconds);
  }
}
