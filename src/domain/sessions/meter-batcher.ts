import { retryOnDeadlock } from '../../db/errors.ts';
import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { GatewayMetrics } from '../../shared/metrics.ts';
import type { Clock } from '../../shared/clock.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import type { LiveEvents } from '../../shared/events.ts';
import { alertRaised, sessionBilled } from '../live.ts';
import { extractReadings, latestEnergy, type MeterValue } from '../billing/meter-values.ts';
import { implausibleAlert, recordAlerts, sessionAlert, type NewAlert } from './alerts.ts';
import { billAndMark, isOpen, planBilling, type BilledAndMarked, type BillingRow, type BillingWrite } from './billing.ts';
import { BillingRowCache, billingRowsByTransaction, openBillingRowsOnStations } from './session-rows.ts';
import { clockShiftMs, isSettled, onGatewayClock } from './endings.ts';
import type { StopRelay, StopTarget } from './stop-marks.ts';
import type { WalletMove } from '../wallets/ledger.ts';
import type { StationRef } from './transactions.ts';

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

export interface BatchResult {
  /**
   * Wallets to mark again now (RemoteStopper.stopWallets): those a debit in this batch left at or
   * below zero with a running session the batch could not mark (another writer held it), and
   * those it took from above zero to zero (a session started meanwhile is not in its snapshot).
   */
  walletsToMark: string[];
  /**
   * Sessions this node stops now, with no further query: those of the wallets at zero that the
   * debit's own statement marked `stopping` (this batch's and the wallets' others, unless another
   * node holds their station: that node was told at the commit, StopRelay), and those held for an
   * implausible reading or billed after their end.
   */
  stopNow: StopTarget[];
  /** wallets the batch's debits moved (before, after): for watchers of balance crossings */
  moved: WalletMove[];
}

/** A MeterValues as billing sees it: its highest-timestamped register, time and power. */
interface Reading {
  sub: MeterSubmission;
  wh: number | undefined;
  at: Date | undefined;
  powerW: number | undefined;
  /** the register's own stamp, unclamped (the prediction measures power by it), and when it arrived */
  stationMs: number | undefined;
  receivedMs: number;
}

/** A session a batch billed, as written, with its readings: what the predictive stop follows. */
export interface MeterObservation {
  row: BillingRow;
  identity: string;
  /** the wallet's balance after this session's debit, when the batch debited it */
  balanceAfter: number | undefined;
  readings: { wh: number | undefined; stationMs: number | undefined; receivedMs: number; powerW: number | undefined }[];
}

/** Told, after each commit, what was billed (an in-memory update: it must not block), and what ended. */
export interface MeterObserver {
  observe(observations: MeterObservation[]): void;
  forget(transactionId: number): void;
}

/** Attempts at a reading whose session other transactions keep changing under it. */
const MAX_ATTEMPTS = 5;
/** Billing rows kept in memory: about one per running session on this node. */
const MAX_CACHED_SESSIONS = 50_000;

/**
 * Bills MeterValues by group commit: readings that arrive in one turn of the event loop, or while
 * a batch is being written, are billed together by the next one, in one statement (see write),
 * and each station's MeterValues is answered when the statement or transaction holding its debit
 * has committed.
 * Billing a batch is billing each message alone: cost depends only on the highest register and
 * the latest time, so several readings of a session make one debit of the same total. If a
 * batch fails, its readings are billed again one by one, so one bad reading fails only itself.
 */
