import { sql } from 'kysely';
import { preparedStatement, type Db, type Tx } from '../../db/index.ts';
import { committedReporter, reportOnCommit } from '../../db/after-commit.ts';
import { newId } from '../../shared/ids.ts';
import type { Session } from '../../db/tables/sessions.ts';
import { computeCost } from '../billing/cost.ts';
import { LEDGER_DEBITED, postingSteps, refuseOutOfRange, type WalletMove } from '../wallets/ledger.ts';
import { stopReason, type StopRelay, type StopTarget } from './stop-marks.ts';
import { insertEvents } from '../events/outbox.ts';
import type { NewEvent } from '../events/types.ts';

/** Statuses in which a session still draws energy and is billed. */
export const OPEN_STATUSES = ['active', 'stopping', 'stop_failed'] as const;

export function isOpen(status: string): boolean {
  return (OPEN_STATUSES as readonly string[]).includes(status);
}

/** What billing needs of a session. */
export const BILLING_COLUMNS = [
  'id', 'transaction_id', 'station_id', 'connector_id', 'wallet_id', 'status', 'meter_start', 'meter_last',
  'start_timestamp', 'billed_until', 'cost', 'debited', 'rate_snapshot', 'max_power_w', 'last_reading_at',
  'stop_timestamp', 'ended_by', 'station_start_timestamp',
] as const;
export type BillingRow = Pick<Session, (typeof BILLING_COLUMNS)[number]>;

/** Energy delivered so far by the highest register seen. */
export function energyOf(s: Pick<Session, 'meter_start' | 'meter_last'>): number {
  return Math.max(0, s.meter_last - s.meter_start);
}

export function durationS(start: Date, end: Date): number {
  return Math.max(0, Math.floor((end.getTime() - start.getTime()) / 1000));
}

/**
 * Slack on the station's maximum power when judging a reading: clocks and meters are not exact,
 * so energy up to this many seconds at full power beyond the elapsed time is still believed.
 */
export const PLAUSIBILITY_GRACE_S = 60;

export interface BillingPlan {
  /**
   * The highest register implies more energy than the station's maximum power could deliver
   * since the start: nothing is billed, the session is held for the operator.
   */
  implausible?: { reportedWh: number; energyWh: number; elapsedS: number; maxPowerW: number };
  meterLast: number;
  until: Date;
  cost: number;
  /** cents to move now: positive = debit, negative = refund (settlement only), 0 = nothing */
  delta: number;
  /** registers below the highest one already seen: the meter went backwards, nothing billed for them */
  backwardsWh: number[];
  energyWh: number;
}

/**
 * Pure: what a billing event does to a session. The cost is recomputed from the highest
 * register and the latest time seen, so the order of readings does not matter and a reading
 * seen twice changes nothing; the debit is the difference to what was already debited.
 */
export function planBilling(
  s: Pick<
    BillingRow,
    'meter_start' | 'meter_last' | 'billed_until' | 'start_timestamp' | 'cost' | 'debited' | 'rate_snapshot' | 'wallet_id' | 'max_power_w'
  >,
  input: {
    registersWh: readonly number[];
    at: Date;
    settle?: boolean;
    /** an operator's register: believed without the plausibility check */
    trusted?: boolean;
  },
): BillingPlan {
  let meterLast = s.meter_last;
  const backwardsWh: number[] = [];
  for (const wh of input.registersWh) {
    if (wh < meterLast) backwardsWh.push(wh);
    else meterLast = wh;
  }
  if (s.max_power_w !== null && meterLast > s.meter_last && !input.trusted) {
    const elapsedS = durationS(s.start_timestamp, input.at);
    const energyWh = meterLast - s.meter_start;
    // energy ≤ power × time: Wh × 3600 ≤ W × s (a register too large to compare exactly fails anyway)
    if (energyWh * 3600 > s.max_power_w * (elapsedS + PLAUSIBILITY_GRACE_S)) {
      return {
        implausible: { reportedWh: meterLast, energyWh, elapsedS, maxPowerW: s.max_power_w },
        meterLast: s.meter_last,
        until: s.billed_until,
        cost: s.cost,
        delta: 0,
        backwardsWh,
        energyWh: Math.max(0, s.meter_last - s.meter_start),
      };
    }
  }
  const until =
    input.settle || input.at.getTime() > s.billed_until.getTime() ? input.at : s.billed_until;
  const energyWh = Math.max(0, meterLast - s.meter_start);
  if (!s.rate_snapshot || !s.wallet_id) {
    return { meterLast, until, cost: s.cost, delta: 0, backwardsWh, energyWh };
  }
  const cost = computeCost(s.rate_snapshot.price_components, {
    energyWh,
    durationS: durationS(s.start_timestamp, until),
    settle: input.settle === true,
  }).amount;
  const raw = cost - s.debited;
  const delta = raw > 0 || (input.settle && raw < 0) ? raw : 0;
  return { meterLast, until, cost, delta, backwardsWh, energyWh };
}

