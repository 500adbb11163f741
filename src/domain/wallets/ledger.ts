import type { Db, Tx } from '../../db/index.ts';
import type { LedgerEntry } from '../../db/tables/wallets.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeSeqCursor, toPage, type Page } from '../../shared/pagination.ts';

export interface EntryRefs {
  sessionId?: string | undefined;
  topUpId?: string | undefined;
}

export interface AppliedEntry {
  entry: LedgerEntry;
  balanceAfter: number;
}

/**
 * Moves a wallet's balance and appends the ledger entry that says so, inside the caller's
 * transaction. The UPDATE takes the wallet's row lock, so concurrent changes to one wallet
 * queue up and each entry's balance_after is exact. `amount` is positive; `type` gives the
 * direction. A debit may take the balance below zero: energy already delivered is owed.
 */
export async function applyEntry(
  tx: Tx,
  walletId: string,
  type: 'credit' | 'debit',
  amount: number,
  refs: EntryRefs,
  at: Date,
): Promise<AppliedEntry> {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new RangeError(`ledger amount must be a positive whole number of cents, got ${amount}`);
  }
  const delta = type === 'credit' ? amount : -amount;
  const wallet = await tx
    .updateTable('wallets')
    .set((eb) => ({ balance: eb('balance', '+', delta), updated_at: at }))
    .where('id', '=', walletId)
    .returning('balance')
    .executeTakeFirst();
  if (!wallet) throw new NotFoundError('wallet', walletId);
  const entry = await tx
    .insertInto('ledger_entries')
    .values({
      id: newId(at),
      wallet_id: walletId,
      type,
      amount,
      balance_after: wallet.balance,
      session_id: refs.sessionId ?? null,
      top_up_id: refs.topUpId ?? null,
      created_at: at,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { entry, balanceAfter: wallet.balance };
}

/** The wallet's entries, oldest first. */
export async function listEntries(
  db: Db,
  walletId: string,
  q: { limit: number; cursor?: string | undefined; session?: string | undefined },
): Promise<Page<LedgerEntry>> {
  let query = db
    .selectFrom('ledger_entries')
    .selectAll()
    .where('wallet_id', '=', walletId)
    .orderBy('seq')
    .limit(q.limit + 1);
  const after = decodeSeqCursor(q.cursor);
  if (after !== undefined) query = query.where('seq', '>', after);
  if (q.session) query = query.where('session_id', '=', q.session);
  return toPage(await query.execute(), q.limit, (e) => e.seq);
}
