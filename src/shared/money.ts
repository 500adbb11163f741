import { scanDecimal } from './decimal.ts';
import { ValidationError } from './errors.ts';

/**
 * Exact money helpers. Money is never a float:
 * - amounts are integer cents (JS `number` at the API/database boundary, always a safe integer);
 * - prices and tax percents are integers in "e4" units (ten-thousandths: 32.4567 → 324567);
 * - intermediate arithmetic uses exact bigint rationals, rounded once at the end.
 */

// ---------------------------------------------------------------------------------------------
// Cents at the boundary
// ---------------------------------------------------------------------------------------------

/** Returns `n` when it is a safe integer number of cents; otherwise throws a ValidationError. */
export function assertCents(n: number, field = 'amount'): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new ValidationError(`${field} must be an integer number of cents`, {
      field,
      value: typeof n === 'number' && !Number.isFinite(n) ? String(n) : n,
    });
  }
  return n;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** Converts a bigint number of cents to a JS number; RangeError outside the safe-integer range. */
export function toCentsNumber(b: bigint): number {
  if (b > MAX_SAFE || b < MIN_SAFE) {
    throw new RangeError(`amount ${b} cents is outside the safe integer range`);
  }
  return Number(b);
}

// ---------------------------------------------------------------------------------------------
// e4 (ten-thousandths) values: prices in cents and tax percents with up to 4 decimals
// ---------------------------------------------------------------------------------------------

/** Number of decimals an e4 value carries. */
export const E4_DECIMALS = 4;
/** 10^4 as bigint: one whole unit in e4. */
export const E4_SCALE = 10_000n;

/** Longest accepted string; anything longer is not a price a human typed. */
const MAX_DECIMAL_LENGTH = 64;

/**
 * Parses a non-negative price or percent with at most 4 decimals into integer e4 units, exactly.
 *
 * Accepts a JSON number (converted through its shortest round-trip decimal string, e.g.
 * `String(32.4567) === "32.4567"`, exponent forms like `1e-7` / `1e+21` included) or a decimal
 * string (same grammar, no whitespace, optional leading `+`). No float arithmetic is used: the
 * digits are parsed as a bigint and shifted by the exponent.
 *
 * "At most 4 decimals" is about the value: "1.50000" is accepted (= 15000), "1.00001" is not.
 * Negative zero ("-0", -0) is zero and accepted; every other negative value is rejected.
 *
 * Throws a ValidationError naming `field` (message and `details.field`) for: non-number/string,
 * NaN/Infinity, malformed strings, negatives, more than 4 decimals, or an e4 value that is not a
 * safe integer.
 */
export function parseE4(value: number | string, field: string): number {
  const fail = (reason: string): never => {
    throw new ValidationError(`${field} ${reason}`, {
      field,
      value: typeof value === 'number' && !Number.isFinite(value) ? String(value) : value,
    });
  };

  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('must be a finite number');
    text = String(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    return fail('must be a number or a decimal string');
  }

  if (text.length === 0 || text.length > MAX_DECIMAL_LENGTH) fail('must be a decimal number');
  const parts = scanDecimal(text);
  if (!parts) return fail('must be a decimal number');
  const { intDigits, fracDigits, exponent } = parts;

  const digits = BigInt(intDigits + fracDigits);
  if (digits === 0n) return 0; // "0", "-0", "0.000", "0e99"
  if (parts.negative) fail('must not be negative');

  // value = digits × 10^(exponent − fracLen); e4 = digits × 10^(exponent − fracLen + 4).
  const shift = exponent - fracDigits.length + E4_DECIMALS;
  let e4: bigint;
  if (shift >= 0) {
    // digits ≥ 1, so any shift beyond 16 already exceeds 2^53; guards 10n ** hugeExponent too.
    if (shift > 16) return fail('is too large');
    e4 = digits * 10n ** BigInt(shift);
  } else {
    if (-shift > MAX_DECIMAL_LENGTH) return fail(`must have at most ${E4_DECIMALS} decimals`);
    const divisor = 10n ** BigInt(-shift);
    if (digits % divisor !== 0n) return fail(`must have at most ${E4_DECIMALS} decimals`);
    e4 = digits / divisor;
  }
  if (e4 > MAX_SAFE) fail('is too large');
  return Number(e4);
}

