import type { FastifyRequest } from 'fastify';
import type { Db } from '../db/index.ts';
import { ForbiddenError, NotFoundError } from '../shared/errors.ts';

/**
 * What an API key may see. A key scoped to an organization sees and changes only that
 * organization's users, wallets, tokens, stations, sessions and alerts; anything else answers
 * 404, exactly as if it did not exist. Global things (other organizations, rates, API keys)
 * are read-only or refused (403) for scoped keys. An unscoped key sees everything.
 */
export class Scope {
  constructor(
    private readonly db: Db,
    /** null = every organization */
    readonly organizationId: string | null,
  ) {}

  get scoped(): boolean {
    return this.organizationId !== null;
  }

  /** Refuses an action only an unscoped key may take. */
  requireGlobal(action: string): void {
    if (this.scoped) throw new ForbiddenError(`an organization-scoped API key cannot ${action}`);
  }

  /** The organization a new resource goes to: the key's own, or what the body names. */
  organizationFor(requested: string | undefined): string | undefined {
    if (!this.scoped) return requested;
    if (requested !== undefined && requested !== this.organizationId) {
      throw new NotFoundError('organization', requested);
    }
    return this.organizationId!;
  }

  /** A list filter: the key's organization wins over what the query asks for. */
  filter(requested: string | undefined): string | undefined {
    if (!this.scoped) return requested;
    return this.organizationId!;
  }

  private check(found: { org: string | null } | undefined, resource: string, id: string): void {
    if (!this.scoped) return;
    if (!found || found.org !== this.organizationId) throw new NotFoundError(resource, id);
  }

  organization(id: string): void {
    if (this.scoped && id !== this.organizationId) throw new NotFoundError('organization', id);
  }

  async user(id: string): Promise<void> {
    if (!this.scoped) return;
    const row = await this.db.selectFrom('users').select('organization_id as org').where('id', '=', id).executeTakeFirst();
    this.check(row, 'user', id);
  }

  async wallet(id: string): Promise<void> {
    if (!this.scoped) return;
    const row = await this.db
      .selectFrom('wallets as w')
      .innerJoin('users as u', 'u.id', 'w.user_id')
      .select('u.organization_id as org')
      .where('w.id', '=', id)
      .executeTakeFirst();
    this.check(row, 'wallet', id);
  }

  async token(id: string): Promise<void> {
    if (!this.scoped) return;
    const row = await this.db
      .selectFrom('tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select('u.organization_id as org')
      .where('t.id', '=', id)
      .executeTakeFirst();
    this.check(row, 'token', id);
  }

  async station(id: string): Promise<void> {
    if (!this.scoped) return;
    const row = await this.db
      .selectFrom('charge_stations')
      .select('organization_id as org')
      .where('id', '=', id)
      .executeTakeFirst();
    this.check(row, 'chargestation', id);
  }

  async topUp(id: string): Promise<void> {
    if (!this.scoped) return;
    const row = await this.db
      .selectFrom('top_ups as t')
      .innerJoin('wallets as w', 'w.id', 't.wallet_id')
      .innerJoin('users as u', 'u.id', 'w.user_id')
      .select('u.organization_id as org')
      .where('t.id', '=', id)
      .executeTakeFirst();
    this.check(row, 'top_up', id);
  }

  /** A session belongs to the organization of its station, and to that of its driver. */
  async session(id: string): Promise<void> {
    if (!this.scoped) return;
    const row = await this.db
      .selectFrom('sessions as s')
      .innerJoin('charge_stations as c', 'c.id', 's.station_id')
      .leftJoin('users as u', 'u.id', 's.user_id')
      .select(['c.organization_id as station_org', 'u.organization_id as user_org'])
      .where('s.id', '=', id)
      .executeTakeFirst();
    const visible = row && (row.station_org === this.organizationId || row.user_org === this.organizationId);
    if (!visible) throw new NotFoundError('session', id);
  }
}

export function scopeOf(db: Db, req: FastifyRequest): Scope {
  return new Scope(db, req.principal?.organizationId ?? null);
}
