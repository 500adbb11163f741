import { describe, expect, it } from 'vitest';
import { ON_POSTGRES } from '../helpers/db.ts';
import { childGateway } from '../helpers/child-gateway.ts';
import { databaseBehindProxy } from '../helpers/tcp-proxy.ts';
import { stationClient } from '../helpers/station.ts';

/**
 * A graceful stop waits for stations' calls in flight; a database that hangs (no error, no
 * answer) would keep it waiting forever. The stop is bounded: the process exits with code 1
 * 15 s after the signal, and says why.
 */
describe.skipIf(!ON_POSTGRES)('graceful stop deadline', () => {
  it('exits with code 1 about 15 s after SIGTERM when a call in flight waits on a database that hangs', async () => {
    const { target, proxy, url } = await databaseBehindProxy();
    const gw = await childGateway({ DATABASE_URL: url });
    const id = `DEADLINE-${Date.now()}`;
    const station = stationClient(gw.ocppUrl, id);
    try {
      expect((await gw.api('POST', '/v1/chargestations', { ocpp_id: id })).status).toBe(201);
      await station.connect();
      await station.call('Heartbeat', {});
      proxy.stall();
      // a call that needs the database: it cannot be answered while the database hangs
      const inFlight = station.call('Authorize', { idTag: 'DEADLINE' }, { callTimeoutMs: 60_000 }).catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 500));
      const { code, ms } = await gw.terminate();
      expect(code).toBe(1);
      expect(ms).toBeGreaterThanOrEqual(14_000);
      expect(ms).toBeLessThan(40_000);
      expect(gw.output.join('')).toContain('graceful stop did not finish in time');
      // the call was never answered: the connection closed under it
      expect(await inFlight).toBeInstanceOf(Error);
    } finally {
      await station.close({ force: true }).catch(() => {});
      await gw.stop();
      await proxy.close();
      await target.drop();
    }
  }, 90_000);
});
