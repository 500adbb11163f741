import { EventEmitter } from 'node:events';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, isUniqueViolation } from '../../src/db/errors.ts';

/** A pg client that connects at once and talks to no server: enough for the pool's own bookkeeping. */
class OfflineClient extends EventEmitter {
  connect(cb: (err?: Error) => void) {
    setImmediate(() => cb());
  }
  end(cb?: () => void) {
    cb?.();
    return Promise.resolve();
  }
}

/** The error pg-pool gives a caller that waited longer than connectionTimeoutMillis for a free connection. */
async function poolWaitTimeout(): Promise<unknown> {
  const pool = new pg.Pool({ max: 1, connectionTimeoutMillis: 20, Client: OfflineClient as unknown as typeof pg.Client });
  const held = await pool.connect();
  // pg-pool unrefs its timer: something must keep the loop alive while the wait times out
  const alive = setInterval(() => {}, 1_000);
  try {
    await pool.connect();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    clearInterval(alive);
    held.release();
    await pool.end();
  }
}

describe('database errors, classified', () => {
  it('a wait for a free pooled connection that times out (every connection busy) is "unavailable, retry later", not a failure', async () => {
    const err = await poolWaitTimeout();
    expect(err).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(err)).toBe(true);
    // wrapped by a caller, as kysely and our own errors do
    expect(isDatabaseUnavailable(new Error('could not write', { cause: err }))).toBe(true);
  });

  it('lost connections and server shutdowns are unavailable; a wrong query or a constraint is not', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    const unique = Object.assign(new Error('duplicate key value violates unique constraint "x"'), { code: '23505', constraint: 'x' });
    expect(isDatabaseUnavailable(unique)).toBe(false);
    expect(isUniqueViolation(unique, 'x')).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('syntax error at or near "selec"'), { code: '42601' }))).toBe(false);
    expect(isDatabaseUnavailable(new Error('a timeout exceeded somewhere else'))).toBe(false);
  });
});
