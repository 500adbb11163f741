import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { Token } from '../../db/tables/wallets.ts';
import type { Clock } from '../../shared/clock.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, definedOnly, toPage, type Page } from '../../shared/pagination.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { getUser } from '../users/users.ts';

export interface TokenInput {
  physicalId?: string | undefined;
  type?: 'ISO14443' | 'Central' | undefined;
  user?: string | undefined;
  active?: boolean | undefined;
  expiresAt?: Date | null | undefined;
}

function physicalIdTaken(err: unknown): never {
  if (isUniqueViolation(err, 'tokens_physical_id')) {
    throw new ConflictError('physical_id_taken', 'this physicalId is not available; choose another', {
      field: 'physicalId',
    });
  }
  throw err;
}

function columns(input: TokenInput) {
  return definedOnly({
    physical_id: input.physicalId,
    type: input.type,
    user_id: input.user,
    active: input.active,
    expires_at: input.expiresAt,
  });
}

export async function createToken(
  db: Db,
  clock: Clock,
  input: TokenInput & { physicalId: string; user: string },
): Promise<Token> {
  await getUser(db, input.user);
  const now = clock.now();
  try {
    return await db
      .insertInto('tokens')
      .values({
        id: newId(now),
        type: 'ISO14443',
        ...columns(input),
        physical_id: input.physicalId,
        user_id: input.user,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    physicalIdTaken(err);
  }
}

export async function updateToken(db: Db, clock: Clock, id: string, input: TokenInput): Promise<Token> {
  if (input.user) await getUser(db, input.user);
  try {
    const row = await db
      .updateTable('tokens')
      .set({ ...columns(input), updated_at: clock.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new NotFoundError('token', id);
    return row;
  } catch (err) {
    physicalIdTaken(err);
  }
}

export async function getToken(db: Db, id: string): Promise<Token> {
  const row = await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError('token', id);
  return row;
}

/** The token an OCPP idTag names (idTags are case-insensitive). */
export async function findTokenByIdTag(db: Db, idTag: string): Promise<Token | undefined> {
  return db
    .selectFrom('tokens')
    .selectAll()
    .where(sql`upper(physical_id)`, '=', idTag.toUpperCase())
    .executeTakeFirst();
}

export async function listTokens(
  db: Db,
  q: { limit: number; cursor?: string | undefined; user?: string | undefined; organization?: string | undefined },
): Promise<Page<Token>> {
  let query = db.selectFrom('tokens').selectAll().orderBy('id').limit(q.limit + 1);
  const after = decodeCursor(q.cursor);
  if (after) query = query.where('id', '>', after);
  if (q.user) query = query.where('user_id', '=', q.user);
  if (q.organization) {
    query = query.where('user_id', 'in', db.selectFrom('users').select('id').where('organization_id', '=', q.organization));
  }
  return toPage(await query.execute(), q.limit, (t) => t.id);
}
