import { sql } from 'kysely';
import { preparedStatement, type Db, type Tx } from '../../db/index.ts';
import type { LedgerEntry } from '../../db/tables/wallets.ts';
import { isCheckViolation } from '../../db/errors.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeSeqCursor, toPage, type Page } from '../../shared/pagination.ts';
import { CommitFact, reportOnCommit } from '../../db/after-commit.ts';

/** One balance change: a debit (money leaves the wallet) or a credit, and what it is for. */
export interface Posting {
  walletId: string;
  type: 'credit' | 'debit';
  /** cents, a positive safe integer; `type` gives the direction */
  amount: number;
  sessionId?: string | null | undefined;
  topUpId?: string | null | undefined;
  /** why, when it is not plain billing or a top-up (e.g. an operator's settlement) */
  note?: string | null | undefined;
}

export interface PostedEntry {
  id: string;
  walletId: string;
  balanceAfter: number;
}

export interface PostResult {
  /** one per posting, in the order given */
  entries: PostedEntry[];
  /** wallets these postings debited (net) and left at or below zero: their sessions must stop */
  walletsAtZero: string[];
  /** each wallet's balance before and after these postings: who crossed what is the caller's to see */
  moved: WalletMove[];
}

export interface WalletMove {
  walletId: string;
  before: number;
  after: number;
}

const POST_STATEMENT = preparedStatement('post_entries');

/**
 * The debit entries a committed transaction wrote (how many, how many cents in all). Reported
 * by the two statements that write the ledger (postEntries and applyBilling, both through
 * postingSteps), so every debit is seen (billing, start fees, settlement, the TIME sweep,
 * whatever comes next) and a rolled-back one never is.
 */
export const LEDGER_DEBITED = new CommitFact<{ entries: number; cents: number }>('ledger.debited');

/**
 * The wallet events a net debit causes when it crosses a line, written to the outbox by the
 * posting statement itself (same transaction, no extra round trip, nothing written when no
 * line is crossed): `wallet.balance_low` (from at or above the organization's minimum to below
 * it), `wallet.depleted` (from above zero to zero or below), `wallet.auto_top_up_requested`
 * (an auto top-up wallet from at or above its threshold to below it; its request id is the
 * event id). A crossing happens once per fall: a wallet must climb back over the line first.
 */
const CROSSING_EVENTS = (at: Date) => sql`
    crossed as (
      select m.id, m.before, m.after, m.user_id, m.currency, u.organization_id as org,
        o.minimum_balance_to_start_session as minimum,
        coalesce(m.auto_top_up_threshold, o.minimum_balance_to_start_session) as threshold,
        m.auto_top_up_active, m.auto_top_up_amount, m.auto_top_up_payment_method
      from moved m
      cross join lateral (select u.organization_id from users u where u.id = m.user_id offset 0) u
      join organizations o on o.id = u.organization_id
      where m.total < 0
    ),
    crossings as (
      select c.*, t.ord, t.type,
        lpad(to_hex(floor(extract(epoch from ${at}::timestamptz))::bigint), 8, '0')
          || substr(md5(random()::text || c.id || t.type), 1, 16) as event_id
      from crossed c cross join lateral (values
        (1, 'wallet.balance_low', c.before >= c.minimum and c.after < c.minimum),
        (2, 'wallet.depleted', c.before > 0 and c.after <= 0),
        (3, 'wallet.auto_top_up_requested', c.auto_top_up_active and c.auto_top_up_amount > 0
          and c.before >= c.threshold and c.after < c.threshold)
      ) as t(ord, type, hit)
      where t.hit
    ),
    crossing_events as (
      insert into outbox_events (id, type, ordering_key, organizations, data, created_at)
      select x.event_id, x.type, 'wallet:' || x.id, array[x.org],
        jsonb_build_object('wallet', x.id, 'user', x.user_id, 'balance', x.after, 'currency', x.currency)
          || case x.type
            when 'wallet.balance_low' then jsonb_build_object('minimum_balance_to_start_session', x.minimum)
            when 'wallet.auto_top_up_requested' then jsonb_build_object('amount', x.auto_top_up_amount,
              'payment_method', x.auto_top_up_payment_method, 'threshold', x.threshold, 'request_id', x.event_id)
            else '{}'::jsonb end,
        ${at}
      from crossings x
      order by x.id, x.ord
    ),`;

/**
 * The steps that post the postings of a CTE named `p` (ord int, id text, wallet_id text, change
 * bigint — negative for a debit —, session_id text, top_up_id text, note text; other columns are
 * ignored), for a statement that starts `with p as (…),` and goes on with these. They define
 * `locked_wallets` (id, total, balance before),
 * `moved` (the wallets updated: id, before, after, total, …) and `entries` (the ledger rows
 * written: id, wallet_id, balance_after, session_id), and write the crossing events.
 */
