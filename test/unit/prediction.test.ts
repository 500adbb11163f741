import { describe, expect, it } from 'vitest';
import {
  blend,
  crossingMs,
  leadS,
  measuredDelay,
  PowerMeter,
  rateSlopes,
  StationClock,
} from '../../src/domain/sessions/prediction.ts';

const T0 = Date.parse('2026-11-27T10:00:00Z');

describe('rateSlopes', () => {
  it('turns e4 prices into cents per Wh and per second, tax included', () => {
    const s = rateSlopes([
      { type: 'ENERGY', price_e4: 45 * 10_000, tax_e4: 20 * 10_000, step_size: 0 }, // 45 c/kWh + 20 %
      { type: 'TIME', price_e4: 360 * 10_000, tax_e4: 0, step_size: 60 }, // 360 c/h
      { type: 'FLAT', price_e4: 100 * 10_000, tax_e4: 0, step_size: 0 }, // once: no slope
    ]);
    expect(s.centsPerWh).toBeCloseTo(0.054, 12);
    expect(s.centsPerS).toBeCloseTo(0.1, 12);
  });
});

describe('crossingMs', () => {
  it('one session: balance / rate, from the time of its reading', () => {
    // 100 cents at 2 c/s from T0: zero at T0 + 50 s
    expect(crossingMs(100, [{ pendingCents: 0, centsPerS: 2, sinceMs: T0 }], 0)).toBeCloseTo(T0 + 50_000, 3);
  });

  it('aims at the margin, and counts cost incurred but not yet debited', () => {
    // (100 − 4 pending − 2 margin) / 2 c/s = 47 s
    expect(crossingMs(100, [{ pendingCents: 4, centsPerS: 2, sinceMs: T0 }], 2)).toBeCloseTo(T0 + 47_000, 3);
  });

  it('several sessions read at different times draw from the one balance', () => {
    // A: 1 c/s since T0; B: 3 c/s since T0 + 4 s. 100 = 1·(t−T0) + 3·(t−T0−4) → t = T0 + 28 s
    const t = crossingMs(100, [
      { pendingCents: 0, centsPerS: 1, sinceMs: T0 },
      { pendingCents: 0, centsPerS: 3, sinceMs: T0 + 4_000 },
    ], 0);
    expect(t).toBeCloseTo(T0 + 28_000, 3);
  });

  it('nothing spending: never, unless the balance is already there', () => {
    expect(crossingMs(100, [{ pendingCents: 0, centsPerS: 0, sinceMs: T0 }], 0)).toBeUndefined();
    expect(crossingMs(100, [], 0)).toBeUndefined();
    expect(crossingMs(3, [{ pendingCents: 3, centsPerS: 0, sinceMs: T0 }], 1)).toBe(-Infinity);
  });

  it('a crossing already passed is in the past', () => {
    expect(crossingMs(10, [{ pendingCents: 0, centsPerS: 1, sinceMs: T0 }], 0)! - T0).toBeCloseTo(10_000, 3);
    expect(crossingMs(-5, [{ pendingCents: 0, centsPerS: 1, sinceMs: T0 }], 0)!).toBeLessThan(T0);
  });
});

describe('PowerMeter', () => {
  const start = { wh: 1_000, stationMs: T0, receivedMs: T0 };

  it('measures power as Δ register / Δ station time', () => {
    const m = new PowerMeter(start);
    m.observe({ wh: 1_000 + 1_250, stationMs: T0 + 60_000, receivedMs: T0 + 60_050 }); // 1250 Wh in 60 s = 75 kW
    expect(m.powerW).toBeCloseTo(75_000, 6);
    expect(m.intervalMs).toBe(60_000);
  });

  it('readings that arrive late or together keep the slope of when they were taken', () => {
    const m = new PowerMeter(start);
    // two readings 30 s apart (station time) that arrive in the same millisecond, 45 s late
    m.observe({ wh: 1_000 + 625, stationMs: T0 + 30_000, receivedMs: T0 + 75_000 }, 75_000);
    m.observe({ wh: 1_000 + 1_250, stationMs: T0 + 60_000, receivedMs: T0 + 75_000 }, 75_000);
    expect(m.powerW).toBeCloseTo(75_000, 6);
  });

  it('falls back to arrival times when a reading has no usable stamp', () => {
    const m = new PowerMeter(start);
    m.observe({ wh: 1_000 + 500, stationMs: undefined, receivedMs: T0 + 30_000 });
    expect(m.powerW).toBeCloseTo(60_000, 6);
  });

  it('uses reported power until there is a slope, and ignores a meter going backwards', () => {
    const m = new PowerMeter(start);
    expect(m.powerW).toBeUndefined();
    m.observe({ wh: 1_001, stationMs: T0 + 50, receivedMs: T0 + 60 }, 11_000); // too short a span for a slope
    expect(m.powerW).toBe(11_000);
    m.observe({ wh: 900, stationMs: T0 + 10_000, receivedMs: T0 + 10_000 }, 11_000);
    expect(m.latest.wh).toBe(1_001);
    expect(m.powerW).toBe(11_000);
  });

  it('a reading older than the latest changes nothing', () => {
    const m = new PowerMeter(start);
    m.observe({ wh: 2_000, stationMs: T0 + 60_000, receivedMs: T0 + 60_000 });
    m.observe({ wh: 1_500, stationMs: T0 + 30_000, receivedMs: T0 + 61_000 });
    expect(m.powerW).toBeCloseTo(60_000, 6);
    expect(m.latest.wh).toBe(2_000);
  });

  it('a suspended EV (no energy over a long span) has zero power', () => {
    const m = new PowerMeter(start);
    m.observe({ wh: 1_000, stationMs: T0 + 30_000, receivedMs: T0 + 30_000 }, 0);
    expect(m.powerW).toBe(0);
  });
});

