import { sql } from 'kysely';
import { preparedStatement, type Db } from '../../db/index.ts';
import type { Session } from '../../db/tables/sessions.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { extractReadings, latestEnergy, type MeterValue } from '../billing/meter-values.ts';
import { recordAlert } from './alerts.ts';
import { planBilling, type BillingPlan } from './billing.ts';
import type { StationRef } from './transactions.ts';
import type { LiveEvents } from '../../shared/events.ts';
import { alertRaised, sessionBilled } from '../live.ts';

const OPEN = ['active', 'stopping', 'stop_failed'];

export interface MeterSubmission {
  station: StationRef;
  connectorId: number;
  transactionId?: number | undefined;
  meterValue: MeterValue[];
}

export interface MeterOutcome {
  sessionId?: string;
  /** cents debited for this batch's readings of the session (shared by its items) */
  charged: number;
  balanceAfter?: number;
}

/** What billing a reading needs of its session. */
const BILLING_COLUMNS = [
  'id', 'transaction_id', 'station_id', 'connector_id', 'wallet_id', 'status', 'meter_start', 'meter_last',
  'start_timestamp', 'billed_until', 'cost', 'debited', 'rate_snapshot',
] as const;
type BillingRow = Pick<Session, (typeof BILLING_COLUMNS)[number]>;

/** Attempts at a reading whose session other transactions keep changing under it. */
const MAX_ATTEMPTS = 5;
const BATCH_STATEMENT = preparedStatement('meter_batch');
/**
 * Billing rows kept in memory: one per running session, dropped when its StopTransaction is
 * handled here; sessions that end elsewhere (another node) age out, least recently billed first.
 */
const MAX_CACHED_SESSIONS = 50_000;

/** One session's write: the values its debit was computed from, and the new ones. */
interface WriteRow {
  id: string;
  old_meter_last: number;
  old_debited: number;
  old_cost: number;
  old_billed_until: string;
  old_status: string;
  meter_last: number;
  billed_until: string;
  cost: number;
  delta: number;
  power_w: number | null;
  entry_id: string;
  wallet_id: string | null;
}

interface Item {
  sub: MeterSubmission;
  wh: number | undefined;
  at: Date | undefined;
  powerW: number | undefined;
  session?: BillingRow;
  resolve(outcome: MeterOutcome): void;
  reject(err: unknown): void;
}

export interface StopTarget {
  sessionId: string;
  transactionId: number;
  identity: string;
  stationId: string;
}

export interface BatchResult {
  /** wallets a debit in this batch left at or below zero */
  walletsAtZero: string[];
  /**
   * Sessions of this batch whose wallet reached zero: already marked `stopping` in the same
   * transaction as the debit, so their RemoteStopTransaction can go out with no further query.
   */
  stopNow: StopTarget[];
}

/**
 * Group commit for MeterValues. Readings queue up while a batch is being written; the next
 * batch bills all of them in one SQL statement (one implicit transaction, one commit): it
 * locks the sessions in id order and only those still holding the values the debits were
 * computed from (compare-and-set), then their wallets in id order, debits each wallet once,
 * writes one ledger entry per session with its exact balance_after, and updates the sessions.
 * Each station's MeterValues is answered when the statement holding its debit has committed.
 *
 * The session rows come from the batcher's own memory of what it last wrote, or are read
 * (unlocked) when it has none; a session someone else changed in between (a StopTransaction,
 * the TIME sweep, another gateway node) fails the compare-and-set and is read and billed again.
 *
 * Semantics are those of billing each message alone: cost depends only on the highest
 * register and the latest time, so several readings of one session in a batch make one debit
 * of the same total. If a batch fails, its items are retried one by one, so one bad reading
 * fails only its own message.
 */
export class MeterBatcher {
  private queue: Item[] = [];
  /**
   * The billing rows as this batcher last wrote them, by transactionId, so a busy session is
   * not read before every debit. Never trusted on its own: the write is a compare-and-set
   * against these values, and a session changed by anyone else is dropped and read again.
   */
  private readonly rows = new Map<number, BillingRow>();
  private running = 0;

  constructor(
    private readonly deps: { db: Db; clock: Clock; log: Logger; events?: LiveEvents | undefined },
    private readonly onBatch: (result: BatchResult) => void,
    private readonly options: { maxBatch: number; concurrency: number } = { maxBatch: 400, concurrency: 1 },
  ) {}

