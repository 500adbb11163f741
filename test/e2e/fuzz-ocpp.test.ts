import fc from 'fast-check';
import WebSocket from 'ws';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';

/**
 * Hostile input on the OCPP port: random and malformed frames. The gateway must answer every
 * CALL it can read an id from (CALLERROR or CALLRESULT, same id), answer nothing else, keep
 * running, and bill nothing from what a fuzzer can send.
 */

const ACTIONS = [
  'BootNotification', 'Heartbeat', 'StatusNotification', 'Authorize', 'StartTransaction',
  'MeterValues', 'StopTransaction', 'DataTransfer', 'FirmwareStatusNotification', 'DiagnosticsStatusNotification',
];

const now = new Date().toISOString();
const VALID: Record<string, object> = {
  BootNotification: { chargePointVendor: 'V', chargePointModel: 'M' },
  Heartbeat: {},
  StatusNotification: { connectorId: 1, errorCode: 'NoError', status: 'Available' },
  Authorize: { idTag: 'FUZZ' },
  StartTransaction: { connectorId: 1, idTag: 'FUZZ', meterStart: 0, timestamp: now },
  MeterValues: { connectorId: 1, transactionId: 1, meterValue: [{ timestamp: now, sampledValue: [{ value: '100' }] }] },
  StopTransaction: { transactionId: 1, meterStop: 10, timestamp: now },
  DataTransfer: { vendorId: 'x' },
  FirmwareStatusNotification: { status: 'Idle' },
  DiagnosticsStatusNotification: { status: 'Idle' },
};

/**
 * A value of any type, including text with any code point (NUL among them) and integers up to
 * JavaScript's safe range: what a database column may refuse as data.
 */
const junkValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  // halves of surrogate pairs, which 'binary' leaves out
  fc.constantFrom('\ud800', 'x\udfff', '\udc00\ud800'),
  fc.maxSafeInteger(),
);

/** A valid payload with one field replaced by a value of any type. */
const mutatedPayload = fc
  .tuple(fc.constantFrom(...ACTIONS), junkValue, fc.nat())
  .map(([action, junk, n]) => {
    const payload: Record<string, unknown> = structuredClone(VALID[action]!) as Record<string, unknown>;
    const keys = Object.keys(payload);
    if (keys.length) payload[keys[n % keys.length]!] = junk;
    else payload[`extra${n}`] = junk;
    return { action, payload };
  });

const deepJson = fc.nat({ max: 2000 }).map((d) => '['.repeat(d) + ']'.repeat(d));

type Frame = { text: string; expectsReplyTo?: string };

const frame: fc.Arbitrary<Frame> = fc.oneof(
  fc.string({ maxLength: 200 }).map((text) => ({ text })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: JSON.stringify(v) ?? 'null' })),
  deepJson.map((text) => ({ text })),
  fc.tuple(fc.constantFrom(2, 3, 4, 5, 0, -1, 2.5), fc.oneof(fc.string({ maxLength: 40 }), fc.integer()), fc.anything({ maxDepth: 2 }))
    .map(([t, id, rest]) => ({ text: JSON.stringify([t, id, rest]) })),
  fc.tuple(fc.uuid(), mutatedPayload).map(([id, { action, payload }]) => ({
    text: JSON.stringify([2, id, action, payload]),
    expectsReplyTo: id,
  })),
  fc.tuple(fc.uuid(), fc.string({ maxLength: 30 }), fc.anything({ maxDepth: 3 })).map(([id, action, payload]) => ({
    text: JSON.stringify([2, id, action, payload]),
    expectsReplyTo: id,
  })),
  // answers to calls the gateway never made
  fc.tuple(fc.uuid(), fc.jsonValue({ maxDepth: 2 })).map(([id, v]) => ({ text: JSON.stringify([3, id, v]) })),
  fc.tuple(fc.uuid(), fc.string({ maxLength: 20 })).map(([id, code]) => ({ text: JSON.stringify([4, id, code, 'x', {}]) })),
  fc.nat({ max: 60_000 }).map((n) => ({ text: JSON.stringify([2, `big-${n}`, 'DataTransfer', { vendorId: 'x', data: 'y'.repeat(n) }]), expectsReplyTo: `big-${n}` })),
);

let gw: TestGateway;
let walletUser: string;
beforeAll(async () => {
  // Every fuzzed CALL is to reach its handler: the per-station queue limit (which would refuse
  // most of a burst) has its own test in ocpp-limits.test.ts.
  gw = await startGateway({ env: { OCPP_MAX_BAD_MESSAGES: '0', OCPP_MAX_QUEUED_CALLS: '10000' } });
  const rate = await aRate(gw);
  await aStation(gw, { rate: rate._id });
  walletUser = (await aUserWithWallet(gw, { balance: 10_000 })).user._id;
});
afterAll(async () => {
  await gw.stop();
});

