import type { Db } from '../../db/index.ts';
import type { GatewayMetrics } from '../../shared/metrics.ts';
import { isDatabaseUnavailable, retryOnDeadlock } from '../../db/errors.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import { billCommitted, nothingApplied, type AppliedBilling, type BillingWrite } from './billing.ts';

/**
 * Writes one settlement planned from a row read without a lock (billCommitted's compare-and-set),
 * committed when it returns; `at` is the time the settlement was asked for.
 */
export type Settle = (write: BillingWrite, at: Date) => Promise<AppliedBilling>;

/** Each settlement in a statement of its own. */
export function settleAlone(db: Db): Settle {
  return (write, at) => billCommitted(db, [write], at);
}

interface Pending {
  write: BillingWrite;
  at: Date;
}

/**
 * Settlements by group commit, as MeterValues are billed: the ones asked for in one turn of the
 * event loop, or while a statement runs, are written together by the next one (billCommitted:
 * one statement, one commit). When a thousand wallets reach zero in the same second, a thousand
 * StopTransactions follow: written one statement each, they would be as many commits at once, on
 * as many connections, and PostgreSQL's backends would take the CPU from everything else on the
 * machine (the gateway's own event loop first). At most `concurrency` statements run per process.
 *
 * Each write is still its own compare-and-set: one that misses is answered "not applied", and its
 * caller reads the session again. A session asked for twice in one batch (two StopTransactions at
 * once) is written once; the other ask is answered "not applied" and reads it again, finding it
 * settled. A failing statement is written again one settlement at a time, so a bad one (an amount
 * out of range) fails only its own caller (not when the database is unreachable: then all fail).
 */
export class SettlementBatcher {
  private readonly commits: GroupCommit<Pending, AppliedBilling>;

  constructor(
    db: Db,
    options: { maxBatch: number; concurrency: number } = { maxBatch: 100, concurrency: 2 },
    private readonly metrics?: Pick<GatewayMetrics, 'settlementBatch'>,
  ) {
    // A database that is away fails every write alike: one at a time would only wait longer.
    this.commits = new GroupCommit((items) => retryOnDeadlock(() => this.write(db, items)), {
      ...options,
      isolateFailures: (err) => !isDatabaseUnavailable(err),
    });
  }

  readonly settle: Settle = (write, at) => this.commits.submit({ write, at });

  /** Waits until every settlement asked for so far has been written (graceful stop). */
  drain(): Promise<void> {
    return this.commits.drain();
  }

  private async write(db: Db, items: Pending[]): Promise<AppliedBilling[]> {
    const seen = new Set<string>();
    const once = items.filter((p) => !seen.has(p.write.row.id) && seen.add(p.write.row.id));
    // The latest of the times asked for: the statement's updated_at and ledger time.
    const at = new Date(Math.max(...once.map((p) => p.at.getTime())));
    const started = performance.now();
    const applied = await billCommitted(db, once.map((p) => p.write), at);
    this.metrics?.settlementBatch(once.length, (performance.now() - started) / 1000);
    const notApplied = nothingApplied();
    const written = new Set(once);
    return items.map((p) => (written.has(p) ? applied : notApplied));
  }
}
