import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aToken, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { aCharger, type Charger } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { assertLedgerConsistent } from '../helpers/ledger.ts';

/**
 * How sessions end when real firmware does not say so (issue 13, items 1, 2 and 4): a connector
 * back to Available, a second StartTransaction on a busy connector, an operator closing by hand,
 * one idTag in two places at once, and a meterStop below what the readings reached.
 */
let gw: TestGateway;
let org: { _id: string };
const chargers: Charger[] = [];

beforeAll(async () => {
  gw = await startGateway({ env: { BILLING_SWEEP_INTERVAL_S: '0' }, stopRetryDelaysMs: [150, 150, 150, 150], implicitEndAlertDelayMs: 300 });
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
});
afterEach(async () => {
  await Promise.allSettled(chargers.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await gw.stop();
});

async function setup(opts: { balance?: number; stopPolicy?: 'Accepted' | 'Rejected' } = {}) {
  const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] }); // 1 c per 20 Wh
  const station = await aStation(gw, { rate: rate._id });
  const charger = await aCharger(gw.ocppUrl, station.ocpp_id, { stopPolicy: opts.stopPolicy ?? 'Accepted' });
  chargers.push(charger);
  const who = await aUserWithWallet(gw, { organization: org._id, balance: opts.balance ?? 1_000 });
  return { rate, station, charger, ...who };
}

const status = (charger: Charger, connectorId: number, s: string, timestamp = new Date().toISOString()) =>
  charger.client.call('StatusNotification', { connectorId, errorCode: 'NoError', status: s, timestamp });
const balanceOf = async (userId: string) => (await gw.api('GET', `/v1/users/${userId}/wallet`)).body.wallet.balance as number;
const sessionByTx = async (transactionId: number) =>
  (await gw.api('GET', '/v1/sessions?limit=200')).body.data.find((s: any) => s.transaction_id === transactionId);
const alertsOf = async (kind: string, stationId: string) =>
  (await gw.api('GET', `/v1/alerts?kind=${kind}&chargestation=${stationId}&limit=200`)).body.data;

describe('a connector that reports Available has ended its transaction', () => {
  it('a refused start the charger dropped without StopTransaction: closed, stop retries end, one alert', async () => {
    const { charger, station, token } = await setup({ balance: 50, stopPolicy: 'Rejected' }); // below the minimum
    const { transactionId, idTagInfo } = await charger.start(token.physicalId, 0);
    expect(idTagInfo.status).toBe('Blocked');
    await charger.waitForStop(transactionId);
    // The firmware does not support StopTransactionOnInvalidId: the connector is simply free again.
    await status(charger, 1, 'Available');
    const s = await sessionByTx(transactionId);
    expect(s).toMatchObject({ status: 'rejected', ended_by: 'connector_status', stop_reason: 'ConnectorAvailable' });
    expect(s.stopped_at).not.toBeNull();
    const stopsSoFar = charger.remoteStops.length;
    await new Promise((r) => setTimeout(r, 1_000)); // well past every retry delay
    expect(charger.remoteStops.length).toBe(stopsSoFar);
    await eventually(async () => (await alertsOf('transaction_ended_by_status', station._id)).length === 1);
    expect(await alertsOf('remote_stop_failed', station._id)).toHaveLength(0);
  });

  it('a running session is settled on what was reported; a late StopTransaction settles it once more, and only once', async () => {
    const { charger, station, user, wallet, token } = await setup({ balance: 1_000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 2_000); // 100 c
    await status(charger, 1, 'Available');
    expect(await sessionByTx(transactionId)).toMatchObject({ status: 'completed', ended_by: 'connector_status', cost: { debited: 100 } });
    expect(await balanceOf(user._id)).toBe(900);

    // The StopTransaction was only late (queued offline): its register is the real end.
    await charger.stop(transactionId, 2_400);
    expect(await sessionByTx(transactionId)).toMatchObject({
      status: 'completed',
      ended_by: 'station',
      meter_stop: 2_400,
      termination: 'local',
      cost: { debited: 120 },
    });
    await charger.stop(transactionId, 3_000);
    expect(await balanceOf(user._id)).toBe(880);
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
    // The StopTransaction came: no alert that it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect(await alertsOf('transaction_ended_by_status', station._id)).toHaveLength(0);
  });

  it('an Available older than the session (delivered late) ends nothing', async () => {
    const { charger, token } = await setup();
    const { transactionId } = await charger.start(token.physicalId, 0);
    await status(charger, 1, 'Available', new Date(Date.now() - 60_000).toISOString());
    expect(await sessionByTx(transactionId)).toMatchObject({ status: 'active', ended_by: null });
  });
});

describe('a connector in a transaction', () => {
  it('POST /v1/sessions answers 409 connector_busy on a connector with an open session or a charging status', async () => {
    const { charger, station, user, token } = await setup({ balance: 5_000 });
    await charger.start(token.physicalId, 0, 1);
    const busy = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: station._id, connector: 1, user: user._id });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('connector_busy');
    await status(charger, 2, 'Charging');
    const other = await aUserWithWallet(gw, { organization: org._id, balance: 5_000 });
    const charging = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: station._id, connector: 2, user: other.user._id });
    expect(charging.status).toBe(409);
    expect(charging.body.error.code).toBe('connector_busy');
    expect(charger.remoteStarts).toHaveLength(0);
  });

  it('a second StartTransaction on the connector ends the first (no phantom session), with an alert', async () => {
    const { charger, station, user, token } = await setup({ balance: 5_000 });
    const first = await charger.start(token.physicalId, 0, 1);
    await charger.meter(first.transactionId, 1_000); // 50 c
    const second = await charger.start(token.physicalId, 1_000, 1);
    expect(second.idTagInfo.status).toBe('Accepted');
    expect(second.transactionId).not.toBe(first.transactionId);
    expect(await sessionByTx(first.transactionId)).toMatchObject({ status: 'completed', ended_by: 'new_transaction', meter_stop: 1_000 });
    expect(await sessionByTx(second.transactionId)).toMatchObject({ status: 'active' });
    await charger.meter(second.transactionId, 1_400); // 20 c
    expect(await balanceOf(user._id)).toBe(5_000 - 70);
    expect(await alertsOf('transaction_replaced', station._id)).toHaveLength(1);
  });

  it('the same idTag in a second concurrent transaction gets ConcurrentTx; another token of the wallet may start', async () => {
    const a = await setup({ balance: 5_000 });
    await a.charger.start(a.token.physicalId, 0, 1);
    const elsewhere = await aStation(gw, { rate: a.rate._id });
    const b = await aCharger(gw.ocppUrl, elsewhere.ocpp_id);
    chargers.push(b);
    expect(await b.client.call('Authorize', { idTag: a.token.physicalId })).toMatchObject({ idTagInfo: { status: 'ConcurrentTx' } });
    const refused = await b.start(a.token.physicalId, 0, 1);
    expect(refused.idTagInfo.status).toBe('ConcurrentTx');
    expect(await a.charger.start(a.token.physicalId, 0, 2).then((r) => r.idTagInfo.status)).toBe('ConcurrentTx');
    // One wallet may still fund several sessions through several tokens.
    const second = await aToken(gw, a.user._id);
    expect((await b.start(second.physicalId, 0, 2)).idTagInfo.status).toBe('Accepted');
  });
});

