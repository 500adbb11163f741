import { describe, expect, it } from 'vitest';
import { StationConfiguration } from '../../simulators/config.ts';
import { buildMeterValue, energySamples, formatEnergy, splitPhases } from '../../simulators/meter.ts';
import { EvBattery, getPowerProfile, powerAtSoc } from '../../simulators/power.ts';
import { CallStats, LatencyRecorder, percentile } from '../../simulators/stats.ts';

describe('power profiles', () => {
  it('AC profiles are flat', () => {
    const ac7 = getPowerProfile('ac7');
    expect(powerAtSoc(ac7, 0.1)).toBe(7_400);
    expect(powerAtSoc(ac7, 0.99)).toBe(7_400);
    expect(powerAtSoc(getPowerProfile('ac22'), 0.5)).toBe(22_000);
  });

  it('DC profiles taper as the state of charge rises', () => {
    const dc150 = getPowerProfile('dc150');
    expect(powerAtSoc(dc150, 0.2)).toBe(150_000);
    const mid = powerAtSoc(dc150, 0.7);
    const high = powerAtSoc(dc150, 0.95);
    expect(mid).toBeLessThan(150_000);
    expect(high).toBeLessThan(mid);
    expect(powerAtSoc(dc150, 1)).toBeCloseTo(15_000);
  });

  it('integrates energy and stops at the target state of charge', () => {
    const ev = new EvBattery(getPowerProfile('ac11'), { batteryWh: 10_000, initialSoc: 0.5, targetSoc: 0.8 });
    expect(ev.charge(60)).toBeCloseTo(11_000 / 60, 6); // one minute at 11 kW
    expect(ev.full).toBe(false);
    const rest = ev.charge(3_600);
    expect(rest).toBeCloseTo(3_000 - 11_000 / 60, 6); // capped by the target
    expect(ev.full).toBe(true);
    expect(ev.powerW).toBe(0);
    expect(ev.charge(60)).toBe(0);
  });

  it('DC charging takes longer per kWh once tapering', () => {
    const profile = getPowerProfile('dc50');
    const early = new EvBattery(profile, { batteryWh: 75_000, initialSoc: 0.1 }).charge(600);
    const late = new EvBattery(profile, { batteryWh: 75_000, initialSoc: 0.85 }).charge(600);
    expect(early).toBeCloseTo(50_000 / 6, 3);
    expect(late).toBeLessThan(early / 2);
  });
});

describe('meter formatting', () => {
  it('formats Wh as integers and kWh with 3 decimals', () => {
    expect(formatEnergy(1234.9, 'Wh')).toBe('1234');
    expect(formatEnergy(1234, 'kWh')).toBe('1.234');
    expect(formatEnergy(5, 'kWh')).toBe('0.005');
  });

  it('splits phases into integers that sum to the total', () => {
    for (const total of [0, 1, 2, 3, 10, 1001, 123457]) {
      const phases = splitPhases(total);
      expect(phases.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.max(...phases) - Math.min(...phases)).toBeLessThanOrEqual(2);
    }
    const kwh = energySamples(10_001, 'Sample.Periodic', { energyUnit: 'kWh', threePhaseOnly: true });
    expect(kwh.map((s) => s.value)).toEqual(['3.333', '3.333', '3.335']);
    expect(kwh.map((s) => s.phase)).toEqual(['L1', 'L2', 'L3']);
  });

  it('builds a meter value with power and SoC', () => {
    const value = buildMeterValue(
      { timestamp: new Date('2024-01-01T00:00:00Z'), registerWh: 42, powerW: 11_000.4, soc: 0.456 },
      'Sample.Periodic',
      { energyUnit: 'Wh', threePhaseOnly: false },
    );
    expect(value.timestamp).toBe('2024-01-01T00:00:00.000Z');
    expect(value.sampledValue.map((s) => [s.measurand, s.value, s.unit])).toEqual([
      ['Energy.Active.Import.Register', '42', 'Wh'],
      ['Power.Active.Import', '11000', 'W'],
      ['SoC', '46', 'Percent'],
    ]);
  });
});

describe('station configuration', () => {
  const make = () =>
    new StationConfiguration({
      numberOfConnectors: 2,
      stopTransactionOnInvalidId: true,
      meterValueSampleInterval: 60,
      heartbeatInterval: 300,
    });

  it('validates types, refuses read-only keys and reports unknown keys', () => {
    const config = make();
    expect(config.change('MeterValueSampleInterval', '15')).toBe('Accepted');
    expect(config.getInt('MeterValueSampleInterval', 0)).toBe(15);
    expect(config.change('MeterValueSampleInterval', '-1')).toBe('Rejected');
    expect(config.change('StopTransactionOnInvalidId', 'FALSE')).toBe('Accepted');
    expect(config.getBool('StopTransactionOnInvalidId', true)).toBe(false);
    expect(config.change('StopTransactionOnInvalidId', 'maybe')).toBe('Rejected');
    expect(config.change('NumberOfConnectors', '3')).toBe('Rejected');
    expect(config.change('Foo', '1')).toBe('NotSupported');
    expect(config.get(['NumberOfConnectors', 'Foo'])).toEqual({
      configurationKey: [{ key: 'NumberOfConnectors', readonly: true, value: '2' }],
      unknownKey: ['Foo'],
    });
  });
});

describe('latency stats', () => {
  it('computes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.95)).toBe(95);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile([], 0.5)).toBe(0);
  });

  it('keeps a bounded sample but exact counts and max', () => {
    const recorder = new LatencyRecorder(100);
    for (let i = 1; i <= 10_000; i++) recorder.record(i % 100);
    const summary = recorder.summary();
    expect(summary.count).toBe(10_000);
    expect(summary.max).toBe(99);
    expect(summary.p50).toBeGreaterThan(20);
    expect(summary.p50).toBeLessThan(80);
  });

  it('aggregates per action', () => {
    const stats = new CallStats();
    stats.sent('Heartbeat');
    stats.result('Heartbeat', 4);
    stats.sent('MeterValues');
    stats.error('MeterValues');
    expect(stats.totals()).toEqual({ sent: 2, ok: 1, errors: 1 });
    expect(stats.byAction().Heartbeat?.latency.p99).toBe(4);
    expect(stats.overall().count).toBe(1);
  });
});
