/** Builds the sampledValue arrays of MeterValues / StopTransaction.transactionData. */
import type { MeterValue, ReadingContext, SampledValue } from './ocpp-types.ts';

export type EnergyUnit = 'Wh' | 'kWh';

export interface MeterFormat {
  /** Unit of the energy register (kWh: 3 decimals). */
  energyUnit: EnergyUnit;
  /** Report the register only as L1/L2/L3 phase values summing to the total. */
  threePhaseOnly: boolean;
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

export function buildMeterValue(
  reading: MeterReading,
  context: ReadingContext,
  format: MeterFormat,
): MeterValue {
  const sampledValue = energySamples(reading.registerWh, context, format);
  if (reading.powerW !== undefined) {
    sampledValue.push({
      value: String(Math.round(reading.powerW)),
      context,
      measurand: 'Power.Active.Import',
      location: 'Outlet',
      unit: 'W',
    });
  }
  if (reading.soc !== undefined) {
    sampledValue.push({
      value: String(Math.round(reading.soc * 100)),
      context,
      measurand: 'SoC',
      location: 'EV',
      unit: 'Percent',
    });
  }
  const timestamp = typeof reading.timestamp === 'string' ? reading.timestamp : reading.timestamp.toISOString();
  return { timestamp, sampledValue };
}
