import { parseDecimal } from '../../shared/decimal.ts';

/**
 * Billing readings from OCPP 1.6 MeterValues (`meterValue` arrays of MeterValues.req,
 * StartTransaction/StopTransaction `transactionData`). Pure: no I/O.
 *
 * OCPP 1.6 defaults: `measurand` absent = Energy.Active.Import.Register, `format` absent = Raw,
 * `unit` absent = Wh, `location` absent = Outlet. SignedData values are never used for billing.
 * Numbers are parsed exactly from their decimal strings (bigint digits, no float arithmetic).
 */

export interface SampledValue {
  value: string;
  context?: string;
  format?: 'Raw' | 'SignedData';
  measurand?: string;
  phase?: string;
  location?: string;
  unit?: string;
}

export interface MeterValue {
  timestamp: string;
  sampledValue: SampledValue[];
}

export interface EnergyReading {
  timestamp: Date;
  /** Integer Wh of the cumulative Energy.Active.Import.Register (floored). */
  wh: number;
}

export interface PowerReading {
  timestamp: Date;
  /** Power.Active.Import in W (kW converted), overall or sum of phases. */
  w: number;
}

export interface ExtractResult {
  /** One per meterValue element that has a usable energy register, in input order. */
  energy: EnergyReading[];
  /** One per meterValue element that has a usable Power.Active.Import value, in input order. */
  powerW: PowerReading[];
}

const ENERGY_MEASURAND = 'Energy.Active.Import.Register';
const POWER_MEASURAND = 'Power.Active.Import';

/** Phases that count towards a sum: L1..L3 line-to-neutral, either spelling. */
const PHASE_KEY: Readonly<Record<string, string>> = {
  L1: 'L1',
  L2: 'L2',
  L3: 'L3',
  'L1-N': 'L1',
  'L2-N': 'L2',
  'L3-N': 'L3',
};

/**
 * Location preference for a meter reading (lower is better). Outlet is the OCPP default and
 * measures what the EV got; Inlet (grid side) next; EV/Cable/Body/unknown after.
 */
function locationRank(location: string | undefined): number {
  switch (location) {
    case undefined:
    case 'Outlet':
      return 0;
    case 'Inlet':
      return 1;
    case 'Cable':
      return 2;
    case 'EV':
      return 3;
    default:
      return 4;
  }
}

/** A usable sampled value: exactly num / 10^scale in the base unit (Wh or W), num ≥ 0. */
interface Candidate {
  num: bigint;
  scale: number;
  phase: string | undefined;
  rank: number;
}

function sumDecimals(values: readonly Candidate[]): { num: bigint; scale: number } {
  const scale = values.reduce((s, v) => Math.max(s, v.scale), 0);
  let num = 0n;
  for (const v of values) num += v.num * 10n ** BigInt(scale - v.scale);
  return { num, scale };
}

/**
 * Picks one value for an element: the best-located no-phase value (first in input order among
 * equals), else the sum of distinct L1/L2/L3 phases at the best location that has any.
 * Unknown phases (N, L1-L2, ...) are ignored.
 */
function pick(candidates: readonly Candidate[]): { num: bigint; scale: number } | undefined {
  const overall = candidates.filter((c) => c.phase === undefined);
  if (overall.length > 0) {
    let best = overall[0]!;
    for (const c of overall) if (c.rank < best.rank) best = c;
    return { num: best.num, scale: best.scale };
  }
  const phased = candidates.filter((c) => c.phase !== undefined && PHASE_KEY[c.phase] !== undefined);
  if (phased.length === 0) return undefined;
  const bestRank = Math.min(...phased.map((c) => c.rank));
  const seen = new Set<string>();
  const chosen: Candidate[] = [];
  for (const c of phased) {
    if (c.rank !== bestRank) continue;
    const key = PHASE_KEY[c.phase!]!;
    if (seen.has(key)) continue; // "L1" and "L1-N" of the same element: count once
    seen.add(key);
    chosen.push(c);
  }
  return sumDecimals(chosen);
}