/** A plan to write, with the row it was computed from. */
export interface BillingWrite {
  row: BillingRow;
  plan: BillingPlan;
  powerW?: number | undefined;
  /** the station's time of the latest reading in this write, if it carries readings */
  readingAt?: Date | undefined;
  /** a note for the ledger entry this write makes, if it moves money */
  note?: string | undefined;
  /**
   * The write also ends the session (endings.ts): these columns are recorded with the billing,
   * and the status becomes `completed` (a refused start stays `rejected`; an implausible
   * register makes it `held`, plan.implausible).
   */
  end?: SessionEndColumns | undefined;
  /** events to write to the outbox with this write, if (and only if) it is applied */
  events?: readonly NewEvent[] | undefined;
}

/** What ending a session records on it (endings.ts). */
export type SessionEndColumns = Pick<Session, 'meter_stop' | 'stop_timestamp' | 'stop_reason' | 'termination' | 'ended_by' | 'closed_by'>;

/** A statement's result before (or without) any write applied. */
export function nothingApplied(): AppliedBilling {
  return { applied: new Set(), balanceAfter: new Map(), walletsAtZero: [], held: [], moved: [] };
}

export interface AppliedBilling {
  /** sessions written; the others changed since their row was read (see applyBilling) */
  applied: Set<string>;
  /** the wallet's balance after each written session's ledger entry, by session id */
  balanceAfter: Map<string, number>;
  /** wallets these debits left at or below zero (net), in id order */
  walletsAtZero: string[];
  /** sessions written as `held`: their reading was implausible (plan.implausible) */
  held: string[];
  /** wallets whose balance these writes moved, before and after */
  moved: WalletMove[];
}

const BILL_STATEMENT = preparedStatement('bill_sessions');
const BILL_AND_MARK_STATEMENT = preparedStatement('bill_sessions_marking');
const BILL_AND_MARK_RELAY_STATEMENT = preparedStatement('bill_sessions_marking_relay');

/**
 * Writes billing plans, and posts the money they move, in one statement inside the caller's
 * transaction. A session is written only if it still holds the values its plan was computed
 * from (compare-and-set): the caller either locked it (SELECT … FOR UPDATE, so it always
 * matches) or read it without a lock, in which case a session another writer changed meanwhile
 * (a StopTransaction, the TIME sweep, another node) is left alone and reported as not applied,
 * to be read and planned again; only the sessions written post a ledger entry.
 *
 * Locks: the sessions, in id order; then their wallets, in id order (postingSteps). Every writer
 * takes sessions before wallets, so none deadlocks with another.
 *
 * Each session is found and locked through its primary key, one lookup per write (a lateral
 * subquery, in id order), and the UPDATE is held to those ids: the planner's fixed guess for
 * json_to_recordset (100 rows) would otherwise pick a hash join over the whole sessions table,
 * a scan per batch that grows with every session ever billed.
 *
 * A wallet it leaves at or below zero is the caller's to stop (walletsAtZero; per write,
 * BillingResult.walletAtZero).
 */
export async function applyBilling(tx: Tx, writes: readonly BillingWrite[], at: Date): Promise<AppliedBilling> {
  const { applied, debited } = await billStatement(tx, writes, at, undefined);
  if (debited.entries) await reportOnCommit(tx, LEDGER_DEBITED, debited);
  return applied;
}

/**
 * applyBilling as one statement committed on its own (no transaction around it: one round trip,
 * and no row stays locked while the gateway waits), for writes planned from rows read without a
 * lock: a write whose session changed since is not applied (compare-and-set), to be read and
 * planned again. Never inside a transaction: its debits are reported as committed when it returns.
 */
