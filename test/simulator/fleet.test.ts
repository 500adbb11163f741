import { afterEach, describe, expect, it } from 'vitest';
import { Fleet, runPool, stationIdentity } from '../../simulators/fleet.ts';
import { TestCentralSystem } from './central-system.ts';

let cs: TestCentralSystem | undefined;
let fleet: Fleet | undefined;

afterEach(async () => {
  await fleet?.stop();
  for (const station of fleet?.stations ?? []) expect(station.pendingTimers).toBe(0);
  fleet = undefined;
  await cs?.close();
  cs = undefined;
});

describe('Fleet', () => {
  it('connects and boots 20 stations with bounded concurrency and aggregates stats', async () => {
    cs = await TestCentralSystem.start({ bootDelayMs: 20 });
    fleet = new Fleet({
      url: cs.url,
      stations: 20,
      prefix: 'FLT',
      concurrency: 5,
      station: { connectors: 2, timeScale: 600, powerProfile: 'ac11' },
    });
    expect(fleet.stations.map((s) => s.identity).slice(0, 3)).toEqual(['FLT0001', 'FLT0002', 'FLT0003']);
    expect(fleet.stations[19]!.identity).toBe('FLT0020');

    const result = await fleet.start();
    expect(result).toMatchObject({ started: 20, failed: 0 });
    expect(cs.maxConcurrentBoots).toBeLessThanOrEqual(5);
    expect(cs.maxConcurrentBoots).toBeGreaterThan(1);
    const booted = new Set(cs.calls.filter((c) => c.action === 'BootNotification').map((c) => c.identity));
    expect(booted.size).toBe(20);

    const stats = fleet.stats();
    expect(stats).toMatchObject({ stations: 20, started: 20, connected: 20, booted: 20, connectFailures: 0 });
    expect(stats.byAction.BootNotification).toMatchObject({ sent: 20, ok: 20, errors: 0 });
    expect(stats.byAction.BootNotification!.latency.count).toBe(20);
    expect(stats.byAction.BootNotification!.latency.p50).toBeGreaterThanOrEqual(15); // the CS waits 20 ms
    expect(stats.byAction.BootNotification!.latency.p99).toBeGreaterThanOrEqual(stats.byAction.BootNotification!.latency.p50);

    const sessions = await fleet.startSessions((station, connectorId) => `${station.identity}-${connectorId}`);
    expect(sessions).toHaveLength(40);
    expect(sessions.every((s) => s.outcome === 'Started')).toBe(true);
    expect(fleet.stats()).toMatchObject({ sessionsStarted: 40, sessionsActive: 40 });
    await cs.waitForCalls('FLT0007', 'MeterValues', 2);

    await fleet.stopSessions('Local');
    expect(fleet.stats()).toMatchObject({ sessionsStopped: 40, sessionsActive: 0 });
    expect(cs.calls.filter((c) => c.action === 'StopTransaction')).toHaveLength(40);
  });

  it('reconnect storm drops and reconnects N stations at once, re-booting them', async () => {
    cs = await TestCentralSystem.start();
    fleet = new Fleet({ url: cs.url, stations: 10, prefix: 'STM', station: { timeScale: 60 } });
    await fleet.start();
    const bootsBefore = cs.calls.filter((c) => c.action === 'BootNotification').length;
    const storm = await fleet.reconnectStorm(4, { reboot: true });
    expect(storm.stations).toBe(4);
    const bootsAfter = cs.calls.filter((c) => c.action === 'BootNotification').length;
    expect(bootsAfter - bootsBefore).toBe(4);
    const stats = fleet.stats();
    expect(stats).toMatchObject({ connected: 10, booted: 10 });
    expect(stats.disconnects).toBe(4);
  });

  it('counts stations that cannot connect and retries them in the background', async () => {
    cs = await TestCentralSystem.start({ password: 'right' });
    fleet = new Fleet({
      url: cs.url,
      stations: 3,
      password: (identity) => (identity.endsWith('2') ? 'wrong' : 'right'),
      station: { rpcOptions: { reconnect: false } },
    });
    const result = await fleet.start();
    expect(result).toMatchObject({ started: 2, failed: 1 });
    expect(fleet.stats()).toMatchObject({ connectFailures: 1, booted: 2 });
  });
});

describe('fleet helpers', () => {
  it('zero-pads identities', () => {
    expect(stationIdentity('CP-', 7, 5)).toBe('CP-00007');
    expect(stationIdentity('X', 12345, 3)).toBe('X12345');
  });

  it('runPool never exceeds its concurrency and keeps result order', async () => {
    let active = 0;
    let peak = 0;
    const results = await runPool([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, n));
      active--;
      return n * 2;
    });
    expect(results).toEqual([10, 2, 8, 4, 6, 0, 12]);
    expect(peak).toBe(3);
  });
});
