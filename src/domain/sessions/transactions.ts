import { retryOnDeadlock } from '../../db/errors.ts';
import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { RateSnapshot, Session } from '../../db/tables/sessions.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { isInt32 } from '../../shared/storable.ts';
import { latestEnergy, extractReadings, type MeterValue } from '../billing/meter-values.ts';
import { resolveRate } from '../billing/rates.ts';
import { recordAlert, sessionAlert } from './alerts.ts';
import { settleAlone, type Settle } from './settlements.ts';
import { endOpenOnConnector, endSession, endSessionAsRead, isSettled, onGatewayClock, type Ended, type SessionEnding } from './endings.ts';
import { decideAuthorization, type AuthorizationDecision } from './authorization.ts';
import { billLocked, isOpen, lockSession, OPEN_STATUSES } from './billing.ts';
import { emitEvent } from '../events/outbox.ts';
import { sessionStarted } from '../events/payloads.ts';

export interface StationRef {
  stationId: string;
  identity: string;
}

export interface StartInput {
  connectorId: number;
  idTag: string;
  meterStart: number;
  timestamp: Date;
}

export interface StartResult {
  session: Session;
  /** false for a replayed StartTransaction: nothing was created */
  created: boolean;
  /** the idTagInfo status to answer */
  status: string;
  decision?: AuthorizationDecision;
  /** the start debited the wallet to zero or below (e.g. a flat fee) */
  walletAtZero?: string;
  /** a replay of a start whose session has ended: the station is sent a stop, nothing is created */
  replayOfEnded?: boolean;
  /** sessions still open on the connector that this start ended */
  replaced?: Session[];
  /** the station's start time was replaced (start_time_adjusted alert) */
  startAdjusted?: boolean;
}

export interface StartOptions {
  /** the power (W) a station without its own maximum is believed to deliver at most; null = no check */
  defaultMaxPowerW: number | null;
  /** how long before its arrival a start may be (an offline start); earlier is a clock gone wrong */
  maxStartAgeMs?: number;
}

/** OCPP_MAX_START_AGE_H's default: an offline start up to three days old is billed from then. */
export const DEFAULT_MAX_START_AGE_MS = 72 * 3_600_000;
/** A station clock ahead of the gateway's by less than this is drift, not worth an alert. */
const CLOCK_DRIFT_MS = 5 * 60_000;

/**
 * The start billing counts from: the station's, within what its clock can mean. One after the
 * StartTransaction arrived is its arrival (TIME that has not passed is not free either); one more
 * than `maxAgeMs` before it is a clock gone wrong (reset to 2000, say: decades of TIME, and any
 * register would pass the power check), not an offline start, and is its arrival too, the
 * nearest the gateway knows. `adjusted`: the station's time was replaced by more than clock
 * drift. The session's other stamps are read on the same corrected clock (onGatewayClock). Not
 * bounded by the station's registration: a station registered minutes ago may deliver a start it
 * queued while it could not reach the gateway.
 */
export function believedStart(reported: Date, bounds: { now: Date; maxAgeMs: number }): { start: Date; adjusted: 'ahead' | 'too_old' | undefined } {
  const now = bounds.now.getTime();
  const t = reported.getTime();
  if (t > now) return { start: new Date(now), adjusted: t - now > CLOCK_DRIFT_MS ? 'ahead' : undefined };
  if (t < now - bounds.maxAgeMs) return { start: new Date(now), adjusted: 'too_old' };
  return { start: reported, adjusted: undefined };
}

/**
 * The rate the session is billed with. A refused start whose owner has a wallet still gets
 * one when the connector has a usable rate: if the station charges anyway, the energy is owed.
 */
async function snapshotFor(
  db: Db,
  station: StationRef,
  connectorId: number,
  decision: AuthorizationDecision,
): Promise<RateSnapshot | null> {
  const rate =
    decision.rate ?? (decision.walletId ? await resolveRate(db, station.stationId, connectorId) : undefined);
  if (!rate || !decision.walletCurrency || rate.currency !== decision.walletCurrency) return null;
  return { rate_id: rate.id, currency: rate.currency, price_components: rate.price_components };
}

/**
 * StartTransaction: the same decision as Authorize (the station may have started from its
 * cache), and always a new transactionId. A replay (same station, connector, idTag,
 * timestamp, meterStart) returns the first session and creates nothing; a replay of one that
 * has ended is answered `Invalid` (it is not a new session; the caller sends a stop). A refused
 * start is recorded as `rejected`; the caller sends it a RemoteStopTransaction.
 */
