import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childGateway } from '../helpers/child-gateway.ts';

/** The embedded database is one node: a second gateway on the same DATA_DIR is refused, and told why. */
describe('embedded database, a second process', () => {
  it('is refused with a message that names the cause and the way to a cluster', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-single-'));
    // DATABASE_URL empty: the embedded database even in CI's PostgreSQL pass.
    const env = { DATA_DIR: dataDir, DATABASE_URL: '' };
    const first = await childGateway(env);
    try {
      const error = await childGateway(env).then(
        async (second) => {
          await second.stop();
          return undefined;
        },
        (err: Error) => err,
      );
      expect(error?.message).toMatch(/gateway exited 2/);
      expect(error?.message).toMatch(/DATA_DIR .* is in use by another gateway process \(pid \d+\)/);
      expect(error?.message).toMatch(/DATABASE_URL set to the same PostgreSQL database/);
      // The first one is unharmed.
      expect((await first.api('GET', '/v1/organizations')).status).toBe(200);
    } finally {
      await first.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
