/** Builds the sampledValue arrays of MeterValues / StopTransaction.transactionData. */
import type { Measurand, MeterValue, ReadingContext, SampledValue } from './ocpp-types.ts';

export type EnergyUnit = 'Wh' | 'kWh';
export type PowerUnit = 'W' | 'kW';

export interface MeterFormat {
  /** Unit of the energy register (kWh: 3 decimals). */
  energyUnit: EnergyUnit;
  /** Report the register only as L1/L2/L3 phase values summing to the total. */
  threePhaseOnly: boolean;
  /** Unit of power values (kW: 3 decimals; default W). */
  powerUnit?: PowerUnit;
  /**
   * The measurands to report (MeterValuesSampledData), in this order after the register.
   * Unset: the register, then power and SoC when the reading has them.
   */
  measurands?: readonly Measurand[];
  /** Unknown extra properties on each sampled value, as some vendors' firmware adds. */
  extra?: Record<string, unknown>;
}

export interface MeterReading {
  /** A Date, or a timestamp already written the way the station writes them. */
  timestamp: Date | string;
  /** Cumulative import register in Wh (integer). */
  registerWh: number;
  /** Instantaneous power in W; omitted from the sample when undefined. */
  powerW?: number;
  /** EV state of charge 0..1; omitted when undefined. */
  soc?: number;
  /** DC: voltage at the outlet, V. */
  voltageV?: number;
  /** Current drawn, A. */
  currentA?: number;
  /** The power the station offers (its limit), W. */
  offeredW?: number;
}

/** Formats an integer Wh amount in the configured unit. */
export function formatEnergy(wh: number, unit: EnergyUnit): string {
  const integer = Math.floor(wh);
  if (unit === 'Wh') return String(integer);
  return (integer / 1000).toFixed(3);
}

/** Splits an integer Wh total into three integer phase shares that add up exactly. */
export function splitPhases(totalWh: number): [number, number, number] {
  const total = Math.floor(totalWh);
  const share = Math.floor(total / 3);
  return [share, share, total - 2 * share];
}

export function energySamples(
  registerWh: number,
  context: ReadingContext,
  format: MeterFormat,
): SampledValue[] {
  const base = {
    context,
    measurand: 'Energy.Active.Import.Register' as const,
    location: 'Outlet' as const,
    unit: format.energyUnit,
  };
  if (!format.threePhaseOnly) {
    return [{ value: formatEnergy(registerWh, format.energyUnit), ...base }];
  }
  const phases = ['L1', 'L2', 'L3'] as const;
  return splitPhases(registerWh).map((wh, i) => ({
    value: formatEnergy(wh, format.energyUnit),
    ...base,
    phase: phases[i],
  }));
}

function formatPower(w: number, unit: PowerUnit): string {
  return unit === 'kW' ? (w / 1000).toFixed(3) : String(Math.round(w));
}

/** One sampled value of a measurand other than the register, or undefined when the reading lacks it. */
function otherSample(measurand: Measurand, reading: MeterReading, context: ReadingContext, format: MeterFormat): SampledValue | undefined {
  const powerUnit = format.powerUnit ?? 'W';
  const at = (value: string, unit: SampledValue['unit'], location: SampledValue['location'] = 'Outlet'): SampledValue => ({
    value,
    context,
    measurand,
    location,
    unit,
  });
  switch (measurand) {
    case 'Power.Active.Import':
      return reading.powerW === undefined ? undefined : at(formatPower(reading.powerW, powerUnit), powerUnit);
    case 'Power.Offered':
      return reading.offeredW === undefined ? undefined : at(formatPower(reading.offeredW, powerUnit), powerUnit);
    case 'SoC':
      return reading.soc === undefined ? undefined : at(String(Math.round(reading.soc * 100)), 'Percent', 'EV');
    case 'Voltage':
      return reading.voltageV === undefined ? undefined : at(reading.voltageV.toFixed(1), 'V');
    case 'Current.Import':
      return reading.currentA === undefined ? undefined : at(reading.currentA.toFixed(1), 'A');
    case 'Current.Offered':
      return reading.offeredW === undefined || !reading.voltageV ? undefined : at((reading.offeredW / reading.voltageV).toFixed(1), 'A');
    default:
      return undefined;
  }
}

const LEGACY_MEASURANDS: readonly Measurand[] = ['Power.Active.Import', 'SoC'];

export function buildMeterValue(
  reading: MeterReading,
  context: ReadingContext,
  format: MeterFormat,
): MeterValue {
  const measurands = format.measurands ?? LEGACY_MEASURANDS;
  const sampledValue =
    format.measurands && !format.measurands.includes('Energy.Active.Import.Register')
      ? []
      : energySamples(reading.registerWh, context, format);
  for (const measurand of measurands) {
    if (measurand === 'Energy.Active.Import.Register') continue;
    const sample = otherSample(measurand, reading, context, format);
    if (sample) sampledValue.push(sample);
  }
  if (format.extra) {
    for (const sample of sampledValue) Object.assign(sample, format.extra);
  }
  const timestamp = typeof reading.timestamp === 'string' ? reading.timestamp : reading.timestamp.toISOString();
  return { timestamp, sampledValue };
}
