/**
 * Smart charging: charging profiles stored per connector (SetChargingProfile /
 * ClearChargingProfile), the limit in force at any moment (the TxProfile of the running
 * transaction, else the TxDefaultProfile, capped by the ChargePointMaxProfile), which bounds the
 * power the station delivers, and the composite schedule (GetCompositeSchedule).
 *
 * Durations in a profile (startPeriod, duration, recurrence) are simulated seconds, like every
 * interval of the simulator; absolute times (startSchedule, validFrom/validTo) are wall-clock.
 */
import type { StationCore } from './core.ts';
import type { ConnectorState } from './connectors.ts';
import type {
  ChargingProfile,
  ChargingProfilePurpose,
  ChargingRateUnit,
  ChargingSchedulePeriod,
} from '../src/shared/charging-profile.ts';

// The protocol's types have one home, shared with the gateway.
export type { ChargingProfile, ChargingRateUnit };

export interface InstalledProfile {
  connectorId: number;
  profile: ChargingProfile;
  /** When it was installed (the start of an Absolute schedule without startSchedule). */
  installedAt: number;
}

export interface ClearCriteria {
  id?: number;
  connectorId?: number;
  chargingProfilePurpose?: ChargingProfilePurpose;
  stackLevel?: number;
}

/** AC phase voltage and DC voltage used to turn amperes into watts. */
export const AC_VOLTAGE = 230;
export const DC_VOLTAGE = 400;

const RECURRENCE_S = { Daily: 86_400, Weekly: 604_800 } as const;

interface Limit {
  watts: number;
}

export class SmartCharging {
  private installed: InstalledProfile[] = [];

  constructor(private readonly core: StationCore) {}

  /** Every profile installed, oldest first. */
  profiles(connectorId?: number): InstalledProfile[] {
    return this.installed.filter((p) => connectorId === undefined || p.connectorId === connectorId);
  }

  /** What SetChargingProfile answers. */
  check(connectorId: number, profile: ChargingProfile): 'Accepted' | 'Rejected' {
    const { config, parts } = this.core;
    const connector = parts.connectors.find(connectorId);
    if (!connector) return 'Rejected';
    const purpose = profile.chargingProfilePurpose;
    if (purpose === 'ChargePointMaxProfile' && connectorId !== 0) return 'Rejected';
    if (purpose === 'TxProfile') {
      const txId = connector.session?.transactionId;
      if (connectorId === 0 || !connector.session) return 'Rejected';
      if (profile.transactionId !== undefined && profile.transactionId !== txId) return 'Rejected';
    }
    if (profile.stackLevel > config.getInt('ChargeProfileMaxStackLevel', 10)) return 'Rejected';
    const units = config.getList('ChargingScheduleAllowedChargingRateUnit');
    const unitName = profile.chargingSchedule.chargingRateUnit === 'A' ? 'Current' : 'Power';
    if (!units.includes(unitName)) return 'Rejected';
    if (profile.chargingSchedule.chargingSchedulePeriod.length > config.getInt('ChargingScheduleMaxPeriods', 24)) return 'Rejected';
    const remaining = this.installed.filter((p) => !this.replacedBy(p, connectorId, profile)).length;
    return remaining + 1 > config.getInt('MaxChargingProfilesInstalled', 20) ? 'Rejected' : 'Accepted';
  }

  /** SetChargingProfile accepted: replaces the profile with the same id, or the same purpose and stack level. */
  install(connectorId: number, profile: ChargingProfile): void {
    this.update(() => {
      this.installed = this.installed.filter((p) => !this.replacedBy(p, connectorId, profile));
      this.installed.push({ connectorId, profile, installedAt: this.core.clock.now().getTime() });
    });
  }

  /** Profiles match ClearChargingProfile's criteria. */
  has(criteria: ClearCriteria): boolean {
    return this.installed.some((p) => matches(p, criteria));
  }

  /** ClearChargingProfile: Accepted when something was removed, else Unknown. */
  clear(criteria: ClearCriteria): 'Accepted' | 'Unknown' {
    if (!this.has(criteria)) return 'Unknown';
    this.update(() => {
      this.installed = this.installed.filter((p) => !matches(p, criteria));
    });
    return 'Accepted';
  }

  /** A transaction ended: its TxProfiles go with it. */
  transactionEnded(connectorId: number): void {
    const isTx = (p: InstalledProfile) => p.connectorId === connectorId && p.profile.chargingProfilePurpose === 'TxProfile';
    if (!this.installed.some(isTx)) return;
    this.update(() => {
      this.installed = this.installed.filter((p) => !isTx(p));
    });
  }

