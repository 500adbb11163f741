import type { Tx } from '../../db/index.ts';
import type { Session } from '../../db/tables/sessions.ts';
import { computeCost } from '../billing/cost.ts';
import { applyEntry } from '../wallets/ledger.ts';

export interface BillingInput {
  /** a cumulative register reading (Wh), if this event carries one */
  registerWh?: number | undefined;
  /** the time the cost runs to (reading time, sweep time, or the stop time at settlement) */
  at: Date;
  /** settlement: step sizes apply, and a cost lower than what was debited is refunded */
  settle?: boolean;
  powerW?: number | undefined;
}

export interface BillingResult {
  /** cents moved: positive = debited, negative = refunded */
  charged: number;
  /** the wallet balance after this event's entry, when one was written */
  balanceAfter?: number;
  /** the register went below the highest one seen: billed nothing for energy */
  meterWentBackwards: boolean;
  cost: number;
  energyWh: number;
}

/** Energy delivered so far by the highest register seen. */
export function energyOf(s: Pick<Session, 'meter_start' | 'meter_last'>): number {
  return Math.max(0, s.meter_last - s.meter_start);
}

export function durationS(start: Date, end: Date): number {
  return Math.max(0, Math.floor((end.getTime() - start.getTime()) / 1000));
}

export interface BillingPlan {
  meterLast: number;
  until: Date;
  cost: number;
  /** cents to move now: positive = debit, negative = refund (settlement only), 0 = nothing */
  delta: number;
  meterWentBackwards: boolean;
  energyWh: number;
}

/**
 * Pure: what a billing event does to a session. The cost is recomputed from the highest
 * register and the latest time seen, so the order of readings does not matter and a reading
 * seen twice changes nothing; the debit is the difference to what was already debited.
 */
export function planBilling(
  s: Pick<Session, 'meter_start' | 'meter_last' | 'billed_until' | 'start_timestamp' | 'cost' | 'debited' | 'rate_snapshot' | 'wallet_id'>,
  input: { registersWh: readonly number[]; at: Date; settle?: boolean },
): BillingPlan {
  let meterLast = s.meter_last;
  let meterWentBackwards = false;
  for (const wh of input.registersWh) {
    if (wh < meterLast) meterWentBackwards = true;
    else meterLast = wh;
  }
  const until =
    input.settle || input.at.getTime() > s.billed_until.getTime() ? input.at : s.billed_until;
  const energyWh = Math.max(0, meterLast - s.meter_start);
  if (!s.rate_snapshot || !s.wallet_id) {
    return { meterLast, until, cost: s.cost, delta: 0, meterWentBackwards, energyWh };
  }
  const cost = computeCost(s.rate_snapshot.price_components, {
    energyWh,
    durationS: durationS(s.start_timestamp, until),
    settle: input.settle === true,
  }).amount;
  const raw = cost - s.debited;
  const delta = raw > 0 || (input.settle && raw < 0) ? raw : 0;
  return { meterLast, until, cost, delta, meterWentBackwards, energyWh };
}

/**
 * Applies one billing event to a locked session (SELECT … FOR UPDATE by the caller's
 * transaction) and its wallet, which is locked after it — always sessions before wallets, so
 * concurrent transactions cannot deadlock.
 */
export async function billLocked(tx: Tx, s: Session, input: BillingInput): Promise<BillingResult> {
  const plan = planBilling(s, {
    registersWh: input.registerWh === undefined ? [] : [input.registerWh],
    at: input.at,
    ...(input.settle ? { settle: true } : {}),
  });
  let balanceAfter: number | undefined;
  if (plan.delta !== 0 && s.wallet_id) {
    const applied = await applyEntry(
      tx,
      s.wallet_id,
      plan.delta > 0 ? 'debit' : 'credit',
      Math.abs(plan.delta),
      { sessionId: s.id },
      input.at,
    );
    balanceAfter = applied.balanceAfter;
  }
  await tx
    .updateTable('sessions')
    .set({
      meter_last: plan.meterLast,
      billed_until: plan.until,
      cost: plan.cost,
      debited: s.debited + plan.delta,
      ...(input.powerW !== undefined ? { power_w: input.powerW } : {}),
      updated_at: input.at,
    })
    .where('id', '=', s.id)
    .execute();
  return {
    charged: plan.delta,
    balanceAfter,
    meterWentBackwards: plan.meterWentBackwards,
    cost: plan.cost,
    energyWh: plan.energyWh,
  };
}

export async function lockSession(tx: Tx, id: string): Promise<Session> {
  return tx.selectFrom('sessions').selectAll().where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
}
