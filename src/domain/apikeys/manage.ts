import type { Db } from '../../db/index.ts';
import type { ApiKey } from '../../db/tables/api-keys.ts';
import type { Clock } from '../../shared/clock.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';
import { hashApiKey, newApiKey } from '../../shared/secrets.ts';
import { requireOrganization } from '../organizations/organizations.ts';

/** Creates a key and returns it in clear: the only time it is ever seen. */
export async function createApiKey(
  db: Db,
  clock: Clock,
  input: { name: string; organization?: string | undefined },
): Promise<{ apiKey: ApiKey; key: string }> {
  if (input.organization) await requireOrganization(db, input.organization);
  const key = newApiKey();
  const now = clock.now();
  const apiKey = await db
    .insertInto('api_keys')
    .values({
      id: newId(now),
      name: input.name,
      key_hash: hashApiKey(key),
      prefix: key.slice(0, 10),
      organization_id: input.organization ?? null,
      created_at: now,
      revoked_at: null,
      last_used_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { apiKey, key };
}

export async function listApiKeys(db: Db, q: { limit: number; cursor?: string | undefined }): Promise<Page<ApiKey>> {
  let query = db.selectFrom('api_keys').selectAll().orderBy('id').limit(q.limit + 1);
  const after = decodeCursor(q.cursor);
  if (after) query = query.where('id', '>', after);
  return toPage(await query.execute(), q.limit, (k) => k.id);
}

/** Revoked keys stop working at once; the row stays for the record. */
export async function revokeApiKey(db: Db, clock: Clock, id: string): Promise<ApiKey> {
  const row = await db
    .updateTable('api_keys')
    .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(clock.now())) }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('api_key', id);
  return row;
}
