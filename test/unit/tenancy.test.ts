import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/index.ts';
import { enforceTenancy } from '../../src/admin/tenancy.ts';

describe('tenancy is one check every /v1 route gets', () => {
  it('a route that declares no tenancy cannot be registered', async () => {
    const app = Fastify();
    await expect(
      app.register(async (v1) => {
        enforceTenancy(v1, {} as Db);
        v1.get('/forgotten', async () => ({}));
      }),
    ).rejects.toThrow(/GET \/forgotten declares no tenancy/);
    await app.close();
  });

  it('a route that declares one is registered', async () => {
    const app = Fastify();
    await app.register(async (v1) => {
      enforceTenancy(v1, {} as Db);
      v1.get('/listed', { config: { tenancy: 'filtered' } }, async () => ({ ok: true }));
    });
    expect(app.hasRoute({ method: 'GET', url: '/listed' })).toBe(true);
    await app.close();
  });
});
