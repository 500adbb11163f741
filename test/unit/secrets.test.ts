import { describe, expect, it } from 'vitest';
import { digestsEqual, hashApiKey, hashPassword, newApiKey, verifyPassword } from '../../src/shared/secrets.ts';
import { isId, newId } from '../../src/shared/ids.ts';

describe('station passwords', () => {
  it('are stored as salted scrypt hashes and verified', async () => {
    const a = await hashPassword('station-secret-1');
    const b = await hashPassword('station-secret-1');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toContain('station-secret-1');
    expect(a).not.toBe(b); // salted
    expect(await verifyPassword('station-secret-1', a)).toBe(true);
    expect(await verifyPassword(Buffer.from('station-secret-1'), b)).toBe(true);
    expect(await verifyPassword('station-secret-2', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
    expect(await verifyPassword('station-secret-1', 'not-a-hash')).toBe(false);
  });
});

describe('API keys', () => {
  it('are random, prefixed, and compared by hash', () => {
    const k1 = newApiKey();
    const k2 = newApiKey();
    expect(k1).toMatch(/^gw_[A-Za-z0-9_-]{43}$/);
    expect(k1).not.toBe(k2);
    expect(hashApiKey(k1)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestsEqual(hashApiKey(k1), hashApiKey(k1))).toBe(true);
    expect(digestsEqual(hashApiKey(k1), hashApiKey(k2))).toBe(false);
    expect(digestsEqual('', '')).toBe(false);
  });
});

describe('ids', () => {
  it('are 24 hex characters that sort by creation second', () => {
    const early = newId(new Date('2026-01-01T00:00:00Z'));
    const late = newId(new Date('2026-06-01T00:00:00Z'));
    expect(isId(early)).toBe(true);
    expect(early < late).toBe(true);
    expect(isId('xyz')).toBe(false);
  });

  it('do not repeat across many pool refills (each random byte is used once)', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const ids = Array.from({ length: 5_000 }, () => newId(at));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(isId)).toBe(true);
  });
});
