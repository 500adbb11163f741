import { sql, type Kysely } from 'kysely';

/**
 * The local authorization list the gateway keeps on each station in sync with the wallets
 * (LOCAL_AUTH_LIST_SYNC, issue 14 item 3): what it last sent and the station accepted, idTag →
 * `{status, parentIdTag?, expiryDate?}`, so a balance crossing the minimum becomes a Differential
 * update of just the tokens that changed. (`local_list_synced_version` holds its version.)
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table charge_stations add column local_list_sent jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table charge_stations drop column local_list_sent`.execute(db);
}
