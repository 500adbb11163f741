import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { LocalConnections, type LiveClient } from '../../src/ocpp/connections.ts';
import { RPCServer } from '../../src/ocpp/rpc.ts';
import { StationTimeoutError } from '../../src/shared/errors.ts';
import { stationClient } from '../helpers/station.ts';

/**
 * LocalConnections times calls with its own timer over a real ocpp-rpc connection: a call with no
 * answer in time fails as a station timeout, ocpp-rpc forgets it (a late answer changes nothing),
 * and the station's next call goes out and is answered.
 */
describe('calls to a station through LocalConnections over ocpp-rpc', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  });

  async function connected(defaultTimeoutMs: number) {
    const server = new RPCServer({ protocols: ['ocpp1.6'], pingIntervalMs: 0 } as ConstructorParameters<typeof RPCServer>[0]);
    const connections = new LocalConnections(createLogger('silent'), 'test', defaultTimeoutMs);
    const attached = new Promise<LiveClient & { _pendingCalls: Map<string, unknown> }>((resolve) =>
      server.on('client', (client) => {
        connections.attach(client as LiveClient);
        resolve(client as never);
      }),
    );
    const http = await server.listen(0, '127.0.0.1');
    closers.push(() => server.close({ force: true }));
    const station = stationClient(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, 'LC-1', { strict: false });
    closers.push(() => station.close({ force: true }));
    await station.connect();
    return { connections, station, serverSide: await attached };
  }

  it('times out a call without an answer, forgets it, and sends the next one', async () => {
    const { connections, station, serverSide } = await connected(60_000);
    let answerLate: (v: unknown) => void = () => {};
    station.handle('Reset', () => new Promise((resolve) => (answerLate = resolve)));
    station.handle('UnlockConnector', () => ({ status: 'Unlocked' }));

    const started = performance.now();
    await expect(connections.call('LC-1', 'Reset', { type: 'Soft' }, { timeoutMs: 150 })).rejects.toBeInstanceOf(StationTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(serverSide._pendingCalls.size).toBe(0);

    answerLate({ status: 'Accepted' }); // too late: nothing waits for it
    await expect(connections.call('LC-1', 'UnlockConnector', { connectorId: 1 }, { timeoutMs: 5_000 })).resolves.toEqual({ status: 'Unlocked' });
    expect(serverSide._pendingCalls.size).toBe(0);
  });

  it("uses the process's call timeout when the caller names none", async () => {
    const { connections, station } = await connected(200);
    station.handle('Reset', () => new Promise(() => {}));
    const started = performance.now();
    await expect(connections.call('LC-1', 'Reset', { type: 'Soft' })).rejects.toBeInstanceOf(StationTimeoutError);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(10_000);
  });
});
