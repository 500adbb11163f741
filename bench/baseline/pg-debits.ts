/**
 * Baseline (b), the raw PostgreSQL debit ceiling: from Node, a pg.Pool of 10 connections, one
 * transaction per debit (BEGIN; UPDATE … RETURNING balance; INSERT INTO ledger; COMMIT) on a
 * small table pair in the bench database, many concurrent debits across many wallets.
 */
import pg from 'pg';
import { withClient } from '../lib/pg.ts';
import { now } from '../lib/util.ts';

export interface DebitCeiling {
  debitsPerS: number;
  debits: number;
  errors: number;
  wallets: number;
  concurrency: number;
  durationS: number;
  /** balances = initial − sum of the ledger, checked afterwards */
  consistent: boolean;
}

const INITIAL = 1_000_000_000;

export async function measureDebitCeiling(o: {
  url: string;
  wallets: number;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
}): Promise<DebitCeiling> {
  await withClient(o.url, async (c) => {
    await c.query(`create table bench_wallets (id int primary key, balance bigint not null)`);
    await c.query(`create table bench_ledger (
      id bigserial primary key, wallet_id int not null references bench_wallets(id),
      amount bigint not null, balance_after bigint not null, created_at timestamptz not null default now())`);
    await c.query(`insert into bench_wallets select g, ${INITIAL} from generate_series(1, $1) g`, [o.wallets]);
  });
  const pool = new pg.Pool({ connectionString: o.url, max: 10 });
  pool.on('error', () => {});
  let debits = 0;
  let errors = 0;
  const t0 = now();
  const tMeasure = t0 + o.warmupMs;
  const tEnd = tMeasure + o.durationMs;
  const debit = async () => {
    const wallet = 1 + Math.floor(Math.random() * o.wallets);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const r = await client.query('UPDATE bench_wallets SET balance = balance - $1 WHERE id = $2 RETURNING balance', [1, wallet]);
      await client.query('INSERT INTO bench_ledger (wallet_id, amount, balance_after) VALUES ($1, $2, $3)', [wallet, 1, r.rows[0].balance]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  };
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (now() < tEnd) {
        try {
          await debit();
          if (now() >= tMeasure && now() <= tEnd) debits++;
        } catch {
          errors++;
        }
      }
    }),
  );
  await pool.end();
  const consistent = await withClient(o.url, async (c) => {
    const r = await c.query(`
      select count(*)::int n from bench_wallets w
      left join (select wallet_id, sum(amount) s from bench_ledger group by wallet_id) l on l.wallet_id = w.id
      where w.balance <> ${INITIAL} - coalesce(l.s, 0)`);
    return r.rows[0].n === 0;
  });
  const durationS = o.durationMs / 1000;
  return {
    debitsPerS: Math.round(debits / durationS),
    debits,
    errors,
    wallets: o.wallets,
    concurrency: o.concurrency,
    durationS,
    consistent,
  };
}
