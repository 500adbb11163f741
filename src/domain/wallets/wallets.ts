import type { Db } from '../../db/index.ts';
import type { User, Wallet } from '../../db/tables/wallets.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { getUser } from '../users/users.ts';

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
