import type { Db } from '../../db/index.ts';
import type { User, Wallet } from '../../db/tables/wallets.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { getUser } from '../users/users.ts';
import { ValidationError } from '../../shared/errors.ts';
import { emitEvent } from '../events/outbox.ts';

/**
 * The user's wallet, created on first call with the organization's currency and test mode.
 * Concurrent first calls create one wallet: the insert yields to the UNIQUE(user_id) winner.
 */
export async function getOrCreateWallet(db: Db, clock: Clock, userId: string): Promise<{ user: User; wallet: Wallet }> {
  const user = await getUser(db, userId);
  const existing = await db.selectFrom('wallets').selectAll().where('user_id', '=', userId).executeTakeFirst();
  if (existing) return { user, wallet: existing };
  const org = await db
    .selectFrom('organizations')
    .select(['currency', 'test_mode'])
    .where('id', '=', user.organization_id)
    .executeTakeFirstOrThrow();
  const now = clock.now();
  await db
    .insertInto('wallets')
    .values({
      id: newId(now),
      user_id: userId,
      test_mode: org.test_mode,
      currency: org.currency,
      auto_top_up_payment_method: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('user_id').doNothing())
    .execute();
  const wallet = await db.selectFrom('wallets').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
  return { user, wallet };
}

export interface AutoTopUpInput {
  active?: boolean | undefined;
  /** the payment service's reference to the card (the gateway holds no card data) */
  payment_method?: string | null | undefined;
  /** cents to ask for */
  amount?: number | undefined;
  /** cents; below this a debit asks for a top-up; null = the organization's minimum */
  threshold?: number | null | undefined;
}

/**
 * PATCH /v1/users/:id/wallet: the wallet's auto top-up settings, merged with what it had. An
 * active auto top-up needs a payment method and an amount. A wallet that is already below its
 * threshold when its auto top-up is switched on asks at once (no debit will cross the line for
 * it); otherwise the posting that takes it below asks (ledger.ts).
 */
export async function updateAutoTopUp(db: Db, clock: Clock, userId: string, input: AutoTopUpInput): Promise<{ user: User; wallet: Wallet }> {
  const { user, wallet: existing } = await getOrCreateWallet(db, clock, userId);
  const now = clock.now();
  const wallet = await db.transaction().execute(async (tx) => {
    const before = await tx.selectFrom('wallets').selectAll().where('id', '=', existing.id).forNoKeyUpdate().executeTakeFirstOrThrow();
    const next = {
      auto_top_up_active: input.active ?? before.auto_top_up_active,
      auto_top_up_payment_method: input.payment_method !== undefined ? input.payment_method : before.auto_top_up_payment_method,
      auto_top_up_amount: input.amount ?? before.auto_top_up_amount,
      auto_top_up_threshold: input.threshold !== undefined ? input.threshold : before.auto_top_up_threshold,
    };
    if (next.auto_top_up_active && (!next.auto_top_up_payment_method || next.auto_top_up_amount <= 0)) {
      throw new ValidationError('an active auto top-up needs a payment_method and an amount of at least 1 cent');
    }
    const after = await tx
      .updateTable('wallets')
      .set({ ...next, updated_at: now })
      .where('id', '=', before.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (after.auto_top_up_active && !before.auto_top_up_active) {
      const org = await tx
        .selectFrom('organizations')
        .select('minimum_balance_to_start_session as minimum')
        .where('id', '=', user.organization_id)
        .executeTakeFirstOrThrow();
      const threshold = after.auto_top_up_threshold ?? org.minimum;
      if (after.balance < threshold) {
        const requestId = newId(now);
        await emitEvent(
          tx,
          {
            type: 'wallet.auto_top_up_requested',
            orderingKey: `wallet:${after.id}`,
            organizationId: user.organization_id,
            data: {
              wallet: after.id,
              user: user.id,
              balance: after.balance,
              currency: after.currency,
              amount: after.auto_top_up_amount,
              payment_method: after.auto_top_up_payment_method,
              threshold,
              request_id: requestId,
            },
          },
          now,
        );
      }
    }
    return after;
  });
  return { user, wallet };
}
