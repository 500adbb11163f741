import type { Db } from '../../db/index.ts';
import type { GatewayMetrics } from '../../shared/metrics.ts';
import type { Session, SessionStatus } from '../../db/tables/sessions.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';
import { computeCost } from '../billing/cost.ts';
import type { ChargingProfile, StationPort } from '../chargers/station-port.ts';
import type { StationCommands } from '../operations/commands.ts';
import type { CapabilityStore } from '../chargers/capabilities.ts';
import { recordAlert, recordAlerts, sessionAlert } from './alerts.ts';
import type { WalletMove } from '../wallets/ledger.ts';
import type { LiveEvents } from '../../shared/events.ts';
import { alertRaised, sessionChanged } from '../live.ts';
import { closeByOperator, endOpenOnConnector } from './endings.ts';
import { connectorBusy } from './session-rows.ts';
import { decideAuthorization, type AuthorizationDecision } from './authorization.ts';
import { durationS, energyOf, isOpen, OPEN_STATUSES } from './billing.ts';
import type { StopRelay, StopTarget } from './stop-marks.ts';
import { RemoteStopper, DEFAULT_STOP_RETRY_DELAYS_MS, type StopOutcome } from './stopper.ts';
import { MeterBatcher, type MeterSubmission } from './meter-batcher.ts';
import { SettlementBatcher } from './settlements.ts';
import { PredictiveStops, type PredictiveStopOptions } from './predictive-stop.ts';
import {
  DEFAULT_MAX_START_AGE_MS,
  startTransaction,
  stopTransaction,
  sweepTimeCost,
  type StartInput,
  type StationRef,
  type StopInput,
} from './transactions.ts';

export interface SessionServiceOptions {
  /** how often TIME cost is billed for sessions that send nothing */
  sweepIntervalMs: number;
  /** told of the balances each MeterValues batch moved, after its commit (must only queue work) */
  onBalancesMoved?: (moved: readonly WalletMove[]) => void;
  stopRetryDelaysMs?: readonly number[];
  /** how long POST /v1/sessions waits for the station's answer */
  remoteStartTimeoutMs?: number;
  /** the most power (W) a station without its own maximum delivers; null = readings not checked */
  defaultMaxPowerW?: number | null;
  /** how long before its arrival a StartTransaction may say it started (default 72 h) */
  maxStartAgeMs?: number;
  /** TIME accrues for a silent, disconnected station's sessions only this long after its last sign of life */
  timeSilenceCapMs?: number;
  /** how long a StopTransaction may still come after a connector's status ended its session, before an alert */
  implicitEndAlertDelayMs?: number;
  /** stop ahead of each wallet's predicted zero crossing (issue 17); absent or disabled: only the stop at zero */
  predictive?: PredictiveStopOptions;
}

/** A StopTransaction queued in the station may follow its Available by this much before the operator is told. */
const DEFAULT_IMPLICIT_END_ALERT_DELAY_MS = 60_000;

/** A Preparing without a time of its own ends only sessions that started this long before it arrived. */
const PREPARING_GRACE_MS = 60_000;

/** Defaults: a DC station of 400 kW; TIME stops accruing 15 minutes after a station fell silent. */
export const DEFAULT_MAX_POWER_W = 400_000;
export const DEFAULT_TIME_SILENCE_CAP_MS = 900_000;

/**
 * The session use cases the adapters call: OCPP transactions, the TIME sweep, remote start
 * and stop, and reads. After a commit that takes a wallet to zero it stops every session that
 * wallet pays for, at once.
 */
