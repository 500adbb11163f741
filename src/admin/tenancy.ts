import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/index.ts';
import { owningOrganizations, type OwnedKind } from '../domain/tenancy.ts';
import { ForbiddenError, NotFoundError } from '../shared/errors.ts';

/**
 * What a route lets an organization-scoped API key do. Every /v1 route declares one (in its
 * `config.tenancy`); a route without one is refused when it is registered. Unscoped keys may
 * do everything.
 * - `global`: unscoped keys only; a scoped key gets 403.
 * - `shared`: any key, nothing of an organization's is involved (e.g. reading rates).
 * - `filtered`: any key; the handler narrows what it returns to `req.tenant` (lists).
 * - `{ params, body }`: each named path parameter / body field, when present, names a resource
 *   that must belong to the key's organization; otherwise 404, exactly as if it did not exist.
 */
export type Tenancy = 'global' | 'shared' | 'filtered' | { params?: Record<string, OwnedKind>; body?: Record<string, OwnedKind> };

declare module 'fastify' {
  interface FastifyContextConfig {
    tenancy?: Tenancy;
  }
  interface FastifyRequest {
    tenant: Tenant;
  }
}

/** The organization an API key is limited to, if any. */
export class Tenant {
  constructor(
    /** null = every organization */
    readonly organizationId: string | null,
  ) {}

  get scoped(): boolean {
    return this.organizationId !== null;
  }

  /** The organization a new resource goes to: the key's own, or what the body names. */
  organizationFor(requested: string | undefined): string | undefined {
    if (!this.scoped) return requested;
    if (requested !== undefined && requested !== this.organizationId) throw new NotFoundError('organization', requested);
    return this.organizationId!;
  }

  /** A list filter: the key's organization wins over what the query asks for. */
  filter(requested: string | undefined): string | undefined {
    return this.scoped ? this.organizationId! : requested;
  }
}

/** Installs the one tenancy check every /v1 route gets (see Tenancy). */
export function enforceTenancy(app: FastifyInstance, db: Db): void {
  app.addHook('onRoute', (route) => {
    if (!route.config?.tenancy) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no tenancy (config.tenancy)`);
    }
  });
  app.addHook('preHandler', async (req) => {
    const tenancy = req.routeOptions.config.tenancy!;
    if (!req.tenant.scoped || tenancy === 'shared' || tenancy === 'filtered') return;
    if (tenancy === 'global') {
      throw new ForbiddenError(`an organization-scoped API key cannot ${req.method} ${req.routeOptions.url}`);
    }
    for (const [source, named] of [
      [req.params, tenancy.params],
      [req.body, tenancy.body],
    ] as const) {
      for (const [field, kind] of Object.entries(named ?? {})) {
        const id = (source as Record<string, unknown> | undefined)?.[field];
        if (typeof id === 'string') await requireOwned(db, req, kind, id);
      }
    }
  });
}

async function requireOwned(db: Db, req: FastifyRequest, kind: OwnedKind, id: string): Promise<void> {
  const owners = await owningOrganizations(db, kind, id);
  if (!owners?.includes(req.tenant.organizationId!)) throw new NotFoundError(kind, id);
}
