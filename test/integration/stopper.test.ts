import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { ManualClock } from '../../src/shared/clock.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import { createRate } from '../../src/domain/billing/rates.ts';
import { createUser } from '../../src/domain/users/users.ts';
import { createToken } from '../../src/domain/tokens/tokens.ts';
import { getOrCreateWallet } from '../../src/domain/wallets/wallets.ts';
import { createManualTopUp } from '../../src/domain/wallets/top-ups.ts';
import { updateOrganization, defaultOrganizationId } from '../../src/domain/organizations/organizations.ts';
import { startTransaction } from '../../src/domain/sessions/transactions.ts';
import { RemoteStopper } from '../../src/domain/sessions/stopper.ts';
import type { StationPort } from '../../src/domain/chargers/station-port.ts';
import { ON_POSTGRES, migratedDb, type MigratedDb } from '../helpers/db.ts';
import { eventually } from '../helpers/station.ts';

const log = pino({ level: 'silent' });

/** Holds the result of the stopper's `stop_attempts` update until released. */
class HoldAttemptCount implements KyselyPlugin {
  private readonly ids = new WeakSet<object>();
  private gate: Promise<void> | undefined;
  private release: (() => void) | undefined;
  held = 0;

  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
    this.gate = undefined;
  }
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    // the attempt's record: an UPDATE, or the batched statement (raw SQL)
    const kind = args.node.kind as string;
    if ((kind === 'UpdateQueryNode' || kind === 'RawNode') && JSON.stringify(args.node).includes('stop_attempts')) this.ids.add(args.queryId);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.ids.has(args.queryId) && this.gate) {
      this.held += 1;
      await this.gate;
    }
    return args.result;
  }
}

/** Counts the statements that record stop attempts. */
class CountAttemptRecords implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (JSON.stringify(args.node).includes('stop_attempts = ')) this.count += 1;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** A station that answers RemoteStopTransaction when the test says so, counting calls in flight. */
class ScriptedStation implements StationPort {
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  autoReject = false;
  private pending: ((status: 'Accepted' | 'Rejected') => void)[] = [];

  async call(): Promise<any> {
    this.calls += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const status = this.autoReject ? 'Rejected' : await new Promise<'Accepted' | 'Rejected'>((r) => this.pending.push(r));
    this.inFlight -= 1;
    return { status };
  }
  answer(status: 'Accepted' | 'Rejected'): void {
    const next = this.pending.shift();
    if (!next) throw new Error('no call waiting for an answer');
    next(status);
  }
  async locate(identities: readonly string[]) {
    return new Map(identities.map((id) => [id, { node: 'test' }]));
  }
  async disconnect(): Promise<void> {}
}

