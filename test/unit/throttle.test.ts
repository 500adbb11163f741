import { describe, expect, it } from 'vitest';
import { FailureThrottle } from '../../src/shared/throttle.ts';

describe('FailureThrottle', () => {
  it('blocks a key after `limit` failures in the window, and forgets it when the window ends', () => {
    let now = 1_000;
    const t = new FailureThrottle(3, 60_000, () => now);
    for (let i = 0; i < 2; i++) t.fail('1.2.3.4');
    expect(t.blocked('1.2.3.4')).toBe(false);
    t.fail('1.2.3.4');
    expect(t.blocked('1.2.3.4')).toBe(true);
    expect(t.blocked('5.6.7.8')).toBe(false);
    expect(t.retryAfterS('1.2.3.4')).toBe(60);
    now += 60_000;
    expect(t.blocked('1.2.3.4')).toBe(false);
  });

  it('stays bounded under very many keys', () => {
    const t = new FailureThrottle(1, 60_000, () => 0, 100);
    for (let i = 0; i < 1000; i++) t.fail(`k${i}`);
    expect(t.blocked('k999')).toBe(true);
    expect((t as unknown as { windows: Map<string, unknown> }).windows.size).toBeLessThanOrEqual(100);
  });
});
