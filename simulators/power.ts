/** Charging power curves and a minimal EV battery model. */

export type PowerProfileName = 'ac7' | 'ac11' | 'ac22' | 'dc50' | 'dc150';

export const POWER_PROFILES: readonly PowerProfileName[] = ['ac7', 'ac11', 'ac22', 'dc50', 'dc150'];

export interface PowerProfile {
  name: PowerProfileName;
  kind: 'AC' | 'DC';
  /** Peak power in W. */
  maxPowerW: number;
  /** DC only: state of charge (0..1) above which power tapers off linearly. */
  taperFromSoc: number;
  /** DC only: fraction of peak power left at 100 % state of charge. */
  taperFloor: number;
  /** Battery size of the simulated EV, in Wh. */
  defaultBatteryWh: number;
}

const PROFILES: Record<PowerProfileName, PowerProfile> = {
  ac7: { name: 'ac7', kind: 'AC', maxPowerW: 7_400, taperFromSoc: 1, taperFloor: 1, defaultBatteryWh: 60_000 },
  ac11: { name: 'ac11', kind: 'AC', maxPowerW: 11_000, taperFromSoc: 1, taperFloor: 1, defaultBatteryWh: 60_000 },
  ac22: { name: 'ac22', kind: 'AC', maxPowerW: 22_000, taperFromSoc: 1, taperFloor: 1, defaultBatteryWh: 60_000 },
  dc50: { name: 'dc50', kind: 'DC', maxPowerW: 50_000, taperFromSoc: 0.6, taperFloor: 0.15, defaultBatteryWh: 75_000 },
  dc150: { name: 'dc150', kind: 'DC', maxPowerW: 150_000, taperFromSoc: 0.45, taperFloor: 0.1, defaultBatteryWh: 75_000 },
};

export function getPowerProfile(name: PowerProfileName): PowerProfile {
  const profile = PROFILES[name];
  if (!profile) throw new Error(`unknown power profile '${String(name)}'`);
  return profile;
}

/** The profile at a fixed power: no taper, whatever the state of charge. */
export function fixedPowerProfile(base: PowerProfile, powerW: number): PowerProfile {
  if (!(powerW > 0)) throw new Error(`a fixed power must be > 0 W, got ${powerW}`);
  return { ...base, maxPowerW: powerW, taperFromSoc: 1, taperFloor: 1 };
}

export function isPowerProfileName(value: string): value is PowerProfileName {
  return (POWER_PROFILES as readonly string[]).includes(value);
}

/** Power in W drawn at a state of charge (0..1). AC is flat; DC tapers above `taperFromSoc`. */
export function powerAtSoc(profile: PowerProfile, soc: number): number {
  if (profile.kind === 'AC' || soc <= profile.taperFromSoc) return profile.maxPowerW;
  const span = 1 - profile.taperFromSoc;
  const progress = Math.min(1, (soc - profile.taperFromSoc) / span);
  return profile.maxPowerW * (1 - progress * (1 - profile.taperFloor));
}

export interface EvOptions {
  /** Battery capacity in Wh (defaults from the power profile). */
  batteryWh?: number;
  /** State of charge when the session starts, 0..1 (default 0.2). */
  initialSoc?: number;
  /** The EV stops drawing power (SuspendedEV) once this state of charge is reached (default 1). */
  targetSoc?: number;
}

/** One plugged-in EV: integrates energy over simulated time and reports when it is full. */
export class EvBattery {
  readonly capacityWh: number;
  readonly targetSoc: number;
  private socValue: number;
  private forcedFull = false;

  constructor(
    private readonly profile: PowerProfile,
    options: EvOptions = {},
  ) {
    this.capacityWh = options.batteryWh ?? profile.defaultBatteryWh;
    this.socValue = clamp01(options.initialSoc ?? 0.2);
    this.targetSoc = clamp01(options.targetSoc ?? 1);
  }

  get soc(): number {
    return this.socValue;
  }

  get full(): boolean {
    return this.forcedFull || this.socValue >= this.targetSoc;
  }

  /** The EV declares itself full now, whatever its state of charge. */
  markFull(): void {
    this.forcedFull = true;
  }

  /** Power drawn right now, in W (0 once full). */
  get powerW(): number {
    return this.full ? 0 : powerAtSoc(this.profile, this.socValue);
  }

  /**
   * Charges for `simSeconds` of simulated time and returns the energy delivered in Wh.
   * Integrates in steps so that the DC taper is followed, and so is `capW`: the most the station
   * lets through at a simulated offset into this span (a charging limit, a stop ramping down).
   */
  charge(simSeconds: number, capW?: (offsetSeconds: number) => number): number {
    if (simSeconds <= 0) return 0;
    const steps = Math.min(1_000, Math.max(1, Math.ceil(simSeconds / 10)));
    const dt = simSeconds / steps;
    let delivered = 0;
    for (let i = 0; i < steps && !this.full; i++) {
      const power = capW ? Math.max(0, Math.min(this.powerW, capW((i + 0.5) * dt))) : this.powerW;
      let energy = (power * dt) / 3600;
      const room = (this.targetSoc - this.socValue) * this.capacityWh;
      if (energy >= room) energy = Math.max(0, room);
      delivered += energy;
      this.socValue = this.socValue + energy / this.capacityWh;
      if (energy === room) this.socValue = this.targetSoc;
    }
    return delivered;
  }
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}