export async function billCommitted(db: Db, writes: readonly BillingWrite[], at: Date): Promise<AppliedBilling> {
  // Checked before the statement: nothing may fail once it has committed.
  const reportDebited = committedReporter(db, LEDGER_DEBITED);
  const { applied, debited } = await billStatement(db, writes, at, undefined);
  if (debited.entries) reportDebited(debited);
  return applied;
}

/** What billAndMark wrote, and the stops it owes. */
export interface BilledAndMarked {
  applied: AppliedBilling;
  /**
   * Sessions it marked `stopping` because their wallet is at or below zero, to be stopped by the
   * caller: the batch's own and the wallets' other running sessions, but those handed over.
   */
  stops: StopTarget[];
  /** sessions it marked and handed to the nodes holding their stations (StopRelay): told at its commit */
  handed: StopTarget[];
  /**
   * Wallets to mark again after it (RemoteStopper.stopWallets): those at or below zero with a
   * running session it could not mark (another writer held it locked), and every wallet it took
   * from above zero to zero or below, since a session committed while it waited for the wallet
   * (a start) is not in its snapshot. The mark after usually finds nothing, or a session whose
   * writer has since ended it.
   */
  unmarked: string[];
}

/**
 * applyBilling as one statement committed on its own (no transaction around it: one round trip),
 * that also does what a wallet at or below zero needs: every running (`active`) session it pays
 * for is marked `stopping` (termination insufficient_balance) in the same statement — the batch's
 * own sessions as they are written, the wallet's others (on this node or any other) locked with
 * SKIP LOCKED — and those on stations another live node holds are handed to that node (the
 * relay's NOTIFY, delivered at the commit). A crash after the commit leaves every stop owed, and
 * a station answering its stop at once finds its session marked.
 *
 * SKIP LOCKED: the statement holds wallet locks when it looks for the other sessions, and the
 * writer holding one of them (another node's batch) may be waiting for one of those wallets;
 * such a session is left to whoever marks it (its own batch, which finds the wallet at zero, or
 * the caller after the commit: `unmarked`). Never inside a transaction: its debits are reported
 * as committed when it returns.
 */
export async function billAndMark(db: Db, writes: readonly BillingWrite[], at: Date, relay?: StopRelay): Promise<BilledAndMarked> {
  // Checked before the statement: nothing may fail once it has committed.
  const reportDebited = committedReporter(db, LEDGER_DEBITED);
  const { applied, debited, marks } = await billStatement(db, writes, at, { relay });
  if (debited.entries) reportDebited(debited);
  return { applied, ...marks! };
}

/**
 * The steps of the marking statement after `billed` (see billAndMark): `zero` (wallets these
 * debits leave at or below zero), `others` / `marked_others` (their other running sessions, locked
 * SKIP LOCKED, marked), `stop_marked` (every session marked, with its station), `unmarked`
 * (wallets to mark again after the commit: see BilledAndMarked), then the relay's `handed`.
 */
function markingSteps(at: Date, relay: StopRelay | undefined) {
  return sql`
    others as materialized (
      select s.id from sessions s
      where s.wallet_id = any(array(select id from zero)) and s.status = 'active'
        and not s.id = any(array(select id from locked_sessions))
      order by s.id
      for no key update of s skip locked
    ),
    marked_others as (
      update sessions s set status = 'stopping', termination = coalesce(s.termination, 'insufficient_balance'),
        stop_requested_at = ${at}, stop_retry_at = ${at}, updated_at = ${at}
      from others o
      where s.id = o.id and s.status = 'active'
      returning s.id, s.transaction_id, s.station_id, s.termination, s.stopped_by
    ),
    unmarked as (
      select s.wallet_id as id from sessions s
      where s.wallet_id = any(array(select id from zero)) and s.status = 'active'
        and not s.id = any(array(select id from locked_sessions))
        and not s.id = any(array(select id from others))
      union
      select id from moved where before > 0 and after <= 0
    ),
    stop_marked as (
      select m.id as session_id, m.transaction_id, c.ocpp_id as identity, c.id as station_id, m.termination, m.stopped_by
      from (
        select id, transaction_id, station_id, termination, stopped_by from billed where stop
        union all
        select id, transaction_id, station_id, termination, stopped_by from marked_others
      ) m
      cross join lateral (select c.ocpp_id, c.id from charge_stations c where c.id = m.station_id offset 0) c
    ),
    ${relay ? relay.handOverSteps() : sql`handed as (select null::text as session_id where false)`}`;
}

