import { sql, type Kysely } from 'kysely';

/**
 * Guards on money and meters (issue 12):
 * - every amount and balance stays inside the range a JS number holds exactly (±2^53−1): a
 *   write that would leave it is refused by the database, never half-committed;
 * - a station may have its own maximum power; each session keeps the maximum it started with,
 *   and a reading implying more energy than that power could deliver is not billed: the session
 *   is `held` for the operator;
 * - sessions remember when the charger last reported a reading, so a StopTransaction cannot
 *   take the session back before what the gateway has already seen.
 */
const SAFE = sql.raw('9007199254740991');

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table wallets add constraint wallets_balance_safe check (balance between -${SAFE} and ${SAFE})`.execute(db);
  await sql`alter table ledger_entries add constraint ledger_entries_safe
    check (amount <= ${SAFE} and balance_after between -${SAFE} and ${SAFE})`.execute(db);
  await sql`alter table sessions add constraint sessions_money_safe
    check (cost between -${SAFE} and ${SAFE} and debited between -${SAFE} and ${SAFE})`.execute(db);
  await sql`alter table top_ups add constraint top_ups_safe check (amount <= ${SAFE} and wallet_amount <= ${SAFE})`.execute(db);

  await sql`alter table charge_stations add column max_power_w bigint check (max_power_w > 0)`.execute(db);
  await sql`alter table sessions add column max_power_w bigint`.execute(db);
  await sql`alter table sessions add column last_reading_at timestamptz`.execute(db);
  await sql`alter table sessions drop constraint sessions_status`.execute(db);
  await sql`alter table sessions add constraint sessions_status
    check (status in ('active', 'stopping', 'completed', 'rejected', 'stop_failed', 'held'))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table sessions drop constraint sessions_status`.execute(db);
  await sql`alter table sessions add constraint sessions_status
    check (status in ('active', 'stopping', 'completed', 'rejected', 'stop_failed'))`.execute(db);
  await sql`alter table sessions drop column last_reading_at`.execute(db);
  await sql`alter table sessions drop column max_power_w`.execute(db);
  await sql`alter table charge_stations drop column max_power_w`.execute(db);
  await sql`alter table top_ups drop constraint top_ups_safe`.execute(db);
  await sql`alter table sessions drop constraint sessions_money_safe`.execute(db);
  await sql`alter table ledger_entries drop constraint ledger_entries_safe`.execute(db);
  await sql`alter table wallets drop constraint wallets_balance_safe`.execute(db);
}