  submit(sub: MeterSubmission): Promise<MeterOutcome> {
    const readings = extractReadings(sub.meterValue);
    const energy = latestEnergy(readings);
    const power = readings.powerW.at(-1);
    const now = this.deps.clock.now();
    return new Promise((resolve, reject) => {
      this.queue.push({
        sub,
        wh: energy?.wh,
        at: energy ? (energy.timestamp.getTime() > now.getTime() ? now : energy.timestamp) : undefined,
        powerW: power ? Math.round(power.w) : undefined,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /** How many sessions' billing rows are remembered. */
  get remembered(): number {
    return this.rows.size;
  }

  /** Drops what this batcher remembers of a session (it ended; a late reading reads it again). */
  forget(transactionId: number): void {
    this.rows.delete(transactionId);
  }

  /** Waits until everything submitted so far has been written (graceful stop). */
  async drain(): Promise<void> {
    while (this.queue.length || this.running) await new Promise((r) => setTimeout(r, 5));
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.queue.length) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.running += 1;
      void this.run(batch).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async run(batch: Item[]): Promise<void> {
    try {
      await this.bill(batch);
    } catch (err) {
      // Whether the write took effect is unknown: read these sessions again.
      for (const item of batch) if (item.sub.transactionId !== undefined) this.rows.delete(item.sub.transactionId);
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      this.deps.log.warn({ err, size: batch.length }, 'meter batch failed; billing its readings one by one');
      for (const item of batch) {
        try {
          await this.bill([item]);
        } catch (e) {
          item.reject(e);
        }
      }
    }
  }

  private async bill(batch: Item[]): Promise<void> {
    const now = this.deps.clock.now();
    const outcome = new Map<string, MeterOutcome>();
    const backwards: { session: BillingRow; wh: number }[] = [];
    const walletsAtZero = new Set<string>();
    const stopNow: StopTarget[] = [];
    // Sessions are read without a lock; the write applies a session's debit only if the row
    // still holds the values the debit was computed from (compare-and-set). A session another
    // transaction changed meanwhile (a stop, the TIME sweep) is read again and billed again.
    let pending = batch;
    for (let attempt = 1; pending.length; attempt++) {
      if (attempt > MAX_ATTEMPTS) throw new Error(`sessions kept changing while being billed (${pending.length} readings)`);
      await this.findSessions(pending);
      const written = await this.write(pending, now, backwards);
      for (const [id, o] of written.outcome) outcome.set(id, o);
      for (const w of written.walletsAtZero) walletsAtZero.add(w);
      stopNow.push(...written.stopNow);
      pending = pending.filter((i) => i.session && written.conflicted.has(i.session.id));
      for (const i of pending) {
        this.rows.delete(i.session!.transaction_id);
        delete i.session;
      }
    }

    for (const item of batch) {
      const id = item.session?.id;
      item.resolve((id && outcome.get(id)) || { ...(id ? { sessionId: id } : {}), charged: 0 });
    }
    if (walletsAtZero.size) this.onBatch({ walletsAtZero: [...walletsAtZero], stopNow });
    await this.alerts(batch, backwards, now);
  }

  /**
   * One statement, so one implicit transaction: lock the sessions that still match what was
   * read (id order), lock their wallets (id order, after the sessions: no deadlock with other
   * writers or another batch), debit each wallet once, write one ledger entry per session with
   * its exact running balance, and update the sessions, marking `stopping` those whose wallet
   * this batch left at or below zero.
   */
  private async write(
    items: Item[],
    now: Date,
    backwards: { session: BillingRow; wh: number }[],
  ): Promise<{ outcome: Map<string, MeterOutcome>; walletsAtZero: Set<string>; stopNow: StopTarget[]; conflicted: Set<string> }> {
    const billable = items.filter((i) => i.session && (i.wh !== undefined || i.powerW !== undefined));
    const bySession = new Map<string, Item[]>();
    for (const i of billable) {
      const list = bySession.get(i.session!.id);
      if (list) list.push(i);
      else bySession.set(i.session!.id, [i]);
    }
    const values: WriteRow[] = [];
    const plans = new Map<string, { s: BillingRow; plan: BillingPlan; items: Item[]; backwards: number[] }>();
    for (const [id, list] of bySession) {
      const s = list[0]!.session!;
      if (s.status === 'completed' || (s.status === 'rejected' && !s.rate_snapshot)) continue;
      const registers: number[] = [];
      let latest: number | undefined;
      let power: number | undefined;
      for (const i of list) {
        if (i.wh !== undefined) registers.push(i.wh);
        if (i.at && (latest === undefined || i.at.getTime() > latest)) latest = i.at.getTime();
        if (i.powerW !== undefined) power = i.powerW;
      }
      const below: number[] = [];
      let highest = s.meter_last;
      for (const wh of registers) {
        if (wh < highest) below.push(wh);
        else highest = wh;
      }
      const plan = planBilling(s, { registersWh: registers, at: latest === undefined ? s.billed_until : new Date(latest) });
      plans.set(id, { s, plan, items: list, backwards: below });
      values.push({
        id,
        old_meter_last: s.meter_last,
        old_debited: s.debited,
        old_cost: s.cost,
        old_billed_until: s.billed_until.toISOString(),
        old_status: s.status,
        meter_last: plan.meterLast,
        billed_until: plan.until.toISOString(),
        cost: plan.cost,
        delta: s.wallet_id ? plan.delta : 0,
        power_w: power ?? null,
        entry_id: newId(now),
        wallet_id: s.wallet_id,
      });
    }
    const result = { outcome: new Map<string, MeterOutcome>(), walletsAtZero: new Set<string>(), stopNow: [] as StopTarget[], conflicted: new Set<string>() };
    if (!plans.size) return result;

    const statement = sql<{ id: string; stop: boolean | null; wallet_at_zero: boolean | null; balance_after: number | null }>`${sql.raw(BATCH_STATEMENT)}
      with v as (
        select * from json_to_recordset(${JSON.stringify(values)}::json) as v(
          id text, old_meter_last bigint, old_debited bigint, old_cost bigint, old_billed_until timestamptz,
          old_status text, meter_last bigint, billed_until timestamptz, cost bigint, delta bigint, power_w bigint,
          entry_id text, wallet_id text)
      ),
      locked as (
        select v.* from sessions s join v on v.id = s.id
        where s.meter_last = v.old_meter_last and s.debited = v.old_debited and s.cost = v.old_cost
          and date_trunc('milliseconds', s.billed_until) = v.old_billed_until and s.status = v.old_status
        order by s.id
        for update of s
      ),
      moved as (select * from locked where delta <> 0 and wallet_id is not null),
      wallet_locks as (
        select w.id, t.total from wallets w
        join (select wallet_id, sum(delta)::bigint as total from moved group by wallet_id) t on t.wallet_id = w.id
        order by w.id
        for update of w
      ),
      wallet_updates as (
        update wallets w set balance = w.balance - l.total, updated_at = ${now}
        from wallet_locks l
        where w.id = l.id
        returning w.id, w.balance, l.total
      ),
      wallet_state as (
        select coalesce(jsonb_object_agg(id, balance + total), '{}') as before,
               coalesce(array_agg(id) filter (where total > 0 and balance <= 0), '{}') as at_zero
        from wallet_updates
      ),
      debits as materialized (
        -- materialized: the wallet map is looked up once per row, not carried into the sort below
        select m.id as session_id, m.wallet_id, m.delta, m.entry_id, (ws.before ->> m.wallet_id)::bigint as before
        from moved m cross join wallet_state ws
      ),
      entries as (
        select session_id, wallet_id, delta, entry_id,
               (before - sum(delta) over (partition by wallet_id order by session_id))::bigint as balance_after
        from debits
      ),
      ledger as (
        insert into ledger_entries (id, wallet_id, type, amount, balance_after, session_id, top_up_id, created_at)
        select entry_id, wallet_id, case when delta > 0 then 'debit' else 'credit' end, abs(delta), balance_after,
               session_id, null, ${now}
        from entries
        order by wallet_id, session_id -- seq follows the running balance
      ),
      session_updates as (
        update sessions s set
          meter_last = l.meter_last, billed_until = l.billed_until, cost = l.cost, debited = s.debited + l.delta,
          power_w = coalesce(l.power_w, s.power_w), updated_at = ${now},
          status = case when l.wallet_id = any(ws.at_zero) and s.status = 'active' then 'stopping' else s.status end,
          termination = case when l.wallet_id = any(ws.at_zero) and s.status = 'active'
                             then coalesce(s.termination, 'insufficient_balance') else s.termination end,
          stop_requested_at = case when l.wallet_id = any(ws.at_zero) and s.status = 'active' then ${now} else s.stop_requested_at end
        from locked l cross join wallet_state ws
        where s.id = l.id
        returning s.id, s.status = 'stopping' and l.old_status = 'active' as stop,
                  coalesce(l.wallet_id = any(ws.at_zero), false) as wallet_at_zero, null::bigint as balance_after
      )
      select id, stop, wallet_at_zero, balance_after from session_updates
      union all
      select session_id, null, null, balance_after from entries`;
    const { rows } = await statement.execute(this.deps.db);

    // Rows with `stop` set are the updated sessions; the others carry a ledger entry's balance.
    const balances = new Map<string, number>();
    for (const r of rows) if (r.stop === null && r.balance_after !== null) balances.set(r.id, Number(r.balance_after));
    const applied = new Set<string>();
    for (const r of rows) {
      if (r.stop === null) continue;
      applied.add(r.id);
      const { s, plan, items: list, backwards: below } = plans.get(r.id)!;
      // Only for a session written now: one that changed is judged again, from its fresh row.
      for (const wh of below) backwards.push({ session: s, wh });
      const balanceAfter = balances.get(r.id);
      result.outcome.set(r.id, {
        sessionId: r.id,
        charged: s.wallet_id ? plan.delta : 0,
        ...(balanceAfter !== undefined ? { balanceAfter } : {}),
      });
      if (r.wallet_at_zero && s.wallet_id) result.walletsAtZero.add(s.wallet_id);
      this.remember({
        ...s,
        meter_last: plan.meterLast,
        billed_until: plan.until,
        cost: plan.cost,
        debited: s.debited + (s.wallet_id ? plan.delta : 0),
        status: r.stop ? 'stopping' : s.status,
      });
      if (this.deps.events?.watched) this.deps.events.publish(sessionBilled(s, plan, balanceAfter, list));
      if (r.stop) {
        result.stopNow.push({ sessionId: r.id, transactionId: s.transaction_id, identity: list[0]!.sub.station.identity, stationId: s.station_id });
      }
    }
    for (const id of plans.keys()) if (!applied.has(id)) result.conflicted.add(id);
    return result;
  }

  private remember(row: BillingRow): void {
    this.rows.delete(row.transaction_id);
    if (row.status === 'completed') return;
    this.rows.set(row.transaction_id, row);
    if (this.rows.size > MAX_CACHED_SESSIONS) this.rows.delete(this.rows.keys().next().value!);
  }

  /** Finds each item's session: by transactionId (cached or read), or the open session on its connector. */
  private async findSessions(batch: Item[]): Promise<void> {
    const { db } = this.deps;
    const byTx = batch.filter((i) => i.sub.transactionId !== undefined && i.sub.transactionId !== -1);
    const misses = new Set<number>();
    for (const i of byTx) {
      const cached = this.rows.get(i.sub.transactionId!);
      if (cached) {
        if (cached.station_id === i.sub.station.stationId) i.session = cached;
      } else misses.add(i.sub.transactionId!);
    }
    if (misses.size) {
      const rows = await db
        .selectFrom('sessions')
        .select(BILLING_COLUMNS)
        .where('transaction_id', 'in', [...misses])
        .execute();
      const map = new Map(rows.map((r) => [r.transaction_id, r]));
      for (const i of byTx) {
        if (!misses.has(i.sub.transactionId!)) continue;
        const s = map.get(i.sub.transactionId!);
        if (s && s.station_id === i.sub.station.stationId) i.session = s;
      }
      for (const r of rows) this.remember(r);
    }
    const byConnector = batch.filter((i) => i.sub.transactionId === undefined || i.sub.transactionId === -1);
    if (byConnector.length) {
      const stations = [...new Set(byConnector.map((i) => i.sub.station.stationId))];
      const rows = await db
        .selectFrom('sessions')
        .select(BILLING_COLUMNS)
        .where('station_id', 'in', stations)
        .where('status', 'in', OPEN as never)
        .orderBy('start_timestamp', 'desc')
        .execute();
      for (const i of byConnector) {
        const s = rows.find((r) => r.station_id === i.sub.station.stationId && r.connector_id === i.sub.connectorId);
        if (s) i.session = s;
      }
    }
  }

  private async alerts(batch: Item[], backwards: { session: BillingRow; wh: number }[], now: Date): Promise<void> {
    try {
      for (const b of backwards) {
        this.deps.log.warn(
          { transactionId: b.session.transaction_id, reported: b.wh, highest: b.session.meter_last },
          'meter went backwards: nothing billed for energy',
        );
        await recordAlert(
          this.deps.db,
          {
            kind: 'meter_backwards',
            stationId: b.session.station_id,
            sessionId: b.session.id,
            transactionId: b.session.transaction_id,
            message: `register ${b.wh} Wh is below the ${b.session.meter_last} Wh already billed`,
            details: { reported_wh: b.wh },
          },
          now,
        );
        this.deps.events?.publish(alertRaised({ stationId: b.session.station_id, sessionId: b.session.id, kind: 'meter_backwards' }));
      }
      for (const i of batch) {
        if (i.session || i.wh === undefined) continue;
        await recordAlert(
          this.deps.db,
          {
            kind: 'meter_values_without_session',
            stationId: i.sub.station.stationId,
            transactionId: i.sub.transactionId,
            message: `meter values for connector ${i.sub.connectorId} with no open session`,
            details: { connectorId: i.sub.connectorId, transactionId: i.sub.transactionId ?? null, wh: i.wh },
          },
          now,
        );
        this.deps.events?.publish(alertRaised({ stationId: i.sub.station.stationId, kind: 'meter_values_without_session' }));
      }
    } catch (err) {
      this.deps.log.error({ err }, 'could not record meter alerts');
    }
  }
}
