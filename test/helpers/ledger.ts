import { expect } from 'vitest';
import type { Db } from '../../src/db/index.ts';

/** Every wallet's balance equals the sum of its entries, and each entry's balance_after chains. */
export async function assertLedgerConsistent(db: Db, walletIds: string[]) {
  for (const id of walletIds) {
    const wallet = await db.selectFrom('wallets').select('balance').where('id', '=', id).executeTakeFirstOrThrow();
    const entries = await db.selectFrom('ledger_entries').selectAll().where('wallet_id', '=', id).orderBy('seq').execute();
    let running = 0;
    for (const e of entries) {
      running += e.type === 'credit' ? e.amount : -e.amount;
      expect(e.balance_after, `wallet ${id} entry ${e.seq}`).toBe(running);
    }
    expect(wallet.balance, `wallet ${id}`).toBe(running);
  }
}