describe('StationClock', () => {
  it('the smallest received − stamped is the skew: late readings do not move it', () => {
    const c = new StationClock();
    const skew = -120_000; // station 2 min ahead
    c.observe(T0 - skew, T0 + 40); // a prompt message (40 ms in transit)
    c.observe(T0 + 30_000 - skew, T0 + 30_000 + 25_000); // a reading held back 25 s
    expect(c.offsetMs).toBe(skew + 40);
    // that late reading is placed when it was taken
    expect(c.toGateway(T0 + 30_000 - skew, T0 + 55_000)).toBe(T0 + 30_040);
  });

  it('never places a reading after it arrived; without a plausible stamp, at its arrival', () => {
    const c = new StationClock();
    expect(c.toGateway(T0, T0 + 5)).toBe(T0 + 5); // no sample yet
    c.observe(T0, T0 + 1_000);
    expect(c.toGateway(T0 + 10_000, T0 + 10_500)).toBe(T0 + 10_500);
    expect(c.toGateway(undefined, T0 + 20_000)).toBe(T0 + 20_000);
    // a clock reset to 1970 is not believed
    c.observe(0, T0 + 30_000);
    expect(c.offsetMs).toBe(1_000);
    expect(c.toGateway(5_000, T0 + 31_000)).toBe(T0 + 31_000);
  });
});

describe('stop delays', () => {
  it('the lead before the crossing weights the energy and time delays by what the session spends on each', () => {
    expect(leadS({ energyS: 1, timeS: 3 }, 3, 1)).toBeCloseTo(1.5, 12);
    expect(leadS({ energyS: 1, timeS: 3 }, 0, 1)).toBe(3); // TIME only
    expect(leadS({ energyS: 1, timeS: 3 }, 1, 0)).toBe(1); // ENERGY only
    expect(leadS({ energyS: 1, timeS: 3 }, 0, 0)).toBe(3);
  });

  it('a stop that ramps power down over 4 s delivers 2 s of energy: energy delay 2 s, time delay 4 s', () => {
    // 72 kW = 20 Wh/s; 40 Wh after the stop was sent; StopTransaction 4 s later
    const d = measuredDelay({ sentMs: T0, whAtSend: 5_000, powerW: 72_000, stoppedMs: T0 + 4_000, meterStop: 5_040 }, 60);
    expect(d.energyS).toBeCloseTo(2, 9);
    expect(d.timeS).toBe(4);
  });

  it('implausible measurements are left out or bounded', () => {
    expect(measuredDelay({ sentMs: T0, whAtSend: 5_000, powerW: undefined, stoppedMs: T0 - 1, meterStop: 5_000 }, 60)).toEqual({});
    expect(measuredDelay({ sentMs: T0, whAtSend: 5_000, powerW: 1_000, stoppedMs: T0 + 500, meterStop: 4_000 }, 60)).toEqual({ timeS: 0.5, energyS: 0 });
    expect(measuredDelay({ sentMs: T0, whAtSend: 0, powerW: 1, stoppedMs: T0 + 120_000, meterStop: 5_000 }, 60)).toEqual({ energyS: 60 });
  });

  it('learnt delays follow new measurements, the newest counting most', () => {
    expect(blend(undefined, 2)).toBe(2);
    expect(blend(2, undefined)).toBe(2);
    expect(blend(2, 4)).toBeCloseTo(3.4, 12);
  });
});
