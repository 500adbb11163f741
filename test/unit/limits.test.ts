import { describe, expect, it } from 'vitest';
import { RefusedStartBudget } from '../../src/ocpp/limits.ts';

describe('RefusedStartBudget', () => {
  it('lets a station have `perMinute` starts refused, then refills at that rate, per station', () => {
    let now = 0;
    const budget = new RefusedStartBudget(5, () => now);
    for (let i = 0; i < 5; i++) {
      expect(budget.allows('A')).toBe(true);
      budget.refused('A');
    }
    expect(budget.allows('A')).toBe(false);
    expect(budget.allows('B')).toBe(true);
    now += 11_000; // 11 s: not yet one token (12 s at 5 a minute)
    expect(budget.allows('A')).toBe(false);
    now += 1_000;
    expect(budget.allows('A')).toBe(true);
    now += 10 * 60_000; // never more than `perMinute` saved up
    for (let i = 0; i < 5; i++) budget.refused('A');
    expect(budget.allows('A')).toBe(false);
  });

  it('0 means no limit', () => {
    const budget = new RefusedStartBudget(0, () => 0);
    for (let i = 0; i < 1_000; i++) budget.refused('A');
    expect(budget.allows('A')).toBe(true);
  });
});
