import type { Kysely } from 'kysely';

/**
 * Predictive stops (issue 17): a session records whether the gateway stopped it ahead of its
 * wallet's predicted zero crossing (`stopped_by = 'prediction'`). No index: billing updates of
 * the session stay HOT.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('stopped_by', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').dropColumn('stopped_by').execute();
}
