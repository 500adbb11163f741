/** Public entry point of the OCPP 1.6J charge point simulator library. */
export { SimStation } from './station.ts';
export type {
  ConnectorSnapshot,
  FirmwareOutcome,
  RemoteStopMode,
  SimStationOptions,
  StartSessionResult,
  StopSessionResult,
  UploadOutcome,
} from './station.ts';
export { AnswerBook } from './answers.ts';
export type { Answer, AnswerRule, AnswerSpec } from './answers.ts';
export type { ReceivedCall } from './core.ts';
export type { TimestampFormat } from './clock.ts';
export type { BasicAuthMode, TlsOptions } from './connection.ts';
export { endpointList } from './connection.ts';
export { Fleet, runPool, stationIdentity } from './fleet.ts';
export type { FleetOptions, FleetStartResult, FleetStats, StationTemplate } from './fleet.ts';
export { EvBattery, fixedPowerProfile, getPowerProfile, isPowerProfileName, powerAtSoc, POWER_PROFILES } from './power.ts';
export type { EvOptions, PowerProfile, PowerProfileName } from './power.ts';
export { buildMeterValue, energySamples, formatEnergy, splitPhases } from './meter.ts';
export type { EnergyUnit, MeterFormat, MeterReading, PowerUnit } from './meter.ts';
export { StationConfiguration } from './config.ts';
export type { KeyDefinition, KeyOverride } from './config.ts';
export type { Reservation } from './reservations.ts';
export type { ChargingProfile, ChargingRateUnit, InstalledProfile } from './smart-charging.ts';
export type { CertificateUse, ClientCertificate, InstalledCertificate } from './security.ts';
export type { CertificateHashData } from './x509.ts';
export { VENDOR_EXTRA_FIELD, VENDOR_SAMPLE_FIELD } from './vendor.ts';
export { CallStats, LatencyRecorder, percentile } from './stats.ts';
export type { ActionStats, LatencySummary } from './stats.ts';
export type * from './events.ts';
export type * from './ocpp-types.ts';
export { FEATURE_PROFILES, INBOUND_ACTIONS } from './ocpp-types.ts';
