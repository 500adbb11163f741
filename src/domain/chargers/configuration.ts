import type { StationConfigAnswers } from '../../db/tables/charge-stations.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';
import type { StationPort } from './station-port.ts';
import type { ConfigAnswer } from './stations.ts';
import { smartChargingFromProfiles, type LearntCapabilities } from './capabilities.ts';

/**
 * The configuration keys the gateway manages on every station, and how it writes them
 * (issue 13 items 7 and 8; docs/interop.md has the table).
 *
 * Writing a key is a flash write on many chargers, so a boot writes only what differs: the
 * station's configuration is read first (GetConfiguration for the managed keys) and only keys
 * whose value differs are changed. A key the station does not know (listed in `unknownKey`, or
 * answered `NotSupported`) or refused (`Rejected`, for that value) is recorded per station and
 * not written again. When GetConfiguration itself fails, the answers recorded at earlier boots
 * stand in for it: a key the station accepted with this value is not written again.
 */

/** How a charger may authorize while it cannot reach the gateway (OCPP_OFFLINE_AUTHORIZATION). */
export type OfflineAuthorization = 'cache' | 'none' | 'unmanaged';

export interface ManagedKey {
  key: string;
  value: string;
}

export interface ManagedKeyOptions {
  meterValueSampleIntervalS: number;
  offlineAuthorization: OfflineAuthorization;
  /** the gateway keeps the station's local authorization list (LOCAL_AUTH_LIST_SYNC) */
  localListSync?: boolean | undefined;
}

/** The keys and values the gateway wants on every station, in the order they are written. */
export function managedKeys(o: ManagedKeyOptions): ManagedKey[] {
  const keys: ManagedKey[] = [
    { key: 'MeterValueSampleInterval', value: String(o.meterValueSampleIntervalS) },
    // A start the gateway refuses must end at the charger, not run on unpaid.
    { key: 'StopTransactionOnInvalidId', value: 'true' },
  ];
  if (o.offlineAuthorization === 'cache') {
    keys.push(
      // Online, every start is asked of the gateway: a balance changes by the second, a cached
      // Accepted would start a driver whose wallet has just run dry.
      { key: 'LocalPreAuthorize', value: 'false' },
      // Offline, the cache (entries expire after OCPP_AUTH_EXPIRY_S; empty wallets are Blocked in
      // it) and the local list decide; an idTag in neither is refused.
      { key: 'AuthorizationCacheEnabled', value: 'true' },
      { key: 'LocalAuthorizeOffline', value: 'true' },
      { key: 'AllowOfflineTxForUnknownId', value: 'false' },
    );
  } else if (o.offlineAuthorization === 'none') {
    keys.push(
      { key: 'LocalPreAuthorize', value: 'false' },
      { key: 'AuthorizationCacheEnabled', value: 'false' },
      { key: 'LocalAuthorizeOffline', value: 'false' },
      { key: 'AllowOfflineTxForUnknownId', value: 'false' },
    );
  }
  if (o.localListSync) keys.push({ key: 'LocalAuthListEnabled', value: 'true' });
  return keys;
}

/** What the station reported for a key: its value, or that it does not know the key. */
export type Reported = Map<string, { value: string | undefined; readonly: boolean } | 'unknown'>;

export interface ConfigPlan {
  /** keys to write with ChangeConfiguration */
  write: ManagedKey[];
  /** answers to record without a write (already set, unknown to the station) */
  record: { key: string; value: string; status: ConfigStatus }[];
  /** keys left alone because the station refused them before */
  respected: string[];
}

/**
 * `Matches`: the station already had the value. `NotSupported`: it does not know the key (from
 * GetConfiguration's unknownKey or a ChangeConfiguration answer). The rest are ChangeConfiguration's.
 */
export type ConfigStatus = 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported' | 'Matches';

/** Statuses that say the station holds the value (`Read`: an operator's GetConfiguration showed it). */
const DONE = new Set(['Accepted', 'RebootRequired', 'Matches', 'Read']);
/** Statuses that say the station does not know the key (`Unknown`: in an operator's GetConfiguration's unknownKey). */
const UNKNOWN = new Set(['NotSupported', 'Unknown']);

