import { createDrivers, createStations, type AdminApi, type Driver, type Fixture } from './admin.ts';
import type { Billed } from './ledger.ts';
import { connectAll, identities, makeFleet, type BenchStation } from './station.ts';
import { log, now, pMap } from './util.ts';

/** Stations and drivers registered through the admin API, not connected yet. */
export interface Registered {
  prefix: string;
  count: number;
  drivers: Driver[];
  /** one driver pays for every session (a token per station) */
  sharedWallet: boolean;
}

export async function registerSessions(o: {
  api: AdminApi;
  fx: Fixture;
  prefix: string;
  count: number;
  balance: number;
  sharedWallet?: boolean;
}): Promise<Registered> {
  const t0 = now();
  const [, drivers] = await Promise.all([
    createStations(o.api, o.fx, identities(o.prefix, o.count, 4)),
    o.sharedWallet
      ? createDrivers(o.api, o.fx, o.prefix, 1, o.balance, o.count)
      : createDrivers(o.api, o.fx, o.prefix, o.count, o.balance),
  ]);
  log(`  registered ${o.count} ${o.prefix} stations and their drivers in ${Math.round(now() - t0)} ms`);
  return { prefix: o.prefix, count: o.count, drivers, sharedWallet: o.sharedWallet === true };
}

export interface StartedSessions {
  stations: BenchStation[];
  billed: Billed[];
}

/** Connects and boots the registered stations and starts one session on each (must be Accepted). */
export async function startSessions(r: Registered, url: string, callTimeoutMs: number): Promise<StartedSessions> {
  const t0 = now();
  const stations = makeFleet({ url, prefix: r.prefix, count: r.count, width: 4, callTimeoutMs });
  await connectAll(stations, 100);
  const t1 = now();
  const billed = await pMap(stations, 50, async (s, i) => {
    const driver = r.sharedWallet ? r.drivers[0]! : r.drivers[i]!;
    const idTag = r.sharedWallet ? driver.idTags[i]! : driver.idTags[0]!;
    const started = await s.startTransaction(idTag, 1_000 * (i + 1));
    if (started.status !== 'Accepted') throw new Error(`${s.identity}: StartTransaction ${started.status}`);
    return { station: s, userId: driver.userId, walletId: driver.walletId, initialBalance: driver.balance };
  });
  log(`  ${r.count} ${r.prefix} stations: connect+boot ${Math.round(t1 - t0)} ms, StartTransaction ${Math.round(now() - t1)} ms`);
  return { stations, billed };
}
