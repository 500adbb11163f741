import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/index.ts';

/** The resources an organization owns, as API keys scoped to it see them. */
export type OwnedKind = 'organization' | 'user' | 'wallet' | 'token' | 'chargestation' | 'top_up' | 'session';

/** Per kind: the owning organization(s) of the row `x`. */
const OWNERS: Record<OwnedKind, RawBuilder<unknown>> = {
  organization: sql`select x.id as org from organizations x`,
  user: sql`select x.organization_id as org from users x`,
  wallet: sql`select u.organization_id as org from wallets x join users u on u.id = x.user_id`,
  token: sql`select u.organization_id as org from tokens x join users u on u.id = x.user_id`,
  chargestation: sql`select x.organization_id as org from charge_stations x`,
  top_up: sql`select u.organization_id as org from top_ups x
    join wallets w on w.id = x.wallet_id join users u on u.id = w.user_id`,
  // A session belongs to the organization of its station and to that of its driver.
  session: sql`select unnest(array[c.organization_id, u.organization_id]) as org from sessions x
    join charge_stations c on c.id = x.station_id left join users u on u.id = x.user_id`,
};

/** The organizations a resource belongs to; undefined when it does not exist. */
export async function owningOrganizations(db: Db, kind: OwnedKind, id: string): Promise<string[] | undefined> {
  const { rows } = await sql<{ org: string | null }>`${OWNERS[kind]} where x.id = ${id}`.execute(db);
  return rows.length ? rows.flatMap((r) => (r.org ? [r.org] : [])) : undefined;
}
