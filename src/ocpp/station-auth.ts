import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifyPassword } from '../shared/secrets.ts';
import { FailureThrottle } from '../shared/throttle.ts';

/** The outcome of a password check: accepted, refused (401), or not tried now (429 after `retryAfterS`). */
/** `matched`: the stored hash the password verified against (one of several during a rotation). */
export type PasswordVerdict = { ok: true; matched: string } | { ok: false; retryAfterS?: number };

/** scrypt runs on libuv's thread pool (4 threads by default), which also serves DNS and files. */
const MAX_CONCURRENT_HASHES = 2;

/**
 * Station password checks for the handshake, built so that credentials that verify are never
 * refused by a throttle, while password guessing cannot burn the CPU.
 *
 * - A password that verified once is remembered as an HMAC under a key that lives only in this
 *   process, bound to the stored hash (a changed password invalidates it). It is checked first
 *   and costs one HMAC: a station that has connected before is accepted whatever else is
 *   happening, and a reconnect storm does not pay scrypt again.
 * - Only attempts that need scrypt are throttled, and per (source address, identity) pair: an
 *   attacker guessing a station's password from elsewhere slows down only themself. A source
 *   failing across many identities backs off as a whole (that is what protects the CPU).
 * - A missing password is not a failure: some chargers send credentials only after the 401
 *   challenge, and nothing was hashed.
 * - Unknown identities cost a lookup, not a hash; they are counted per source on their own and
 *   only turn that source's further unknown identities from 404 into 429. Registered stations
 *   behind the same address (a NAT, a TLS terminator) are not affected.
 */
export class StationAuthenticator {
  private readonly key = randomBytes(32);
  private readonly verified = new Map<string, { storedHash: string; mac: Buffer }>();
  private readonly bySource: FailureThrottle;
  private readonly byPair: FailureThrottle;
  private readonly unknownBySource: FailureThrottle;
  private hashing = 0;
  private readonly waitingToHash: (() => void)[] = [];

  constructor(
    limits: { perSource: number; perIdentity: number; windowMs: number },
    private readonly maxCached = 200_000,
  ) {
    this.bySource = new FailureThrottle(limits.perSource, limits.windowMs);
    this.byPair = new FailureThrottle(limits.perIdentity, limits.windowMs);
    this.unknownBySource = new FailureThrottle(limits.perSource, limits.windowMs);
  }

  /**
   * A handshake for an identity that is not registered. Returns seconds to wait when the source
   * has tried too many unknown identities (answer 429), undefined otherwise (answer 404).
   */
  unknownIdentity(source: string): number | undefined {
    const wait = this.unknownBySource.retryAfterS(source);
    this.unknownBySource.fail(source);
    return wait > 0 ? wait : undefined;
  }

  /**
   * `identity` is the station's registered identity (the case it was registered in);
   * `storedHashes` its password's hash, and during an AuthorizationKey rotation the new one's too.
   */
  async verify(
    source: string,
    identity: string,
    presented: Buffer | undefined,
    storedHashes: string | readonly string[],
  ): Promise<PasswordVerdict> {
    if (presented === undefined) return { ok: false };
    const hashes = typeof storedHashes === 'string' ? [storedHashes] : storedHashes;
    const mac = createHmac('sha256', this.key).update(identity).update('\0').update(presented).digest();
    const known = this.verified.get(identity);
    if (known && hashes.includes(known.storedHash) && timingSafeEqual(known.mac, mac)) return { ok: true, matched: known.storedHash };

    const pair = `${source} ${identity}`;
    const wait = Math.max(this.bySource.retryAfterS(source), this.byPair.retryAfterS(pair));
    if (wait > 0) return { ok: false, retryAfterS: wait };

    let matched: string | undefined;
    for (const storedHash of hashes) {
      if (await this.hashSlot(() => verifyPassword(presented, storedHash))) {
        matched = storedHash;
        break;
      }
    }
    if (matched === undefined) {
      this.bySource.fail(source);
      this.byPair.fail(pair);
      return { ok: false };
    }
    this.byPair.succeeded(pair);
    if (this.verified.size >= this.maxCached) this.verified.clear();
    this.verified.set(identity, { storedHash: matched, mac });
    return { ok: true, matched };
  }

  private async hashSlot<T>(run: () => Promise<T>): Promise<T> {
    if (this.hashing < MAX_CONCURRENT_HASHES) this.hashing += 1;
    else await new Promise<void>((resolve) => this.waitingToHash.push(resolve)); // handed a slot
    try {
      return await run();
    } finally {
      const next = this.waitingToHash.shift();
      if (next) next();
      else this.hashing -= 1;
    }
  }
}
