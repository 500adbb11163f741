/**
 * The one decimal grammar of the gateway, for every number that arrives as text (meter
 * readings, prices, tax percents): an optional sign, digits with an optional fraction (at least
 * one digit on either side of the point), an optional exponent. "12", "-1.5", "12.", ".5",
 * "1.2E+3". No whitespace: callers that allow it trim first. Parsed exactly, never through a float.
 */
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

export interface DecimalParts {
  negative: boolean;
  intDigits: string;
  fracDigits: string;
  exponent: number;
}

/** Splits a decimal into its parts; undefined when the text is not in the grammar. */
export function scanDecimal(text: string): DecimalParts | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const intDigits = m[2] ?? '';
  const fracDigits = m[3] ?? '';
  if (intDigits === '' && fracDigits === '') return undefined;
  return { negative: m[1] === '-', intDigits, fracDigits, exponent: m[4] === undefined ? 0 : Number(m[4]) };
}

/** An exact decimal: value = unscaled / 10^scale, scale ≥ 0. */
export interface ParsedDecimal {
  unscaled: bigint;
  scale: number;
}

const MAX_DECIMAL_LENGTH = 100;
/** Exponents beyond this are not a measured value; also bounds the 10n ** n work. */
const MAX_EXPONENT = 400;

/**
 * Parses a measured value exactly ("1234", "-1.5", "12.3456", ".5", "1.2E3"; surrounding
 * whitespace allowed). Undefined when it is not a finite decimal number (empty, "NaN",
 * "Infinity", "0x10", "1,5", a magnitude beyond a double, an exponent beyond 400).
 */
export function parseDecimal(value: string): ParsedDecimal | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text.length === 0 || text.length > MAX_DECIMAL_LENGTH) return undefined;
  const parts = scanDecimal(text);
  if (!parts) return undefined;
  const { exponent, intDigits, fracDigits } = parts;
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > MAX_EXPONENT) return undefined;
  if (!Number.isFinite(Number(text))) return undefined; // e.g. "1e400"

  let unscaled = BigInt(intDigits + fracDigits);
  if (parts.negative) unscaled = -unscaled;
  let scale = fracDigits.length - exponent;
  if (scale < 0) {
    unscaled *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { unscaled, scale };
}
