import { describe, expect, it } from 'vitest';
import { ON_POSTGRES } from '../helpers/db.ts';
import { startGateway } from '../helpers/gateway.ts';
import { databaseBehindProxy } from '../helpers/tcp-proxy.ts';
import { aRate, aStation, aUserWithWallet } from '../helpers/builders.ts';
import { aCharger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/** PostgreSQL goes away mid-session (the proxy is cut) and comes back. */
describe.skipIf(!ON_POSTGRES)('database outage', () => {
  it('answers InternalError and 503 while it lasts, recovers by itself, and loses or doubles nothing', async () => {
    const { target, proxy, url } = await databaseBehindProxy();
    const gw = await startGateway({ database: { url, drop: async () => {} } });
    try {
      const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
      const station = await aStation(gw, { rate: rate._id });
      const { user, wallet, token } = await aUserWithWallet(gw, { balance: 10_000 });
      const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
      const { transactionId } = await charger.start(token.physicalId, 0);
      await charger.meter(transactionId, 1000); // 50

      proxy.cut();
      // a 10 s outage: the station keeps sending, every message is refused with InternalError
      const outageEnds = Date.now() + 10_000;
      let internalErrors = 0;
      let wh = 1000;
      while (Date.now() < outageEnds) {
        wh = Math.min(3000, wh + 100);
        await expect(charger.meter(transactionId, wh)).rejects.toMatchObject({ rpcErrorCode: 'InternalError' });
        internalErrors += 1;
        await new Promise((r) => setTimeout(r, 250));
      }
      await expect(charger.stop(transactionId, 4000)).rejects.toMatchObject({ rpcErrorCode: 'InternalError' });
      const during = await fetch(`${gw.adminUrl}/v1/users/${user._id}/wallet`, { headers: { authorization: `Bearer ${gw.apiKey}` } });
      expect(during.status).toBe(503);
      expect(((await during.json()) as any).error.code).toBe('service_unavailable');
      // the gateway is still up and still answers what needs no database
      expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);

      proxy.restore();
      // the station retries what was not answered; the pool reconnects on its own
      await eventually(async () => {
        try {
          await charger.meter(transactionId, 3000);
          return true;
        } catch {
          return false;
        }
      }, 15_000);
      await charger.stop(transactionId, 4000);
      await charger.stop(transactionId, 4000); // a retried stop changes nothing
      const after = await gw.api('GET', `/v1/users/${user._id}/wallet`);
      expect(after.body.wallet.balance).toBe(10_000 - 200);
      await assertLedgerConsistent(gw.app.db, [wallet._id]);
      expect(internalErrors).toBeGreaterThan(10);
      console.log(`database outage: 10 s, ${internalErrors} MeterValues refused with InternalError, balance exact after recovery`);
      await charger.close();
    } finally {
      await gw.app.stop();
      await proxy.close();
      await target.drop();
    }
  });
});
