import { describe, expect, it } from 'vitest';
import { FailureThrottle } from '../../src/shared/throttle.ts';

describe('FailureThrottle', () => {
  it('backs a key off from its `limit`-th failure, 1 s doubling to the window, and forgets it after a quiet window', () => {
    let now = 1_000;
    const t = new FailureThrottle(3, 60_000, () => now);
    for (let i = 0; i < 2; i++) t.fail('1.2.3.4');
    expect(t.blocked('1.2.3.4')).toBe(false);
    t.fail('1.2.3.4');
    expect(t.blocked('1.2.3.4')).toBe(true);
    expect(t.blocked('5.6.7.8')).toBe(false);
    expect(t.retryAfterS('1.2.3.4')).toBe(1);
    now += 1_000;
    expect(t.blocked('1.2.3.4')).toBe(false); // a back-off, not a lock
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      t.fail('1.2.3.4');
      waits.push(t.retryAfterS('1.2.3.4'));
    }
    expect(waits).toEqual([2, 4, 8, 16, 32, 60, 60, 60]);
    now += 60_000;
    expect(t.blocked('1.2.3.4')).toBe(false);
    t.fail('1.2.3.4'); // a fresh record: the first failure is free again
    expect(t.blocked('1.2.3.4')).toBe(false);
  });

  it('forgets a key that succeeds', () => {
    const t = new FailureThrottle(1, 60_000, () => 0);
    t.fail('k');
    expect(t.blocked('k')).toBe(true);
    t.succeeded('k');
    expect(t.blocked('k')).toBe(false);
  });

  it('stays bounded under very many keys', () => {
    const t = new FailureThrottle(1, 60_000, () => 0, 100);
    for (let i = 0; i < 1000; i++) t.fail(`k${i}`);
    expect(t.blocked('k999')).toBe(true);
    expect((t as unknown as { keys: Map<string, unknown> }).keys.size).toBeLessThanOrEqual(100);
  });
});
