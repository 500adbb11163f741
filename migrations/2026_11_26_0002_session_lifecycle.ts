import { sql, type Kysely } from 'kysely';

/**
 * How a session ended, and who closed it (issue 13):
 * - `ended_by`: `station` (its StopTransaction), `connector_status` (the connector reported
 *   Available, or Preparing for someone else), `new_transaction` (a new StartTransaction on the
 *   connector), `operator` (closed by hand). A session ended by the connector's status or by a
 *   new transaction may still be settled once by a StopTransaction that arrives late;
 * - `closed_by`: the API key that closed a session by hand;
 * - ledger entries may carry a note (an operator's settlement says who and on what register);
 * - open sessions by token, for ConcurrentTx.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('ended_by', 'text').addColumn('closed_by', 'text').execute();
  await db.schema.alterTable('ledger_entries').addColumn('note', 'text').execute();
  await sql`create index sessions_open_by_token on sessions (token_id) where status in ('active', 'stopping', 'stop_failed')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index sessions_open_by_token`.execute(db);
  await db.schema.alterTable('ledger_entries').dropColumn('note').execute();
  await db.schema.alterTable('sessions').dropColumn('closed_by').dropColumn('ended_by').execute();
}
