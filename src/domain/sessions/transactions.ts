import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { RateSnapshot, Session } from '../../db/tables/sessions.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { latestEnergy, extractReadings, type MeterValue } from '../billing/meter-values.ts';
import { resolveRate } from '../billing/rates.ts';
import { recordAlert } from './alerts.ts';
import { decideAuthorization, type AuthorizationDecision } from './authorization.ts';
import { billLocked, isOpen, lockSession, OPEN_STATUSES } from './billing.ts';

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
 * timestamp, meterStart) returns the first session and creates nothing. A refused start is
 * recorded as `rejected`; the caller sends it a RemoteStopTransaction.
 */
export async function startTransaction(
  db: Db,
  clock: Clock,
  station: StationRef,
  input: StartInput,
): Promise<StartResult> {
  const findExisting = (q: Db = db) =>
    q
      .selectFrom('sessions')
      .selectAll()
      .where('station_id', '=', station.stationId)
      .where('connector_id', '=', input.connectorId)
      .where('id_tag', '=', input.idTag)
      .where('start_timestamp', '=', input.timestamp)
      .where('meter_start', '=', input.meterStart)
      .executeTakeFirst();

  const existing = await findExisting();
  if (existing) return { session: existing, created: false, status: existing.auth_status };

  const now = clock.now();
  const decision = await decideAuthorization(
    db,
    { idTag: input.idTag, stationId: station.stationId, connectorId: input.connectorId },
    now,
  );
  const accepted = decision.status === 'Accepted';
  const snapshot = await snapshotFor(db, station, input.connectorId, decision);
  // The start time is the station's: an offline start hours ago is billed from then. A clock
  // running ahead of ours is not allowed to bill time that has not passed.
  const start = input.timestamp.getTime() > now.getTime() ? now : input.timestamp;

  return db.transaction().execute(async (tx) => {
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
        start_timestamp: input.timestamp,
        billed_until: start,
        rate_id: snapshot?.rate_id ?? null,
        rate_snapshot: snapshot ? JSON.stringify(snapshot) : null,
        has_time_component: snapshot?.price_components.some((c) => c.type === 'TIME') ?? false,
        currency: snapshot?.currency ?? 'USD',
        termination: accepted ? null : 'rejected',
        stop_requested_at: accepted ? null : now,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) {
      // A concurrent replay won the insert.
      const winner = (await findExisting(tx))!;
      return { session: winner, created: false, status: winner.auth_status };
    }
    let walletAtZero: string | undefined;
    if (accepted) {
      // A FLAT component is owed from the start.
      const locked = await lockSession(tx, inserted.id);
      walletAtZero = (await billLocked(tx, locked, { at: start })).walletAtZero;
    }
    return {
      session: inserted,
      created: true,
      status: decision.status,
      decision,
      ...(walletAtZero ? { walletAtZero } : {}),
    };
  });
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
}

/** OCPP stop reasons in our snake_case `termination`, unless the gateway already set one. */
export function terminationFor(reason: string | undefined): string {
  const r = reason ?? 'Local';
  return r.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

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
): Promise<StopResult> {
  const now = clock.now();
  const session = await db
    .selectFrom('sessions')
    .selectAll()
    .where('transaction_id', '=', input.transactionId)
    .executeTakeFirst();
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
  if (session.status === 'completed') return { session, settled: false };

  // The highest register the stop carries: meterStop, or a later transactionData sample.
  let register = input.meterStop;
  if (input.transactionData?.length) {
    const last = latestEnergy(extractReadings(input.transactionData));
    if (last && last.wh > register && last.timestamp.getTime() <= input.timestamp.getTime()) register = last.wh;
  }
  const stopAt = clampToNow(input.timestamp, now);
  const result = await db.transaction().execute(async (tx) => {
    const locked = await lockSession(tx, session.id);
    if (locked.status === 'completed') return { billing: undefined, locked };
    const settleAt = stopAt.getTime() < locked.start_timestamp.getTime() ? locked.start_timestamp : stopAt;
    const billing = await billLocked(tx, locked, { registerWh: register, at: settleAt, settle: true });
    await tx
      .updateTable('sessions')
      .set({
        status: locked.status === 'rejected' ? 'rejected' : 'completed',
        meter_stop: input.meterStop,
        stop_timestamp: input.timestamp,
        stop_reason: input.reason ?? 'Local',
        termination: sql`coalesce(termination, ${terminationFor(input.reason)})`,
        updated_at: now,
      })
      .where('id', '=', locked.id)
      .execute();
    return { billing, locked };
  });
  if (!result.billing) return { session, settled: false };
  if (result.billing.meterWentBackwards) {
    log.warn({ transactionId: session.transaction_id, meterStop: input.meterStop }, 'meterStop below the highest register billed');
  }
  return {
    session,
    settled: true,
    ...(result.billing.walletAtZero ? { walletAtZero: result.billing.walletAtZero } : {}),
  };
}

/**
 * TIME cost keeps running for sessions that send no MeterValues: bill every open session with
 * a TIME component up to now. Returns the wallets this took to zero.
 */
export async function sweepTimeCost(db: Db, clock: Clock, olderThanMs: number): Promise<string[]> {
  const now = clock.now();
  const due = await db
    .selectFrom('sessions')
    .select('id')
    .where('has_time_component', '=', true)
    .where('status', 'in', [...OPEN_STATUSES])
    .where('billed_until', '<', new Date(now.getTime() - olderThanMs))
    .execute();
  const atZero = new Set<string>();
  for (const { id } of due) {
    const billed = await db.transaction().execute(async (tx) => {
      const s = await lockSession(tx, id);
      if (!isOpen(s.status)) return undefined;
      return billLocked(tx, s, { at: now });
    });
    if (billed?.walletAtZero) atZero.add(billed.walletAtZero);
  }
  return [...atZero];
}
