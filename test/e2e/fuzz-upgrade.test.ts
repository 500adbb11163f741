import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { stationClient } from '../helpers/station.ts';
import { portOf, rawRequest, upgradeRequest, type RawAnswer } from '../helpers/raw-http.ts';

/**
 * Hostile HTTP upgrades on the OCPP port, over raw TCP: request lines, paths (malformed
 * percent-encoding, NUL and control bytes, over-long, non-ASCII), headers, subprotocol lists and
 * Basic headers. Nothing may end the process; every request gets a 4xx (or, when it happens to
 * be a valid handshake, a 101) or a closed socket, never a 5xx; a real station connects afterwards.
 */

let gw: TestGateway;
let port: number;
const open = uniqueIdentity('FZU');
const locked = uniqueIdentity('FZL');
const password = 'fuzz-upgrade-password';
const rejections: unknown[] = [];
const onRejection = (reason: unknown) => void rejections.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  gw = await startGateway();
  port = portOf(gw.ocppUrl);
  await gw.api('POST', '/v1/chargestations', { ocpp_id: open });
  await gw.api('POST', '/v1/chargestations', { ocpp_id: locked, password });
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  await gw.stop();
});

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

const identity = fc.oneof(
  { arbitrary: fc.constantFrom(open, open.toLowerCase(), `${open}/`, locked, locked.toUpperCase(), `${locked}//`), weight: 8 },
  fc.constantFrom(open, open.toLowerCase(), `${open}/`, locked, locked.toUpperCase(), `${locked}//`),
  fc.constantFrom('%ZZ', '%', '%%', '%E0%A4%A', '%C3%28', '%00', 'CP%00X', '%FF%FE', '%2F', '..', '.', '%2E%2E', ''),
  fc.string({ maxLength: 60 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.nat({ max: 20_000 }).map((n) => 'A'.repeat(n)),
  fc.constantFrom('é', '\u0000', 'a\tb', 'CP 1', 'CP#1', 'CP?x=1', '\u202e', '😀'),
);

const path = fc.oneof(
  identity.map((id) => `/ocpp/${id}`),
  identity.map((id) => `/${id}`),
  fc.tuple(fc.constantFrom('//', '/a/b/c/', '/ocpp/', ''), identity, fc.constantFrom('', '?x=%ZZ', '#frag', '?')).map(
    ([a, id, q]) => `${a}${id}${q}`,
  ),
  fc.constantFrom('*', 'http://127.0.0.1/ocpp/X', '/%ZZ', '/ocpp/%ZZ/', '/%', '/\u0000', 'ocpp/x'),
);

const protocolHeader = fc.oneof(
  { arbitrary: fc.constant('ocpp1.6'), weight: 8 },
  fc.constantFrom('ocpp1.6', 'ocpp2.0.1', 'ocpp1.6, ocpp2.0.1', 'ocpp1.6,ocpp1.6', 'ocpp1.6,,', ',', '', ' ', 'ocpp1.6 ocpp2.0'),
  fc.string({ maxLength: 100 }),
  fc.nat({ max: 8_000 }).map((n) => 'ocpp1.6,' + 'x,'.repeat(n) + 'y'),
  fc.constant(null),
);

const basicHeader = fc.oneof(
  fc.constant(null),
  fc.constantFrom('Basic', 'Basic ', 'Basic !!!', 'Basic ====', 'Bearer x', 'basic   ' + b64(`${locked}:${password}`), 'Digest x'),
  fc.constantFrom(locked, open, 'someone').map((user) => `Basic ${b64(user)}`), // no colon
  fc.tuple(fc.constantFrom(locked, locked.toLowerCase(), open), fc.uint8Array({ maxLength: 64 })).map(
    ([user, pw]) => `Basic ${b64(Buffer.concat([Buffer.from(`${user}:`), pw]))}`,
  ),
  fc.nat({ max: 12_000 }).map((n) => `Basic ${'QUFB'.repeat(n)}`),
  fc.string({ maxLength: 80 }).map((s) => `Basic ${s}`),
);

/** Mostly the valid value (so requests get past the first checks), sometimes anything else. */
const headerValue = (valid: string, others: string[]) =>
  fc.oneof(
    { arbitrary: fc.constant(valid), weight: 12 },
    { arbitrary: fc.constantFrom(...others), weight: 1 },
    { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
  );

const request = fc
  .record({
    method: fc.oneof({ arbitrary: fc.constant('GET'), weight: 12 }, fc.constantFrom('POST', 'HEAD', 'OPTIONS', 'G\u0000T', 'CONNECT')),
    path,
    version: fc.oneof({ arbitrary: fc.constant('HTTP/1.1'), weight: 12 }, fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'FOO')),
    upgrade: headerValue('websocket', ['WebSocket', ' websocket ', 'ws', 'h2c']),
    key: headerValue('dGhlIHNhbXBsZSBub25jZQ==', ['short', '', 'dGhlIHNhbXBsZSBub25jZQ']),
    wsVersion: headerValue('13', ['8', '7', '13, 13']),
    protocol: protocolHeader,
    authorization: basicHeader,
    // extra headers, mostly well-formed (a malformed one is the HTTP parser's 400, before our code)
    extra: fc.oneof(
      { arbitrary: fc.constant([] as [string, string][]), weight: 6 },
      fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z-]{0,19}$/), fc.string({ maxLength: 100 })), { maxLength: 3 }),
      fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 100 })), { maxLength: 3 }),
    ),
  })
  .map((r) => {
    const headers: [string, string | null][] = [
      ['Host', '127.0.0.1'],
      ['Upgrade', r.upgrade],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', r.key],
      ['Sec-WebSocket-Version', r.wsVersion],
      ['Sec-WebSocket-Protocol', r.protocol],
      ['Authorization', r.authorization],
      ...r.extra,
    ];
    const lines = headers.filter((h): h is [string, string] => h[1] !== null).map(([k, v]) => `${k}: ${v}`);
    return Buffer.from(`${r.method} ${r.path} ${r.version}\r\n${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  });

function acceptable(a: RawAnswer): boolean {
  if (a.status === undefined) return a.closed;
  return a.status === 101 || (a.status >= 400 && a.status < 500);
}

describe('HTTP upgrade fuzzing on the OCPP port', () => {
  it('GET /%ZZ with Upgrade: websocket is answered 400 and the gateway stays up', async () => {
    for (const p of ['/%ZZ', '/ocpp/%ZZ', '/ocpp/%E0%A4%A']) {
      const answer = await rawRequest(port, upgradeRequest(p));
      expect(answer.status).toBe(400);
      expect(answer.closed).toBe(true);
    }
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
  });

  it('answers every hostile upgrade with a 4xx or a closed socket, stays up, and still admits real stations', async () => {
    // connected once before, so the password is remembered whatever the fuzzer does to its identity
    const before = stationClient(gw.ocppUrl, locked, { password });
    await before.connect();
    await before.close();

    const requests = fc.sample(request, { numRuns: 600, seed: 1212 });
    const answers: RawAnswer[] = [];
    for (let i = 0; i < requests.length; i += 25) {
      answers.push(...(await Promise.all(requests.slice(i, i + 25).map((r) => rawRequest(port, r, { waitMs: 2_000 })))));
    }
    const tally = new Map<string, number>();
    for (const a of answers) tally.set(String(a.status ?? 'closed'), (tally.get(String(a.status ?? 'closed')) ?? 0) + 1);
    console.log(`upgrade fuzz: ${answers.length} requests; answers ${JSON.stringify(Object.fromEntries(tally))}`);

    const bad = answers.map((a, i) => ({ a, i })).filter(({ a }) => !acceptable(a));
    expect(bad.map(({ a, i }) => `${requests[i]!.toString('latin1').slice(0, 200)} -> ${a.text.slice(0, 80)}`)).toEqual([]);
    expect(answers.some((a) => a.status === 400)).toBe(true);
    expect(rejections).toEqual([]);

    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    const station = stationClient(gw.ocppUrl, open);
    await station.connect();
    expect(await station.call('Heartbeat', {})).toHaveProperty('currentTime');
    await station.close();
    const protectedStation = stationClient(gw.ocppUrl, locked, { password });
    await protectedStation.connect();
    expect(await protectedStation.call('Heartbeat', {})).toHaveProperty('currentTime');
    await protectedStation.close();
  }, 120_000);
});
