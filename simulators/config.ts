/**
 * The station's configuration store (GetConfiguration / ChangeConfiguration): typed keys, some
 * read-only, some write-only, some that a vendor's firmware refuses to change; unknown keys; and a
 * count of the writes per key, so a test can assert that a central system wrote nothing it did not
 * need to.
 */

export type KeyType = 'int' | 'bool' | 'csl' | 'string';

export type ChangeConfigurationStatus = 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported';

export interface KeyDefinition {
  type: KeyType;
  value: string;
  readonly?: boolean;
  /** Listed by GetConfiguration without its value (AuthorizationKey). */
  writeOnly?: boolean;
  /** What ChangeConfiguration answers for this key instead of storing a valid value. */
  onChange?: 'Rejected' | 'NotSupported' | 'RebootRequired';
  /** Extra check of a new value (after its type). */
  accepts?: (value: string) => boolean;
}

/** A station option that adds, overrides or removes keys: a definition, a value, or null (unknown key). */
export type KeyOverride = Partial<KeyDefinition> | string | null;

export interface ConfigurationEntry {
  key: string;
  readonly: boolean;
  value?: string;
}

export interface ConfigurationDefaults {
  numberOfConnectors: number;
  stopTransactionOnInvalidId: boolean;
  meterValueSampleInterval: number;
  heartbeatInterval: number;
  clockAlignedDataInterval?: number;
  meterValuesSampledData?: string;
  supportedFeatureProfiles?: string;
  authorizationCacheEnabled?: boolean;
  securityProfile?: number;
  cpoName?: string;
}

const SAMPLED_MEASURANDS = new Set([
  'Energy.Active.Import.Register',
  'Power.Active.Import',
  'Power.Offered',
  'Current.Import',
  'Current.Offered',
  'Voltage',
  'SoC',
]);

function measurandList(value: string): boolean {
  return value === '' || value.split(',').every((m) => SAMPLED_MEASURANDS.has(m.trim()));
}

function defaultKeys(d: ConfigurationDefaults): Array<[string, KeyDefinition]> {
  const rw = (type: KeyType, value: string | number | boolean, extra: Partial<KeyDefinition> = {}): KeyDefinition => ({
    type,
    value: String(value),
    ...extra,
  });
  const ro = (type: KeyType, value: string | number | boolean): KeyDefinition => rw(type, value, { readonly: true });
  return [
    // Core
    ['AllowOfflineTxForUnknownId', rw('bool', true)],
    ['AuthorizationCacheEnabled', rw('bool', d.authorizationCacheEnabled ?? false)],
    ['AuthorizeRemoteTxRequests', rw('bool', false)],
    ['ClockAlignedDataInterval', rw('int', d.clockAlignedDataInterval ?? 0)],
    ['ConnectionTimeOut', rw('int', 60)],
    ['GetConfigurationMaxKeys', ro('int', 50)],
    ['HeartbeatInterval', rw('int', d.heartbeatInterval)],
    ['LocalAuthorizeOffline', rw('bool', true)],
    ['LocalPreAuthorize', rw('bool', false)],
    ['MeterValuesAlignedData', rw('csl', 'Energy.Active.Import.Register', { accepts: measurandList })],
    ['MeterValuesSampledData', rw('csl', d.meterValuesSampledData ?? 'Energy.Active.Import.Register,Power.Active.Import', { accepts: measurandList })],
    ['MeterValueSampleInterval', rw('int', d.meterValueSampleInterval)],
    ['NumberOfConnectors', ro('int', d.numberOfConnectors)],
    ['ResetRetries', rw('int', 1)],
    ['StopTransactionOnEVSideDisconnect', rw('bool', true)],
    ['StopTransactionOnInvalidId', rw('bool', d.stopTransactionOnInvalidId)],
    ['StopTxnAlignedData', rw('csl', '', { accepts: measurandList })],
    ['StopTxnSampledData', rw('csl', 'Energy.Active.Import.Register', { accepts: measurandList })],
    ['SupportedFeatureProfiles', ro('csl', d.supportedFeatureProfiles ?? 'Core,RemoteTrigger')],
    ['TransactionMessageAttempts', rw('int', 3)],
    ['TransactionMessageRetryInterval', rw('int', 10)],
    ['UnlockConnectorOnEVSideDisconnect', rw('bool', true)],
    // Local Auth List Management
    ['LocalAuthListEnabled', rw('bool', true)],
    ['LocalAuthListMaxLength', ro('int', 1000)],
    ['SendLocalListMaxLength', ro('int', 100)],
    // Reservation
    ['ReserveConnectorZeroSupported', ro('bool', true)],
    // Smart Charging
    ['ChargeProfileMaxStackLevel', ro('int', 10)],
    ['ChargingScheduleAllowedChargingRateUnit', ro('csl', 'Current,Power')],
    ['ChargingScheduleMaxPeriods', ro('int', 24)],
    ['MaxChargingProfilesInstalled', ro('int', 20)],
    // Security extension
    ['AdditionalRootCertificateCheck', ro('bool', false)],
    ['AuthorizationKey', rw('string', '', { writeOnly: true })],
    ['CertificateSignedMaxChainSize', ro('int', 10_000)],
    ['CertificateStoreMaxLength', ro('int', 10)],
    ['CpoName', rw('string', d.cpoName ?? 'SimCPO')],
    ['SecurityProfile', rw('int', d.securityProfile ?? 0)],
  ];
}