/**
 * e4 integer → JS number for API output (324567 → 32.4567), by building the decimal string and
 * calling Number() on it (no float division). Throws RangeError if `e4` is not a safe integer.
 */
export function formatE4(e4: number): number {
  return Number(formatE4String(e4));
}

/** e4 integer → shortest decimal string ("32.4567", "7.25", "250", "-0.0001"). */
export function formatE4String(e4: number): string {
  if (!Number.isSafeInteger(e4)) throw new RangeError(`e4 value ${e4} is not a safe integer`);
  const negative = e4 < 0;
  const abs = BigInt(Math.abs(e4));
  const int = abs / E4_SCALE;
  const frac = (abs % E4_SCALE).toString().padStart(E4_DECIMALS, '0').replace(/0+$/, '');
  const body = frac === '' ? int.toString() : `${int}.${frac}`;
  return negative ? `-${body}` : body;
}

// ---------------------------------------------------------------------------------------------
// Exact rationals on bigint
// ---------------------------------------------------------------------------------------------

/** An exact rational number, always normalised: `den > 0` and gcd(|num|, den) = 1. */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

function toBigInt(v: bigint | number, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isSafeInteger(v)) throw new RangeError(`${what} ${v} is not a safe integer`);
  return BigInt(v);
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Builds a normalised rational `num / den`. RangeError if `den` is 0 or a number is not a safe integer. */
export function rat(num: bigint | number, den: bigint | number = 1n): Rational {
  let n = toBigInt(num, 'numerator');
  let d = toBigInt(den, 'denominator');
  if (d === 0n) throw new RangeError('denominator must not be zero');
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d); // ≥ 1 because d ≠ 0
  return { num: n / g, den: d / g };
}

export const ZERO: Rational = { num: 0n, den: 1n };

export function add(a: Rational, b: Rational): Rational {
  return rat(a.num * b.den + b.num * a.den, a.den * b.den);
}

export function mul(a: Rational, b: Rational): Rational {
  return rat(a.num * b.num, a.den * b.den);
}

/** −1, 0 or 1 as a is less than, equal to or greater than b. */
export function compare(a: Rational, b: Rational): -1 | 0 | 1 {
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

/** "num/den" in lowest terms, e.g. "4006779615/10000000" reduced; "0/1" for zero. */
export function ratToString(r: Rational): string {
  const n = rat(r.num, r.den);
  return `${n.num}/${n.den}`;
}

/**
 * Rounds to the nearest integer, halves away from zero: 2.5 → 3, 2.4999 → 2, −2.5 → −3,
 * −2.4 → −2. (For the non-negative amounts billing produces this is plain "half up".)
 */
export function roundHalfUp(r: Rational): bigint {
  const n = rat(r.num, r.den); // tolerate un-normalised input (den < 0)
  if (n.num < 0n) return -roundHalfUp({ num: -n.num, den: n.den });
  // floor(x + 1/2) = floor((2·num + den) / (2·den)); bigint division truncates, all terms ≥ 0.
  return (2n * n.num + n.den) / (2n * n.den);
}

/**
 * Rounds `quantity` UP to the next multiple of `step` (mathematical ceiling, also for negative
 * quantities: −5 step 3 → −3). Step 0 or 1 leaves the quantity unchanged; quantity 0 stays 0.
 * RangeError for a negative step or a number that is not a safe integer.
 */
export function ceilToMultiple(quantity: bigint | number, step: bigint | number): bigint {
  const q = toBigInt(quantity, 'quantity');
  const s = toBigInt(step, 'step');
  if (s < 0n) throw new RangeError(`step ${s} must not be negative`);
  if (s <= 1n || q === 0n) return q;
  const rem = q % s; // sign of q (truncating division)
  if (rem === 0n) return q;
  return q > 0n ? q - rem + s : q - rem;
}
