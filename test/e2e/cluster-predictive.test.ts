import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { clusterFixture, startCluster } from '../helpers/cluster.ts';
import { ON_POSTGRES } from '../helpers/db.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';
import { eventually } from '../helpers/station.ts';

/** 1 cent per 10 Wh */
const PRICE = 100;
const cost = (wh: number) => Math.round((wh * PRICE) / 1000);
/** each session: 100 Wh a second (360 kW), 10 c/s; the wallet pays for two */
const WH_PER_S = 100;
/** a reading every 2 s: 20 c per session between readings, 40 c for the wallet */
const READING_EVERY_MS = 2_000;
const STOP_DELAY_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The predictive stop (issue 17) in a cluster (issue 15): one wallet pays for a session on node 1
 * and one on node 2. Each node sees only its own station's readings; the other session it knows
 * from the database. Both must be stopped *at* the wallet's crossing (not after a reading took it
 * below zero), whichever node sends each stop, and the ledger must stay exact.
 */
describe.skipIf(!ON_POSTGRES)('predictive stop across a cluster (needs PostgreSQL: set DATABASE_URL)', () => {
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let fx: Awaited<ReturnType<typeof clusterFixture>>;
  const chargers: Charger[] = [];
  const uid = Date.now().toString(36).toUpperCase();

  beforeAll(async () => {
    cluster = await startCluster(2, {
      CLUSTER_LEASE_S: '3',
      MAX_STATION_POWER_KW: '0',
      PREDICTIVE_STOP_DELAY_S: String(STOP_DELAY_MS / 1000),
      // the manual chargers ignore power limits; the landing has its own tests
      PREDICTIVE_LANDING_POWER_KW: '0',
      LOG_LEVEL: 'info',
    });
    fx = await clusterFixture(cluster.nodes[0]!, PRICE);
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(chargers.map((c) => c.close()));
    await cluster?.stop();
  });

  it('a wallet paying on two nodes is stopped at its crossing on both, within a few cents of zero', async () => {
    const balance = 190; // the crossing falls between two readings (9.5 s)
    const payer = await fx.driver(balance, 2);
    const runs = await Promise.all(
      [1, 2].map(async (n) => {
        const station = await fx.station(`CP-${uid}-${n}`);
        const c = await aCharger(cluster.nodes[n - 1]!.ocppUrl, station.ocpp_id);
        chargers.push(c);
        await eventually(async () => (await cluster.presence(station.ocpp_id)) === `node${n}`);
        return { c, station };
      }),
    );
    const t0 = Date.now();
    const register = () => Math.floor(((Date.now() - t0) * WH_PER_S) / 1000);
    const txs = await Promise.all(runs.map((r) => r.c.start(payer.idTags[runs.indexOf(r)]!, 0).then((s) => s.transactionId)));

    // Each charger: a reading every 2 s until it is asked to stop; then it stops after its delay.
    const finals = await Promise.all(
      runs.map(async ({ c }, i) => {
        const tx = txs[i]!;
        const stopped = c.waitForStop(tx, 30_000);
        let asked = false;
        void stopped.then(() => (asked = true));
        while (!asked) {
          await Promise.race([sleep(READING_EVERY_MS), stopped]);
          if (!asked) await c.meter(tx, register());
        }
        await sleep(STOP_DELAY_MS);
        const meterStop = register();
        await c.stop(tx, meterStop, 'Remote');
        return meterStop;
      }),
    );

    const expected = balance - cost(finals[0]!) - cost(finals[1]!);
    const wallet = (await cluster.nodes[1]!.api('GET', `/v1/users/${payer.userId}/wallet`)).body.wallet;
    expect(wallet.balance).toBe(expected);
    // A stop at zero alone would leave it up to a reading interval of both sessions below zero (-40 c).
    expect(wallet.balance).toBeGreaterThanOrEqual(-10);
    expect(wallet.balance).toBeLessThanOrEqual(10);
    const sessions = (await cluster.nodes[0]!.api('GET', `/v1/sessions?user=${payer.userId}`)).body.data as Record<string, unknown>[];
    expect(sessions).toHaveLength(2);
    for (const s of sessions) expect(s).toMatchObject({ status: 'completed', termination: 'insufficient_balance', stopped_by: 'prediction' });
    await assertLedgerConsistent(cluster.db, [payer.walletId]);
  }, 60_000);

  it('no node logged an error', () => {
    for (const n of cluster.nodes) {
      const errors = n.output.join('').split('\n').filter((l) => /"level":(50|60)/.test(l));
      expect(errors, n.id).toEqual([]);
    }
  });
});
