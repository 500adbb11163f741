import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/shared/errors.ts';
import {
  add,
  assertCents,
  ceilToMultiple,
  compare,
  formatE4,
  formatE4String,
  mul,
  parseE4,
  rat,
  ratToString,
  roundHalfUp,
  toCentsNumber,
  type Rational,
} from '../../src/shared/money.ts';

describe('assertCents', () => {
  it.each([
    [0, 0],
    [123, 123],
    [-50, -50], // refunds / adjustments may be negative; only "safe integer" is required
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
  ])('accepts %s', (n, expected) => {
    expect(assertCents(n, 'amount')).toBe(expected);
  });

  it.each([
    [1.5],
    [0.1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [Number.MAX_SAFE_INTEGER + 1], // 2^53: an integer, but not safe
    [-(2 ** 60)],
  ])('rejects %s with a ValidationError naming the field', (n) => {
    let err: unknown;
    try {
      assertCents(n, 'top_up_cents');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toContain('top_up_cents');
    expect((err as ValidationError).details).toMatchObject({ field: 'top_up_cents' });
  });

  it('names "amount" when no field is given', () => {
    expect(() => assertCents(0.5)).toThrow(/amount/);
  });
});

describe('toCentsNumber', () => {
  it.each([
    [0n, 0],
    [401n, 401],
    [-7n, -7],
    [9007199254740991n, Number.MAX_SAFE_INTEGER],
    [-9007199254740991n, Number.MIN_SAFE_INTEGER],
  ])('%s → %s', (b, n) => {
    expect(toCentsNumber(b)).toBe(n);
  });

  it.each([[9007199254740992n], [-9007199254740992n], [10n ** 30n]])('%s → RangeError', (b) => {
    expect(() => toCentsNumber(b)).toThrow(RangeError);
  });
});

describe('parseE4', () => {
  it.each<[number | string, number, string]>([
    [32.4567, 324567, 'String(32.4567) = "32.4567" → digits 324567, 4 decimals'],
    ['32.4567', 324567, 'same as a string'],
    [7.25, 72500, 'tax 7.25 % → 7.2500 → 72500'],
    ['7.25', 72500, ''],
    [250, 2500000, '250 × 10^4'],
    ['250', 2500000, ''],
    [0, 0, ''],
    ['0', 0, ''],
    [-0, 0, 'String(-0) is "0"'],
    ['-0', 0, 'negative zero is zero, not negative'],
    ['0.000', 0, ''],
    [0.0001, 1, 'String(0.0001) = "0.0001" → smallest unit'],
    ['1.50000', 15000, 'trailing zeros beyond 4 decimals do not change the value'],
    ['12.', 120000, ''],
    ['.5', 5000, ''],
    ['+3', 30000, ''],
    ['1e2', 1000000, '100 → 1000000'],
    ['1.5e-3', 15, '0.0015 → 15'],
    ['1E+3', 10000000, '1000'],
    ['900719925474.0991', Number.MAX_SAFE_INTEGER, 'largest accepted: e4 = 2^53 − 1'],
  ])('%s → %s (%s)', (input, expected) => {
    expect(parseE4(input, 'price')).toBe(expected);
  });

  it.each<[number | string, RegExp, string]>([
    [Number.NaN, /finite/, 'NaN'],
    [Number.POSITIVE_INFINITY, /finite/, 'Infinity'],
    [Number.NEGATIVE_INFINITY, /finite/, '-Infinity'],
    [-1, /negative/, ''],
    ['-0.5', /negative/, ''],
    [-0.0001, /negative/, ''],
    ['1.00001', /at most 4 decimals/, '5 significant decimals'],
    [32.45678, /at most 4 decimals/, ''],
    [0.1 + 0.2, /at most 4 decimals/, 'String(0.1 + 0.2) = "0.30000000000000004"'],
    [1e-7, /at most 4 decimals/, 'String(1e-7) = "1e-7" → 0.0000001'],
    ['1e-999999999', /at most 4 decimals/, 'huge negative exponent'],
    [1e21, /too large/, 'String(1e21) = "1e+21" → e4 = 10^25'],
    ['900719925474.0992', /too large/, 'e4 = 2^53, not safe'],
    ['1e999999999', /too large/, 'huge exponent, no 10n ** huge'],
    ['', /decimal number/, 'empty'],
    ['abc', /decimal number/, ''],
    [' 1', /decimal number/, 'no whitespace'],
    ['0x10', /decimal number/, ''],
    ['1,5', /decimal number/, ''],
    ['1.2.3', /decimal number/, ''],
    ['.', /decimal number/, ''],
    ['e5', /decimal number/, ''],
    ['1e', /decimal number/, ''],
    ['--1', /decimal number/, ''],
    ['1'.repeat(65), /decimal number/, 'longer than 64 characters'],
  ])('rejects %s (%s)', (input, reason) => {
    let err: unknown;
    try {
      parseE4(input, 'energy_price');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.message).toMatch(/^energy_price /);
    expect(v.message).toMatch(reason);
    expect(v.details).toMatchObject({ field: 'energy_price' });
  });

  it('rejects a non-number/non-string at runtime', () => {
    expect(() => parseE4(null as unknown as string, 'tax_percent')).toThrow(/tax_percent/);
    expect(() => parseE4(true as unknown as string, 'tax_percent')).toThrow(ValidationError);
  });
});

describe('formatE4', () => {
  it.each([
    [324567, 32.4567],
    [72500, 7.25],
    [2500000, 250],
    [0, 0],
    [1, 0.0001],
    [5, 0.0005],
    [10, 0.001],
    [-15000, -1.5],
    [-1, -0.0001],
  ])('%s → %s', (e4, expected) => {
    expect(formatE4(e4)).toBe(expected);
  });

  it.each([
    [324567, '32.4567'],
    [72500, '7.25'],
    [2500000, '250'],
    [1, '0.0001'],
    [-1, '-0.0001'],
    [Number.MAX_SAFE_INTEGER, '900719925474.0991'],
  ])('formatE4String(%s) = %s', (e4, s) => {
    expect(formatE4String(e4)).toBe(s);
  });

  it.each([[1.5], [Number.NaN], [2 ** 53]])('%s → RangeError', (e4) => {
    expect(() => formatE4(e4)).toThrow(RangeError);
  });

  it.each([[0], [1], [9], [324567], [72500], [2500000], [123456789], [99999999999]])(
    'parseE4(formatE4(%s)) round-trips',
    (e4) => {
      expect(parseE4(formatE4(e4), 'x')).toBe(e4);
    },
  );
});

describe('rationals', () => {
  it.each<[bigint | number, bigint | number, bigint, bigint]>([
    [2, 4, 1n, 2n],
    [3n, -6n, -1n, 2n], // sign moves to the numerator
    [-3, -6, 1n, 2n],
    [0, 5, 0n, 1n],
    [10n, 1n, 10n, 1n],
    [4006779615n, 10000000n, 801355923n, 2000000n], // ÷ gcd 5
  ])('rat(%s, %s) = %s/%s', (n, d, num, den) => {
    expect(rat(n, d)).toEqual({ num, den });
  });

  it('rat defaults to denominator 1 and rejects zero denominators and non-integers', () => {
    expect(rat(7)).toEqual({ num: 7n, den: 1n });
    expect(() => rat(1, 0)).toThrow(RangeError);
    expect(() => rat(1.5, 2)).toThrow(RangeError);
  });

  it.each<[Rational, Rational, string, string]>([
    [rat(1, 3), rat(1, 6), '1/2', '1/18'], // 2/6 + 1/6 = 1/2; 1/18
    [rat(2, 3), rat(3, 4), '17/12', '1/2'], // 8/12 + 9/12; 6/12
    [rat(-1, 2), rat(1, 2), '0/1', '-1/4'],
    [rat(5), rat(0), '5/1', '0/1'],
  ])('add/mul %o %o', (a, b, sum, product) => {
    expect(ratToString(add(a, b))).toBe(sum);
    expect(ratToString(mul(a, b))).toBe(product);
  });

  it.each<[Rational, Rational, -1 | 0 | 1]>([
    [rat(1, 3), rat(1, 2), -1],
    [rat(2, 4), rat(1, 2), 0],
    [rat(-1, 2), rat(-2, 3), 1],
  ])('compare(%o, %o) = %s', (a, b, c) => {
    expect(compare(a, b)).toBe(c);
  });

  it.each<[bigint, bigint, bigint]>([
    [0n, 1n, 0n],
    [1n, 2n, 1n], // 0.5 → 1 (half up)
    [3n, 2n, 2n], // 1.5 → 2
    [5n, 2n, 3n], // 2.5 → 3 (not banker's 2)
    [2499n, 1000n, 2n], // 2.499 → 2
    [2501n, 1000n, 3n], // 2.501 → 3
    [4999n, 10000n, 0n], // 0.4999 → 0
    [7n, 3n, 2n], // 2.333 → 2
    [8n, 3n, 3n], // 2.667 → 3
    [4n, 1n, 4n],
    [-1n, 2n, -1n], // −0.5 → −1 (half away from zero)
    [-5n, 2n, -3n], // −2.5 → −3
    [-2499n, 1000n, -2n], // −2.499 → −2
    [-2501n, 1000n, -3n], // −2.501 → −3
    [-7n, 3n, -2n], // −2.333 → −2
    [-8n, 3n, -3n], // −2.667 → −3
    [-4n, 1n, -4n],
  ])('roundHalfUp(%s/%s) = %s', (num, den, expected) => {
    expect(roundHalfUp(rat(num, den))).toBe(expected);
  });

  it('roundHalfUp tolerates an un-normalised rational', () => {
    expect(roundHalfUp({ num: 5n, den: -2n })).toBe(-3n); // −2.5
    expect(roundHalfUp({ num: 10n, den: 4n })).toBe(3n); // 2.5
  });
});

describe('ceilToMultiple', () => {
  it.each<[bigint | number, bigint | number, bigint]>([
    [0, 1000, 0n],
    [1, 1000, 1000n],
    [999, 1000, 1000n],
    [1000, 1000, 1000n],
    [1001, 1000, 2000n],
    [59, 900, 900n],
    [900, 900, 900n],
    [901, 900, 1800n],
    [7, 0, 7n], // step 0: unchanged
    [7, 1, 7n], // step 1: unchanged
    [7n, 3n, 9n],
    [-5, 3, -3n], // ceiling of −1.67 × 3
    [-6, 3, -6n],
    [9007199254740991n, 10n, 9007199254741000n], // bigint has no safe limit
  ])('ceilToMultiple(%s, %s) = %s', (q, s, expected) => {
    expect(ceilToMultiple(q, s)).toBe(expected);
  });

  it.each<[bigint | number, bigint | number]>([
    [5, -1],
    [1.5, 10],
    [5, 0.5],
  ])('ceilToMultiple(%s, %s) → RangeError', (q, s) => {
    expect(() => ceilToMultiple(q, s)).toThrow(RangeError);
  });
});
