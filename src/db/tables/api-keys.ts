import type { Generated, Selectable } from 'kysely';
import type { GeneratedTimestamp, NullableTimestamp } from './organizations.ts';

export interface ApiKeysTable {
  id: string;
  name: string;
  /** sha256 hex of the key; the key itself is shown once and never stored */
  key_hash: string;
  /** first characters of the key, to tell keys apart in lists */
  prefix: string;
  /** null = all organizations */
  organization_id: string | null;
  created_at: GeneratedTimestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
}

export type ApiKey = Selectable<ApiKeysTable>;
