import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { childGateway } from '../helpers/child-gateway.ts';
import { eventually, stationClient, type TestStation } from '../helpers/station.ts';

const STATIONS = 300;
/** Stations whose wallets run out around the crash: their stop must reach them after the restart. */
const POOR = 10;
const POOR_BALANCE = 5; // the first reading (100+ Wh at 0.05 c/Wh) takes it to zero
const PRICE = 50; // c/kWh: 1 c per 20 Wh

/**
 * SIGKILL in the middle of a MeterValues burst from many stations, then a restart. Every
 * station resends what was not answered; with cumulative billing, each session must end up
 * debited exactly the cost of its highest register — nothing lost, nothing doubled.
 */
describe('gateway crash', () => {
  it('SIGKILL during a burst, restart: every answered MeterValues billed once, the rest once when resent', async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-crash-'));
    // The burst raises registers as fast as it is answered, far beyond what a real station
    // delivers: the plausibility check (MAX_STATION_POWER_KW) is off for it.
    const gw = await childGateway({ MAX_STATION_POWER_KW: '0', ...(database.url ? { DATABASE_URL: database.url } : { DATA_DIR: dataDir }) });
    const clients: TestStation[] = [];
    try {
      const org = (await gw.api('POST', '/v1/organizations', { name: 'Crash', minimum_balance_to_start_session: 0 })).body;
      const rate = (await gw.api('POST', '/v1/rates', { currency: 'USD', price_components: [{ type: 'ENERGY', price: PRICE }] })).body;
      const sims: { id: string; tx: number; sent: number; answered: number; wallet: string; user: string; poor: boolean }[] = [];
      const stopsAfterRestart = new Set<number>();
      // Set up 20 stations at a time (one by one took minutes on PGlite in a busy CI run).
      const setUp = async (i: number) => {
        const id = `CRASH-${i}-${Date.now()}`;
        await gw.api('POST', '/v1/chargestations', { ocpp_id: id, rate: rate._id });
        const user = (await gw.api('POST', '/v1/users', { firstname: 'C', lastname: `${i}`, email: `crash${i}-${Date.now()}@example.com`, organization: org._id })).body;
        const wallet = (await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet;
        const poor = i < POOR;
        await gw.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount: poor ? POOR_BALANCE : 1_000_000 });
        await gw.api('POST', '/v1/tokens', { physicalId: `CR${i}X${Date.now() % 1e6}`.slice(0, 20), user: user._id });
        const token = (await gw.api('GET', `/v1/tokens?user=${user._id}`)).body.data[0];
        const c = stationClient(gw.ocppUrl, id);
        c.handle('ChangeConfiguration', async () => ({ status: 'Accepted' }));
        // before the crash, stations refuse stops: the gateway has to deliver them after it
        c.handle('RemoteStopTransaction', async () => ({ status: 'Rejected' }));
        await c.connect();
        clients[i] = c;
        const { transactionId } = await c.call('StartTransaction', { connectorId: 1, idTag: token.physicalId, meterStart: 0, timestamp: new Date().toISOString() });
        sims[i] = { id, tx: transactionId, sent: 0, answered: 0, wallet: wallet._id, user: user._id, poor };
      };
      for (let first = 0; first < STATIONS; first += 20) {
        await Promise.all(Array.from({ length: Math.min(20, STATIONS - first) }, (_, k) => setUp(first + k)));
      }

      // the burst: every station sends rising registers as fast as it is answered
      let killed = false;
      const burst = sims.map(async (s, i) => {
        while (!killed) {
          const wh = s.sent + 100 + (i % 7);
          s.sent = wh;
          try {
            await clients[i]!.call('MeterValues', {
              connectorId: 1,
              transactionId: s.tx,
              meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: String(wh) }] }],
            }, { callTimeoutMs: 2000 });
            s.answered = wh;
          } catch {
            // a timeout on a busy machine is not the crash: keep sending (higher registers)
            if (killed) return;
            // A call refused at once (a closed socket) rejects without I/O: retrying at once would
            // loop on microtasks alone and starve every timer, this test's deadlines included.
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      });
      // Kill once every station has had answers (a loaded machine on PGlite needs longer than
      // an idle one), while the burst is still going.
      await eventually(() => sims.every((s) => s.answered > 0), 60_000);
      await new Promise((r) => setTimeout(r, 500));
      killed = true;
      await gw.kill();
      await Promise.allSettled(burst);
      const answeredBeforeCrash = sims.filter((s) => s.answered > 0).length;
      expect(answeredBeforeCrash).toBe(STATIONS);

      await gw.restart();
      // stations reconnect, resend their last (maybe unanswered) reading, then stop
      await Promise.all(
        sims.map(async (s, i) => {
          const c = stationClient(gw.ocppUrl, s.id);
          c.handle('ChangeConfiguration', async () => ({ status: 'Accepted' }));
          c.handle('RemoteStopTransaction', async ({ params }) => {
            stopsAfterRestart.add(params.transactionId);
            return { status: 'Accepted' };
          });
          await c.connect();
          clients[i] = c;
          await c.call('MeterValues', {
            connectorId: 1,
            transactionId: s.tx,
            meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: String(s.sent) }] }],
          });
          // a station whose wallet ran out waits for the gateway's stop before stopping
          if (s.poor) await eventually(() => stopsAfterRestart.has(s.tx), 15_000);
          await c.call('StopTransaction', {
            transactionId: s.tx,
            meterStop: s.sent,
            timestamp: new Date().toISOString(),
            reason: s.poor ? 'Remote' : 'Local',
          });
        }),
      );
      for (const s of sims.filter((x) => x.poor)) expect(stopsAfterRestart.has(s.tx)).toBe(true);

      let checked = 0;
      for (const s of sims) {
        const sessions = (await gw.api('GET', `/v1/sessions?user=${s.user}`)).body.data;
        expect(sessions).toHaveLength(1);
        const expected = Math.round((s.sent * PRICE) / 1000); // exact: s.sent × 0.05, half-up
        expect(sessions[0]).toMatchObject({ status: 'completed', energy_wh: s.sent, cost: { amount: expected, debited: expected } });
        const wallet = (await gw.api('GET', `/v1/users/${s.user}/wallet`)).body.wallet;
        expect(wallet.balance).toBe((s.poor ? POOR_BALANCE : 1_000_000) - expected);
        if (s.poor) expect(sessions[0].termination).toBe('insufficient_balance');
        const ledger = (await gw.api('GET', `/v1/users/${s.user}/wallet/transactions?limit=200`)).body.data;
        const sum = ledger.reduce((acc: number, e: any) => acc + (e.type === 'credit' ? e.amount : -e.amount), 0);
        expect(sum).toBe(wallet.balance);
        checked += 1;
      }
      const totalAnswered = sims.reduce((a, s) => a + s.answered / 100, 0);
      console.log(`crash: ${STATIONS} stations, SIGKILL after ~${Math.round(totalAnswered)} answered MeterValues, ${checked} sessions settled exactly, ${POOR} wallets at zero stopped after the restart`);
    } finally {
      await Promise.allSettled(clients.map((c) => c.close({ force: true })));
      await gw.stop();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
