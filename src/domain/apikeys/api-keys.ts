import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { Clock } from '../../shared/clock.ts';
import { newId } from '../../shared/ids.ts';
import { digestsEqual, hashApiKey, newApiKey } from '../../shared/secrets.ts';

export interface Principal {
  /** api key id, or 'bootstrap' for ADMIN_API_KEY */
  keyId: string;
  /** null = every organization */
  organizationId: string | null;
}

/**
 * Creates the first API key when none exists and no ADMIN_API_KEY is configured, and returns
 * it (the only time it is ever seen in clear). Several instances starting together create one
 * key: an advisory lock serialises the check.
 */
export async function ensureBootstrapKey(db: Db, clock: Clock): Promise<string | undefined> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('gateway.bootstrap_api_key'))`.execute(tx);
    const existing = await tx.selectFrom('api_keys').select('id').limit(1).executeTakeFirst();
    if (existing) return undefined;
    const key = newApiKey();
    const now = clock.now();
    await tx
      .insertInto('api_keys')
      .values({
        id: newId(now),
        name: 'bootstrap',
        key_hash: hashApiKey(key),
        prefix: key.slice(0, 10),
        organization_id: null,
        created_at: now,
      })
      .execute();
    return key;
  });
}

export class ApiKeyVerifier {
  private readonly bootstrapHash: string | undefined;

  constructor(
    private readonly db: Db,
    bootstrapKey: string | undefined,
  ) {
    this.bootstrapHash = bootstrapKey ? hashApiKey(bootstrapKey) : undefined;
  }

  /** The principal a presented key stands for, or undefined when it is not valid. */
  async verify(presented: string): Promise<Principal | undefined> {
    return this.verifyDigest(hashApiKey(presented));
  }

  /** The same check by the key's digest (a console session keeps the digest, never the key). */
  async verifyDigest(hash: string): Promise<Principal | undefined> {
    if (this.bootstrapHash && digestsEqual(hash, this.bootstrapHash)) {
      return { keyId: 'bootstrap', organizationId: null };
    }
    // The lookup is by the hash of a 256-bit random key: an index probe reveals nothing usable.
    const row = await this.db
      .selectFrom('api_keys')
      .select(['id', 'organization_id', 'key_hash'])
      .where('key_hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row || !digestsEqual(row.key_hash, hash)) return undefined;
    return { keyId: row.id, organizationId: row.organization_id };
  }
}
