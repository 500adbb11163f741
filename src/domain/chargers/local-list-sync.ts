import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { LocalListInfo } from '../../db/tables/charge-stations.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { walletGroupTag } from '../sessions/authorization.ts';
import type { StationCommands } from '../operations/commands.ts';
import type { WalletMove } from '../wallets/ledger.ts';
import type { StationPort } from './station-port.ts';
import { INT32_MAX, isInt32 } from '../../shared/storable.ts';

const MAX_LIST_VERSION = INT32_MAX;

/**
 * The first version of `updates` consecutive SendLocalLists after `version`: one more, or 1 when
 * the last of them would pass int32 (the column's range). Only a Full list may start again at 1:
 * a station answers a Differential whose version is not above its own VersionMismatch.
 */
export function nextListVersion(version: number, updates = 1): number {
  return version + updates > MAX_LIST_VERSION ? 1 : version + 1;
}

/** Entries per SendLocalList: a Full list longer than this goes as a Full and then Differentials. */
export const LOCAL_LIST_CHUNK = 100;

type Station = { stationId: string; identity: string; organizationId: string };

/** May a wallet with this balance start, in an organization with this minimum? (As Authorize decides.) */
export function fundsAccepted(balance: number, minimum: number): boolean {
  return balance >= minimum && balance > 0;
}

/**
 * Keeps each station's local authorization list in step with the wallets (LOCAL_AUTH_LIST_SYNC=on),
 * so a charger that goes offline still refuses an empty wallet and still starts a funded one.
 *
 * - The list of a station holds the tokens of its organization's users: `Accepted` when the
 *   token, its user and its wallet would be accepted by Authorize (balance at or above the
 *   organization's minimum, and above zero), `Blocked` otherwise (`Expired` past the token's
 *   expiry); `parentIdTag` names the wallet (every token of one wallet shares it).
 * - On each (re)connection: GetLocalListVersion; a version other than the last one the gateway
 *   sent and the station accepted gets a Full list; an equal one gets a Differential of what
 *   changed while it was away. Versions only go up (the larger of the station's and ours, + 1).
 * - When a balance crosses the minimum (either way), the stations that hold its tokens get a
 *   Differential update of just those tokens. The ledger reports every balance it moved; this
 *   class only queues the wallet ids there (a map lookup per wallet on the MeterValues path) and
 *   does the reading and sending later, batched, off that path.
 *
 * What each station holds is kept in `charge_stations.local_list_sent`, so updates after a
 * restart are still Differential.
 */
