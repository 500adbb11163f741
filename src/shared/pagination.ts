import { ValidationError } from './errors.ts';

/**
 * Keyset pagination: the cursor is the sort key of the last row of the previous page,
 * wrapped so clients treat it as opaque.
 */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export function encodeCursor(lastKey: string | number): string {
  return Buffer.from(String(lastKey), 'utf8').toString('base64url');
}

function invalid(): never {
  throw new ValidationError('cursor is not one this API returned', { field: 'cursor' });
}

/** Undefined for no cursor; the last id of the previous page otherwise. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9a-f]{24}$/.test(id)) invalid();
  return id;
}

/** For lists ordered by a numeric sequence (the ledger). */
export function decodeSeqCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{1,15}$/.test(text)) invalid();
  return Number(text);
}

/** Turns `limit + 1` fetched rows into a page and the cursor of the next one. */
export function toPage<T>(rows: T[], limit: number, key: (row: T) => string | number): Page<T> {
  const data = rows.slice(0, limit);
  return {
    data,
    next_cursor: rows.length > limit && data.length ? encodeCursor(key(data[data.length - 1]!)) : null,
  };
}

/** Drops undefined values, so a PATCH sets only what the client sent. */
export function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
