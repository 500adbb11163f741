/** Public entry point of the OCPP 1.6J charge point simulator library. */
export { SimStation } from './station.ts';
export type {
  ConnectorSnapshot,
  RemoteStopMode,
  SimStationOptions,
  StartSessionResult,
  StopSessionResult,
} from './station.ts';
export { Fleet, runPool, stationIdentity } from './fleet.ts';
export type { FleetOptions, FleetStartResult, FleetStats, StationTemplate } from './fleet.ts';
export { EvBattery, getPowerProfile, isPowerProfileName, powerAtSoc, POWER_PROFILES } from './power.ts';
export type { EvOptions, PowerProfile, PowerProfileName } from './power.ts';
export { buildMeterValue, energySamples, formatEnergy, splitPhases } from './meter.ts';
export type { EnergyUnit, MeterFormat, MeterReading } from './meter.ts';
export { StationConfiguration } from './config.ts';
export { CallStats, LatencyRecorder, percentile } from './stats.ts';
export type { ActionStats, LatencySummary } from './stats.ts';
export type * from './events.ts';
export type * from './ocpp-types.ts';