export class SessionService {
  readonly stopper: RemoteStopper;
  /** the predictive stop; undefined when switched off */
  readonly predictor: PredictiveStops | undefined;
  private readonly meter: MeterBatcher;
  /** StopTransactions' settlements, by group commit */
  private readonly settlements: SettlementBatcher;
  private readonly timers = new Set<NodeJS.Timeout>();
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      db: Db;
      /** the MeterValues batches' own connection (MeterBatcher); default db */
      billingDb?: Db | undefined;
      /** connections apart from the main pool for the stop path's reads (RemoteStopper); default db */
      urgentDb?: Db | undefined;
      /** a cluster node: a zero wallet's sessions on other nodes are handed to them in the debit's transaction */
      stopRelay?: StopRelay | undefined;
      clock: Clock;
      log: Logger;
      stations: StationPort;
      events?: LiveEvents | undefined;
      metrics?: GatewayMetrics | undefined;
      /** operator calls are logged through it (remote start) */
      commands?: StationCommands | undefined;
      /** what the predictive stop learns of each station, kept across restarts */
      capabilities?: CapabilityStore | undefined;
    },
    private readonly options: SessionServiceOptions,
  ) {
    this.stopper = new RemoteStopper(deps, options.stopRetryDelaysMs ?? DEFAULT_STOP_RETRY_DELAYS_MS);
    this.settlements = new SettlementBatcher(deps.db, undefined, deps.metrics);
    this.predictor = options.predictive?.enabled
      ? new PredictiveStops(
          {
            ...deps,
            log: deps.log.child({ component: 'predictive-stop' }),
            stopper: this.stopper,
            onMarked: (transactionId) => this.meter.noteStopping(transactionId),
          },
          options.predictive,
        )
      : undefined;
    this.meter = new MeterBatcher({ ...deps, observer: this.predictor }, ({ walletsToMark, stopNow, moved }) => {
      // Marked stopping by the debit's statement (the zero wallets' sessions, but those another
      // node holds: that node was told at the commit and sends their stops), sent now.
      for (const target of stopNow) void this.stopper.stopMarked(target);
      // Then those wallets again: sessions the statement could not mark (another writer held them)
      // or could not see (started while it waited for the wallet).
      this.walletsAtZero(walletsToMark);
      // Watchers of balances (the local list sync) queue their own work; nothing waits here.
      if (moved.length) options.onBalancesMoved?.(moved);
    });
  }

  /**
   * Sessions of this node's stations that another node's debit marked stopping (StopRelay): sent
   * as this node's own, and remembered as stopping so that their next reading is planned from it.
   */
  stopsHandedHere(targets: readonly StopTarget[]): void {
    for (const t of targets) {
      this.meter.noteStopping(t.transactionId);
      void this.stopper.stopMarked(t);
    }
  }

  private walletsAtZero(walletIds: readonly (string | undefined)[]): void {
    const ids = walletIds.filter((w): w is string => w !== undefined);
    if (!ids.length) return;
    this.stopper.stopWallets(ids, 'insufficient_balance').catch((err) => {
      this.deps.log.error({ err, walletIds: ids }, 'could not stop the sessions of a wallet at zero');
    });
  }

  async start(station: StationRef, input: StartInput) {
    const { db, clock } = this.deps;
    this.predictor?.started(station.identity, input.timestamp, clock.now());
    const result = await startTransaction(db, clock, station, input, {
      defaultMaxPowerW: this.options.defaultMaxPowerW === undefined ? DEFAULT_MAX_POWER_W : this.options.defaultMaxPowerW,
      maxStartAgeMs: this.options.maxStartAgeMs ?? DEFAULT_MAX_START_AGE_MS,
    });
    if (result.replayOfEnded) {
      // Not a new session: the station is told (Invalid) and sent a stop, and the operator an alert.
      const s = result.session;
      this.deps.log.warn({ transactionId: s.transaction_id }, 'StartTransaction replayed after its session ended');
      await recordAlert(
        db,
        sessionAlert(s, 'start_after_stop', `StartTransaction replayed for transaction ${s.transaction_id}, which has ended: answered Invalid, stop sent`, {
          connectorId: input.connectorId,
          idTag: input.idTag,
        }),
        clock.now(),
      );
      const target = { sessionId: s.id, transactionId: s.transaction_id, identity: station.identity, stationId: station.stationId, reason: 'start_after_stop' };
      setImmediate(() => void this.stopper.stopMarked(target));
      return result;
    }
    if (result.created && result.session.status === 'rejected') {
      this.deps.log.info(
        { transactionId: result.session.transaction_id, idTag: input.idTag, reason: result.session.refusal_reason },
        'start refused: sending RemoteStopTransaction',
      );
      // After the StartTransaction answer has gone out: the station needs the id first.
      const target = {
        sessionId: result.session.id,
        transactionId: result.session.transaction_id,
        identity: station.identity,
        stationId: station.stationId,
        reason: 'start_refused',
      };
      setImmediate(() => void this.stopper.stopMarked(target));
    }
    if (result.created) this.deps.events?.publish(sessionChanged(result.session));
    if (result.startAdjusted) this.deps.events?.publish(alertRaised({ stationId: station.stationId, kind: 'start_time_adjusted' }));
    if (result.replaced) await this.ended(result.replaced, 'transaction_replaced', 'a new StartTransaction on its connector');
    this.walletsAtZero([result.walletAtZero]);
    return result;
  }

  /**
   * A connector's status: Available (or Preparing, for someone else) after a session started
   * there means the station ended that transaction without telling us (firmware that drops a
   * refused transaction without StopTransaction). The session is settled on what was reported,
   * its stop retries end, and the operator gets one alert.
   */
  async connectorStatus(station: StationRef, report: { connectorId: number; status: string; timestamp?: Date | undefined }): Promise<void> {
    if (report.connectorId === 0) return;
    const now = this.deps.clock.now();
    let after: Date;
    if (report.status === 'Available') after = report.timestamp ?? now;
    // Preparing is also how a transaction begins: without a time of its own it ends only a
    // session that started well before it arrived.
    else if (report.status === 'Preparing') after = report.timestamp ?? new Date(now.getTime() - PREPARING_GRACE_MS);
    else return;
    const ended = await this.deps.db
      .transaction()
      .execute((tx) =>
        endOpenOnConnector(
          tx,
          // a stamped status is on the station's clock, as its stamp of the start is
          { stationId: station.stationId, connectorId: report.connectorId, startedBefore: after, onStationClock: report.timestamp !== undefined },
          'connector_status',
          now,
        ),
      );
    if (!ended.length) return;
    for (const e of ended) {
      this.meter.forget(e.session.transaction_id);
      this.deps.events?.publish(sessionChanged(e.session));
    }
    this.walletsAtZero(ended.map((e) => e.ended.billing?.walletAtZero));
    // Stations often report Available on reconnecting before they flush their queued
    // StopTransaction: the operator is told only if none arrives within the grace.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.alertIfStillImplicit(ended.map((e) => e.session), report.status).catch((err: unknown) =>
        this.deps.log.error({ err }, 'could not record a transaction ended by its connector status'),
      );
    }, this.options.implicitEndAlertDelayMs ?? DEFAULT_IMPLICIT_END_ALERT_DELAY_MS);
    timer.unref();
    this.timers.add(timer);
  }

  private async alertIfStillImplicit(sessions: Session[], status: string): Promise<void> {
    const still = new Set(
      (
        await this.deps.db
          .selectFrom('sessions')
          .select('id')
          .where('id', 'in', sessions.map((s) => s.id))
          .where('ended_by', '=', 'connector_status')
          .execute()
      ).map((r) => r.id),
    );
    await this.ended(sessions.filter((s) => still.has(s.id)), 'transaction_ended_by_status', `its connector reporting ${status}`);
  }

  /** Sessions the station ended without a StopTransaction: forgotten by the batcher, alerted. */
  private async ended(sessions: Session[], kind: 'transaction_replaced' | 'transaction_ended_by_status', why: string): Promise<void> {
    if (!sessions.length) return;
    const now = this.deps.clock.now();
    for (const s of sessions) {
      this.meter.forget(s.transaction_id);
      this.deps.log.info({ transactionId: s.transaction_id }, `transaction ended by ${why}`);
      this.deps.events?.publish(sessionChanged(s));
      this.deps.events?.publish(alertRaised({ stationId: s.station_id, sessionId: s.id, kind }));
    }
    await recordAlerts(
      this.deps.db,
      sessions.map((s) =>
        sessionAlert(s, kind, `transaction ${s.transaction_id} ended by ${why}, without a StopTransaction: settled on ${s.meter_last} Wh`, {
          settled_wh: s.meter_last,
        }),
      ),
      now,
    );
  }

  /** POST /v1/sessions/:id/close: an operator settles a session by hand. */
  async closeSession(sessionId: string, input: { meterStop?: number | undefined; closedBy: string }): Promise<Session> {
    const { session, ended } = await closeByOperator(this.deps.db, this.deps.clock.now(), sessionId, input);
    this.meter.forget(session.transaction_id);
    this.deps.events?.publish(sessionChanged(session));
    this.deps.log.info({ transactionId: session.transaction_id, closedBy: input.closedBy }, 'session closed by an operator');
    this.walletsAtZero([ended.billing?.walletAtZero]);
    return session;
  }

  /** Resolves once the debit for these readings is committed (group commit with others). */
  meterValues(submission: MeterSubmission) {
    return this.meter.submit(submission);
  }

  async stop(station: StationRef, input: StopInput) {
    this.predictor?.stopped(station.identity, input, this.deps.clock.now());
    const result = await stopTransaction(this.deps.db, this.deps.clock, this.deps.log, station, input, this.settlements.settle);
    this.meter.forget(input.transactionId);
    this.deps.events?.publish(
      result.session ? sessionChanged(result.session) : alertRaised({ stationId: station.stationId, kind: 'unknown_transaction' }),
    );
    if (result.energyAfterStop) {
      this.deps.events?.publish(alertRaised({ stationId: station.stationId, sessionId: result.session?.id, kind: 'energy_after_stop' }));
    }
    this.walletsAtZero([result.walletAtZero]);
    return result;
  }

  /** The idTag's standing after a stop, for the station's authorization cache. */
  async idTagStatus(station: StationRef, idTag: string): Promise<AuthorizationDecision> {
    return decideAuthorization(this.deps.db, { idTag, stationId: station.stationId }, this.deps.clock.now());
  }

  onStationConnected(identity: string): void {
    this.stopper.onStationConnected(identity).catch((err) => {
      this.deps.log.error({ err, identity }, 'could not resume remote stops for a reconnected station');
    });
  }

  /** Bills TIME for quiet sessions now (a background job calls this once per period, cluster-wide). */
  async sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const wallets = await sweepTimeCost(this.deps.db, this.deps.clock, {
          olderThanMs: this.options.sweepIntervalMs / 2,
          silenceCapMs: this.options.timeSilenceCapMs ?? DEFAULT_TIME_SILENCE_CAP_MS,
          locate: (identities) => this.deps.stations.locate(identities),
        });
        this.walletsAtZero(wallets);
      } catch (err) {
        this.deps.log.error({ err }, 'TIME billing sweep failed');
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([this.meter.drain(), this.settlements.drain()]);
    this.predictor?.close();
    this.stopper.close();
    await Promise.all([this.stopper.drain(), this.sweeping]);
  }

  // ---- admin ------------------------------------------------------------------------------

  /**
   * POST /v1/sessions: the same checks a charger's Authorize gets, with the user's active
   * token as idTag, then RemoteStartTransaction. The session itself appears when the station
   * sends StartTransaction.
   */
  async remoteStart(input: {
    chargestation: string;
    connector: number;
    user: string;
    /** a TxProfile for the transaction (Smart Charging) */
    chargingProfile?: ChargingProfile | undefined;
    /** the API key that asked: the call then goes into the station's command log */
    requestedBy?: string | undefined;
  }): Promise<{ status: string }> {
    const { db, clock, stations, commands } = this.deps;
    const station = await db
      .selectFrom('charge_stations')
      .select(['id', 'ocpp_id', 'active', 'organization_id'])
      .where('id', '=', input.chargestation)
      .executeTakeFirst();
    if (!station) throw new NotFoundError('chargestation', input.chargestation);
    const user = await db.selectFrom('users').select(['id', 'active']).where('id', '=', input.user).executeTakeFirst();
    if (!user) throw new NotFoundError('user', input.user);
    const now = clock.now();
    // The user's newest usable token, preferring one not already in a transaction (ConcurrentTx).
    const token = await db
      .selectFrom('tokens as t')
      .select('t.physical_id')
      .where('t.user_id', '=', user.id)
      .where('t.active', '=', true)
      .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', now)]))
      .orderBy(
        (eb) =>
          eb.exists(eb.selectFrom('sessions as s').select('s.id').whereRef('s.token_id', '=', 't.id').where('s.status', 'in', [...OPEN_STATUSES])),
        'asc',
      )
      .orderBy('t.created_at', 'desc')
      .executeTakeFirst();
    if (!token) throw new ConflictError('no_active_token', 'the user has no active token to start with');
    const decision = await decideAuthorization(
      db,
      { idTag: token.physical_id, stationId: station.id, connectorId: input.connector },
      now,
    );
    if (decision.status !== 'Accepted') {
      const reason = decision.reason ?? 'refused';
      const code = reason === 'no_wallet' ? 'insufficient_balance' : reason;
      throw new ConflictError(code, `cannot start: ${reason.replace(/_/g, ' ')}`, {
        balance: decision.balance ?? 0,
        minimum_balance_to_start_session: decision.minimumBalance,
      });
    }
    if (!station.active) {
      throw new ConflictError('station_offline', `charge station ${station.ocpp_id} is not connected`);
    }
    if (await connectorBusy(db, station.id, input.connector)) {
      throw new ConflictError('connector_busy', `connector ${input.connector} of ${station.ocpp_id} is in a transaction`);
    }
    const payload = {
      connectorId: input.connector,
      idTag: token.physical_id,
      ...(input.chargingProfile ? { chargingProfile: input.chargingProfile } : {}),
    };
    const timeoutMs = this.options.remoteStartTimeoutMs ?? 20_000;
    if (commands && input.requestedBy) {
      const target = { stationId: station.id, identity: station.ocpp_id, organizationId: station.organization_id, active: station.active };
      const { answer } = await commands.sendTo(target, 'RemoteStartTransaction', payload, { requestedBy: input.requestedBy, timeoutMs });
      return { status: answer.status };
    }
    const conf = await stations.call(station.ocpp_id, 'RemoteStartTransaction', payload, { timeoutMs, reason: 'remote_start' });
    return { status: conf.status };
  }

  /** POST /v1/sessions/:id/stop; `requestedBy`: the API key that asked, named in the command log */
  async remoteStop(sessionId: string, requestedBy?: string): Promise<{ status: StopOutcome }> {
    const session = await this.get(sessionId);
    if (!isOpen(session.status)) {
      throw new ConflictError('session_not_active', `session ${sessionId} is ${session.status}`);
    }
    return { status: await this.stopper.stopSession(sessionId, 'remote', requestedBy) };
  }

  async get(id: string): Promise<Session> {
    const s = await this.deps.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!s) throw new NotFoundError('session', id);
    return s;
  }

  async list(q: {
    limit: number;
    cursor?: string | undefined;
    status?: SessionStatus | undefined;
    user?: string | undefined;
    chargestation?: string | undefined;
    /** only sessions on this organization's stations or of its drivers */
    visibleTo?: string | undefined;
  }): Promise<Page<Session>> {
    let query = this.deps.db.selectFrom('sessions').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
    const before = decodeCursor(q.cursor);
    if (before) query = query.where('id', '<', before);
    if (q.status) query = query.where('status', '=', q.status);
    if (q.user) query = query.where('user_id', '=', q.user);
    if (q.chargestation) query = query.where('station_id', '=', q.chargestation);
    if (q.visibleTo) {
      const org = q.visibleTo;
      query = query.where((eb) =>
        eb.or([
          eb('station_id', 'in', eb.selectFrom('charge_stations').select('id').where('organization_id', '=', org)),
          eb('user_id', 'in', eb.selectFrom('users').select('id').where('organization_id', '=', org)),
        ]),
      );
    }
    return toPage(await query.execute(), q.limit, (s) => s.id);
  }

  /** Cost as of now for a running session (TIME included), else the settled cost. */
  liveCost(s: Session): number {
    if (!isOpen(s.status) || !s.rate_snapshot) return s.cost;
    const now = this.deps.clock.now();
    const until = now.getTime() > s.billed_until.getTime() ? now : s.billed_until;
    return computeCost(s.rate_snapshot.price_components, {
      energyWh: energyOf(s),
      durationS: durationS(s.start_timestamp, until),
      settle: false,
    }).amount;
  }
}