export async function startTransaction(
  db: Db,
  clock: Clock,
  station: StationRef,
  input: StartInput,
  options: StartOptions,
): Promise<StartResult> {
  const findExisting = (q: Db = db) =>
    q
      .selectFrom('sessions')
      .selectAll()
      .where('station_id', '=', station.stationId)
      .where('connector_id', '=', input.connectorId)
      .where('id_tag', '=', input.idTag)
      .where('station_start_timestamp', '=', input.timestamp)
      .where('meter_start', '=', input.meterStart)
      .executeTakeFirst();

  const replayOf = (existing: Session): StartResult =>
    existing.stop_timestamp !== null
      ? { session: existing, created: false, status: 'Invalid', replayOfEnded: true }
      : { session: existing, created: false, status: existing.auth_status };
  const existing = await findExisting();
  if (existing) return replayOf(existing);

  const now = clock.now();
  const decision = await decideAuthorization(
    db,
    { idTag: input.idTag, stationId: station.stationId, connectorId: input.connectorId },
    now,
  );
  const accepted = decision.status === 'Accepted';
  const snapshot = await snapshotFor(db, station, input.connectorId, decision);
  // The start time is the station's: an offline start hours ago is billed from then, within what
  // its clock can mean (believedStart).
  const { start, adjusted } = believedStart(input.timestamp, {
    now,
    maxAgeMs: options.maxStartAgeMs ?? DEFAULT_MAX_START_AGE_MS,
  });

  return db.transaction().execute(async (tx) => {
    // A new transaction on a connector ends the one the gateway still had open there (its
    // StopTransaction was lost): settled on what it reported; a late StopTransaction may still settle it.
    const replaced = await endOpenOnConnector(
      tx,
      { stationId: station.stationId, connectorId: input.connectorId, startedBefore: start },
      'new_transaction',
      now,
    );
    const inserted = await tx
      .insertInto('sessions')
      .values({
        id: newId(now),
        station_id: station.stationId,
        connector_id: input.connectorId,
        id_tag: input.idTag,
        token_id: decision.tokenId ?? null,
        user_id: decision.userId ?? null,
        wallet_id: decision.walletId ?? null,
        status: accepted ? 'active' : 'rejected',
        auth_status: decision.status,
        refusal_reason: decision.reason ?? null,
        meter_start: input.meterStart,
        meter_last: input.meterStart,
        start_timestamp: start,
        station_start_timestamp: input.timestamp,
        billed_until: start,
        rate_id: snapshot?.rate_id ?? null,
        rate_snapshot: snapshot ? JSON.stringify(snapshot) : null,
        has_time_component: snapshot?.price_components.some((c) => c.type === 'TIME') ?? false,
        currency: snapshot?.currency ?? 'USD',
        termination: accepted ? null : 'rejected',
        stop_requested_at: accepted ? null : now,
        max_power_w: sql<number | null>`coalesce((select max_power_w from charge_stations where id = ${station.stationId}), ${options.defaultMaxPowerW})`,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) {
      // A concurrent replay won the insert.
      return replayOf((await findExisting(tx))!);
    }
    if (adjusted) {
      await recordAlert(
        tx,
        {
          // one open alert per station (a clock gone wrong concerns every session), the latest session named
          kind: 'start_time_adjusted',
          stationId: station.stationId,
          transactionId: inserted.transaction_id,
          message:
            `StartTransaction stamped ${input.timestamp.toISOString()}, ` +
            (adjusted === 'ahead' ? 'after it arrived' : 'longer before it arrived than OCPP_MAX_START_AGE_H') +
            `: the session is billed from ${start.toISOString()}; check the station's clock`,
          details: { session: inserted.id, reported: input.timestamp.toISOString(), billed_from: start.toISOString(), reason: adjusted },
        },
        now,
      );
    }
    let walletAtZero: string | undefined;
    if (accepted) {
      // A FLAT component is owed from the start.
      const locked = await lockSession(tx, inserted.id);
      walletAtZero = (await billLocked(tx, locked, { at: start })).walletAtZero;
      await emitEvent(tx, sessionStarted(inserted), now);
    }
    return {
      session: inserted,
      created: true,
      status: decision.status,
      decision,
      ...(walletAtZero ? { walletAtZero } : {}),
      ...(replaced.length ? { replaced: replaced.map((r) => r.session) } : {}),
      ...(adjusted ? { startAdjusted: true } : {}),
    };
  });
}

/**
 * A StopTransaction for a session already settled: energy past the settlement (an operator's
 * close, or a second stop with more) is alerted, never billed. A replay, and a held session
 * (settled by hand), raise nothing.
 */
async function alertEnergyAfterStop(db: Db, log: Logger, s: Session, register: number, meterStop: number, now: Date): Promise<boolean> {
  if (s.status === 'held') return false;
  const settledWh = Math.max(s.meter_last, s.meter_stop ?? 0);
  if (register <= settledWh) return false;
  await recordAlert(
    db,
    sessionAlert(
      s,
      'energy_after_stop',
      `StopTransaction reports register ${register} Wh on transaction ${s.transaction_id}, which had ended at ${settledWh} Wh ` +
        `(by ${s.closed_by ? 'an operator' : (s.ended_by ?? 'the gateway')}): not billed`,
      { reported_wh: register, settled_wh: settledWh, meter_stop: meterStop },
    ),
    now,
  );
  log.warn({ transactionId: s.transaction_id, register, settledWh }, 'StopTransaction reports energy after its session ended');
  return true;
}

function clampToNow(t: Date, now: Date): Date {
  return t.getTime() > now.getTime() ? now : t;
}

export interface StopInput {
  transactionId: number;
  meterStop: number;
  timestamp: Date;
  reason?: string | undefined;
  idTag?: string | undefined;
  transactionData?: MeterValue[] | undefined;
}

export interface StopResult {
  session?: Session;
  /** false when this StopTransaction was a replay of one already settled */
  settled: boolean;
  walletAtZero?: string;
  /** it reported energy past its session's settlement (energy_after_stop alert) */
  energyAfterStop?: boolean;
}

/** OCPP stop reasons in our snake_case `termination`, unless the gateway already set one. */
export function terminationFor(reason: string | undefined): string {
  const r = reason ?? 'Local';
  return r.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** How often a StopTransaction tries to end its session as read before it takes a lock. */
const AS_READ_ATTEMPTS = 3;

/**
 * StopTransaction: settles the session with meterStop (and transactionData), applying step
 * sizes, and closes it; the answer goes out after the commit. A replay settles nothing more.
 * An unknown transactionId is recorded as an alert for the operator.
 */
export async function stopTransaction(
  db: Db,
  clock: Clock,
  log: Logger,
  station: StationRef,
  input: StopInput,
  /** how the settlement is written (default: in a statement of its own) */
  settle: Settle = settleAlone(db),
): Promise<StopResult> {
  const now = clock.now();
  // An id beyond int32 is none the gateway issued (and no integer column takes it).
  const session = isInt32(input.transactionId)
    ? await db.selectFrom('sessions').selectAll().where('transaction_id', '=', input.transactionId).executeTakeFirst()
    : undefined;
  if (!session || session.station_id !== station.stationId) {
    await recordAlert(
      db,
      {
        kind: session ? 'transaction_station_mismatch' : 'unknown_transaction',
        stationId: station.stationId,
        transactionId: input.transactionId,
        message: session
          ? `StopTransaction for transaction ${input.transactionId}, which belongs to another station`
          : `StopTransaction for unknown transaction ${input.transactionId}`,
        details: {
          meterStop: input.meterStop,
          timestamp: input.timestamp.toISOString(),
          reason: input.reason ?? null,
          idTag: input.idTag ?? null,
        },
      },
      now,
    );
    log.warn({ transactionId: input.transactionId }, 'StopTransaction for an unknown transaction');
    return { settled: false };
  }
  // The highest register the stop carries: meterStop, or a later transactionData sample.
  let register = input.meterStop;
  if (input.transactionData?.length) {
    const last = latestEnergy(extractReadings(input.transactionData));
    if (last && last.wh > register && last.timestamp.getTime() <= input.timestamp.getTime()) register = last.wh;
  }
  // Every settlement happens once: a session settled before is a replay, or the station's own
  // stop of a session the gateway ended without it (an operator's close). Energy it reports past
  // what was settled is not billed, and never silently: the operator is told (lateStop).
  const lateStop = async (settled: Session): Promise<StopResult> => {
    const alerted = await alertEnergyAfterStop(db, log, settled, register, input.meterStop, now);
    return { session: settled, settled: false, ...(alerted ? { energyAfterStop: true } : {}) };
  };
  if (isSettled(session)) return lateStop(session);
  const end: SessionEnding = {
    endedBy: 'station',
    registerWh: register,
    meterStop: input.meterStop,
    // On a session whose start the gateway moved, the stop's stamp is read as the start's was.
    at: onGatewayClock(session, input.timestamp.getTime(), now.getTime()),
    stopReason: input.reason ?? 'Local',
    termination: terminationFor(input.reason),
  };
  // One statement on the session as read (no transaction, no lock held between round trips);
  // if a batch or another node wrote the session meanwhile, read it again and re-plan. Endings
  // that need a transaction (a held session, an alert), and a session that keeps changing, are
  // ended under a lock.
  let result: Ended | undefined;
  let row: Session | undefined = session;
  for (let attempt = 0; !result; attempt++) {
    if (!row) return { session, settled: false };
    if (isSettled(row)) return lateStop(row);
    const ended = attempt < AS_READ_ATTEMPTS ? await retryOnDeadlock(() => endSessionAsRead(settle, row!, end, now)) : 'lock';
    if (ended === 'lock') {
      const outcome = await retryOnDeadlock(() => db.transaction().execute(async (tx) => {
        const locked = await lockSession(tx, session.id);
        return isSettled(locked) ? ({ settled: true, session: locked } as const) : ({ settled: false, ended: await endSession(tx, locked, end, now) } as const);
      }));
      if (outcome.settled) return lateStop(outcome.session);
      result = outcome.ended;
    } else if (ended === 'changed') {
      row = await db.selectFrom('sessions').selectAll().where('id', '=', session.id).executeTakeFirst();
    } else {
      result = ended;
    }
  }
  if (result.billing?.meterWentBackwards) {
    log.warn({ transactionId: session.transaction_id, meterStop: input.meterStop }, 'meterStop below the highest register billed');
  }
  return {
    session,
    settled: result.billing !== undefined && !result.held,
    ...(result.billing?.walletAtZero ? { walletAtZero: result.billing.walletAtZero } : {}),
  };
}

export interface SweepOptions {
  /** bill only sessions billed less recently than this */
  olderThanMs: number;
  /**
   * A station silent for longer than this (no heartbeat, boot or reading) and not connected is
   * gone: its sessions accrue TIME only up to its last sign of life plus this much.
   */
  silenceCapMs: number;
  /** where these stations are connected (cluster-wide); a station missing from the map is offline */
  locate(identities: string[]): Promise<Map<string, unknown>>;
}

/**
 * TIME cost keeps running for sessions that send no MeterValues: bill every open session with
 * a TIME component up to now, or, for a station that is gone, up to the cap after its last sign
 * of life. Returns the wallets this took to zero.
 */
export async function sweepTimeCost(db: Db, clock: Clock, options: SweepOptions): Promise<string[]> {
  const now = clock.now();
  const due = await db
    .selectFrom('sessions as s')
    .innerJoin('charge_stations as c', 'c.id', 's.station_id')
    .select(['s.id', 'c.ocpp_id', 'c.last_heartbeat_at', 's.last_reading_at', 's.start_timestamp'])
    .where('s.has_time_component', '=', true)
    .where('s.status', 'in', [...OPEN_STATUSES])
    .where('s.billed_until', '<', new Date(now.getTime() - options.olderThanMs))
    .execute();
  const atZero = new Set<string>();
  const connected = due.length ? await options.locate([...new Set(due.map((d) => d.ocpp_id))]) : new Map();
  for (const d of due) {
    let until = now;
    if (!connected.has(d.ocpp_id)) {
      const lastSign = Math.max(d.start_timestamp.getTime(), d.last_reading_at?.getTime() ?? 0, d.last_heartbeat_at?.getTime() ?? 0);
      if (lastSign + options.silenceCapMs < now.getTime()) until = new Date(lastSign + options.silenceCapMs);
    }
    const billed = await db.transaction().execute(async (tx) => {
      const s = await lockSession(tx, d.id);
      if (!isOpen(s.status) || until.getTime() <= s.billed_until.getTime()) return undefined;
      return billLocked(tx, s, { at: until });
    });
    if (billed?.walletAtZero) atZero.add(billed.walletAtZero);
  }
  return [...atZero];
}