  /** The limit on a connector at a wall-clock moment, W; undefined when no profile applies. */
  limitW(connector: ConnectorState, atMs: number): number | undefined {
    return this.limitAt(connector.id, atMs, connector.session?.transactionId, connector.session?.startedAt.getTime())?.watts;
  }

  /** The next wall-clock moment after `afterMs` when the connector's limit may change. */
  nextChange(connector: ConnectorState, afterMs: number, horizonSim = 86_400 * 7): number | undefined {
    const txStart = connector.session?.startedAt.getTime();
    const candidates = this.relevant(connector.id).flatMap((p) => this.boundaries(p, txStart, afterMs, horizonSim));
    const later = candidates.filter((t) => t > afterMs);
    return later.length === 0 ? undefined : Math.min(...later);
  }

  /** GetCompositeSchedule for `durationS` simulated seconds from now. */
  composite(connectorId: number, durationS: number, unit: ChargingRateUnit | undefined): Record<string, unknown> {
    const { core } = this;
    const connector = core.parts.connectors.at(connectorId);
    const rateUnit = unit ?? 'W';
    const now = core.clock.now().getTime();
    const txId = connector.session?.transactionId;
    const txStart = connector.session?.startedAt.getTime();
    const realMs = (offsetS: number) => now + (offsetS * 1000) / core.clock.timeScale;
    const offsets = new Set<number>([0]);
    for (const p of this.relevant(connectorId)) {
      for (const t of this.boundaries(p, txStart, now, durationS)) {
        // rounded up: evaluated at the whole second on or after the change, never just before it
        const offset = Math.ceil(((t - now) / 1000) * core.clock.timeScale - 1e-9);
        if (offset > 0 && offset < durationS) offsets.add(offset);
      }
    }
    const periods: ChargingSchedulePeriod[] = [];
    for (const offset of [...offsets].sort((a, b) => a - b)) {
      const limit = this.limitAt(connectorId, realMs(offset), txId, txStart)?.watts ?? this.maxPowerW();
      const value = rateUnit === 'W' ? Math.round(limit) : Math.round((limit / this.wattsPerAmp(undefined)) * 10) / 10;
      if (periods.length === 0 || periods[periods.length - 1]!.limit !== value) periods.push({ startPeriod: offset, limit: value });
    }
    const start = core.clock.stamp(new Date(now));
    return {
      status: 'Accepted',
      connectorId,
      scheduleStart: start,
      chargingSchedule: { duration: durationS, startSchedule: start, chargingRateUnit: rateUnit, chargingSchedulePeriod: periods },
    };
  }

  private maxPowerW(): number {
    return this.core.profile.maxPowerW;
  }

  /** W per A of a limit, with the schedule period's number of phases. */
  private wattsPerAmp(numberPhases: number | undefined): number {
    const { profile } = this.core;
    if (profile.kind === 'DC') return DC_VOLTAGE;
    const phases = numberPhases ?? (profile.maxPowerW <= 7_400 ? 1 : 3);
    return AC_VOLTAGE * phases;
  }

  private replacedBy(p: InstalledProfile, connectorId: number, profile: ChargingProfile): boolean {
    if (p.profile.chargingProfileId === profile.chargingProfileId) return true;
    return (
      p.connectorId === connectorId &&
      p.profile.chargingProfilePurpose === profile.chargingProfilePurpose &&
      p.profile.stackLevel === profile.stackLevel
    );
  }

  /** Profiles that can bound the connector: its own, and the charge point's (connector 0). */
  private relevant(connectorId: number): InstalledProfile[] {
    return this.installed.filter((p) => p.connectorId === connectorId || p.connectorId === 0);
  }

  private limitAt(connectorId: number, atMs: number, txId: number | undefined, txStart: number | undefined): Limit | undefined {
    const active = (purpose: ChargingProfilePurpose, own: boolean) =>
      this.installed
        .filter((p) => p.profile.chargingProfilePurpose === purpose)
        .filter((p) => (own ? p.connectorId === connectorId : p.connectorId === 0 || p.connectorId === connectorId))
        .filter((p) => purpose !== 'TxProfile' || p.profile.transactionId === undefined || p.profile.transactionId === txId)
        .map((p) => ({ p, value: this.evaluate(p, atMs, txStart) }))
        .filter((e): e is { p: InstalledProfile; value: Limit } => e.value !== undefined)
        .sort((a, b) => b.p.profile.stackLevel - a.p.profile.stackLevel)[0]?.value;
    const tx = (connectorId > 0 && txId !== undefined ? active('TxProfile', true) : undefined) ?? active('TxDefaultProfile', false);
    const max = this.installed
      .filter((p) => p.connectorId === 0 && p.profile.chargingProfilePurpose === 'ChargePointMaxProfile')
      .map((p) => ({ p, value: this.evaluate(p, atMs, txStart) }))
      .filter((e): e is { p: InstalledProfile; value: Limit } => e.value !== undefined)
      .sort((a, b) => b.p.profile.stackLevel - a.p.profile.stackLevel)[0]?.value;
    if (!tx && !max) return undefined;
    return { watts: Math.min(tx?.watts ?? Number.POSITIVE_INFINITY, max?.watts ?? Number.POSITIVE_INFINITY) };
  }