export class MeterBatcher {
  private readonly commits: GroupCommit<Reading, MeterOutcome>;
  private readonly rows = new BillingRowCache(MAX_CACHED_SESSIONS);
  /** the last alert write queued: each waits for the one before (recordAlerts never rejects) */
  private alertTail: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      db: Db;
      /** where batches are read and written (a connection of their own on PostgreSQL); default db */
      billingDb?: Db | undefined;
      clock: Clock;
      log: Logger;
      events?: LiveEvents | undefined;
      observer?: MeterObserver | undefined;
      stopRelay?: StopRelay | undefined;
      metrics?: Pick<GatewayMetrics, 'meterBatch'> | undefined;
    },
    /** after a batch's commit, before its stations are answered: stop what must stop */
    private readonly onCommitted: (result: BatchResult) => void,
    options: { maxBatch: number; concurrency: number } = { maxBatch: 400, concurrency: 1 },
  ) {
    this.commits = new GroupCommit((batch) => this.bill(batch), {
      ...options,
      isolateFailures: (err) => {
        deps.log.warn({ err }, 'meter batch failed; billing its readings one by one');
        return true;
      },
    });
  }

  submit(sub: MeterSubmission): Promise<MeterOutcome> {
    const readings = extractReadings(sub.meterValue);
    const energy = latestEnergy(readings);
    const power = readings.powerW.at(-1);
    const now = this.deps.clock.now();
    return this.commits.submit({
      sub,
      wh: energy?.wh,
      // A station clock running ahead does not bill time that has not passed.
      at: energy ? (energy.timestamp.getTime() > now.getTime() ? now : energy.timestamp) : undefined,
      powerW: power ? Math.round(power.w) : undefined,
      stationMs: energy?.timestamp.getTime(),
      receivedMs: now.getTime(),
    });
  }

  /** Where batches are read and written. */
  private get billingDb(): Db {
    return this.deps.billingDb ?? this.deps.db;
  }

  /** How many sessions' billing rows are remembered. */
  get remembered(): number {
    return this.rows.size;
  }

  /** Drops what this batcher remembers of a session (it ended; a late reading reads it again). */
  forget(transactionId: number): void {
    this.rows.delete(transactionId);
    this.deps.observer?.forget(transactionId);
  }

  /**
   * Another writer marked the session `stopping` (the predictive stop): remember it, so its next
   * reading's compare-and-set does not miss and cost the batch another round. A wrong guess only
   * costs that round: the compare-and-set still decides.
   */
  noteStopping(transactionId: number): void {
    const row = this.rows.get(transactionId);
    if (row && row.status === 'active') this.rows.set({ ...row, status: 'stopping' });
  }

  /** Waits until everything submitted so far has been written (graceful stop). */
  async drain(): Promise<void> {
    await this.commits.drain();
    await this.alertTail;
  }

  private async bill(batch: Reading[]): Promise<MeterOutcome[]> {
    const started = performance.now();
    try {
      const outcomes = await this.billOnce(batch);
      this.deps.metrics?.meterBatch(batch.length, (performance.now() - started) / 1000);
      return outcomes;
    } catch (err) {
      // Whether the write took effect is unknown: read these sessions again next time.
      for (const r of batch) if (r.sub.transactionId !== undefined) this.rows.delete(r.sub.transactionId);
      throw err;
    }
  }

  private async billOnce(batch: Reading[]): Promise<MeterOutcome[]> {
    const { clock } = this.deps;
    const db = this.billingDb;
    const now = clock.now();
    const sessionOf = new Map<Reading, BillingRow>();
    const outcome = new Map<string, MeterOutcome>();
    const alerts: NewAlert[] = [];
    const walletsToMark = new Set<string>();
    const stopNow: StopTarget[] = [];
    const observed = this.deps.observer ? new Map<string, MeterObservation>() : undefined;
    const moved: WalletMove[] = [];

    // Rows come from memory or an unlocked read; billAndMark writes a session only if it still
    // holds them. One someone else changed meanwhile is read and planned again.
    const dispatch = () => {
      if (walletsToMark.size || stopNow.length || moved.length) this.onCommitted({ walletsToMark: [...walletsToMark], stopNow, moved });
    };
    let pending = batch;
    try {
      for (let attempt = 1; pending.length; attempt++) {
        if (attempt > MAX_ATTEMPTS) throw new Error(`sessions kept changing while being billed (${pending.length} readings)`);
        await this.findSessions(pending, sessionOf);
        const plans = planBatch(pending, sessionOf);
        const writes = plans.map((p) => p.write);
        const { applied, stops, handed, unmarked } = await retryOnDeadlock(() => this.write(db, writes, now));
        for (const w of unmarked) walletsToMark.add(w);
        moved.push(...applied.moved);
        stopNow.push(...stops);
        const stopping = new Set([...stops, ...handed].map((t) => t.sessionId));
        // Sessions of these wallets outside this batch were marked too: their next reading is planned from that.
        for (const t of stops) this.noteStopping(t.transactionId);

        const held = new Set(applied.held);
        for (const { write, backwardsWh, identity } of plans) {
          const { row, plan } = write;
          if (!applied.applied.has(row.id)) continue;
          if (held.has(row.id)) {
            stopNow.push({ sessionId: row.id, transactionId: row.transaction_id, identity, stationId: row.station_id, reason: 'implausible_reading' });
            alerts.push(implausibleAlert(row, plan.implausible!));
          }
          const balanceAfter = applied.balanceAfter.get(row.id);
          outcome.set(row.id, { sessionId: row.id, charged: plan.delta, ...(balanceAfter !== undefined ? { balanceAfter } : {}) });
          const after: BillingRow = {
            ...row,
            meter_last: plan.meterLast,
            billed_until: plan.until,
            cost: plan.cost,
            debited: row.debited + plan.delta,
            status: held.has(row.id) ? 'held' : stopping.has(row.id) ? 'stopping' : row.status,
            last_reading_at: write.readingAt && (!row.last_reading_at || write.readingAt > row.last_reading_at) ? write.readingAt : row.last_reading_at,
          };
          this.rows.set(after);
          observed?.set(row.id, { row: after, identity, balanceAfter, readings: [] });
          for (const wh of backwardsWh) alerts.push(backwardsAlert(row, wh));
          if (this.deps.events?.watched) this.deps.events.publish(sessionBilled(row, plan, balanceAfter, [write]));
        }
        const planned = new Set(writes.map((w) => w.row.id));
        pending = pending.filter((r) => {
          const row = sessionOf.get(r);
          if (!row || applied.applied.has(row.id) || !planned.has(row.id)) return false;
          this.rows.delete(row.transaction_id);
          sessionOf.delete(r);
          return true;
        });
      }
    } catch (err) {
      // The attempts before this one committed: their stops must go out all the same (the
      // readings are billed again one by one, and find those sessions already marked).
      dispatch();
      throw err;
    }

    // Energy on a transaction that has ended is never free and never billed: alert and stop it.
    for (const [row, r] of energyAfterEnd(batch, sessionOf)) {
      alerts.push(afterEndAlert(row, r));
      stopNow.push({ sessionId: row.id, transactionId: row.transaction_id, identity: r.sub.station.identity, stationId: row.station_id, reason: 'energy_after_end' });
    }
    dispatch();
    if (observed?.size) {
      for (const r of batch) {
        const seen = observed.get(sessionOf.get(r)?.id ?? '');
        if (seen && r.wh !== undefined) seen.readings.push({ wh: r.wh, stationMs: r.stationMs, receivedMs: r.receivedMs, powerW: r.powerW });
      }
      try {
        this.deps.observer!.observe([...observed.values()]);
      } catch (err) {
        this.deps.log.error({ err }, 'the meter observer failed (billing is not affected)');
      }
    }
    // Readings without a transactionId and no session on their connector are clock-aligned (or
    // idle-connector) samples, normal on every station: nothing to bill, nothing to report.
    for (const r of batch) {
      if (!sessionOf.has(r) && r.wh !== undefined && hasTransactionId(r.sub)) alerts.push(noSessionAlert(r));
    }
    // After the answers: alerts bill nothing, so no station waits for them.
    // One after another: a repeat folds into the open alert (count, last transaction, last seen),
    // and two batches' writes racing on the pool could leave the earlier one's details on top.
    if (alerts.length) {
      this.alertTail = this.alertTail.then(() => this.recordAlerts(alerts, now));
    }
    return batch.map((r) => {
      const id = sessionOf.get(r)?.id;
      return (id && outcome.get(id)) || { ...(id ? { sessionId: id } : {}), charged: 0 };
    });
  }

  /**
   * Writes a batch's plans in one statement committed on its own (billAndMark). A wallet it
   * leaves at or below zero has its running sessions, on this node and any other, marked
   * `stopping` by the same statement, and those on other nodes handed to the nodes holding them:
   * a crash after the commit still leaves every stop owed, and a station that answers its stop at
   * once finds its session already marked. A session another writer holds locked is skipped, not
   * waited for (the statement holds the wallet, which that writer may be waiting for) and not
   * handed over: a batch billing it finds the wallet at zero and marks and stops it itself, and
   * RemoteStopper.stopWallets marks and stops after the commit whatever is still running
   * (`unmarked`).
   */
  private async write(db: Db, writes: BillingWrite[], now: Date): Promise<BilledAndMarked> {
    return billAndMark(db, writes, now, this.deps.stopRelay);
  }

  /** Finds each reading's session: by transactionId (remembered or read), or the open session on its connector. */
  private async findSessions(batch: Reading[], sessionOf: Map<Reading, BillingRow>): Promise<void> {
    const byTx = batch.filter((r) => r.sub.transactionId !== undefined && r.sub.transactionId !== -1);
    const misses = new Set<number>();
    for (const r of byTx) {
      const cached = this.rows.get(r.sub.transactionId!);
      if (!cached) misses.add(r.sub.transactionId!);
      else if (cached.station_id === r.sub.station.stationId) sessionOf.set(r, cached);
    }
    if (misses.size) {
      const rows = await billingRowsByTransaction(this.billingDb, [...misses]);
      const byId = new Map(rows.map((row) => [row.transaction_id, row]));
      for (const r of byTx) {
        if (!misses.has(r.sub.transactionId!)) continue;
        const row = byId.get(r.sub.transactionId!);
        if (row && row.station_id === r.sub.station.stationId) sessionOf.set(r, row);
      }
      for (const row of rows) this.rows.set(row);
    }
    const byConnector = batch.filter((r) => r.sub.transactionId === undefined || r.sub.transactionId === -1);
    if (byConnector.length) {
      const rows = await openBillingRowsOnStations(this.billingDb, [...new Set(byConnector.map((r) => r.sub.station.stationId))]);
      for (const r of byConnector) {
        const row = rows.find((s) => s.station_id === r.sub.station.stationId && s.connector_id === r.sub.connectorId);
        if (row) sessionOf.set(r, row);
      }
    }
  }

  private async recordAlerts(alerts: NewAlert[], now: Date): Promise<void> {
    for (const a of alerts) {
      if (a.kind === 'meter_backwards') {
        this.deps.log.warn(
          { transactionId: a.transactionId, reported: a.details?.reported_wh, highest: a.details?.highest_wh },
          'meter went backwards: nothing billed for energy',
        );
      }
    }
    try {
      await recordAlerts(this.deps.db, alerts, now);
      for (const a of alerts) this.deps.events?.publish(alertRaised(a));
    } catch (err) {
      this.deps.log.error({ err }, 'could not record meter alerts');
    }
  }
}

