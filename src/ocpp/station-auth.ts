import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifyPassword } from '../shared/secrets.ts';
import { FailureThrottle } from '../shared/throttle.ts';

/**
 * Station password checks for the handshake.
 *
 * scrypt is slow on purpose (~50 ms of CPU); a fleet reconnecting after a restart would spend
 * minutes in it. A password that verified once is remembered as an HMAC under a key that lives
 * only in this process, bound to the stored hash (a changed password invalidates it), so a
 * reconnect costs one HMAC. Failed attempts are counted per source address and per identity;
 * past the limit the handshake is refused with 429 before any hashing.
 */
export class StationAuthenticator {
  private readonly key = randomBytes(32);
  private readonly verified = new Map<string, { storedHash: string; mac: Buffer }>();
  readonly bySource: FailureThrottle;
  readonly byIdentity: FailureThrottle;

  constructor(
    limits: { perSource: number; perIdentity: number; windowMs: number },
    private readonly maxCached = 200_000,
  ) {
    this.bySource = new FailureThrottle(limits.perSource, limits.windowMs);
    this.byIdentity = new FailureThrottle(limits.perIdentity, limits.windowMs);
  }

  /** Undefined when the caller may try; otherwise seconds to wait (answer 429). */
  throttled(identity: string, source: string): number | undefined {
    if (this.bySource.blocked(source)) return this.bySource.retryAfterS(source);
    if (this.byIdentity.blocked(identity)) return this.byIdentity.retryAfterS(identity);
    return undefined;
  }

  /** A handshake failure that counts against the source (unknown identity, bad password). */
  failed(identity: string | undefined, source: string): void {
    this.bySource.fail(source);
    if (identity !== undefined) this.byIdentity.fail(identity);
  }

  async check(identity: string, presented: Buffer | undefined, storedHash: string): Promise<boolean> {
    if (presented === undefined) return false;
    const mac = createHmac('sha256', this.key).update(identity).update('\0').update(presented).digest();
    const known = this.verified.get(identity);
    if (known && known.storedHash === storedHash && timingSafeEqual(known.mac, mac)) return true;
    const ok = await verifyPassword(presented, storedHash);
    if (ok) {
      if (this.verified.size >= this.maxCached) this.verified.clear();
      this.verified.set(identity, { storedHash, mac });
    }
    return ok;
  }
}