describe('RemoteStopper', () => {
  let h: MigratedDb;
  const clock = new ManualClock(new Date('2026-06-01T08:00:00Z'));

  beforeAll(async () => {
    h = await migratedDb();
    await updateOrganization(h.db, clock, await defaultOrganizationId(h.db), { minimum_balance_to_start_session: 0 });
  });
  afterAll(async () => {
    await h.dispose();
  });

  let opened = 0;
  async function openSession() {
    opened += 1;
    const rate = await createRate(h.db, clock, { currency: 'USD', price_components: [{ type: 'ENERGY', price: 100 }] });
    const user = await createUser(h.db, clock, { firstname: 'R', lastname: 'S', email: `rs-${Date.now()}@example.com` });
    const { wallet } = await getOrCreateWallet(h.db, clock, user.id);
    await createManualTopUp(h.db, clock, { wallet: wallet.id, amount: 1_000 });
    const tag = `RS${Date.now() % 1_000_000_000}-${opened}`;
    await createToken(h.db, clock, { physicalId: tag, user: user.id });
    const st = await createStation(h.db, clock, { ocpp_id: `RS-${Date.now()}-${opened}`, rate: rate.id });
    const res = await startTransaction(h.db, clock, { stationId: st.id, identity: st.ocpp_id }, { connectorId: 1, idTag: tag, meterStart: 0, timestamp: clock.now() }, { defaultMaxPowerW: null });
    expect(res.status).toBe('Accepted');
    return { identity: st.ocpp_id, sessionId: res.session.id };
  }

  // PostgreSQL only: holding the attempt's update would hold PGlite's single connection, which the
  // reconnect's read needs; and on PGlite that one connection already serialises the two.
  it.runIf(ON_POSTGRES)('a reconnect while an answered attempt is still being recorded adds one attempt to the same chain, never a second chain', async () => {
    const { identity, sessionId } = await openSession();
    const plugin = new HoldAttemptCount();
    const station = new ScriptedStation();
    const stopper = new RemoteStopper({ db: h.db.withPlugin(plugin), clock, log, stations: station }, [20, 20, 20]);
    try {
      plugin.hold();
      const first = stopper.stopSession(sessionId, 'remote');
      await eventually(() => station.calls === 1);
      station.answer('Rejected');
      // the answer is in; its stop_attempts update is held: the station reconnects now
      await eventually(() => plugin.held === 1);
      await stopper.onStationConnected(identity);
      expect(station.calls).toBe(1); // asked again later, not at once beside the running attempt
      station.autoReject = true;
      plugin.open();
      expect(await first).toBe('Rejected');

      const status = async () =>
        (await h.db.selectFrom('sessions').select(['status', 'stop_attempts']).where('id', '=', sessionId).executeTakeFirstOrThrow());
      await eventually(async () => (await status()).status === 'stop_failed');
      await new Promise((r) => setTimeout(r, 200)); // well past every retry delay
      // 1 + the reconnect's extra attempt + the remaining 2 retries of [20, 20, 20]: one chain
      expect(station.calls).toBe(4);
      expect(station.maxInFlight).toBe(1);
      expect((await status()).stop_attempts).toBe(4);
      const alerts = await h.db.selectFrom('alerts').select('kind').where('session_id', '=', sessionId).execute();
      expect(alerts).toEqual([{ kind: 'remote_stop_failed' }]);
    } finally {
      stopper.close();
    }
  });

  // PostgreSQL only, as above.
  it.runIf(ON_POSTGRES)('a stop asked for while an accepted one is still being recorded is sent once that is done; one asked for before the answer shares it', async () => {
    const { sessionId } = await openSession();
    const plugin = new HoldAttemptCount();
    const station = new ScriptedStation();
    const stopper = new RemoteStopper({ db: h.db.withPlugin(plugin), clock, log, stations: station }, [20]);
    try {
      plugin.hold();
      const first = stopper.stopSession(sessionId, 'remote');
      await eventually(() => station.calls === 1);
      const target = { sessionId, transactionId: 1, identity: 'RS', stationId: 'x', reason: 'energy_after_end' };
      // before the answer: the stop on its way is this request's stop too
      const sharing = stopper.stopMarked(target);
      station.answer('Accepted');
      await sharing;
      expect(station.calls).toBe(1);
      // answered, its record held: the station reports energy on the transaction again
      await eventually(() => plugin.held === 1);
      const again = stopper.stopMarked(target);
      plugin.open();
      expect(await first).toBe('Accepted');
      await eventually(() => station.calls === 2);
      station.answer('Accepted');
      await again;
      expect(station.maxInFlight).toBe(1);
    } finally {
      plugin.open();
      stopper.close();
    }
  });

  it('attempts answered together are recorded together: fewer statements than attempts, each session counted once', async () => {
    const sessions = [];
    for (let i = 0; i < 6; i++) sessions.push(await openSession());
    const counter = new CountAttemptRecords();
    const station = new ScriptedStation();
    const stopper = new RemoteStopper({ db: h.db.withPlugin(counter), clock, log, stations: station }, [20]);
    try {
      const stops = sessions.map((x) => stopper.stopSession(x.sessionId, 'remote'));
      await eventually(() => station.calls === 6);
      for (let i = 0; i < 6; i++) station.answer(i === 5 ? 'Rejected' : 'Accepted');
      // (calls reach the station in the order their marks committed, not in this order)
      const outcomes = await Promise.all(stops);
      expect([...outcomes].sort()).toEqual(['Accepted', 'Accepted', 'Accepted', 'Accepted', 'Accepted', 'Rejected']);
      await stopper.drain();
      expect(counter.count).toBeGreaterThan(0);
      expect(counter.count).toBeLessThan(6);
      const rows = await h.db.selectFrom('sessions').select(['id', 'status', 'stop_attempts', 'stop_retry_at'])
        .where('id', 'in', sessions.map((x) => x.sessionId)).execute();
      for (const [i, x] of sessions.entries()) {
        const row = rows.find((r) => r.id === x.sessionId)!;
        expect(row).toMatchObject({ status: 'stopping', stop_attempts: 1 });
        // accepted: no further attempt due; rejected: the next one in 20 ms
        if (outcomes[i] === 'Accepted') expect(row.stop_retry_at).toBeNull();
        else expect(row.stop_retry_at).toEqual(new Date(clock.now().getTime() + 20));
      }
    } finally {
      stopper.close();
    }
  });

  it('a stop that runs out of retries marks the session stop_failed and records its alert together', async () => {
    const { sessionId } = await openSession();
    const station = new ScriptedStation();
    station.autoReject = true;
    const stopper = new RemoteStopper({ db: h.db, clock, log, stations: station }, [10]);
    try {
      expect(await stopper.stopSession(sessionId, 'remote')).toBe('Rejected');
      // whenever the status reads stop_failed, the alert is already there
      const seen = await eventually(async () => {
        const row = await h.db.selectFrom('sessions').select('status').where('id', '=', sessionId).executeTakeFirstOrThrow();
        if (row.status !== 'stop_failed') return undefined;
        return h.db.selectFrom('alerts').select('kind').where('session_id', '=', sessionId).execute();
      });
      expect(seen).toEqual([{ kind: 'remote_stop_failed' }]);
      expect(station.calls).toBe(2);
    } finally {
      stopper.close();
    }
  });
});