export class StationConfiguration {
  private readonly keys = new Map<string, KeyDefinition>();
  /** Values accepted with RebootRequired: in force after the next reboot. */
  private readonly pending = new Map<string, string>();
  private readonly writeCounts = new Map<string, number>();

  constructor(defaults: ConfigurationDefaults, overrides: Record<string, KeyOverride> = {}) {
    for (const [key, def] of defaultKeys(defaults)) this.keys.set(key, def);
    for (const [key, override] of Object.entries(overrides)) this.override(key, override);
  }

  /** Adds or changes a key (a value alone keeps the key's type), or removes it with null. */
  override(key: string, override: KeyOverride): void {
    if (override === null) {
      this.keys.delete(key);
      return;
    }
    const current = this.keys.get(key);
    const patch = typeof override === 'string' ? { value: override } : override;
    this.keys.set(key, { type: 'string', value: '', ...current, ...patch });
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** What ChangeConfiguration would answer, without changing anything. */
  check(key: string, value: string): ChangeConfigurationStatus {
    const def = this.keys.get(key);
    if (!def) return 'NotSupported';
    if (def.readonly) return 'Rejected';
    if (def.onChange === 'NotSupported' || def.onChange === 'Rejected') return def.onChange;
    const normalised = normalise(def.type, value);
    if (normalised === undefined || (def.accepts && !def.accepts(normalised))) return 'Rejected';
    return def.onChange === 'RebootRequired' ? 'RebootRequired' : 'Accepted';
  }

  /** ChangeConfiguration: validates, stores (RebootRequired: for the next reboot) and counts the write. */
  change(key: string, value: string): ChangeConfigurationStatus {
    const status = this.check(key, value);
    const def = this.keys.get(key);
    if (!def || (status !== 'Accepted' && status !== 'RebootRequired')) return status;
    const normalised = normalise(def.type, value)!;
    if (status === 'RebootRequired') this.pending.set(key, normalised);
    else def.value = normalised;
    this.writeCounts.set(key, (this.writeCounts.get(key) ?? 0) + 1);
    return status;
  }

  /** Accepted ChangeConfigurations of a key since the station was created (restarts included). */
  writes(key: string): number {
    return this.writeCounts.get(key) ?? 0;
  }

  /** A value the station sets itself (not a ChangeConfiguration: not counted as a write). */
  set(key: string, value: string): void {
    const def = this.keys.get(key);
    if (def) def.value = value;
  }

  /** Values waiting for a reboot take effect. */
  applyPending(): string[] {
    const applied = [...this.pending.keys()];
    for (const [key, value] of this.pending) this.set(key, value);
    this.pending.clear();
    return applied;
  }

  /** GetConfiguration: all keys when `requested` is empty, else the known ones plus the unknown names. */
  get(requested?: string[]): { configurationKey: ConfigurationEntry[]; unknownKey: string[] } {
    const names = requested && requested.length > 0 ? requested : [...this.keys.keys()];
    const configurationKey: ConfigurationEntry[] = [];
    const unknownKey: string[] = [];
    for (const name of names) {
      const def = this.keys.get(name);
      if (!def) unknownKey.push(name);
      else if (def.writeOnly) configurationKey.push({ key: name, readonly: false });
      else configurationKey.push({ key: name, readonly: def.readonly === true, value: def.value });
    }
    return { configurationKey, unknownKey };
  }

  getString(key: string): string | undefined {
    return this.keys.get(key)?.value;
  }

  getInt(key: string, fallback: number): number {
    const raw = this.keys.get(key)?.value;
    const parsed = raw === undefined ? Number.NaN : Number.parseInt(raw, 10);
    return Number.isFinite(parsed) ? parsed : fallback;
  }

  getBool(key: string, fallback: boolean): boolean {
    const raw = this.keys.get(key)?.value;
    return raw === undefined ? fallback : raw === 'true';
  }

  getList(key: string): string[] {
    const raw = this.keys.get(key)?.value ?? '';
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
}

/** The stored form of a value of the type, or undefined when it is not one. */
function normalise(type: KeyType, value: string): string | undefined {
  const trimmed = value.trim();
  switch (type) {
    case 'int':
      return /^\d+$/.test(trimmed) ? String(Number.parseInt(trimmed, 10)) : undefined;
    case 'bool': {
      const lower = trimmed.toLowerCase();
      return lower === 'true' || lower === 'false' ? lower : undefined;
    }
    case 'csl':
      return trimmed
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
        .join(',');
    default:
      return value;
  }
}