async function billStatement(
  db: Db | Tx,
  writes: readonly BillingWrite[],
  at: Date,
  /** set: mark the sessions of wallets at zero (billAndMark) */
  marking: { relay: StopRelay | undefined } | undefined,
): Promise<{ applied: AppliedBilling; debited: { entries: number; cents: number }; marks?: Omit<BilledAndMarked, 'applied'> }> {
  const applied = nothingApplied();
  const debited = { entries: 0, cents: 0 };
  const marks = marking ? { stops: [] as StopTarget[], handed: [] as StopTarget[], unmarked: [] as string[] } : undefined;
  if (!writes.length) return { applied, debited, ...(marks ? { marks } : {}) };
  // One write per session: one session, one compare-and-set, one ledger entry.
  if (new Set(writes.map((w) => w.row.id)).size !== writes.length) throw new Error('applyBilling: a session appears twice in one batch');
  const values = writes.map(({ row, plan, powerW, readingAt, note, end }) => {
    if (!Number.isSafeInteger(plan.delta)) throw new RangeError(`billing delta must be a whole number of cents, got ${plan.delta}`);
    return {
      id: row.id,
      old_meter_last: row.meter_last,
      old_debited: row.debited,
      old_cost: row.cost,
      old_billed_until: row.billed_until.toISOString(),
      old_status: row.status,
      meter_last: plan.meterLast,
      billed_until: plan.until.toISOString(),
      cost: plan.cost,
      delta: plan.delta,
      power_w: powerW ?? null,
      reading_at: readingAt?.toISOString() ?? null,
      hold: plan.implausible !== undefined,
      wallet_id: row.wallet_id,
      // the ledger entry's id, if this write moves money and is applied
      entry_id: plan.delta !== 0 ? newId(at) : null,
      note: note ?? null,
      old_last_reading_at: row.last_reading_at?.toISOString() ?? null,
      old_ended_by: row.ended_by,
      ending: end !== undefined,
      end_meter_stop: end?.meter_stop ?? null,
      end_stop_timestamp: end?.stop_timestamp?.toISOString() ?? null,
      end_stop_reason: end?.stop_reason ?? null,
      end_termination: end?.termination ?? null,
      end_ended_by: end?.ended_by ?? null,
      end_closed_by: end?.closed_by ?? null,
    };
  });
  const events = writes.flatMap((w) => (w.events ?? []).map((event) => ({ event, sessionId: w.row.id })));
  // The postings (p): one per written session that moves money, from the wallet the session row
  // holds; a wallet's entries in session id order (byte order, as everywhere in the gateway).
  const name = !marking ? BILL_STATEMENT : marking.relay ? BILL_AND_MARK_RELAY_STATEMENT : BILL_AND_MARK_STATEMENT;
  // Whether a written session is marked stopping here: running, on a wallet left at or below zero.
  const stops = marking ? sql`(not l.hold and l.old_status = 'active' and l.wallet_id = any(array(select id from zero)))` : sql`false`;
  const { rows } = await sql<{
    kind: 'session' | 'entry' | 'moved' | 'stop' | 'handed' | 'unmarked';
    id: string | null;
    hold: boolean | null;
    wallet_id: string | null;
    balance_after: string | number | null;
    before: string | number | null;
    total: string | number | null;
    transaction_id: number | null;
    identity: string | null;
    station_id: string | null;
    termination: string | null;
    stopped_by: string | null;
  }>`${sql.raw(name)}
    with v as (
      select * from json_to_recordset(${JSON.stringify(values)}::json) as v(
        id text, old_meter_last bigint, old_debited bigint, old_cost bigint, old_billed_until timestamptz,
        old_status text, meter_last bigint, billed_until timestamptz, cost bigint, delta bigint, power_w bigint,
        reading_at timestamptz, hold boolean, wallet_id text, entry_id text, note text,
        old_last_reading_at timestamptz, old_ended_by text, ending boolean, end_meter_stop bigint,
        end_stop_timestamp timestamptz, end_stop_reason text, end_termination text, end_ended_by text, end_closed_by text)
    ),
    locked_sessions as (
      select v.* from (select * from v order by id) v
      cross join lateral (
        select 1 from sessions s
        where s.id = v.id and s.meter_last = v.old_meter_last and s.debited = v.old_debited and s.cost = v.old_cost
          and date_trunc('milliseconds', s.billed_until) = v.old_billed_until and s.status = v.old_status
          and s.wallet_id is not distinct from v.wallet_id and s.ended_by is not distinct from v.old_ended_by
          and date_trunc('milliseconds', s.last_reading_at) is not distinct from v.old_last_reading_at
        for no key update of s
      ) s
    ),
    p as (
      select (row_number() over (order by l.wallet_id collate "C", l.id collate "C"))::int as ord, l.entry_id as id,
        l.wallet_id, -l.delta as change, l.id as session_id, null::text as top_up_id, l.note
      from locked_sessions l
      where l.delta <> 0 and l.wallet_id is not null
    ),${postingSteps(at)},
    zero as (select id from moved where total < 0 and after <= 0),
    billed as (
      update sessions s set
        meter_last = l.meter_last, billed_until = l.billed_until, cost = l.cost, debited = s.debited + l.delta,
        power_w = coalesce(l.power_w, s.power_w), updated_at = ${at},
        last_reading_at = greatest(s.last_reading_at, l.reading_at),
        status = case when l.hold then 'held' when l.ending then (case when s.status = 'rejected' then s.status else 'completed' end)
          when l.stop then 'stopping' else s.status end,
        termination = case when l.ending then l.end_termination when l.hold then coalesce(s.termination, 'meter_implausible')
          when l.stop then coalesce(s.termination, 'insufficient_balance') else s.termination end,
        meter_stop = case when l.ending then l.end_meter_stop else s.meter_stop end,
        stop_timestamp = case when l.ending then l.end_stop_timestamp else s.stop_timestamp end,
        stop_reason = case when l.ending then l.end_stop_reason else s.stop_reason end,
        ended_by = case when l.ending then l.end_ended_by else s.ended_by end,
        closed_by = case when l.ending then l.end_closed_by else s.closed_by end,
        stop_requested_at = case when l.hold or l.stop then ${at} else s.stop_requested_at end,
        stop_retry_at = case when l.stop then ${at} else s.stop_retry_at end
      from (select l.*, ${stops} as stop from locked_sessions l) l
      where s.id = l.id and s.id = any(array(select id from locked_sessions))
      returning s.id, l.hold, l.stop, s.transaction_id, s.station_id, s.termination, s.stopped_by
    ),
    emitted as (${insertEvents(events, at, sql<boolean>`e.session_id = any(array(select id from billed))`)}),${marking ? sql`${markingSteps(at, marking.relay)},` : sql``}
    out as (
      select 'session' as kind, id, hold, null::text as wallet_id, null::bigint as balance_after, null::bigint as before,
        null::bigint as total, null::int as transaction_id, null::text as identity, null::text as station_id,
        null::text as termination, null::text as stopped_by
        from billed
      union all
      select 'entry', session_id, null, wallet_id, balance_after, null, null, null, null, null, null, null from entries
      union all
      select 'moved', id, null, id, after, before, total, null, null, null, null, null from moved
    )
    select * from out${marking ? sql`
    union all
    select 'stop', session_id, null, null, null, null, null, transaction_id, identity, station_id, termination, stopped_by from stop_marked
    union all
    select 'handed', session_id, null, null, null, null, null, null, null, null, null, null from handed
    union all
    select 'unmarked', null, null, id, null, null, null, null, null, null, null, null from unmarked` : sql``}`
    .execute(db)
    .catch(refuseOutOfRange);

  const marked: StopTarget[] = [];
  const handed = new Set<string>();
  for (const r of rows) {
    if (r.kind === 'session') {
      applied.applied.add(r.id!);
      if (r.hold) applied.held.push(r.id!);
    } else if (r.kind === 'entry') {
      applied.balanceAfter.set(r.id!, Number(r.balance_after));
    } else if (r.kind === 'moved') {
      const [before, after, total] = [Number(r.before), Number(r.balance_after), Number(r.total)];
      applied.moved.push({ walletId: r.wallet_id!, before, after });
      if (total < 0 && after <= 0) applied.walletsAtZero.push(r.wallet_id!);
    } else if (r.kind === 'stop') {
      marked.push({
        sessionId: r.id!,
        transactionId: Number(r.transaction_id),
        identity: r.identity!,
        stationId: r.station_id!,
        reason: stopReason(r.termination, r.stopped_by),
      });
    } else if (r.kind === 'handed') {
      handed.add(r.id!);
    } else if (r.kind === 'unmarked') {
      marks!.unmarked.push(r.wallet_id!);
    }
  }
  if (marks) {
    for (const t of marked) (handed.has(t.sessionId) ? marks.handed : marks.stops).push(t);
    marks.unmarked.sort(cmp);
  }
  for (const w of writes) {
    if (!applied.applied.has(w.row.id) || w.plan.delta === 0) continue;
    if (w.plan.delta > 0 && applied.balanceAfter.has(w.row.id)) {
      debited.entries += 1;
      debited.cents += w.plan.delta;
    }
  }
  // planBilling moves no money for a session without a wallet, and the statement writes a session
  // only if its wallet is the one planned for: a written session that moves money has its entry.
  const unposted = writes.find((w) => applied.applied.has(w.row.id) && w.plan.delta !== 0 && !applied.balanceAfter.has(w.row.id));
  if (unposted) throw new Error(`session ${unposted.row.id} was billed without a ledger entry`);
  applied.moved.sort((a, b) => cmp(a.walletId, b.walletId));
  applied.walletsAtZero.sort(cmp);
  return { applied, debited, ...(marks ? { marks } : {}) };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface BillingInput {
  /** a cumulative register reading (Wh), if this event carries one */
  registerWh?: number | undefined;
  /** the time the cost runs to (reading time, sweep time, or the stop time at settlement) */
  at: Date;
  /** settlement: step sizes apply, and a cost lower than what was debited is refunded */
  settle?: boolean;
  /** an operator's register: no plausibility check */
  trusted?: boolean;
  /** for the ledger entry, if money moves */
  note?: string | undefined;
}

export interface BillingResult {
  /** cents moved: positive = debited, negative = refunded */
  charged: number;
  /** the wallet balance after this event's entry, when one was written */
  balanceAfter?: number;
  /** the wallet this event debited and left at or below zero */
  walletAtZero?: string;
  /** the register went below the highest one seen: billed nothing for energy */
  meterWentBackwards: boolean;
  /** the register was implausible: nothing billed, the session is now `held` */
  implausible?: BillingPlan['implausible'];
  cost: number;
  energyWh: number;
}

/** Bills one event on a session the caller's transaction has locked (see lockSession). */
export async function billLocked(tx: Tx, s: Session, input: BillingInput): Promise<BillingResult> {
  const plan = planBilling(s, {
    registersWh: input.registerWh === undefined ? [] : [input.registerWh],
    at: input.at,
    ...(input.settle ? { settle: true } : {}),
    ...(input.trusted ? { trusted: true } : {}),
  });
  const written = await applyBilling(tx, [{ row: s, plan, note: input.note }], input.at);
  return billingResultOf(s, plan, written);
}

/**
 * Whether this write debited the wallet and the statement left it at or below zero: what the
 * write alone would report, also when the statement wrote other sessions of the same wallet (a
 * refund beside it does not make it a crossing, nor hide one).
 */
function atZeroAfterDebit(walletId: string, plan: BillingPlan, written: AppliedBilling): boolean {
  if (plan.delta <= 0) return false;
  const move = written.moved.find((m) => m.walletId === walletId);
  return move !== undefined && move.after <= 0;
}

/** What a written plan did to one session (and its wallet), from what the statement returned. */
export function billingResultOf(row: Pick<Session, 'id' | 'wallet_id'>, plan: BillingPlan, written: AppliedBilling): BillingResult {
  const balanceAfter = written.balanceAfter.get(row.id);
  return {
    charged: plan.delta,
    ...(balanceAfter !== undefined ? { balanceAfter } : {}),
    ...(row.wallet_id && atZeroAfterDebit(row.wallet_id, plan, written) ? { walletAtZero: row.wallet_id } : {}),
    meterWentBackwards: plan.backwardsWh.length > 0,
    ...(plan.implausible ? { implausible: plan.implausible } : {}),
    cost: plan.cost,
    energyWh: plan.energyWh,
  };
}

export async function lockSession(tx: Tx, id: string): Promise<Session> {
  return tx.selectFrom('sessions').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirstOrThrow();
}