export function postingSteps(at: Date) {
  return sql`
    locked_wallets as (
      select t.wallet_id as id, t.total, w.balance
      from (select wallet_id, sum(change)::bigint as total from p group by wallet_id order by wallet_id) t
      cross join lateral (select w.balance from wallets w where w.id = t.wallet_id for no key update of w) w
    ),
    moved as (
      update wallets w set balance = w.balance + l.total, updated_at = ${at}
      from locked_wallets l
      where w.id = l.id and w.id = any(array(select id from locked_wallets))
      returning w.id, w.balance - l.total as before, w.balance as after, l.total, w.user_id, w.currency,
        w.auto_top_up_active, w.auto_top_up_amount, w.auto_top_up_payment_method, w.auto_top_up_threshold
    ),${CROSSING_EVENTS(at)}
    entries as (
      insert into ledger_entries (id, wallet_id, type, amount, balance_after, session_id, top_up_id, note, created_at)
      select p.id, p.wallet_id, case when p.change < 0 then 'debit' else 'credit' end, abs(p.change),
             (m.before + sum(p.change) over (partition by p.wallet_id order by p.ord))::bigint,
             p.session_id, p.top_up_id, p.note, ${at}
      from p join moved m on m.id = p.wallet_id
      order by p.wallet_id, p.ord -- seq follows the running balance
      returning id, wallet_id, balance_after, session_id
    )`;
}

/** The database refuses a balance or amount a JS number cannot hold exactly: nothing is written. */
export function refuseOutOfRange(err: unknown): never {
  if (isCheckViolation(err, '_safe')) {
    throw new ConflictError('amount_out_of_range', 'the amount, or the balance it leads to, is outside the range the ledger holds');
  }
  throw err;
}

/**
 * Posts balance changes in the caller's transaction, as one statement. Money moves only through
 * postingSteps: here (top-ups, start fees, the TIME sweep, settlement refunds, operator
 * settlements) and in the statement that bills a batch of sessions (applyBilling), which posts
 * its debits with the same steps. What they do:
 *
 * 1. lock the wallets, in id order (callers lock sessions before calling, so the order across
 *    the gateway is always sessions, then wallets by id: no deadlock), with the lock an UPDATE
 *    takes (FOR NO KEY UPDATE), so a row the caller inserted that references the wallet (a
 *    top-up) does not make two transactions wait for each other;
 * 2. move each wallet's balance by the sum of its postings;
 * 3. append one ledger entry per posting, its balance_after the exact running balance (entries
 *    of one wallet in the order given, and `seq` in that order too).
 *
 * Wallets (and their users, for the crossing events) are reached through their primary keys, one
 * lookup per wallet, never a scan of the table (see applyBilling for why).
 *
 * A debit may take a balance below zero: energy already delivered is owed. A single transfer is
 * a batch of one, as in pgledger. Returns which wallets a net debit left at or below zero.
 */
export async function postEntries(tx: Tx, postings: readonly Posting[], at: Date): Promise<PostResult> {
  if (!postings.length) return { entries: [], walletsAtZero: [], moved: [] };
  const rows = postings.map((p, ord) => {
    if (!Number.isSafeInteger(p.amount) || p.amount <= 0) {
      throw new RangeError(`ledger amount must be a positive whole number of cents, got ${p.amount}`);
    }
    return {
      ord,
      id: newId(at),
      wallet_id: p.walletId,
      change: p.type === 'credit' ? p.amount : -p.amount,
      session_id: p.sessionId ?? null,
      top_up_id: p.topUpId ?? null,
      note: p.note ?? null,
    };
  });
  const statement = sql<{ kind: 'entry' | 'at_zero'; id: string; wallet_id: string; balance_after: number | null }>`${sql.raw(POST_STATEMENT)}
    with p as (
      select * from json_to_recordset(${JSON.stringify(rows)}::json)
        as p(ord int, id text, wallet_id text, change bigint, session_id text, top_up_id text, note text)
    ),${postingSteps(at)}
    select 'entry' as kind, id, wallet_id, balance_after from entries
    union all
    select 'at_zero', id, id, null from moved where total < 0 and after <= 0`;
  const { rows: out } = await statement.execute(tx).catch(refuseOutOfRange);

  const byId = new Map<string, PostedEntry>();
  const walletsAtZero: string[] = [];
  for (const r of out) {
    if (r.kind === 'at_zero') walletsAtZero.push(r.wallet_id);
    else byId.set(r.id, { id: r.id, walletId: r.wallet_id, balanceAfter: Number(r.balance_after) });
  }
  const entries = rows.map((r) => {
    const entry = byId.get(r.id);
    if (!entry) throw new NotFoundError('wallet', r.wallet_id);
    return entry;
  });
  // Computed here, not in the statement: the first entry of a wallet minus its change is its balance before.
  const moves = new Map<string, WalletMove>();
  rows.forEach((r, i) => {
    const after = entries[i]!.balanceAfter;
    const seen = moves.get(r.wallet_id);
    if (seen) seen.after = after;
    else moves.set(r.wallet_id, { walletId: r.wallet_id, before: after - r.change, after });
  });
  let debits = 0;
  let cents = 0;
  for (const r of rows) {
    if (r.change < 0) {
      debits += 1;
      cents -= r.change;
    }
  }
  if (debits) await reportOnCommit(tx, LEDGER_DEBITED, { entries: debits, cents });
  return { entries, walletsAtZero, moved: [...moves.values()] };
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
