import type { Selectable } from 'kysely';

/** A console sign-in: the cookie's token and the API key it stands for, both as SHA-256 digests. */
export interface ConsoleSessionsTable {
  id: string;
  token_hash: string;
  api_key_hash: string;
  /** the key's organization when it is scoped; null = every organization */
  organization_id: string | null;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}
export type ConsoleSession = Selectable<ConsoleSessionsTable>;
