/** The station's OCPP configuration keys (ChangeConfiguration / GetConfiguration). */

type KeyType = 'int' | 'bool' | 'csl' | 'string';

interface KeyDef {
  type: KeyType;
  readonly: boolean;
  value: string;
}

export type ChangeConfigurationStatus = 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported';

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
}

export class StationConfiguration {
  private readonly keys = new Map<string, KeyDef>();

  constructor(defaults: ConfigurationDefaults) {
    const def = (key: string, type: KeyType, value: string, readonly = false): void => {
      this.keys.set(key, { type, readonly, value });
    };
    def('HeartbeatInterval', 'int', String(defaults.heartbeatInterval));
    def('MeterValueSampleInterval', 'int', String(defaults.meterValueSampleInterval));
    def('MeterValuesSampledData', 'csl', 'Energy.Active.Import.Register,Power.Active.Import');
    def('ClockAlignedDataInterval', 'int', '0');
    def('StopTransactionOnInvalidId', 'bool', String(defaults.stopTransactionOnInvalidId));
    def('AuthorizeRemoteTxRequests', 'bool', 'false');
    def('LocalAuthorizeOffline', 'bool', 'true');
    def('LocalPreAuthorize', 'bool', 'false');
    def('AllowOfflineTxForUnknownId', 'bool', 'true');
    def('ConnectionTimeOut', 'int', '60');
    def('TransactionMessageAttempts', 'int', '3');
    def('TransactionMessageRetryInterval', 'int', '10');
    def('StopTxnSampledData', 'csl', 'Energy.Active.Import.Register');
    def('NumberOfConnectors', 'int', String(defaults.numberOfConnectors), true);
    def('SupportedFeatureProfiles', 'csl', 'Core,RemoteTrigger', true);
  }

  /** Validates and stores a value, as ChangeConfiguration would. */
  change(key: string, value: string): ChangeConfigurationStatus {
    const def = this.keys.get(key);
    if (!def) return 'NotSupported';
    if (def.readonly) return 'Rejected';
    if (def.type === 'int' && !/^\d+$/.test(value.trim())) return 'Rejected';
    if (def.type === 'bool') {
      const normalised = value.trim().toLowerCase();
      if (normalised !== 'true' && normalised !== 'false') return 'Rejected';
      def.value = normalised;
      return 'Accepted';
    }
    def.value = def.type === 'int' ? String(Number.parseInt(value.trim(), 10)) : value;
    return 'Accepted';
  }

  /** GetConfiguration: all keys when `requested` is empty, else the known ones plus the unknown names. */
  get(requested?: string[]): { configurationKey: ConfigurationEntry[]; unknownKey: string[] } {
    const names = requested && requested.length > 0 ? requested : [...this.keys.keys()];
    const configurationKey: ConfigurationEntry[] = [];
    const unknownKey: string[] = [];
    for (const name of names) {
      const def = this.keys.get(name);
      if (def) configurationKey.push({ key: name, readonly: def.readonly, value: def.value });
      else unknownKey.push(name);
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
}