  /** Where the schedule starts (wall-clock ms), or undefined when it cannot run now (Relative without a transaction). */
  private scheduleStart(p: InstalledProfile, txStart: number | undefined): number | undefined {
    const { profile } = p;
    if (profile.chargingProfileKind === 'Relative') return txStart;
    const start = profile.chargingSchedule.startSchedule;
    return start !== undefined ? Date.parse(start) : p.installedAt;
  }

  private evaluate(p: InstalledProfile, atMs: number, txStart: number | undefined): Limit | undefined {
    const { profile } = p;
    if (profile.validFrom !== undefined && atMs < Date.parse(profile.validFrom)) return undefined;
    if (profile.validTo !== undefined && atMs >= Date.parse(profile.validTo)) return undefined;
    const start = this.scheduleStart(p, txStart);
    if (start === undefined) return undefined;
    let elapsed = ((atMs - start) / 1000) * this.core.clock.timeScale;
    if (profile.chargingProfileKind === 'Recurring') {
      const period = RECURRENCE_S[profile.recurrencyKind ?? 'Daily'];
      elapsed = ((elapsed % period) + period) % period;
    }
    const schedule = profile.chargingSchedule;
    if (elapsed < 0 || (schedule.duration !== undefined && elapsed >= schedule.duration)) return undefined;
    const period = [...schedule.chargingSchedulePeriod]
      .sort((a, b) => a.startPeriod - b.startPeriod)
      .filter((s) => s.startPeriod <= elapsed)
      .pop();
    if (!period) return undefined;
    const watts = schedule.chargingRateUnit === 'W' ? period.limit : period.limit * this.wattsPerAmp(period.numberPhases);
    return { watts };
  }

  /** Wall-clock moments within the horizon where the profile's limit may change. */
  private boundaries(p: InstalledProfile, txStart: number | undefined, fromMs: number, horizonS: number): number[] {
    const { profile } = p;
    const scale = this.core.clock.timeScale;
    const out: number[] = [];
    if (profile.validFrom !== undefined) out.push(Date.parse(profile.validFrom));
    if (profile.validTo !== undefined) out.push(Date.parse(profile.validTo));
    const start = this.scheduleStart(p, txStart);
    if (start === undefined) return out;
    const schedule = profile.chargingSchedule;
    const offsets = schedule.chargingSchedulePeriod.map((s) => s.startPeriod);
    if (schedule.duration !== undefined) offsets.push(schedule.duration);
    const horizonEnd = fromMs + (horizonS * 1000) / scale;
    const recurrence = profile.chargingProfileKind === 'Recurring' ? RECURRENCE_S[profile.recurrencyKind ?? 'Daily'] : undefined;
    const firstCycle = recurrence ? Math.floor((((fromMs - start) / 1000) * scale) / recurrence) : 0;
    for (let cycle = firstCycle; ; cycle++) {
      const cycleStart = start + ((cycle * (recurrence ?? 0)) * 1000) / scale;
      if (cycleStart > horizonEnd) break;
      for (const offset of offsets) out.push(cycleStart + (offset * 1000) / scale);
      if (!recurrence) break;
    }
    return out;
  }

  /** Energy up to now is counted under the old limits, then each connector follows the new ones. */
  private update(change: () => void): void {
    const { metering, connectors } = this.core.parts;
    metering.accrueAll();
    change();
    for (const connector of connectors.outlets()) metering.limitChanged(connector);
  }
}

function matches(p: InstalledProfile, c: ClearCriteria): boolean {
  if (c.id !== undefined) return p.profile.chargingProfileId === c.id;
  if (c.connectorId !== undefined && p.connectorId !== c.connectorId) return false;
  if (c.chargingProfilePurpose !== undefined && p.profile.chargingProfilePurpose !== c.chargingProfilePurpose) return false;
  if (c.stackLevel !== undefined && p.profile.stackLevel !== c.stackLevel) return false;
  return true;
}
