import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/index.ts';

/** The resources an organization owns, as API keys scoped to it see them. */
export type OwnedKind = 'organization' | 'user' | 'wallet' | 'token' | 'chargestation' | 'top_up' | 'session' | 'alert' | 'webhook';

/** Per kind: the owning organization(s) of the row `x`. */
const OWNERS: Record<OwnedKind, RawBuilder<unknown>> = {
  organization: sql`select x.id as org from organizations x`,
  user: sql`select x.organization_id as org from users x`,
  wallet: sql`select u.organization_id as org from wallets x join users u on u.id = x.user_id`,
  token: sql`select u.organization_id as org from tokens x join users u on u.id = x.user_id`,
  chargestation: sql`select x.organization_id as org from charge_stations x`,
  top_up: sql`select u.organization_id as org from top_ups x
    join wallets w on w.id = x.wallet_id join users u on u.id = w.user_id`,
  // An alert belongs to the organization of the station it is about.
  alert: sql`select c.organization_id as org from alerts x join charge_stations c on c.id = x.station_id`,
  // A webhook created with an unscoped key for every organization belongs to none of them.
  webhook: sql`select x.organization_id as org from webhooks x`,
  // A session belongs to the organization of its station and to that of its driver.
  session: sql`select unnest(array[c.organization_id, u.organization_id]) as org from sessions x
    join charge_stations c on c.id = x.station_id left join users u on u.id = x.user_id`,
};

/** The organizations a resource belongs to; undefined when it does not exist. */
export async function owningOrganizations(db: Db, kind: OwnedKind, id: string): Promise<string[] | undefined> {
  const { rows } = await sql<{ org: string | null }>`${OWNERS[kind]} where x.id = ${id}`.execute(db);
  return rows.length ? rows.flatMap((r) => (r.org ? [r.org] : [])) : undefined;
}

/** The organization of each of these stations. */
export async function organizationsOfStations(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('charge_stations').select(['id', 'organization_id']).where('id', 'in', [...ids]).execute();
  return new Map(rows.map((r) => [r.id, r.organization_id]));
}

/** The organization of the owner of each of these wallets. */
export async function organizationsOfWallets(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const rows = await db
    .selectFrom('wallets as w')
    .innerJoin('users as u', 'u.id', 'w.user_id')
    .select(['w.id', 'u.organization_id'])
    .where('w.id', 'in', [...ids])
    .execute();
  return new Map(rows.map((r) => [r.id, r.organization_id]));
}
