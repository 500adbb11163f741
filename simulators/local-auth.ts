/**
 * Local authorization: the Local Authorization List the central system sends (SendLocalList,
 * Full or Differential, versioned) and the Authorization Cache the station fills from the
 * central system's answers (ClearCache empties it). They decide offline starts and, with
 * LocalPreAuthorize, starts without Authorize.
 */
import type { StationCore } from './core.ts';
import type { AuthorizationStatus, IdTagInfo } from './ocpp-types.ts';

export type UpdateStatus = 'Accepted' | 'Failed' | 'NotSupported' | 'VersionMismatch';

export interface LocalListEntry {
  idTag: string;
  idTagInfo?: IdTagInfo;
}

/** What the station knows about an idTag without asking the central system. */
export interface LocalDecision {
  status: AuthorizationStatus;
  source: 'list' | 'cache';
  parentIdTag?: string;
}

function expired(info: IdTagInfo, now: Date): boolean {
  return info.expiryDate !== undefined && Date.parse(info.expiryDate) <= now.getTime();
}

export class LocalAuthorization {
  private listVersion = 0;
  private readonly list = new Map<string, IdTagInfo>();
  private readonly cache = new Map<string, IdTagInfo>();

  constructor(private readonly core: StationCore) {}

  get supported(): boolean {
    return this.core.features.has('LocalAuthListManagement');
  }

  /** GetLocalListVersion: -1 when not supported, 0 when the list is empty. */
  version(): number {
    if (!this.supported) return -1;
    return this.list.size === 0 ? 0 : this.listVersion;
  }

  /** The list's entries (a copy). */
  entries(): Map<string, IdTagInfo> {
    return new Map(this.list);
  }

  cached(): Map<string, IdTagInfo> {
    return new Map(this.cache);
  }

  /** SendLocalList: the status it answers; the list changes only when Accepted. */
  check(params: { listVersion: number; updateType: string; localAuthorizationList?: LocalListEntry[] }): UpdateStatus {
    const { config } = this.core;
    if (!this.supported || !config.getBool('LocalAuthListEnabled', true)) return 'NotSupported';
    const entries = params.localAuthorizationList ?? [];
    if (entries.length > config.getInt('SendLocalListMaxLength', 100)) return 'Failed';
    if (params.updateType === 'Differential' && params.listVersion <= this.listVersion) return 'VersionMismatch';
    const size = params.updateType === 'Full' ? entries.filter((e) => e.idTagInfo).length : this.sizeAfter(entries);
    return size > config.getInt('LocalAuthListMaxLength', 1000) ? 'Failed' : 'Accepted';
  }

  apply(params: { listVersion: number; updateType: string; localAuthorizationList?: LocalListEntry[] }): void {
    if (params.updateType === 'Full') this.list.clear();
    for (const entry of params.localAuthorizationList ?? []) {
      if (entry.idTagInfo) this.list.set(entry.idTag, entry.idTagInfo);
      else this.list.delete(entry.idTag);
    }
    this.listVersion = params.listVersion;
  }

  /** Remembers the central system's verdict on an idTag (when AuthorizationCacheEnabled). */
  remember(idTag: string, info: IdTagInfo | undefined): void {
    if (!info || !this.core.config.getBool('AuthorizationCacheEnabled', false)) return;
    this.cache.set(idTag, info);
  }

  clearCache(): void {
    this.cache.clear();
  }

  /** The list first, then the cache; an expired entry counts as Expired. */
  lookup(idTag: string): LocalDecision | undefined {
    const now = this.core.clock.now();
    const { config } = this.core;
    const fromList = config.getBool('LocalAuthListEnabled', true) ? this.list.get(idTag) : undefined;
    const found = fromList ?? (config.getBool('AuthorizationCacheEnabled', false) ? this.cache.get(idTag) : undefined);
    if (!found) return undefined;
    return {
      status: expired(found, now) ? 'Expired' : found.status,
      source: fromList ? 'list' : 'cache',
      ...(found.parentIdTag !== undefined ? { parentIdTag: found.parentIdTag } : {}),
    };
  }

  /**
   * Offline: may this idTag start? The list or cache decides (when LocalAuthorizeOffline);
   * an unknown idTag starts when AllowOfflineTxForUnknownId.
   */
  offlineDecision(idTag: string): AuthorizationStatus {
    const { config } = this.core;
    const known = config.getBool('LocalAuthorizeOffline', true) ? this.lookup(idTag) : undefined;
    if (known) return known.status;
    return config.getBool('AllowOfflineTxForUnknownId', true) ? 'Accepted' : 'Invalid';
  }

  /** Online with LocalPreAuthorize: an idTag Accepted locally starts without Authorize. */
  preAuthorized(idTag: string): boolean {
    return this.core.config.getBool('LocalPreAuthorize', false) && this.lookup(idTag)?.status === 'Accepted';
  }

  private sizeAfter(entries: LocalListEntry[]): number {
    const next = new Set(this.list.keys());
    for (const entry of entries) {
      if (entry.idTagInfo) next.add(entry.idTag);
      else next.delete(entry.idTag);
    }
    return next.size;
  }
}
