import { createHash } from 'node:crypto';
import type { Db } from '../../db/index.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { digestsEqual, hashApiKey, newSessionToken } from '../../shared/secrets.ts';

/** How long a console sign-in lasts. */
export const CONSOLE_SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface ConsoleSignIn {
  /** the cookie value, seen only here: the database keeps its digest */
  token: string;
  expiresAt: Date;
}

/**
 * A console sign-in for an API key that was just verified. The session keeps the key's digest
 * (never the key) so each request checks the key again: a revoked key ends its sessions.
 */
export async function createConsoleSession(
  db: Db,
  clock: Clock,
  key: { digest: string; organizationId: string | null },
): Promise<ConsoleSignIn> {
  const token = newSessionToken();
  const now = clock.now();
  const expiresAt = new Date(now.getTime() + CONSOLE_SESSION_TTL_MS);
  await db
    .insertInto('console_sessions')
    .values({
      id: newId(now),
      token_hash: hashApiKey(token),
      api_key_hash: key.digest,
      organization_id: key.organizationId,
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
    })
    .execute();
  return { token, expiresAt };
}

/** The live (unexpired, unrevoked) session a cookie token stands for. */
export async function findConsoleSession(db: Db, clock: Clock, token: string) {
  const hash = hashApiKey(token);
  const row = await db
    .selectFrom('console_sessions')
    .select(['id', 'token_hash', 'api_key_hash', 'expires_at'])
    .where('token_hash', '=', hash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', clock.now())
    .executeTakeFirst();
  return row && digestsEqual(row.token_hash, hash) ? row : undefined;
}

/** Sign-out: the session stops working at once; the row stays for the record. */
export async function revokeConsoleSession(db: Db, clock: Clock, token: string): Promise<void> {
  await db
    .updateTable('console_sessions')
    .set({ revoked_at: clock.now() })
    .where('token_hash', '=', hashApiKey(token))
    .where('revoked_at', 'is', null)
    .execute();
}

/**
 * The anti-CSRF token of a session: derived from its secret token (so nothing more is stored),
 * and useless to recover the cookie from.
 */
export function csrfTokenOf(token: string): string {
  return createHash('sha256').update('console-csrf:' + token).digest('base64url');
}