/**
 * Pure: one billing plan per session of the batch, from all its readings (the highest register,
 * the latest time, the last power), and the registers that went below what was already billed.
 * Sessions that bill nothing more (completed, or refused with no rate) are left out.
 */
function planBatch(
  readings: Reading[],
  sessionOf: Map<Reading, BillingRow>,
): { write: BillingWrite; backwardsWh: number[]; identity: string }[] {
  const bySession = new Map<string, Reading[]>();
  for (const r of readings) {
    const row = sessionOf.get(r);
    if (!row || (r.wh === undefined && r.powerW === undefined)) continue;
    const list = bySession.get(row.id);
    if (list) list.push(r);
    else bySession.set(row.id, [r]);
  }
  const plans: { write: BillingWrite; backwardsWh: number[]; identity: string }[] = [];
  for (const list of bySession.values()) {
    const row = sessionOf.get(list[0]!)!;
    // Settled and held sessions bill nothing more; a refused start is billed if it has a rate. A
    // session its connector's status (or a new transaction) ended is still billed by its own
    // readings: they were queued in the station before its StopTransaction, which settles it.
    const billable = isOpen(row.status) || (row.status === 'rejected' && row.rate_snapshot) || (row.status === 'completed' && !isSettled(row));
    if (!billable || isSettled(row)) continue;
    let latest: number | undefined;
    let powerW: number | undefined;
    const registersWh: number[] = [];
    for (const r of list) {
      if (r.wh !== undefined) registersWh.push(r.wh);
      // On a session whose start the gateway moved (a station clock it could not believe), the
      // reading's stamp is read on the gateway's clock as the start's was (onGatewayClock).
      const atMs = r.at && (clockShiftMs(row) && r.stationMs !== undefined ? onGatewayClock(row, r.stationMs, r.receivedMs).getTime() : r.at.getTime());
      if (atMs !== undefined && (latest === undefined || atMs > latest)) latest = atMs;
      if (r.powerW !== undefined) powerW = r.powerW;
    }
    const readingAt = latest === undefined ? undefined : new Date(latest);
    const plan = planBilling(row, { registersWh, at: readingAt ?? row.billed_until });
    plans.push({ write: { row, plan, powerW, readingAt }, backwardsWh: plan.backwardsWh, identity: list[0]!.sub.station.identity });
  }
  return plans;
}

