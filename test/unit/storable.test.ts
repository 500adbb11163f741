import { describe, expect, it } from 'vitest';
import { storable, storableJson, toStorable } from '../../src/shared/storable.ts';

describe('text PostgreSQL can keep', () => {
  it('finds a NUL and halves of surrogate pairs; whole pairs and ordinary text are fine', () => {
    expect(storable('Acme ⚡ 🚗 e\u0301')).toBe(true);
    for (const bad of ['a\u0000b', '\ud800', 'x\udfff', '\udc00\ud800', '🚗\ud83d']) expect(storable(bad), JSON.stringify(bad)).toBe(false);
    expect(toStorable('a\u0000b\ud800c🚗\udc00')).toBe('a\ufffdb\ufffdc🚗\ufffd');
  });

  it('serializes for jsonb with U+FFFD in keys and values at any depth, and leaves clean values as JSON.stringify does', () => {
    const clean = { a: ['🚗', { b: 'x\\u0000 (an escaped backslash, not a NUL)' }], n: 1 };
    expect(storableJson(clean)).toBe(JSON.stringify(clean));
    const dirty = { ['k\u0000']: ['v\ud800', { deep: 'x\u0000' }], ok: '🚗' };
    expect(JSON.parse(storableJson(dirty))).toEqual({ ['k\ufffd']: ['v\ufffd', { deep: 'x\ufffd' }], ok: '🚗' });
    expect(storableJson(dirty)).not.toMatch(/\\u(0000|d[89a-f])/i);
  });
});
