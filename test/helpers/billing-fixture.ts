import { afterAll, beforeAll, expect } from 'vitest';
import { pino } from 'pino';
import type { Db } from '../../src/db/index.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import { createRate } from '../../src/domain/billing/rates.ts';
import { createUser } from '../../src/domain/users/users.ts';
import { createToken } from '../../src/domain/tokens/tokens.ts';
import { getOrCreateWallet } from '../../src/domain/wallets/wallets.ts';
import { createManualTopUp } from '../../src/domain/wallets/top-ups.ts';
import { updateOrganization, defaultOrganizationId } from '../../src/domain/organizations/organizations.ts';
import { startTransaction, type StationRef } from '../../src/domain/sessions/transactions.ts';
import { migratedDb, type MigratedDb } from './db.ts';

export interface FixtureSession {
  station: StationRef;
  transactionId: number;
  sessionId: string;
}

/**
 * The setup of tests that drive billing without a gateway (the MeterValues batcher and its
 * observer): a migrated database of this test pass, registered with the enclosing suite's
 * beforeAll/afterAll; the default organization's minimum at 0; one ENERGY rate of 100 c/kWh
 * (1 cent per 10 Wh, no step, no tax); a manual clock; builders for drivers and their sessions.
 * `prefix` keeps each file's names apart.
 */
export function billingFixture(prefix: string, start = new Date('2026-06-01T08:00:00Z')) {
  let handle: MigratedDb | undefined;
  let rateId: string;
  let n = 0;
  const clock = new ManualClock(start);

  beforeAll(async () => {
    handle = await migratedDb();
    await updateOrganization(handle.db, clock, await defaultOrganizationId(handle.db), { minimum_balance_to_start_session: 0 });
    rateId = (await createRate(handle.db, clock, { currency: 'USD', price_components: [{ type: 'ENERGY', price: 100 }] })).id;
  });
  afterAll(async () => {
    await handle?.dispose();
  });

  const fixture = {
    clock,
    log: pino({ level: 'silent' }),
    get db(): Db {
      if (!handle) throw new Error('billingFixture: the database is ready from beforeAll on');
      return handle.db;
    },

    /** A user whose wallet holds `balance` cents. */
    async driver(balance: number): Promise<{ walletId: string; userId: string }> {
      n += 1;
      const user = await createUser(fixture.db, clock, { firstname: prefix, lastname: `${prefix}${n}`, email: `${prefix.toLowerCase()}${n}-${Date.now()}@example.com` });
      const { wallet } = await getOrCreateWallet(fixture.db, clock, user.id);
      await createManualTopUp(fixture.db, clock, { wallet: wallet.id, amount: balance });
      return { walletId: wallet.id, userId: user.id };
    },

    /** A session of the driver's wallet on a station of its own, through a token of its own, started now. */
    async session(d: { userId: string }, meterStart = 0): Promise<FixtureSession> {
      n += 1;
      const tag = `${prefix}${n}T${Date.now() % 1_000_000}`;
      await createToken(fixture.db, clock, { physicalId: tag, user: d.userId });
      const st = await createStation(fixture.db, clock, { ocpp_id: `${prefix}-${n}-${Date.now()}`, rate: rateId });
      const station: StationRef = { stationId: st.id, identity: st.ocpp_id };
      const res = await startTransaction(fixture.db, clock, station, { connectorId: 1, idTag: tag, meterStart, timestamp: clock.now() }, { defaultMaxPowerW: null });
      expect(res.status).toBe('Accepted');
      return { station, transactionId: res.session.transaction_id, sessionId: res.session.id };
    },
  };
  return fixture;
}