function backwardsAlert(row: BillingRow, wh: number): NewAlert {
  return sessionAlert(row, 'meter_backwards', `register ${wh} Wh is below the ${row.meter_last} Wh already billed`, {
    reported_wh: wh,
    highest_wh: row.meter_last,
  });
}

/** Per ended session of the batch, the reading with the most energy beyond what was settled. */
function energyAfterEnd(readings: Reading[], sessionOf: Map<Reading, BillingRow>): Map<BillingRow, Reading> {
  const found = new Map<BillingRow, Reading>();
  for (const r of readings) {
    const row = sessionOf.get(r);
    if (!row || !isSettled(row) || r.wh === undefined || r.wh <= row.meter_last) continue;
    const seen = found.get(row);
    if (!seen || r.wh > seen.wh!) found.set(row, r);
  }
  return found;
}

function afterEndAlert(row: BillingRow, r: Reading): NewAlert {
  return sessionAlert(
    row,
    'energy_after_stop',
    `register ${r.wh} Wh reported on transaction ${row.transaction_id} after it ended at ${row.meter_last} Wh: not billed, stop sent`,
    { reported_wh: r.wh, settled_wh: row.meter_last },
  );
}

function hasTransactionId(sub: MeterSubmission): boolean {
  return sub.transactionId !== undefined && sub.transactionId !== -1;
}

function noSessionAlert(r: Reading): NewAlert {
  return {
    kind: 'meter_values_without_session',
    stationId: r.sub.station.stationId,
    transactionId: r.sub.transactionId,
    message: `meter values for transaction ${r.sub.transactionId} on connector ${r.sub.connectorId}, which the gateway does not know`,
    details: { connectorId: r.sub.connectorId, transactionId: r.sub.transactionId ?? null, wh: r.wh },
  };
}
