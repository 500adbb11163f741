/** PostgreSQL errors (pg and PGlite alike), classified for the callers that must tell them apart. */

/**
 * True when an error means the database cannot be reached right now (connection refused or
 * lost, server shutting down), as opposed to a query that is wrong. Callers answer these with
 * "try again later" (HTTP 503, CALLERROR InternalError) instead of a failure.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== 'object') return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    // pg reports a dropped connection without a code, and pg-pool a wait for a free connection
    // longer than connectionTimeoutMillis (every connection busy: an overload, as a reconnect
    // storm brings) as "timeout exceeded when trying to connect".
    if (typeof message === 'string' && /^Connection terminated|connection timeout|Client has encountered a connection error|^timeout exceeded when trying to connect/i.test(message)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The database refused a value as data (SQLSTATE class 22: a text it cannot hold, a number out
 * of range, a malformed date): the fault of one row, not of the statement or the database. A
 * batch that fails with it is worth writing again row by row, to lose only that row.
 */
export function isDataException(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** A unique constraint refused the write (optionally: this constraint). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e.code !== '23505') return false;
  return constraint === undefined || e.constraint === constraint || (e.message ?? '').includes(constraint);
}

/** A CHECK constraint refused the write (optionally: one whose name contains this). */
export function isCheckViolation(err: unknown, constraint?: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e.code !== '23514') return false;
  return constraint === undefined || (e.constraint ?? e.message ?? '').includes(constraint);
}

/** PostgreSQL aborted the transaction to break a deadlock (40P01); running it again is safe. */
export function isDeadlock(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '40P01';
}

/**
 * Runs a whole transaction again when PostgreSQL aborted it to break a deadlock (up to 5 tries,
 * a few ms apart). Only for transactions whose callback does nothing but database work: the
 * aborted try left nothing behind. Writers keep to one lock order (sessions, then wallets by
 * id), but a debit that takes a shared wallet to zero marks that wallet's other sessions stopping
 * in its own transaction (after the wallet), so it can meet a StopTransaction settling one of
 * them (session, then the wallet): PostgreSQL aborts one, and it runs again.
 */
export async function retryOnDeadlock<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= 5 || !isDeadlock(err)) throw err;
      await new Promise((r) => setTimeout(r, 10 * attempt * Math.random()));
    }
  }
}
