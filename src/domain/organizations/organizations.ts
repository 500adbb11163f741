import type { Db } from '../../db/index.ts';
import type { Organization } from '../../db/tables/organizations.ts';
import type { Clock } from '../../shared/clock.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, definedOnly, toPage, type Page } from '../../shared/pagination.ts';

export async function defaultOrganizationId(db: Db): Promise<string> {
  const row = await db
    .selectFrom('organizations')
    .select('id')
    .where('is_default', '=', true)
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function requireOrganization(db: Db, id: string): Promise<Organization> {
  const org = await db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
  if (!org) throw new NotFoundError('organization', id);
  return org;
}

export interface OrganizationInput {
  name?: string | undefined;
  minimum_balance_to_start_session?: number | undefined;
  currency?: string | undefined;
  test_mode?: boolean | undefined;
}

export async function createOrganization(
  db: Db,
  clock: Clock,
  input: OrganizationInput & { name: string },
): Promise<Organization> {
  const now = clock.now();
  return db
    .insertInto('organizations')
    .values({ id: newId(now), ...definedOnly(input), name: input.name, created_at: now, updated_at: now })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateOrganization(
  db: Db,
  clock: Clock,
  id: string,
  input: OrganizationInput,
): Promise<Organization> {
  const row = await db
    .updateTable('organizations')
    .set({ ...definedOnly(input), updated_at: clock.now() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('organization', id);
  return row;
}

export async function listOrganizations(
  db: Db,
  q: { limit: number; cursor?: string | undefined },
): Promise<Page<Organization>> {
  let query = db.selectFrom('organizations').selectAll().orderBy('id').limit(q.limit + 1);
  const after = decodeCursor(q.cursor);
  if (after) query = query.where('id', '>', after);
  return toPage(await query.execute(), q.limit, (o) => o.id);
}
