import { createHash } from 'node:crypto';
import type { Db } from '../../db/index.ts';
import type { TopUp } from '../../db/tables/wallets.ts';
import type { Clock } from '../../shared/clock.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { postEntries } from './ledger.ts';
import { emitEvent } from '../events/outbox.ts';
import { walletToppedUp } from '../events/payloads.ts';

/** The largest single top-up accepted, in cents (1 000 000.00 in the wallet's currency). */
export const MAX_TOP_UP_CENTS = 100_000_000;

export interface ManualTopUpInput {
  /** manual: an operator's credit; auto: the payment service answering wallet.auto_top_up_requested */
  type?: 'manual' | 'auto' | undefined;
  wallet: string;
  amount: number;
  /** what reaches the wallet; defaults to amount */
  wallet_amount?: number | undefined;
}

/**
 * An Idempotency-Key, scoped to the tenant: the organization that owns the wallet. Any API key
 * of that organization, or a global key, retrying a request with the same key gets the same
 * top-up; the same key in another organization is another request.
 */
export interface Idempotency {
  key: string;
}

export interface TopUpResult {
  topUp: TopUp;
  /** false when an Idempotency-Key replay returned the earlier top-up */
  created: boolean;
}

function requestHash(input: ManualTopUpInput): string {
  const canonical = JSON.stringify({
    type: input.type ?? 'manual',
    wallet: input.wallet,
    amount: input.amount,
    wallet_amount: input.wallet_amount ?? input.amount,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

async function findByKey(db: Db, scope: string, key: string): Promise<TopUp | undefined> {
  return db
    .selectFrom('top_ups')
    .selectAll()
    .where('idempotency_scope', '=', scope)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** The idempotency scope of a wallet: its owner's organization. */
async function scopeOf(db: Db, walletId: string): Promise<string> {
  const row = await db
    .selectFrom('wallets as w')
    .innerJoin('users as u', 'u.id', 'w.user_id')
    .select('u.organization_id')
    .where('w.id', '=', walletId)
    .executeTakeFirst();
  if (!row) throw new NotFoundError('wallet', walletId);
  return `organization:${row.organization_id}`;
}

function replay(existing: TopUp, hash: string): TopUpResult {
  if (existing.request_hash !== hash) {
    throw new ConflictError(
      'idempotency_key_reused',
      'this Idempotency-Key was used with a different request body',
      { top_up: existing.id },
    );
  }
  return { topUp: existing, created: false };
}

/**
 * A credit (an operator's, or an auto top-up the payment service made): the top-up and its ledger credit commit together. With an idempotency
 * key, a retry of the same request returns the first top-up and credits nothing more; the
 * same key with another body is a conflict. A wallet in debt simply rises from below zero.
 */
export async function createManualTopUp(
  db: Db,
  clock: Clock,
  input: ManualTopUpInput,
  idem?: Idempotency,
): Promise<TopUpResult> {
  const hash = requestHash(input);
  const scope = idem ? await scopeOf(db, input.wallet) : undefined;
  if (idem && scope) {
    const existing = await findByKey(db, scope, idem.key);
    if (existing) return replay(existing, hash);
  }
  try {
    return await db.transaction().execute(async (tx) => {
      const wallet = await tx
        .selectFrom('wallets')
        .select(['id', 'currency', 'test_mode', 'user_id'])
        .where('id', '=', input.wallet)
        .executeTakeFirst();
      if (!wallet) throw new NotFoundError('wallet', input.wallet);
      const now = clock.now();
      const topUp = await tx
        .insertInto('top_ups')
        .values({
          id: newId(now),
          wallet_id: wallet.id,
          type: input.type ?? 'manual',
          amount: input.amount,
          wallet_amount: input.wallet_amount ?? input.amount,
          currency: wallet.currency,
          status: 'completed',
          test_mode: wallet.test_mode,
          idempotency_scope: scope ?? null,
          idempotency_key: idem?.key ?? null,
          request_hash: hash,
          created_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const posted = await postEntries(tx, [{ walletId: wallet.id, type: 'credit', amount: topUp.wallet_amount, topUpId: topUp.id }], now);
      await emitEvent(tx, walletToppedUp(topUp, posted.entries[0]!.balanceAfter, wallet.user_id), now);
      return { topUp, created: true };
    });
  } catch (err) {
    // Two requests with one key raced: the loser reads the winner's top-up.
    if (idem && scope && isUniqueViolation(err, 'top_ups_idempotency')) {
      const existing = await findByKey(db, scope, idem.key);
      if (existing) return replay(existing, hash);
    }
    throw err;
  }
}

export async function getTopUp(db: Db, id: string): Promise<TopUp> {
  const row = await db.selectFrom('top_ups').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError('top_up', id);
  return row;
}
