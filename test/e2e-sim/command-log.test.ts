/**
 * The command log holds every call the gateway sends a station, not only operator operations:
 * the configuration pass after a boot, the stop at zero, an operator's stop, a remote start, each
 * with who asked (the API key, or `gateway` and why). Real gateway, SimStation on the other end.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import { sessionOf, settled, simGatewayOptions, Stations } from './sim.ts';

let gw: TestGateway;
let org: { _id: string };
/** who the test's API key (ADMIN_API_KEY) is in the log */
const keyId = 'bootstrap';
const stations = new Stations();

beforeAll(async () => {
  // The stop at zero itself: the predictive stop would stop ahead of it.
  gw = await startGateway(simGatewayOptions({ PREDICTIVE_STOP: 'off' }));
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
});
afterEach(() => stations.stopAll());
afterAll(() => gw?.stop());

type Entry = { action: string; status: string; payload: any; answer: any; requested_by: string; reason: string | null; createdAt: string; answeredAt: string | null };

async function logOf(station: string, query = ''): Promise<Entry[]> {
  const res = await gw.api('GET', `/v1/chargestations/${station}/commands?limit=100${query}`);
  expect(res.status).toBe(200);
  return res.body.data;
}

describe('the command log holds the gateway’s own calls', () => {
  it('the configuration pass after a boot: GetConfiguration, then ChangeConfiguration where the station differs', async () => {
    const rate = await aRate(gw);
    const { record } = await stations.boot(gw, rate._id);
    const entries = await eventually(async () => {
      const log = await logOf(record._id, '&requested_by=gateway');
      return log.some((e) => e.action === 'ChangeConfiguration' && e.payload.key === 'MeterValueSampleInterval') ? log : undefined;
    });
    const get = entries.find((e) => e.action === 'GetConfiguration')!;
    expect(get).toMatchObject({ status: 'answered', requested_by: 'gateway', reason: 'boot_configuration' });
    expect(get.payload.key).toContain('MeterValueSampleInterval');
    expect(get.answer.configurationKey).toEqual(expect.any(Array));
    const change = entries.find((e) => e.action === 'ChangeConfiguration' && e.payload.key === 'MeterValueSampleInterval')!;
    expect(change).toMatchObject({
      status: 'answered',
      payload: { key: 'MeterValueSampleInterval', value: '15' },
      answer: { status: 'Accepted' },
      requested_by: 'gateway',
      reason: 'boot_configuration',
      answeredAt: expect.any(String),
    });
    expect(entries.every((e) => e.requested_by === 'gateway')).toBe(true);
  });

  it('the stop at zero: RemoteStopTransaction by `gateway`, reason wallet_at_zero', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 80, tax: 25 }] });
    const { station, record } = await stations.boot(gw, rate._id);
    const { token } = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const stopped = station.waitFor('sessionStopped', () => true, 20_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${JSON.stringify(started)}`);
    await stopped;
    await settled(gw, record._id, started.transactionId);
    const stops = await eventually(async () => {
      const log = await logOf(record._id, '&action=RemoteStopTransaction');
      return log.length ? log : undefined;
    });
    expect(stops[0]).toMatchObject({
      status: 'answered',
      payload: { transactionId: started.transactionId },
      answer: { status: 'Accepted' },
      requested_by: 'gateway',
      reason: 'wallet_at_zero',
    });
  });

  it("an operator's stop names the API key that asked; the remote start before it too", async () => {
    const rate = await aRate(gw);
    const { station, record } = await stations.boot(gw, rate._id);
    const { user } = await aUserWithWallet(gw, { organization: org._id, balance: 100_000 });
    const started = station.waitFor('sessionStarted', () => true, 10_000);
    const start = await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: record._id, connector: 1, user: user._id });
    expect(start.status).toBeLessThan(300);
    const [s] = await started;
    const session = await eventually(() => sessionOf(gw, record._id, s.transactionId));
    const stop = await gw.api('POST', `/v1/sessions/${session._id}/stop`);
    expect(stop.status).toBe(202);
    expect(stop.body.status).toBe('Accepted');

    const log = await eventually(async () => {
      const l = await logOf(record._id);
      return l.some((e) => e.action === 'RemoteStopTransaction') ? l : undefined;
    });
    expect(log.find((e) => e.action === 'RemoteStopTransaction')).toMatchObject({
      status: 'answered',
      payload: { transactionId: s.transactionId },
      answer: { status: 'Accepted' },
      requested_by: keyId,
      reason: 'operator_stop',
    });
    expect(log.find((e) => e.action === 'RemoteStartTransaction')).toMatchObject({
      status: 'answered',
      answer: { status: 'Accepted' },
      requested_by: keyId,
      reason: null,
    });
    // Filtered by who asked: the operator's calls only.
    const mine = await logOf(record._id, `&requested_by=${keyId}`);
    expect(mine.map((e) => e.action).sort()).toEqual(['RemoteStartTransaction', 'RemoteStopTransaction']);
  });

  it('a call that fails is logged with what went wrong', async () => {
    const rate = await aRate(gw);
    const { station, record } = await stations.boot(gw, rate._id);
    const { user } = await aUserWithWallet(gw, { organization: org._id, balance: 100_000 });
    const started = station.waitFor('sessionStarted', () => true, 10_000);
    await gw.api('POST', '/v1/sessions', { type: 'wallet', chargestation: record._id, connector: 1, user: user._id });
    const [s] = await started;
    const session = await eventually(() => sessionOf(gw, record._id, s.transactionId));
    station.answers.set('RemoteStopTransaction', { callError: 'InternalError' });
    await gw.api('POST', `/v1/sessions/${session._id}/stop`);
    const failed = await eventually(async () => (await logOf(record._id, '&action=RemoteStopTransaction')).find((e) => e.status === 'call_error'));
    expect(failed).toMatchObject({ answer: null, requested_by: keyId, reason: 'operator_stop' });
    expect((failed as any).error).toMatchObject({ code: 'InternalError' });
    station.answers.set('RemoteStopTransaction', undefined);
  });
});
