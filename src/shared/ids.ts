import { randomFillSync } from 'node:crypto';

/**
 * Opaque ids shaped like the platform's (24 hex characters): 4 bytes of seconds since the
 * epoch, then 8 random bytes. They sort roughly by creation time, which keeps cursor
 * pagination stable and indexes compact.
 */
export function newId(now: Date = new Date()): string {
  const seconds = Math.floor(now.getTime() / 1000) >>> 0;
  return seconds.toString(16).padStart(8, '0') + randomHex8();
}

// One call into the system's CSPRNG per 512 ids instead of one per id (ids are made for every
// ledger entry, on the MeterValues hot path). Each byte is handed out once.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomHex8(): string {
  if (offset + 8 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + 8);
  offset += 8;
  return hex;
}

export const ID_PATTERN = /^[0-9a-f]{24}$/;

export function isId(value: string): boolean {
  return ID_PATTERN.test(value);
}
