import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { startGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { aCharger } from '../helpers/charger.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

describe('gateway restart in the middle of sessions', () => {
  // A real embedded database on disk, started twice: slow on a busy machine.
  it('loses nothing: billing continues when stations reconnect and resend, and pending stops are sent again', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-restart-'));
    const env = { DATA_DIR: dataDir };
    let gw = await startGateway({ database, env });
    try {
      const org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
      const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
      const [s1, s2] = [await aStation(gw, { rate: rate._id }), await aStation(gw, { rate: rate._id })];
      const rich = await aUserWithWallet(gw, { organization: org._id, balance: 10_000 });
      const poor = await aUserWithWallet(gw, { organization: org._id, balance: 200 });

      let c1 = await aCharger(gw.ocppUrl, s1.ocpp_id);
      let c2 = await aCharger(gw.ocppUrl, s2.ocpp_id, { stopPolicy: 'silent' });
      const t1 = (await c1.start(rich.token.physicalId, 0)).transactionId;
      const t2 = (await c2.start(poor.token.physicalId, 0)).transactionId;
      await c1.meter(t1, 2000); // 100 c
      await c2.meter(t2, 4000); // 200 c → 0: a stop is sent, the station never answers it
      await c2.waitForStop(t2);

      await c1.close();
      await c2.close();
      await gw.app.stop();

      gw = await startGateway({ database, env });
      c1 = await aCharger(gw.ocppUrl, s1.ocpp_id);
      c2 = await aCharger(gw.ocppUrl, s2.ocpp_id);
      // the stop that was never confirmed is sent again on reconnect
      await c2.waitForStop(t2);
      // the station resends what it is not sure was answered, then carries on
      await c1.meter(t1, 2000);
      await c1.meter(t1, 3000); // +50 c
      await c1.stop(t1, 3000);
      await c2.stop(t2, 4100, 'Remote'); // +5 c after the crossing
      const wallet = async (u: string) => (await gw.api('GET', `/v1/users/${u}/wallet`)).body.wallet.balance;
      expect(await wallet(rich.user._id)).toBe(10_000 - 150);
      expect(await wallet(poor.user._id)).toBe(-5);
      const s = (await gw.api('GET', `/v1/sessions?user=${poor.user._id}`)).body.data[0];
      expect(s).toMatchObject({ status: 'completed', termination: 'insufficient_balance' });
      await assertLedgerConsistent(gw.app.db, [rich.wallet._id, poor.wallet._id]);
      await c1.close();
      await c2.close();
    } finally {
      await gw.app.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
