/**
 * Text PostgreSQL can keep. Its text and jsonb types refuse a NUL (U+0000) and half of a
 * surrogate pair (valid JSON, `"\ud800"`, but not Unicode); a station can send either, in a
 * message or in its answer to a call. Where such text would share a statement with other
 * stations' rows, it is stored with U+FFFD in place of each such character instead.
 */

/**
 * Whether PostgreSQL's `integer` can hold the number (the gateway's transaction, connector and
 * request ids). A station may send a larger id in a message the gateway must still answer (a
 * StopTransaction of a transaction the gateway never issued): such an id matches no row, and is
 * kept in an alert's details rather than in its integer column.
 */
export function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX;
}

/** PostgreSQL `integer`'s range. */
export const INT32_MIN = -2_147_483_648;
export const INT32_MAX = 2_147_483_647;

/** A NUL, or half of a surrogate pair without its other half. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Whether PostgreSQL can keep the text in text or jsonb. */
export function storable(text: string): boolean {
  UNSTORABLE.lastIndex = 0;
  return !UNSTORABLE.test(text);
}

/** The text with U+FFFD in place of each character PostgreSQL cannot keep. */
export function toStorable(text: string): string {
  return text.replace(UNSTORABLE, '\ufffd');
}

/**
 * JSON.stringify for a jsonb parameter: a NUL or a half surrogate pair in any string (key or
 * value) is written as U+FFFD. Such characters always appear escaped in JSON.stringify's output
 * (`\u0000`, `\ud800`), so the usual case costs one scan of the text and no second pass.
 */
export function storableJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined || !/\\u(?:0000|d[89a-f])/i.test(text)) return text;
  return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
    if (typeof v === 'string') return toStorable(v);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.some(([k]) => !storable(k))) return Object.fromEntries(entries.map(([k, x]) => [toStorable(k), x]));
    }
    return v;
  });
}