export class LocalListSync {
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** wallet → its organization's minimum, learnt from earlier reads (a minimum rarely changes) */
  private readonly minimumOf = new Map<string, number>();
  private readonly stationQueues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: { db: Db; clock: Clock; log: Logger; commands: StationCommands; stations: StationPort },
    private readonly options: { debounceMs: number } = { debounceMs: 250 },
  ) {}

  /** From the ledger, after a commit: queues the wallets whose balance may have crossed the minimum. */
  balancesMoved(moves: readonly WalletMove[]): void {
    for (const m of moves) {
      const minimum = this.minimumOf.get(m.walletId);
      if (minimum === undefined || fundsAccepted(m.before, minimum) !== fundsAccepted(m.after, minimum)) this.pending.add(m.walletId);
    }
    this.schedule();
  }

  /** Wallets (or their tokens, users) that changed in a way the lists must reflect (a top-up, a token edit). */
  walletsChanged(walletIds: readonly string[]): void {
    for (const id of walletIds) this.pending.add(id);
    this.schedule();
  }

  /** Waits for the queued work (tests, graceful stop). */
  async drain(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }
    await this.flushing;
    await Promise.all(this.stationQueues.values());
  }

  /** A station connected: bring its list up to date (Full when the versions differ). */
  async onConnected(station: Station): Promise<void> {
    await this.serialized(station.stationId, async () => {
      const { answer } = await this.deps.commands.send(station.stationId, 'GetLocalListVersion', {}, { requestedBy: 'gateway', reason: 'local_list_sync' });
      if (answer.listVersion < 0) {
        this.deps.log.info({ identity: station.identity }, 'station has no local authorization list: not synced');
        return;
      }
      const row = await this.stationRow(station.stationId);
      const desired = await this.desiredFor(station.organizationId);
      if (row.local_list_synced_version === null || row.local_list_synced_version !== answer.listVersion || !row.local_list_sent) {
        // A version beyond int32 (which no column keeps) is replaced: the Full list starts again at 1.
        await this.sendFull(station, desired, nextListVersion(isInt32(answer.listVersion) ? Math.max(answer.listVersion, row.local_list_synced_version ?? 0) : 0));
      } else {
        await this.sendChanges(station, desired, row.local_list_sent, row.local_list_synced_version);
      }
    });
  }

  /** Every connected, synced station gets a Differential of what changed (a periodic safety net). */
  async reconcileAll(): Promise<void> {
    const rows = await this.deps.db
      .selectFrom('charge_stations')
      .select(['id', 'ocpp_id', 'organization_id'])
      .where('active', '=', true)
      .where('local_list_synced_version', 'is not', null)
      .execute();
    const online = await this.deps.stations.locate(rows.map((r) => r.ocpp_id));
    for (const r of rows) {
      if (!online.has(r.ocpp_id)) continue;
      await this.reconcile({ stationId: r.id, identity: r.ocpp_id, organizationId: r.organization_id }).catch((err: unknown) =>
        this.deps.log.warn({ err: (err as Error).message, identity: r.ocpp_id }, 'local list reconcile failed'),
      );
    }
  }

  private schedule(): void {
    if (this.timer || !this.pending.size) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, this.options.debounceMs);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    const walletIds = [...this.pending];
    this.pending.clear();
    if (!walletIds.length) return;
    try {
      const owners = await this.deps.db
        .selectFrom('wallets as w')
        .innerJoin('users as u', 'u.id', 'w.user_id')
        .innerJoin('organizations as o', 'o.id', 'u.organization_id')
        .select(['w.id as wallet_id', 'o.id as organization_id', 'o.minimum_balance_to_start_session as minimum'])
        .where('w.id', 'in', walletIds)
        .execute();
      for (const o of owners) this.minimumOf.set(o.wallet_id, o.minimum);
      const organizations = [...new Set(owners.map((o) => o.organization_id))];
      if (!organizations.length) return;
      const stations = await this.deps.db
        .selectFrom('charge_stations')
        .select(['id', 'ocpp_id', 'organization_id'])
        .where('active', '=', true)
        .where('organization_id', 'in', organizations)
        .where('local_list_synced_version', 'is not', null)
        .execute();
      const online = await this.deps.stations.locate(stations.map((s) => s.ocpp_id));
      for (const s of stations) {
        if (!online.has(s.ocpp_id)) continue; // brought up to date when it reconnects
        await this.reconcile({ stationId: s.id, identity: s.ocpp_id, organizationId: s.organization_id }, walletIds);
      }
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'local list update failed; the next reconnect or reconcile catches up');
    }
  }

  /** A Differential of the entries (of these wallets, or all) whose idTagInfo differs from what the station holds. */
  private reconcile(station: Station, walletIds?: readonly string[]): Promise<void> {
    return this.serialized(station.stationId, async () => {
      const row = await this.stationRow(station.stationId);
      if (row.local_list_synced_version === null || !row.local_list_sent) return;
      const desired = await this.desiredFor(station.organizationId, walletIds);
      await this.sendChanges(station, desired, row.local_list_sent, row.local_list_synced_version);
    });
  }

  /**
   * The entries of `desired` whose idTagInfo changed, as Differentials; the whole list Full instead when their
   * versions would pass int32 or the station answers VersionMismatch (its list is not the one
   * the gateway thinks).
   */
  private async sendChanges(station: Station, desired: Map<string, LocalListInfo>, sent: Record<string, LocalListInfo>, version: number) {
    const changes = [...desired].filter(([idTag, info]) => !sameInfo(sent[idTag], info));
    if (!changes.length) return;
    // `desired` may be some wallets' entries only (reconcile): a Full list is always the whole one.
    const whole = async () => this.desiredFor(station.organizationId);
    if (nextListVersion(version, Math.ceil(changes.length / LOCAL_LIST_CHUNK)) === 1) return this.sendFull(station, await whole(), 1);
    for (let i = 0; i < changes.length; i += LOCAL_LIST_CHUNK) {
      version += 1;
      const status = await this.send(station, 'Differential', version, changes.slice(i, i + LOCAL_LIST_CHUNK));
      if (status === 'VersionMismatch') return this.sendFull(station, await whole(), version + 1);
      if (status !== 'Accepted') return;
    }
  }

  /** The whole list: a Full of its first chunk at `first`, the rest as Differentials after it (versions past int32: from 1). */
  private async sendFull(station: Station, desired: Map<string, LocalListInfo>, first: number) {
    const all = [...desired];
    const chunks = Math.max(1, Math.ceil(all.length / LOCAL_LIST_CHUNK));
    let version = first + chunks - 1 > MAX_LIST_VERSION ? 1 : first;
    if ((await this.send(station, 'Full', version, all.slice(0, LOCAL_LIST_CHUNK))) !== 'Accepted') return;
    for (let i = LOCAL_LIST_CHUNK; i < all.length; i += LOCAL_LIST_CHUNK) {
      version += 1;
      if ((await this.send(station, 'Differential', version, all.slice(i, i + LOCAL_LIST_CHUNK))) !== 'Accepted') return;
    }
  }

  /** One SendLocalList, answered with the station's status; Accepted: what the station now holds is recorded. */
  private async send(station: Station, updateType: 'Full' | 'Differential', listVersion: number, entries: [string, LocalListInfo][]): Promise<string> {
    const { answer } = await this.deps.commands.send(
      station.stationId,
      'SendLocalList',
      { listVersion, updateType, localAuthorizationList: entries.map(([idTag, idTagInfo]) => ({ idTag, idTagInfo })) },
      { requestedBy: 'gateway', reason: 'local_list_sync' },
    );
    if (answer.status !== 'Accepted') {
      this.deps.log.warn({ identity: station.identity, updateType, listVersion, status: answer.status }, 'local list update not accepted');
      if (answer.status === 'VersionMismatch') {
        // The station's list is not the one we think: the next reconnect or reconcile sends it Full.
        await this.deps.db.updateTable('charge_stations').set({ local_list_synced_version: null }).where('id', '=', station.stationId).execute();
      }
      return answer.status;
    }
    const patch = JSON.stringify(Object.fromEntries(entries));
    await this.deps.db
      .updateTable('charge_stations')
      .set({
        local_list_synced_version: listVersion,
        local_list_sent: updateType === 'Full' ? patch : sql<string>`coalesce(local_list_sent, '{}'::jsonb) || ${patch}::jsonb`,
      })
      .where('id', '=', station.stationId)
      .execute();
    return answer.status;
  }

  private async stationRow(stationId: string) {
    return this.deps.db
      .selectFrom('charge_stations')
      .select(['local_list_synced_version', 'local_list_sent'])
      .where('id', '=', stationId)
      .executeTakeFirstOrThrow();
  }

  /** The entries a station of `organizationId` should hold (those of `walletIds` only, when given). */
  private async desiredFor(organizationId: string, walletIds?: readonly string[]): Promise<Map<string, LocalListInfo>> {
    let query = this.deps.db
      .selectFrom('tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .innerJoin('organizations as o', 'o.id', 'u.organization_id')
      .leftJoin('wallets as w', 'w.user_id', 'u.id')
      .select([
        't.physical_id',
        't.active as token_active',
        't.expires_at',
        'u.active as user_active',
        'w.id as wallet_id',
        'w.balance',
        'o.minimum_balance_to_start_session as minimum',
      ])
      .where('u.organization_id', '=', organizationId)
      .orderBy('t.physical_id');
    if (walletIds) query = query.where('w.id', 'in', walletIds.length ? walletIds : ['']);
    const now = this.deps.clock.now();
    const out = new Map<string, LocalListInfo>();
    for (const r of await query.execute()) {
      if (r.wallet_id) this.minimumOf.set(r.wallet_id, r.minimum);
      let status: LocalListInfo['status'];
      if (!r.token_active || !r.user_active) status = 'Blocked';
      else if (r.expires_at && r.expires_at.getTime() <= now.getTime()) status = 'Expired';
      else status = r.wallet_id && r.balance !== null && fundsAccepted(r.balance, r.minimum) ? 'Accepted' : 'Blocked';
      out.set(r.physical_id, {
        status,
        ...(r.wallet_id ? { parentIdTag: walletGroupTag(r.wallet_id) } : {}),
        ...(r.expires_at ? { expiryDate: r.expires_at.toISOString() } : {}),
      });
    }
    return out;
  }

  /** One station's list work at a time, in order (versions must follow each other). */
  private serialized<T>(stationId: string, work: () => Promise<T>): Promise<T> {
    const before = this.stationQueues.get(stationId) ?? Promise.resolve();
    const run = before.catch(() => {}).then(work);
    const tail = run.catch(() => {});
    this.stationQueues.set(stationId, tail);
    void tail.then(() => {
      if (this.stationQueues.get(stationId) === tail) this.stationQueues.delete(stationId);
    });
    return run;
  }
}

function sameInfo(a: LocalListInfo | undefined, b: LocalListInfo): boolean {
  return !!a && a.status === b.status && a.parentIdTag === b.parentIdTag && a.expiryDate === b.expiryDate;
}
