import { describe, expect, it } from 'vitest';
import { Fleet } from '../../simulators/fleet.ts';
import { aStation, booted, centralSystem, charging } from './harness.ts';
import type { RecordedCall } from './central-system.ts';

const fastBackoff = { backoff: { initialDelay: 30, maxDelay: 100, factor: 2, randomisationFactor: 0 } };
const energy = (call: RecordedCall) =>
  Number(call.params.meterValue[0].sampledValue.find((s: Record<string, string>) => s.measurand === 'Energy.Active.Import.Register').value);

describe('several central-system URLs', () => {
  it('starts on the first URL that accepts, and moves to the next when its node goes away', async () => {
    const a = await centralSystem();
    const b = await centralSystem();
    const deadUrl = 'ws://127.0.0.1:1/ocpp';
    const station = aStation([deadUrl, a.url, b.url], { rpcOptions: fastBackoff });
    await station.start();
    expect(station.url).toBe(a.url);
    expect(a.callsOf(station.identity, 'BootNotification')).toHaveLength(1);
    await charging(station);

    const moved = station.waitFor('connected');
    await a.close(); // the node dies
    await moved;
    expect(station.url).toBe(b.url);
    // same boot, same session: the station carries on where it is now connected
    await station.heartbeat();
    expect(b.callsOf(station.identity, 'Heartbeat')).toHaveLength(1);
    await b.waitForCalls(station.identity, 'MeterValues');
    expect(station.hasSession(1)).toBe(true);
  });

  it('a fleet spreads its stations over the URLs', async () => {
    const a = await centralSystem();
    const b = await centralSystem();
    const fleet = new Fleet({ url: [a.url, b.url], stations: 4, prefix: 'SPREAD', station: { timeScale: 600 } });
    try {
      await fleet.start();
      const bootedOn = (cs: typeof a) => new Set(cs.calls.filter((c) => c.action === 'BootNotification').map((c) => c.identity));
      expect([...bootedOn(a)].sort()).toEqual(['SPREAD0001', 'SPREAD0003']);
      expect([...bootedOn(b)].sort()).toEqual(['SPREAD0002', 'SPREAD0004']);
    } finally {
      await fleet.stop();
    }
  });
});

describe('stopping', () => {
  it('stopDelaySeconds: after an accepted RemoteStop, power falls to zero, then StopTransaction', async () => {
    // 600 simulated seconds at 600× = 1 s
    const { cs, station, id } = await booted({ stopDelaySeconds: 600 });
    const transactionId = await charging(station);
    const remoteAt = Date.now();
    const registerAtRemote = station.registerWh(1);
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Accepted' });
    await new Promise((r) => setTimeout(r, 250));
    const midway = station.powerW(1);
    expect(midway).toBeGreaterThan(0);
    expect(midway).toBeLessThan(22_000);
    expect(station.hasSession(1)).toBe(true);
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Accepted' }); // again, while stopping
    const [stop] = await cs.waitForCalls(id, 'StopTransaction', 1, undefined, 5_000);
    expect(stop!.at - remoteAt).toBeGreaterThanOrEqual(950);
    expect(stop!.params).toMatchObject({ transactionId, reason: 'Remote' });
    // a ramp from 22 kW to 0 over 600 s delivers about 1,833 Wh, half of the 3,667 Wh full power
    // would (plus whatever full power adds before the ramp begins, a few ms after the answer)
    const duringStop = stop!.params.meterStop - registerAtRemote;
    expect(duringStop).toBeGreaterThan(1_500);
    expect(duringStop).toBeLessThan(3_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(1); // the second RemoteStop changed nothing
  });

  it("'acceptNoStop' answers Accepted and keeps charging", async () => {
    const { cs, station, id } = await booted({ remoteStop: 'acceptNoStop' });
    const transactionId = await charging(station);
    expect(await cs.send(id, 'RemoteStopTransaction', { transactionId })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'MeterValues', 2);
    expect(station.connectorStatus(1)).toBe('Charging');
    expect(cs.callsOf(id, 'StopTransaction')).toHaveLength(0);
  });
});

describe('readings for a predictive stop', () => {
  it('fixed power, whatever the profile curve', async () => {
    const { cs, station, id } = await booted({ powerProfile: 'dc150', fixedPowerW: 7_000, ev: { initialSoc: 0.9 } });
    await charging(station);
    expect(station.powerW(1)).toBe(7_000);
    const [meter] = await cs.waitForCalls(id, 'MeterValues');
    const power = meter!.params.meterValue[0].sampledValue.find((s: Record<string, string>) => s.measurand === 'Power.Active.Import');
    expect(power.value).toBe('7000');
  });

  it('late readings keep their timestamp and arrive later', async () => {
    // samples every 60 simulated s (100 ms), each held 120 simulated s (200 ms)
    const { cs, station, id } = await booted({ lateReadingsSeconds: 120 });
    await charging(station);
    const meters = await cs.waitForCalls(id, 'MeterValues', 2, undefined, 3_000);
    for (const meter of meters) {
      expect(meter.at - Date.parse(meter.params.meterValue[0].timestamp)).toBeGreaterThanOrEqual(180);
    }
    expect(energy(meters[1]!)).toBeGreaterThan(energy(meters[0]!));
  });

  it('readings in bursts: held and sent three at a time, in order', async () => {
    const { cs, station, id } = await booted({ readingBurst: 3 });
    await charging(station);
    const meters = await cs.waitForCalls(id, 'MeterValues', 3, undefined, 3_000);
    const stamps = meters.map((m) => Date.parse(m.params.meterValue[0].timestamp));
    expect(stamps[2]! - stamps[0]!).toBeGreaterThanOrEqual(150); // taken two intervals apart
    expect(meters[2]!.at - meters[0]!.at).toBeLessThan(stamps[2]! - stamps[0]!); // but delivered together
    expect(meters[0]!.at).toBeGreaterThanOrEqual(stamps[2]!);
    expect(energy(meters[2]!)).toBeGreaterThan(energy(meters[0]!));
    // the held readings go out before the StopTransaction
    await station.stopSession(1);
    const calls = cs.callsOf(id).filter((c) => c.action === 'MeterValues' || c.action === 'StopTransaction');
    expect(calls.at(-1)!.action).toBe('StopTransaction');
  });

  it('a long MeterValueSampleInterval and a ChangeConfiguration that is ignored', async () => {
    const { cs, station, id } = await booted({ meterValueSampleInterval: 3_600, answers: { ChangeConfiguration: { noReply: true } } });
    await charging(station);
    await expect(cs.send(id, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '10' }, { callTimeoutMs: 200 })).rejects.toThrow(/timeout/i);
    expect(station.meterValueSampleInterval).toBe(3_600);
    expect(cs.callsOf(id, 'MeterValues')).toHaveLength(0);
  });
});
