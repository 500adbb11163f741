import { sql, type Kysely } from 'kysely';

/**
 * Charge point identities match ignoring case (`cp-001` reaches `CP-001`), so the registry may
 * hold only one station per case-folded identity. Until now `CP-001` and `cp-001` could both
 * be registered; such pairs cannot be merged automatically (they are two stations with their
 * own sessions), so the migration stops and names them, and the operator removes one.
 * The existing unique index on `ocpp_id` stays: exact lookups (by the stored identity) use it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const clashes = await sql<{ ids: string }>`
    select string_agg(ocpp_id, ', ' order by ocpp_id) as ids
    from charge_stations group by lower(ocpp_id) having count(*) > 1`.execute(db);
  if (clashes.rows.length) {
    throw new Error(
      'charge stations whose ocpp_id differs only by case must be resolved before this version starts ' +
        `(delete or re-register one of each): ${clashes.rows.map((r) => r.ids).join('; ')}`,
    );
  }
  await sql`create unique index charge_stations_ocpp_id_lower on charge_stations (lower(ocpp_id))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index charge_stations_ocpp_id_lower`.execute(db);
}