/** The gateway's 'handler failed' log lines (a message it could not handle), as `action: error`. */
function handlerFailures(): string[] {
  return gw.logs
    .filter((l) => l.includes('handler failed'))
    .map((l) => JSON.parse(l) as { action?: string; err?: { message?: string } })
    .map((l) => `${l.action}: ${l.err?.message}`);
}

async function rawStation(id: string) {
  const created = await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
  const ws = new WebSocket(`${gw.ocppUrl}/${id}`, ['ocpp1.6']);
  const replies: unknown[][] = [];
  ws.on('message', (m) => {
    try {
      replies.push(JSON.parse(String(m)));
    } catch {
      replies.push(['unparseable', String(m)]);
    }
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { ws, replies, stationId: created.body._id as string };
}

describe('OCPP fuzzing', () => {
  it('answers every readable CALL, stays up, and bills nothing', async () => {
    const { ws, replies } = await rawStation(uniqueIdentity('FUZZ'));
    const frames = fc.sample(frame, { numRuns: 1500, seed: 4242 });
    // CALLs whose id is reused before the first is answered may legitimately get one reply each
    const expected = new Set<string>();
    let sent = 0;
    for (const f of frames) {
      ws.send(f.text);
      sent += 1;
      if (f.expectsReplyTo) expected.add(f.expectsReplyTo);
      if (sent % 100 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    // reused message id, back to back
    ws.send(JSON.stringify([2, 'dup-1', 'Heartbeat', {}]));
    ws.send(JSON.stringify([2, 'dup-1', 'Heartbeat', {}]));
    expected.add('dup-1');
    await eventually(() => [...expected].every((id) => replies.some((r) => r[1] === id)), 30_000).catch(() => undefined);
    // last, invalid UTF-8 in a text frame: RFC 6455 has the connection closed (1007); the gateway stays up
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(Buffer.from([0x5b, 0x32, 0x2c, 0xff, 0xfe, 0x5d]), { binary: false });
    expect(await closed).toBe(1007);
    const answered = [...expected].filter((id) => replies.some((r) => r[1] === id));
    // The gateway's own CALLs (ChangeConfiguration after a boot, RemoteStop after a refused
    // start) are fine; every CALLRESULT/CALLERROR must answer an id we sent in a CALL.
    const sentCallIds = new Set(
      frames.flatMap((f) => {
        try {
          const v = JSON.parse(f.text);
          return Array.isArray(v) && v[0] === 2 && typeof v[1] === 'string' ? [v[1]] : [];
        } catch {
          return [];
        }
      }),
    );
    sentCallIds.add('dup-1');
    // a frame whose message id cannot be read is answered with the conventional id "-1"
    sentCallIds.add('-1');
    const responses = replies.filter((r) => r[0] !== 2);
    const callRepliesOk = responses.every((r) => (r[0] === 3 || r[0] === 4) && sentCallIds.has(r[1] as string));
    console.log(`fuzz: ${sent + 3} frames sent, ${expected.size} readable CALLs, ${answered.length} answered, ${replies.length} replies`);
    expect(callRepliesOk).toBe(true);
    // every readable CALL got an answer
    expect(answered.length).toBe(expected.size);
    expect(replies.every((r) => typeof r[1] === 'string')).toBe(true);
    // CALLERROR codes are OCPP 1.6's
    const codes = new Set(responses.filter((r) => r[0] === 4).map((r) => r[2]));
    for (const code of codes) {
      expect([
        'NotImplemented', 'NotSupported', 'InternalError', 'ProtocolError', 'SecurityError', 'FormationViolation',
        'PropertyConstraintViolation', 'OccurenceConstraintViolation', 'TypeConstraintViolation', 'GenericError',
      ]).toContain(code);
    }

    // what could not be read or stored was refused as bad input, never failed as a fault of the gateway
    expect(handlerFailures()).toEqual([]);

    const health = await fetch(gw.adminUrl + '/healthz');
    expect(health.status).toBe(200);
    const ledger = await gw.api('GET', `/v1/users/${walletUser}/wallet/transactions`);
    expect(ledger.body.data.filter((e: any) => e.type === 'debit')).toHaveLength(0);
    const debits = await gw.app.db.selectFrom('ledger_entries').select('id').where('type', '=', 'debit').execute();
    expect(debits).toHaveLength(0);
    ws.terminate();
  });

  it('never answers a CALLRESULT or CALLERROR, even for ids it never sent', async () => {
    const { ws, replies } = await rawStation(uniqueIdentity('FUZZR'));
    ws.send(JSON.stringify([3, 'never-sent', {}]));
    ws.send(JSON.stringify([4, 'never-sent-2', 'GenericError', '', {}]));
    ws.send(JSON.stringify([2, 'probe', 'Heartbeat', {}]));
    await eventually(() => replies.some((r) => r[1] === 'probe'));
    expect(replies.map((r) => r[1])).toEqual(['probe']);
    ws.terminate();
  });
});

describe('text the database cannot store (a NUL, half of a surrogate pair)', () => {
  it("is read with U+FFFD in its place: the message is handled, and other stations' messages written with it are not disturbed", async () => {
    const ids = Array.from({ length: 12 }, () => uniqueIdentity('NUL'));
    const stations = await Promise.all(ids.map((id) => rawStation(id)));
    const reply = async (s: { replies: unknown[][] }, id: string) => (await eventually(() => s.replies.find((r) => r[1] === id)))!;
    // all boots in one moment, so they share the boots' statement; two carry what PostgreSQL cannot keep
    const vendor = (i: number) => (i === 5 ? 'Ac\u0000me' : i === 7 ? 'Bo\ud800lt' : `Vendor ${i}`);
    stations.forEach(({ ws }, i) => ws.send(JSON.stringify([2, `boot-${i}`, 'BootNotification', { chargePointVendor: vendor(i), chargePointModel: 'M' }])));
    const boots = await Promise.all(stations.map((s, i) => reply(s, `boot-${i}`)));
    expect(boots.map((b) => [b[0], (b[2] as { status: string }).status])).toEqual(Array(12).fill([3, 'Accepted']));
    for (const [i, id] of ids.entries()) {
      const { body } = await gw.api('GET', `/v1/chargestations?q=${id}`);
      const stored = i === 5 ? 'Ac\ufffdme' : i === 7 ? 'Bo\ufffdlt' : `Vendor ${i}`;
      expect(body.data.map((c: { boot: { vendor: string | null } }) => c.boot.vendor), id).toEqual([stored]);
    }

    const odd = stations[5]!;
    const calls: [string, object, (answer: unknown) => void][] = [
      ['StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', info: 'x\u0000y' }, (a) => expect(a).toEqual({})],
      ['Authorize', { idTag: 'AB\u0000C' }, (a) => expect(a).toMatchObject({ idTagInfo: { status: 'Invalid' } })],
      ['Authorize', { idTag: '\udc00AB' }, (a) => expect(a).toMatchObject({ idTagInfo: { status: 'Invalid' } })],
      ['DataTransfer', { vendorId: 'v', data: 'x\u0000' }, (a) => expect(a).toMatchObject({ status: expect.any(String) })],
      ['SecurityEventNotification', { type: 'Tamper\u0000', timestamp: now, techInfo: '\ud83d' }, (a) => expect(a).toEqual({})],
    ];
    for (const [i, [action, payload, check]] of calls.entries()) {
      odd.ws.send(JSON.stringify([2, `c-${i}`, action, payload]));
      const r = await reply(odd, `c-${i}`);
      expect(r[0], `${action}: ${JSON.stringify(r)}`).toBe(3);
      check(r[2]);
    }
    expect(handlerFailures()).toEqual([]);
    for (const { ws } of stations) ws.terminate();
  });
});

describe('integers beyond the 32-bit ids the gateway keeps', () => {
  const big = 7_993_138_084_334_951;
  const reply = async (s: { replies: unknown[][] }, id: string) => (await eventually(() => s.replies.find((r) => r[1] === id)))!;

  it("are refused with PropertyConstraintViolation naming the field, without failing other stations' messages", async () => {
    const [a, b] = await Promise.all([rawStation(uniqueIdentity('BIG')), rawStation(uniqueIdentity('BIG'))]);
    const calls: [string, object, string][] = [
      ['StatusNotification', { connectorId: big, errorCode: 'NoError', status: 'Available' }, 'connectorId'],
      ['LogStatusNotification', { status: 'Idle', requestId: big }, 'requestId'],
    ];
    for (const [i, [action, payload, field]] of calls.entries()) {
      // the other station's well-formed message in the same moment is answered as usual
      a.ws.send(JSON.stringify([2, `big-${i}`, action, payload]));
      b.ws.send(JSON.stringify([2, `ok-${i}`, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }]));
      const [bad, ok] = await Promise.all([reply(a, `big-${i}`), reply(b, `ok-${i}`)]);
      expect(bad.slice(0, 3), action).toEqual([4, `big-${i}`, 'PropertyConstraintViolation']);
      expect(bad[3], action).toMatch(new RegExp(`^${field}: .*must be at most`));
      expect(ok, action).toEqual([3, `ok-${i}`, {}]);
    }
    expect(handlerFailures()).toEqual([]);
    a.ws.terminate();
    b.ws.terminate();
  });

  it('as a transactionId, are a transaction the gateway does not know: answered, alerted, nothing billed', async () => {
    // A refused StopTransaction would come back again and again and hold up the station's later
    // transaction messages; an id beyond int32 is none the gateway issued, so it is an unknown one.
    const [a, b] = await Promise.all([rawStation(uniqueIdentity('BIGTX')), rawStation(uniqueIdentity('BIGTX'))]);
    const stationId = a.stationId;
    const before = await gw.api('GET', `/v1/users/${walletUser}/wallet`);
    const calls: [string, object, unknown][] = [
      ['MeterValues', { connectorId: 1, transactionId: big, meterValue: [{ timestamp: now, sampledValue: [{ value: '100' }] }] }, {}],
      ['StopTransaction', { transactionId: big, meterStop: 10, timestamp: now }, {}],
      ['StopTransaction', { transactionId: -big, meterStop: 10, timestamp: now, idTag: 'FUZZ' }, { idTagInfo: expect.objectContaining({ status: expect.any(String) }) }],
    ];
    for (const [i, [action, payload, answer]] of calls.entries()) {
      a.ws.send(JSON.stringify([2, `bigtx-${i}`, action, payload]));
      b.ws.send(JSON.stringify([2, `ok-${i}`, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }]));
      const [got, ok] = await Promise.all([reply(a, `bigtx-${i}`), reply(b, `ok-${i}`)]);
      expect(got, action).toEqual([3, `bigtx-${i}`, answer]);
      expect(ok, action).toEqual([3, `ok-${i}`, {}]);
    }
    const alerts = await eventually(async () => {
      const r = await gw.api('GET', `/v1/alerts?chargestation=${stationId}`);
      const kinds = (r.body.data as { kind: string }[]).map((x) => x.kind).sort();
      return kinds.includes('unknown_transaction') && kinds.includes('meter_values_without_session') ? r.body.data : undefined;
    });
    for (const alert of alerts as { kind: string; transaction_id: number | null; details: Record<string, unknown>; message: string }[]) {
      // the integer column cannot hold the id: it is kept in the details and the message
      expect(alert.transaction_id, alert.kind).toBeNull();
      expect([big, -big], alert.kind).toContain(alert.details.transactionId);
      expect(alert.message, alert.kind).toMatch(/-?7993138084334951/);
    }
    // The alert.created event carries the id as the alert stores it.
    const events = await gw.app.db
      .selectFrom('outbox_events')
      .select(['data'])
      .where('type', '=', 'alert.created')
      .where(sql<boolean>`data->>'chargestation' = ${stationId}`)
      .execute();
    // (one per alert: the MeterValues one, and the StopTransaction one the second stop folded into)
    expect(events.map((e) => (e.data as { details: Record<string, unknown> }).details.transactionId)).toEqual([big, big]);
    // A repeat folded into the open alert shows its own transaction: an int32 one in the column,
    // one beyond it as null there (the message and details name it).
    const stopUnknown = async (id: string, transactionId: number) => {
      a.ws.send(JSON.stringify([2, id, 'StopTransaction', { transactionId, meterStop: 10, timestamp: now }]));
      expect(await reply(a, id)).toEqual([3, id, {}]);
      const r = await gw.api('GET', `/v1/alerts?chargestation=${stationId}&kind=unknown_transaction`);
      return r.body.data[0] as { transaction_id: number | null; count: number; details: Record<string, unknown> };
    };
    expect(await stopUnknown('repeat-1', 424_242)).toMatchObject({ transaction_id: 424_242, count: 3 });
    const folded = await stopUnknown('repeat-2', big);
    expect(folded).toMatchObject({ transaction_id: null, count: 4 });
    expect(folded.details.transactionId).toBe(big);
    // An integer JSON cannot carry exactly is still refused.
    a.ws.send(JSON.stringify([2, 'huge', 'StopTransaction', { transactionId: 2 ** 60, meterStop: 10, timestamp: now }]));
    expect((await reply(a, 'huge')).slice(0, 2)).toEqual([4, 'huge']);
    expect((await gw.api('GET', `/v1/users/${walletUser}/wallet`)).body).toEqual(before.body);
    expect(handlerFailures()).toEqual([]);
    a.ws.terminate();
    b.ws.terminate();
  });
});

describe('a station that keeps sending garbage', () => {
  it('is disconnected after OCPP_MAX_BAD_MESSAGES consecutive bad frames', async () => {
    const strict = await startGateway({ env: { OCPP_MAX_BAD_MESSAGES: '5' } });
    try {
      const id = uniqueIdentity('BAD');
      await strict.api('POST', '/v1/chargestations', { ocpp_id: id });
      const ws = new WebSocket(`${strict.ocppUrl}/${id}`, ['ocpp1.6']);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      for (let i = 0; i < 6; i++) ws.send(`garbage ${i}`);
      expect(await closed).toBe(1002);
    } finally {
      await strict.stop();
    }
  });
});
