import { storable, toStorable } from '../shared/storable.ts';

/**
 * What the gateway let pass in a charger's payload: properties the 1.6 schemas do not name
 * (vendor extras, dropped before the handler sees the payload) and timestamps without a time zone
 * (read as UTC). Found by comparing the payload as received with the payload as parsed.
 */
export interface Lenience {
  /** paths of properties dropped, e.g. `meterValue.0.vendorField` */
  extraProperties: string[];
  /** paths of timestamps that had no zone */
  naiveTimestamps: string[];
  /**
   * paths of texts PostgreSQL cannot store in text or jsonb, read with the character replaced by
   * U+FFFD: a NUL (U+0000), or half of a surrogate pair (valid JSON, `"\ud800"`, but not
   * Unicode). Kept, such a text would fail the statement that writes it, and with it every other
   * station's message that statement carries (the boots, the MeterValues batch); refused, it
   * would have a charger retry a StopTransaction it cannot fix. Replaced, the boot is stored and
   * the stop settled; an idTag holding one matches no token.
   */
  replacedTexts: string[];
}

/** Counts since start, for monitoring. */
export const lenienceTotals = { payloads: 0, extraProperties: 0, naiveTimestamps: 0, replacedTexts: 0 };

export function lenienceOf(received: unknown, parsed: unknown): Lenience {
  const found: Lenience = { extraProperties: [], naiveTimestamps: [], replacedTexts: [] };
  walk(received, parsed, '', found);
  if (found.extraProperties.length || found.naiveTimestamps.length || found.replacedTexts.length) {
    lenienceTotals.payloads += 1;
    lenienceTotals.extraProperties += found.extraProperties.length;
    lenienceTotals.naiveTimestamps += found.naiveTimestamps.length;
    lenienceTotals.replacedTexts += found.replacedTexts.length;
  }
  return found;
}

/** Walks the payload as received beside the payload as parsed; replaces unstorable texts in `parsed`. */
function walk(received: unknown, parsed: unknown, path: string, found: Lenience): void {
  if (Array.isArray(received) && Array.isArray(parsed)) {
    received.forEach((item, i) => visit(item, parsed, i, join(path, String(i)), found));
    return;
  }
  if (isObject(received) && isObject(parsed)) {
    for (const [key, value] of Object.entries(received)) {
      if (!(key in parsed)) found.extraProperties.push(join(path, key));
      else visit(value, parsed, key, join(path, key), found);
    }
  }
}

function visit(received: unknown, parent: Record<string | number, unknown> | unknown[], key: string | number, path: string, found: Lenience): void {
  const parsed = (parent as Record<string | number, unknown>)[key];
  if (typeof parsed !== 'string') return walk(received, parsed, path, found);
  if (!storable(parsed)) {
    (parent as Record<string | number, unknown>)[key] = toStorable(parsed);
    found.replacedTexts.push(path);
  } else if (typeof received === 'string' && received !== parsed) {
    found.naiveTimestamps.push(path);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
