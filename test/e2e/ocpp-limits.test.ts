import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { aStation } from '../helpers/builders.ts';
import { aRunningSession } from '../helpers/charger.ts';
import { eventually, openSocket } from '../helpers/station.ts';

/** Per-station limits: what one station can make the gateway do, whatever it sends. */

let gw: TestGateway;
beforeAll(async () => {
  // the defaults, except a small refused-start budget
  gw = await startGateway({ env: { OCPP_REFUSED_STARTS_PER_MINUTE: '5' } });
});
afterAll(async () => {
  await gw.stop();
});

type Frame = [number, string, ...unknown[]];

async function rawStation(id: string) {
  const ws = await openSocket(gw.ocppUrl, id);
  const replies: Frame[] = [];
  const calls: Frame[] = [];
  ws.on('message', (m) => {
    const frame = JSON.parse(String(m)) as Frame;
    if (frame[0] === 2) {
      calls.push(frame);
      // answer the gateway's own calls (ChangeConfiguration, RemoteStopTransaction)
      ws.send(JSON.stringify([3, frame[1], { status: 'Accepted' }]));
    } else replies.push(frame);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const answerTo = (msgId: string) => eventually(() => replies.find((r) => r[1] === msgId), 10_000);
  return { ws, replies, calls, closed, answerTo };
}

describe('one station flooding calls', () => {
  it('gets the excess refused and is disconnected, while another station is billed exactly and answered', async () => {
    const { charger: victim, user, transactionId } = await aRunningSession(gw, { pricePerKwh: 100, balance: 10_000 });

    const floodId = uniqueIdentity('FLOOD');
    await aStation(gw, { ocpp_id: floodId });
    const flood = await rawStation(floodId);
    const sent = 3_000;
    const victimAnswers = (async () => {
      const answers: unknown[] = [];
      for (let i = 1; i <= 20; i++) answers.push(await victim.meter(transactionId, i * 100));
      return answers;
    })();
    for (let i = 0; i < sent; i++) {
      flood.ws.send(
        JSON.stringify(
          i % 2
            ? [2, `f${i}`, 'Authorize', { idTag: 'FLOODTAG' }]
            : [2, `f${i}`, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }],
        ),
      );
    }
    // dropped at once (no closing handshake: that would mean reading the rest of its flood first)
    expect(await flood.closed).toBe(1006);
    expect(await victimAnswers).toEqual(Array(20).fill({}));
    await victim.stop(transactionId, 2_000);
    expect((await gw.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet.balance).toBe(10_000 - 200);

    const results = flood.replies.filter((r) => r[0] === 3);
    const refused = flood.replies.filter((r) => r[0] === 4);
    console.log(`flood: ${sent} calls sent, ${results.length} handled, ${refused.length} refused before the disconnect`);
    // the refusals written before the drop (how many reached the client is up to the sockets)
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((r) => r[2]))).toEqual(new Set(['GenericError']));
    // handled one at a time with 10 waiting: far fewer than were sent
    expect(results.length).toBeLessThan(200);
    expect(gw.logs.some((l) => l.includes('station flooding calls; disconnected') && l.includes(floodId))).toBe(true);
    await victim.close();
  });

  it('a station that waits for its answers is never refused; a short burst is queued and answered in order', async () => {
    const id = uniqueIdentity('BURST');
    await aStation(gw, { ocpp_id: id });
    const st = await rawStation(id);
    for (let i = 0; i < 11; i++) st.ws.send(JSON.stringify([2, `b${i}`, 'Heartbeat', {}]));
    await eventually(() => st.replies.length === 11);
    expect(st.replies.map((r) => [r[0], r[1]])).toEqual(Array.from({ length: 11 }, (_, i) => [3, `b${i}`]));
    for (let i = 0; i < 30; i++) {
      st.ws.send(JSON.stringify([2, `w${i}`, 'Heartbeat', {}]));
      expect((await st.answerTo(`w${i}`))[0]).toBe(3);
    }
    st.ws.close();
  });
});

describe('connector ids', () => {
  it('a connectorId above OCPP_MAX_CONNECTOR_ID (32) is a PropertyConstraintViolation and records nothing', async () => {
    const station = await aStation(gw);
    const st = await rawStation(station.ocpp_id);
    const now = new Date().toISOString();
    const send = async (msgId: string, action: string, payload: object) => {
      st.ws.send(JSON.stringify([2, msgId, action, payload]));
      return st.answerTo(msgId);
    };
    expect((await send('s32', 'StatusNotification', { connectorId: 32, errorCode: 'NoError', status: 'Available' }))[0]).toBe(3);
    for (const [msgId, action, payload] of [
      ['s33', 'StatusNotification', { connectorId: 33, errorCode: 'NoError', status: 'Available' }],
      ['s3438', 'StatusNotification', { connectorId: 3438, errorCode: 'NoError', status: 'Available' }],
      ['t33', 'StartTransaction', { connectorId: 33, idTag: 'ANY', meterStart: 0, timestamp: now }],
      ['m33', 'MeterValues', { connectorId: 33, meterValue: [{ timestamp: now, sampledValue: [{ value: '10' }] }] }],
    ] as const) {
      const answer = await send(msgId, action, payload);
      expect(answer.slice(0, 3)).toEqual([4, msgId, 'PropertyConstraintViolation']);
    }
    const body = (await gw.api('GET', `/v1/chargestations/${station._id}`)).body;
    expect(body.connectors.map((c: { connector_id: number }) => c.connector_id)).toEqual([32]);
    const sessions = (await gw.api('GET', `/v1/sessions?chargestation=${station._id}`)).body.data;
    expect(sessions).toHaveLength(0);
    st.ws.close();
  });
});

describe('StartTransaction with unknown tags', () => {
  it('records and stops refused starts up to the per-station budget, then answers a CALLERROR and records nothing', async () => {
    const station = await aStation(gw);
    const st = await rawStation(station.ocpp_id);
    const answers: Frame[] = [];
    for (let i = 0; i < 12; i++) {
      const msgId = `u${i}`;
      st.ws.send(
        JSON.stringify([2, msgId, 'StartTransaction', { connectorId: 1, idTag: `UNKNOWN${i}`, meterStart: 0, timestamp: new Date().toISOString() }]),
      );
      answers.push(await st.answerTo(msgId));
    }
    const accepted = answers.filter((a) => a[0] === 3) as [3, string, { transactionId: number; idTagInfo: { status: string } }][];
    expect(accepted).toHaveLength(5);
    expect(accepted.every((a) => a[2].idTagInfo.status === 'Invalid' && Number.isInteger(a[2].transactionId))).toBe(true);
    expect(answers.slice(5).map((a) => a.slice(0, 3))).toEqual(answers.slice(5).map((a) => [4, a[1], 'GenericError']));
    const sessions = (await gw.api('GET', `/v1/sessions?chargestation=${station._id}`)).body.data;
    expect(sessions.map((s: { status: string }) => s.status)).toEqual(Array(5).fill('rejected'));
    // each recorded refusal still got its RemoteStopTransaction
    await eventually(() => st.calls.filter((c) => c[2] === 'RemoteStopTransaction').length === 5);
    const stopped = st.calls.filter((c) => c[2] === 'RemoteStopTransaction').map((c) => (c[3] as { transactionId: number }).transactionId);
    expect(stopped.sort()).toEqual(accepted.map((a) => a[2].transactionId).sort());
    st.ws.close();
  });
});