describe('an operator closes a session by hand', () => {
  it('settles on the register given, names the API key in the ledger and on the session; a second close is 409', async () => {
    const { charger, user, wallet, token } = await setup({ balance: 1_000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 1_000); // 50 c
    const s = await sessionByTx(transactionId);
    const closed = await gw.api('POST', `/v1/sessions/${s._id}/close`, { meter_stop: 1_600 });
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ status: 'completed', ended_by: 'operator', closed_by: 'bootstrap', termination: 'closed_by_operator', meter_last: 1_600, cost: { debited: 80 } });
    expect(await balanceOf(user._id)).toBe(920);
    const ledger = (await gw.api('GET', `/v1/users/${user._id}/wallet/transactions`)).body.data;
    expect(ledger.at(-1)).toMatchObject({ type: 'debit', amount: 30, session: s._id, note: expect.stringContaining('bootstrap') });
    expect(ledger[0].note).toBeUndefined();
    const again = await gw.api('POST', `/v1/sessions/${s._id}/close`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('session_settled');
    await assertLedgerConsistent(gw.app.db, [wallet._id]);
  });

  it('a session held for an implausible reading is settled by the operator on a register of their choosing', async () => {
    const { charger, user, token } = await setup({ balance: 1_000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 10_000_000); // 10 MWh in a second: held
    await eventually(async () => (await sessionByTx(transactionId)).status === 'held');
    const s = await sessionByTx(transactionId);
    const closed = await gw.api('POST', `/v1/sessions/${s._id}/close`, { meter_stop: 4_000 });
    expect(closed.body).toMatchObject({ status: 'completed', ended_by: 'operator', cost: { debited: 200 } });
    expect(await balanceOf(user._id)).toBe(800);
  });
});

describe('a meterStop below what the readings reached', () => {
  it('settles on the highest reading and raises an alert', async () => {
    const { charger, station, token } = await setup({ balance: 1_000 });
    const { transactionId } = await charger.start(token.physicalId, 0);
    await charger.meter(transactionId, 339);
    await charger.stop(transactionId, 184);
    expect(await sessionByTx(transactionId)).toMatchObject({ meter_stop: 184, meter_last: 339, energy_wh: 339 });
    const alerts = await alertsOf('meter_stop_below_reading', station._id);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].details).toMatchObject({ meter_stop: 184, highest_wh: 339 });
  });
});
