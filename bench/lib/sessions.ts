import { createDrivers, createStations, type AdminApi, type Driver, type Fixture } from './admin.ts';
import type { Billed } from './ledger.ts';
import { connectAll, identities, makeFleet, type BenchStation } from './station.ts';
import { log, now, pMap } from './util.ts';

/** Stations and drivers registered through the admin API, not connected yet. */
export interface Registered {
  prefix: string;
  count: number;
  drivers: Driver[];
  /** sessions each driver pays for (a token per session): station i is paid by driver ⌊i / perWallet⌋ */
  perWallet: number;
}

export async function registerSessions(o: {
  api: AdminApi;
  fx: Fixture;
  prefix: string;
  count: number;
  balance: number;
  /** one driver pays for every session */
  sharedWallet?: boolean;
  /** or: each driver pays for this many consecutive stations' sessions (default 1) */
  perWallet?: number;
}): Promise<Registered> {
  const t0 = now();
  const perWallet = o.sharedWallet ? o.count : (o.perWallet ?? 1);
  const [, drivers] = await Promise.all([
    createStations(o.api, o.fx, identities(o.prefix, o.count, 4)),
    createDrivers(o.api, o.fx, o.prefix, Math.ceil(o.count / perWallet), o.balance, perWallet),
  ]);
  log(`  registered ${o.count} ${o.prefix} stations and their drivers in ${Math.round(now() - t0)} ms`);
  return { prefix: o.prefix, count: o.count, drivers, perWallet };
}

export interface StartedSessions {
  stations: BenchStation[];
  billed: Billed[];
}

/**
 * Connects and boots the registered stations and starts one session on each (must be Accepted).
 * `to`: the gateway's URL, or each station's list of gateway nodes (cluster).
 */
export async function startSessions(
  r: Registered,
  to: string | ((i: number) => readonly string[]),
  callTimeoutMs: number,
): Promise<StartedSessions> {
  const t0 = now();
  const where = typeof to === 'string' ? { url: to } : { url: to(0)[0]!, endpoints: to };
  const stations = makeFleet({ ...where, prefix: r.prefix, count: r.count, width: 4, callTimeoutMs });
  await connectAll(stations, 100);
  const t1 = now();
  const billed = await pMap(stations, 50, async (s, i) => {
    const driver = r.drivers[Math.floor(i / r.perWallet)]!;
    const idTag = driver.idTags[i % r.perWallet]!;
    const started = await s.startTransaction(idTag, 1_000 * (i + 1));
    if (started.status !== 'Accepted') throw new Error(`${s.identity}: StartTransaction ${started.status}`);
    return { station: s, userId: driver.userId, walletId: driver.walletId, initialBalance: driver.balance };
  });
  log(`  ${r.count} ${r.prefix} stations: connect+boot ${Math.round(t1 - t0)} ms, StartTransaction ${Math.round(now() - t1)} ms`);
  return { stations, billed };
}
