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
   * paths of texts holding a NUL character (U+0000), which PostgreSQL cannot store in text or
   * jsonb: not let pass but refused (PropertyConstraintViolation), before a write that shares
   * its statement with other stations' messages could fail for all of them
   */
  nulTexts: string[];
}

/** Counts since start, for monitoring (exported as metrics). */
export const lenienceTotals = { payloads: 0, extraProperties: 0, naiveTimestamps: 0 };

export function lenienceOf(received: unknown, parsed: unknown): Lenience {
  const found: Lenience = { extraProperties: [], naiveTimestamps: [], nulTexts: [] };
  walk(received, parsed, '', found);
  if (found.extraProperties.length || found.naiveTimestamps.length) {
    lenienceTotals.payloads += 1;
    lenienceTotals.extraProperties += found.extraProperties.length;
    lenienceTotals.naiveTimestamps += found.naiveTimestamps.length;
  }
  return found;
}

function walk(received: unknown, parsed: unknown, path: string, found: Lenience): void {
  if (Array.isArray(received) && Array.isArray(parsed)) {
    received.forEach((item, i) => walk(item, parsed[i], join(path, String(i)), found));
    return;
  }
  if (isObject(received) && isObject(parsed)) {
    for (const [key, value] of Object.entries(received)) {
      if (!(key in parsed)) found.extraProperties.push(join(path, key));
      else walk(value, parsed[key], join(path, key), found);
    }
    return;
  }
  if (typeof parsed === 'string') {
    if (parsed.includes('\u0000')) found.nulTexts.push(path);
    else if (typeof received === 'string' && received !== parsed) found.naiveTimestamps.push(path);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
