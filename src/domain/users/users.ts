import type { Db } from '../../db/index.ts';
import type { User } from '../../db/tables/wallets.ts';
import type { Clock } from '../../shared/clock.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, definedOnly, toPage, type Page } from '../../shared/pagination.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { defaultOrganizationId, requireOrganization } from '../organizations/organizations.ts';

export interface UserInput {
  firstname?: string | undefined;
  lastname?: string | undefined;
  email?: string | undefined;
  active?: boolean | undefined;
  address?: Record<string, string> | undefined;
  phone?: Record<string, string> | undefined;
  favorite_chargestations?: string[] | undefined;
  role?: string | undefined;
  payment_methods?: string[] | undefined;
  organization?: string | undefined;
}

const JSON_FIELDS = ['address', 'phone', 'favorite_chargestations', 'payment_methods'] as const;

function columns(input: UserInput): Record<string, unknown> {
  const { organization: _org, ...rest } = input;
  const out: Record<string, unknown> = definedOnly(rest);
  for (const f of JSON_FIELDS) if (out[f] !== undefined) out[f] = JSON.stringify(out[f]);
  return out;
}

function emailTaken(err: unknown, email: string | undefined): never {
  if (isUniqueViolation(err, 'users_email_per_organization')) {
    throw new ConflictError('email_taken', `a user with email ${email} exists in this organization`, {
      field: 'email',
    });
  }
  throw err;
}

export async function createUser(db: Db, clock: Clock, input: UserInput): Promise<User> {
  const organizationId = input.organization
    ? (await requireOrganization(db, input.organization)).id
    : await defaultOrganizationId(db);
  const now = clock.now();
  try {
    return await db
      .insertInto('users')
      .values({
        id: newId(now),
        organization_id: organizationId,
        firstname: null,
        lastname: null,
        email: null,
        ...columns(input),
        created_at: now,
        updated_at: now,
      } as never)
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    emailTaken(err, input.email);
  }
}

export async function getUser(db: Db, id: string): Promise<User> {
  const user = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  if (!user) throw new NotFoundError('user', id);
  return user;
}

export async function updateUser(db: Db, clock: Clock, id: string, input: UserInput): Promise<User> {
  const set = columns(input);
  if (input.organization !== undefined) {
    set.organization_id = (await requireOrganization(db, input.organization)).id;
  }
  try {
    const row = await db
      .updateTable('users')
      .set({ ...set, updated_at: clock.now() } as never)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new NotFoundError('user', id);
    return row;
  } catch (err) {
    emailTaken(err, input.email);
  }
}

export async function listUsers(
  db: Db,
  q: { limit: number; cursor?: string | undefined; organization?: string | undefined; email?: string | undefined },
): Promise<Page<User>> {
  let query = db.selectFrom('users').selectAll().orderBy('id').limit(q.limit + 1);
  const after = decodeCursor(q.cursor);
  if (after) query = query.where('id', '>', after);
  if (q.organization) query = query.where('organization_id', '=', q.organization);
  if (q.email) query = query.where((eb) => eb(eb.fn('lower', ['email']), '=', q.email!.toLowerCase()));
  return toPage(await query.execute(), q.limit, (u) => u.id);
}
