import type { AdminApi } from './admin.ts';
import { withClient } from './pg.ts';
import type { BenchStation } from './station.ts';
import { pMap } from './util.ts';

/** Cost of `wh` at an ENERGY-only rate of whole cents per kWh: rounded half up to the cent, once. */
export function energyCost(priceCentsPerKwh: number, wh: number): number {
  const num = BigInt(priceCentsPerKwh) * BigInt(Math.max(0, wh));
  return Number((num * 2n + 1000n) / 2000n);
}

/** A session the bench ran, and the wallet that paid for it. */
export interface Billed {
  station: BenchStation;
  userId: string;
  walletId: string;
  /** what the wallet held before any session of this run */
  initialBalance: number;
}

export interface LedgerCheck {
  ok: boolean;
  sessions: number;
  wallets: number;
  /** ledger entries looked at */
  entries: number;
  problems: string[];
}

/**
 * Every answered MeterValues billed exactly once, and the ledger consistent:
 * - each session's `cost.debited` (GET /v1/sessions/:id) equals the cost of the registers sent
 *   (a range when some MeterValues went unanswered: the gateway may or may not have billed them);
 * - each wallet's balance (API) = its initial balance − the debits of its sessions;
 * - every wallet's balance = the sum of its ledger entries, and each entry's balance_after is the
 *   running sum (in PostgreSQL directly when `pgUrl` is given, else through the API).
 */
export async function checkLedger(o: {
  api: AdminApi;
  priceCentsPerKwh: number;
  billed: readonly Billed[];
  pgUrl?: string | undefined;
}): Promise<LedgerCheck> {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
    else if (problems.length === 20) problems.push('… more');
  };
  const byTx = new Map<number, string>();
  for (const s of await o.api.all<{ _id: string; transaction_id: number }>('/v1/sessions')) byTx.set(s.transaction_id, s._id);

  const debitedByWallet = new Map<string, number>();
  const running = o.billed.filter((b) => b.station.transactionId !== undefined);
  await pMap(running, 16, async (b) => {
    const st = b.station;
    const id = byTx.get(st.transactionId!);
    if (!id) return note(`${st.identity}: no session for transaction ${st.transactionId}`);
    const session = await o.api.get(`/v1/sessions/${id}`);
    const debited: number = session.cost.debited;
    // A settled session is billed to its meterStop (MeterValues after the stop bill nothing).
    const settled = st.stopAnswered && st.meterStop !== undefined;
    const low = energyCost(o.priceCentsPerKwh, (settled ? st.meterStop! : st.answeredRegister) - st.meterStart);
    const high = energyCost(o.priceCentsPerKwh, (settled ? st.meterStop! : st.register) - st.meterStart);
    if (debited < low || debited > high) {
      const expected = low === high ? `${low}` : `${low}..${high}`;
      const registers = `registers ${st.meterStart}→${st.answeredRegister} answered, ${st.register} sent, meterStop ${st.meterStop ?? '-'}`;
      note(`${st.identity} tx ${st.transactionId}: debited ${debited}, expected ${expected} (${registers})`);
    }
    if (session.wallet !== b.walletId) note(`${st.identity}: session paid by ${session.wallet}, expected ${b.walletId}`);
    debitedByWallet.set(b.walletId, (debitedByWallet.get(b.walletId) ?? 0) + debited);
  });

  const wallets = new Map<string, Billed>();
  for (const b of o.billed) wallets.set(b.walletId, b);
  await pMap([...wallets.values()], 16, async (b) => {
    const balance: number = (await o.api.get(`/v1/users/${b.userId}/wallet`)).wallet.balance;
    const expected = b.initialBalance - (debitedByWallet.get(b.walletId) ?? 0);
    if (balance !== expected) note(`wallet ${b.walletId}: balance ${balance}, expected ${expected}`);
  });

  const entries = o.pgUrl
    ? await sqlLedgerChecks(o.pgUrl, note)
    : await apiLedgerChecks(o.api, [...wallets.values()], note);
  return { ok: problems.length === 0, sessions: running.length, wallets: wallets.size, entries, problems };
}

/** Whole-database checks in PostgreSQL: balances = sums, running balances, sessions = their entries. */
async function sqlLedgerChecks(url: string, note: (p: string) => void): Promise<number> {
  return withClient(url, async (c) => {
    const mismatched = await c.query(`
      select w.id, w.balance, l.s from wallets w
      left join (select wallet_id, sum(case when type = 'credit' then amount else -amount end) s
                 from ledger_entries group by wallet_id) l on l.wallet_id = w.id
      where w.balance <> coalesce(l.s, 0)`);
    for (const r of mismatched.rows) note(`wallet ${r.id}: balance ${r.balance} ≠ sum of entries ${r.s}`);
    const chain = await c.query(`
      select count(*)::int n from (
        select balance_after, sum(case when type = 'credit' then amount else -amount end)
          over (partition by wallet_id order by seq) s from ledger_entries) x
      where x.s <> x.balance_after`);
    if (chain.rows[0].n > 0) note(`${chain.rows[0].n} ledger entries whose balance_after is not the running sum`);
    const sessions = await c.query(`
      select s.id, s.debited, l.d from sessions s
      left join (select session_id, sum(case when type = 'debit' then amount else -amount end) d
                 from ledger_entries where session_id is not null group by session_id) l on l.session_id = s.id
      where s.debited <> coalesce(l.d, 0)`);
    for (const r of sessions.rows) note(`session ${r.id}: debited ${r.debited} ≠ its ledger entries ${r.d}`);
    return Number((await c.query('select count(*) n from ledger_entries')).rows[0].n);
  });
}

/** The same checks through the API, wallet by wallet (for the embedded database). */
async function apiLedgerChecks(api: AdminApi, wallets: readonly Billed[], note: (p: string) => void): Promise<number> {
  let count = 0;
  await pMap(wallets, 8, async (b) => {
    const entries = await api.all<{ type: string; amount: number; balance_after: number }>(
      `/v1/users/${b.userId}/wallet/transactions`,
    );
    const balance: number = (await api.get(`/v1/users/${b.userId}/wallet`)).wallet.balance;
    let sum = 0;
    let broken = 0;
    for (const e of entries) {
      sum += e.type === 'credit' ? e.amount : -e.amount;
      if (sum !== e.balance_after) broken++;
    }
    count += entries.length;
    if (sum !== balance) note(`wallet ${b.walletId}: balance ${balance} ≠ sum of entries ${sum}`);
    if (broken) note(`wallet ${b.walletId}: ${broken} entries whose balance_after is not the running sum`);
  });
  return count;
}
