import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../../src/domain/events/dispatcher.ts';

/** Node's own record of the signals that follow an AbortSignal (AbortSignal.any composites). */
function dependants(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = key ? (signal as unknown as Record<symbol, Set<unknown> | undefined>)[key] : undefined;
  return set?.size ?? 0;
}

describe('webhook attempts leave nothing behind on the dispatcher', () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    // /slow never answers in time (5 s against a 1 s timeout); everything else answers 200 at once
    server = http.createServer((req, res) => {
      req.resume();
      if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 5_000);
      else res.writeHead(200).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('an attempt, answered or timed out, keeps no listener or follower on the long-lived stop signal', async () => {
    const d = new WebhookDispatcher({} as never, {
      pollIntervalMs: 1000, concurrency: 1, timeoutMs: 1000, maxAttempts: 3, retryBaseMs: 1000, retryMaxMs: 10_000, disableAfterFailures: 0,
    });
    const send = (path: string) =>
      (d as unknown as { send(c: object): Promise<{ ok: boolean; kind?: string }> }).send({
        id: 'd', webhook_id: 'w', attempts: 0, url: `${url}${path}`, secret: `whsec_${Buffer.from('k'.repeat(32)).toString('base64')}`,
        event_id: 'e', type: 'wallet.topped_up', data: {}, created_at: new Date(),
      });
    const stop = (d as unknown as { abort: AbortController }).abort.signal;
    expect(Object.getOwnPropertySymbols(stop).length).toBeGreaterThan(0); // the record is there to read (Node 20)
    const outcomes = await Promise.all([...Array.from({ length: 50 }, () => send('/ok')), ...Array.from({ length: 10 }, () => send('/slow'))]);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(50);
    expect(outcomes.filter((o) => o.kind === 'timeout')).toHaveLength(10);
    // Each attempt let go of the stop signal: with AbortSignal.any over it, Node 20 keeps every
    // composite for the life of the signal, one more per delivery for as long as the process runs.
    expect(getEventListeners(stop, 'abort')).toHaveLength(0);
    expect(dependants(stop)).toBe(0);

    // stop() ends the attempts in flight, and one that starts after it does not go out at all
    const inFlight = send('/slow');
    await new Promise((r) => setTimeout(r, 50));
    (d as unknown as { abort: AbortController }).abort.abort();
    const late = send('/ok');
    const [a, b] = await Promise.all([inFlight, late]);
    expect(a).toMatchObject({ ok: false, kind: 'network_error' });
    expect(b).toMatchObject({ ok: false, kind: 'network_error' });
  });
});
