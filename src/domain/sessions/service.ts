import type { Db } from '../../db/index.ts';
import type { Session, SessionStatus } from '../../db/tables/sessions.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';
import { computeCost } from '../billing/cost.ts';
import type { StationPort } from '../chargers/station-port.ts';
import { decideAuthorization, type AuthorizationDecision } from './authorization.ts';
import { durationS, energyOf, isOpen } from './billing.ts';
import { RemoteStopper, DEFAULT_STOP_RETRY_DELAYS_MS, type StopOutcome } from './stopper.ts';
import { MeterBatcher, type MeterSubmission } from './meter-batcher.ts';
import {
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
  stopRetryDelaysMs?: readonly number[];
  /** how long POST /v1/sessions waits for the station's answer */
  remoteStartTimeoutMs?: number;
}

/**
 * The session use cases the adapters call: OCPP transactions, the TIME sweep, remote start
 * and stop, and reads. After a commit that takes a wallet to zero it stops every session that
 * wallet pays for, at once.
 */
export class SessionService {
  readonly stopper: RemoteStopper;
  private readonly meter: MeterBatcher;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly deps: { db: Db; clock: Clock; log: Logger; stations: StationPort },
    private readonly options: SessionServiceOptions,
  ) {
    this.stopper = new RemoteStopper(deps, options.stopRetryDelaysMs ?? DEFAULT_STOP_RETRY_DELAYS_MS);
    this.meter = new MeterBatcher(deps, ({ walletsAtZero, stopNow }) => {
      // The batch's own sessions first: marked stopping in the debit's transaction, sent now.
      for (const target of stopNow) void this.stopper.stopMarked(target);
      // Then the wallet's sessions on other stations (one query).
      this.walletsAtZero(walletsAtZero);
    });
  }

  private walletsAtZero(walletIds: readonly (string | undefined)[]): void {
    const ids = walletIds.filter((w): w is string => w !== undefined);
    if (!ids.length) return;
    this.stopper.stopWallets(ids, 'insufficient_balance').catch((err) => {
      this.deps.log.error({ err, walletIds: ids }, 'could not stop the sessions of a wallet at zero');
    });
  }

  async start(station: StationRef, input: StartInput) {
    const result = await startTransaction(this.deps.db, this.deps.clock, station, input);
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
      };
      setImmediate(() => void this.stopper.stopMarked(target));
    }
    this.walletsAtZero([result.walletAtZero]);
    return result;
  }

  /** Resolves once the debit for these readings is committed (group commit with others). */
  meterValues(submission: MeterSubmission) {
    return this.meter.submit(submission);
  }

  async stop(station: StationRef, input: StopInput) {
    const result = await stopTransaction(this.deps.db, this.deps.clock, this.deps.log, station, input);
    this.meter.forget(input.transactionId);
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
        const wallets = await sweepTimeCost(this.deps.db, this.deps.clock, this.options.sweepIntervalMs / 2);
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
    await this.meter.drain();
    this.stopper.close();
    await this.sweeping;
  }

  // ---- admin ------------------------------------------------------------------------------

  /**
   * POST /v1/sessions: the same checks a charger's Authorize gets, with the user's active
   * token as idTag, then RemoteStartTransaction. The session itself appears when the station
   * sends StartTransaction.
   */
  async remoteStart(input: { chargestation: string; connector: number; user: string }): Promise<{ status: string }> {
    const { db, clock, stations } = this.deps;
    const station = await db
      .selectFrom('charge_stations')
      .select(['id', 'ocpp_id', 'active'])
      .where('id', '=', input.chargestation)
      .executeTakeFirst();
    if (!station) throw new NotFoundError('chargestation', input.chargestation);
    const user = await db.selectFrom('users').select(['id', 'active']).where('id', '=', input.user).executeTakeFirst();
    if (!user) throw new NotFoundError('user', input.user);
    const now = clock.now();
    const token = await db
      .selectFrom('tokens')
      .select('physical_id')
      .where('user_id', '=', user.id)
      .where('active', '=', true)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
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
    // An offline station (on any node) rejects the call with StationOfflineError: 409 station_offline.
    const conf = await stations.call(
      station.ocpp_id,
      'RemoteStartTransaction',
      { connectorId: input.connector, idTag: token.physical_id },
      { timeoutMs: this.options.remoteStartTimeoutMs ?? 20_000 },
    );
    return { status: conf.status };
  }

  /** POST /v1/sessions/:id/stop */
  async remoteStop(sessionId: string): Promise<{ status: StopOutcome }> {
    const session = await this.get(sessionId);
    if (!isOpen(session.status)) {
      throw new ConflictError('session_not_active', `session ${sessionId} is ${session.status}`);
    }
    return { status: await this.stopper.stopSession(sessionId, 'remote') };
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
