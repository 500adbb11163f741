import { describe, expect, it } from 'vitest';
import { nextListVersion } from '../../src/domain/chargers/local-list-sync.ts';

describe('the next local list version', () => {
  it('is one more while the updates fit in int32, and 1 when the last of them would pass it', () => {
    expect(nextListVersion(0)).toBe(1);
    expect(nextListVersion(41)).toBe(42);
    expect(nextListVersion(2_147_483_646)).toBe(2_147_483_647);
    expect(nextListVersion(2_147_483_647)).toBe(1);
    expect(nextListVersion(2_147_483_640, 7)).toBe(2_147_483_641);
    expect(nextListVersion(2_147_483_640, 8)).toBe(1);
  });
});
