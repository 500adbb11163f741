import type { ColumnType, Generated, Selectable } from 'kysely';
import type { GeneratedTimestamp, NullableTimestamp } from './organizations.ts';

type Json<T> = ColumnType<T, string | undefined, string>;

export interface UsersTable {
  id: string;
  organization_id: string;
  firstname: string | null;
  lastname: string | null;
  email: string | null;
  active: Generated<boolean>;
  address: Json<Record<string, string>>;
  phone: Json<Record<string, string>>;
  favorite_chargestations: Json<string[]>;
  role: Generated<string>;
  payment_methods: Json<string[]>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type User = Selectable<UsersTable>;

export interface WalletsTable {
  id: string;
  user_id: string;
  test_mode: Generated<boolean>;
  /** cents; may be negative (energy delivered after the balance reached zero) */
  balance: Generated<number>;
  currency: Generated<string>;
  auto_top_up_active: Generated<boolean>;
  auto_top_up_payment_method: string | null;
  auto_top_up_amount: Generated<number>;
  /** cents; a debit that takes the balance below it asks for an auto top-up; null = the organization's minimum */
  auto_top_up_threshold: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type Wallet = Selectable<WalletsTable>;

export interface TopUpsTable {
  id: string;
  wallet_id: string;
  type: string;
  amount: number;
  wallet_amount: number;
  currency: string;
  status: string;
  test_mode: boolean;
  idempotency_scope: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_at: GeneratedTimestamp;
}
export type TopUp = Selectable<TopUpsTable>;

export interface LedgerEntriesTable {
  seq: Generated<number>;
  id: string;
  wallet_id: string;
  type: 'credit' | 'debit';
  /** cents, always positive; the type gives the direction */
  amount: number;
  balance_after: number;
  session_id: string | null;
  top_up_id: string | null;
  /** why, when it is not plain billing or a top-up (an operator's settlement) */
  note: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: GeneratedTimestamp;
}
export type LedgerEntry = Selectable<LedgerEntriesTable>;

export interface TokensTable {
  id: string;
  physical_id: string;
  type: string;
  user_id: string;
  active: Generated<boolean>;
  expires_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type Token = Selectable<TokensTable>;

/** A price component as stored: exact integers. */
export interface StoredPriceComponent {
  type: 'ENERGY' | 'TIME' | 'FLAT';
  /** ten-thousandths of a cent per kWh / per hour / per session */
  price_e4: number;
  /** percent × 10 000 */
  tax_e4: number;
  /** Wh (ENERGY) or seconds (TIME); 0 = none */
  step_size: number;
}

export interface RatesTable {
  id: string;
  description: string | null;
  currency: string;
  price_components: Json<StoredPriceComponent[]>;
  active: Generated<boolean>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}
export type Rate = Selectable<RatesTable>;