/**
 * A non-negative Raw value of `measurand` (an absent measurand is the energy register), in
 * `baseUnit` (or unit absent) or `kiloUnit` (× 1000, exactly, by shifting the scale).
 * Undefined when unusable.
 */
function candidate(
  s: SampledValue,
  measurand: string,
  baseUnit: string,
  kiloUnit: string,
): Candidate | undefined {
  if (s.format === 'SignedData') return undefined;
  if ((s.measurand ?? ENERGY_MEASURAND) !== measurand) return undefined;
  let kilo: boolean;
  if (s.unit === undefined || s.unit === baseUnit) {
    kilo = false;
  } else if (s.unit === kiloUnit) {
    kilo = true;
  } else {
    return undefined; // varh, kvarh, A, ...: not this measurand's active quantity
  }
  const d = parseDecimal(s.value);
  if (d === undefined || d.unscaled < 0n) return undefined;
  let num = d.unscaled;
  let scale = d.scale;
  if (kilo) {
    // × 1000 exactly: lower the scale, or append zeros when it runs out.
    if (scale >= 3) scale -= 3;
    else {
      num *= 10n ** BigInt(3 - scale);
      scale = 0;
    }
  }
  return { num, scale, phase: s.phase, rank: locationRank(s.location) };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Exact decimal → string ("7400", "1.5"), for Number() without float arithmetic. */
function decimalString(num: bigint, scale: number): string {
  if (scale === 0) return num.toString();
  const digits = num.toString().padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
  return frac === '' ? int : `${int}.${frac}`;
}

/**
 * Extracts billing energy readings and active import power from an OCPP 1.6 meterValue array.
 *
 * Energy (per element): Energy.Active.Import.Register (or measurand absent), Raw only, unit Wh
 * (or absent) / kWh; negative or non-numeric values skipped. The no-phase value wins (preferring
 * location Outlet/absent, then Inlet, Cable, EV, other); otherwise the phases L1..L3 (or L1-N..)
 * are summed exactly. The result is floored to integer Wh; a result beyond Number's safe range
 * is skipped. Elements with an unparsable timestamp are skipped.
 *
 * Power: Power.Active.Import, unit W or kW (absent unit is taken as W: many chargers omit it),
 * same overall/phase/location rules, negative values and values beyond Number's safe range skipped.
 */
export function extractReadings(meterValue: readonly MeterValue[]): ExtractResult {
  const energy: EnergyReading[] = [];
  const powerW: PowerReading[] = [];

  for (const mv of meterValue) {
    const time = Date.parse(mv.timestamp);
    if (Number.isNaN(time)) continue;
    const sampled = Array.isArray(mv.sampledValue) ? mv.sampledValue : [];

    const energyCandidates: Candidate[] = [];
    const powerCandidates: Candidate[] = [];
    for (const s of sampled) {
      const e = candidate(s, ENERGY_MEASURAND, 'Wh', 'kWh');
      if (e) energyCandidates.push(e);
      const p = candidate(s, POWER_MEASURAND, 'W', 'kW');
      if (p) powerCandidates.push(p);
    }

    const e = pick(energyCandidates);
    if (e) {
      const wh = e.num / 10n ** BigInt(e.scale); // non-negative, so truncation = floor
      if (wh <= MAX_SAFE) energy.push({ timestamp: new Date(time), wh: Number(wh) });
    }
    const p = pick(powerCandidates);
    if (p) {
      // Like energy, a power beyond Number's safe range is skipped (no column or plan takes it).
      const w = Number(decimalString(p.num, p.scale));
      if (Number.isFinite(w) && w <= Number.MAX_SAFE_INTEGER) powerW.push({ timestamp: new Date(time), w });
    }
  }
  return { energy, powerW };
}

/** The energy reading with the latest timestamp (ties: the highest wh); undefined if none. */
export function latestEnergy(result: ExtractResult): EnergyReading | undefined {
  let best: EnergyReading | undefined;
  for (const r of result.energy) {
    if (
      best === undefined ||
      r.timestamp.getTime() > best.timestamp.getTime() ||
      (r.timestamp.getTime() === best.timestamp.getTime() && r.wh > best.wh)
    ) {
      best = r;
    }
  }
  return best;
}
