import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** timestamptz set by the database when not given */
export type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
export type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;

export interface OrganizationsTable {
  id: string;
  name: string;
  /** cents */
  minimum_balance_to_start_session: Generated<number>;
  currency: Generated<string>;
  test_mode: Generated<boolean>;
  is_default: Generated<boolean>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type Organization = Selectable<OrganizationsTable>;
export type NewOrganization = Insertable<OrganizationsTable>;
export type OrganizationUpdate = Updateable<OrganizationsTable>;