/** Pure: what to write, given what the station said before (`recorded`) and now (`reported`). */
export function planConfiguration(wanted: readonly ManagedKey[], recorded: StationConfigAnswers, reported: Reported | undefined): ConfigPlan {
  const plan: ConfigPlan = { write: [], record: [], respected: [] };
  for (const want of wanted) {
    const before = recorded[want.key];
    if (before && (UNKNOWN.has(before.status) || (before.status === 'Rejected' && sameValue(before.value, want.value)))) {
      plan.respected.push(want.key);
      continue;
    }
    if (reported) {
      const now = reported.get(want.key);
      if (now === 'unknown') plan.record.push({ key: want.key, value: want.value, status: 'NotSupported' });
      else if (now && now.value !== undefined && sameValue(now.value, want.value)) {
        if (before?.status !== 'Matches' || !sameValue(before.value, want.value)) plan.record.push({ ...want, status: 'Matches' });
      } else plan.write.push(want);
    } else if (!(before && DONE.has(before.status) && sameValue(before.value, want.value))) {
      plan.write.push(want);
    }
  }
  return plan;
}

/** Values as chargers spell them: `True`/`true`, ` 30`/`30`. */
export function sameValue(a: string | null | undefined, b: string): boolean {
  if (a === null || a === undefined) return false;
  const x = a.trim().toLowerCase();
  const y = b.trim().toLowerCase();
  if (x === y) return true;
  return /^-?\d+$/.test(x) && /^-?\d+$/.test(y) && Number(x) === Number(y);
}

/** The command log's reason for the calls of the pass after a boot. */
const BOOT_CONFIGURATION = 'boot_configuration';

export interface ConfigureDeps {
  stations: StationPort;
  clock: Clock;
  log: Logger;
  recordAnswers: (stationId: string, answers: ConfigAnswer[]) => Promise<void>;
  /** told what the read showed of the station's capabilities (SupportedFeatureProfiles → Smart Charging) */
  learnt?: (what: LearntCapabilities) => void;
}

/**
 * Brings a station's managed keys to the wanted values, writing only what differs. Every answer
 * is recorded; none is fatal (a station that refuses a key still charges).
 */
export async function configureStation(
  deps: ConfigureDeps,
  station: { stationId: string; identity: string },
  wanted: readonly ManagedKey[],
  /** the station's recorded answers, as its boot read them (StationWrites.boot) */
  recorded: StationConfigAnswers,
): Promise<ConfigPlan & { answers: ConfigAnswer[] }> {
  let reported: Reported | undefined;
  try {
    // SupportedFeatureProfiles is only read (never written): it says whether Smart Charging is there.
    const keys = [...wanted.map((w) => w.key), 'SupportedFeatureProfiles'];
    const conf = await deps.stations.call(station.identity, 'GetConfiguration', { key: keys }, { reason: BOOT_CONFIGURATION });
    reported = new Map();
    for (const k of conf.configurationKey ?? []) reported.set(k.key, { value: k.value, readonly: k.readonly });
    for (const k of conf.unknownKey ?? []) reported.set(k, 'unknown');
    const profiles = reported.get('SupportedFeatureProfiles');
    const smartCharging = smartChargingFromProfiles(profiles === 'unknown' ? undefined : profiles?.value);
    if (smartCharging !== undefined) deps.learnt?.({ smartCharging });
  } catch (err) {
    deps.log.warn({ err: (err as Error).message }, 'GetConfiguration failed: writing what earlier boots did not confirm');
  }
  const plan = planConfiguration(wanted, recorded, reported);
  const answers: ConfigAnswer[] = plan.record.map((r) => ({ ...r, at: deps.clock.now() }));
  for (const { key, value } of plan.write) {
    let status: string;
    try {
      status = (await deps.stations.call(station.identity, 'ChangeConfiguration', { key, value }, { reason: BOOT_CONFIGURATION })).status;
    } catch (err) {
      status = err instanceof AppError ? err.code : 'error';
      deps.log.warn({ key, err: (err as Error).message }, 'ChangeConfiguration failed');
    }
    answers.push({ key, value, status, at: deps.clock.now() });
  }
  if (plan.respected.length) deps.log.debug({ keys: plan.respected }, 'keys the station refused before: not written');
  if (answers.length) {
    try {
      await deps.recordAnswers(station.stationId, answers);
    } catch (err) {
      deps.log.error({ err }, 'could not record configuration answers');
    }
  }
  return { ...plan, answers };
}
