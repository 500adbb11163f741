/** A central system and the stations a test creates against it, stopped after each test. */
import { afterEach, expect } from 'vitest';
import { SimStation, type SimStationOptions } from '../../simulators/station.ts';
import { TestCentralSystem, type CentralSystemOptions } from './central-system.ts';

export interface Harness {
  cs: TestCentralSystem;
  station: SimStation;
  id: string;
}

let counter = 0;
const stations: SimStation[] = [];
const systems: TestCentralSystem[] = [];

afterEach(async () => {
  for (const station of stations.splice(0)) {
    await station.stop();
    expect(station.pendingTimers, `${station.identity} timers after stop()`).toBe(0);
  }
  for (const cs of systems.splice(0)) await cs.close();
});

export async function centralSystem(options: CentralSystemOptions = {}): Promise<TestCentralSystem> {
  const cs = await TestCentralSystem.start(options);
  systems.push(cs);
  return cs;
}

/** A station (stopped after the test) on `url`, at 600× time (a simulated minute every 100 ms). */
export function aStation(url: string | string[], options: Partial<SimStationOptions> = {}): SimStation {
  const station = new SimStation({
    url,
    identity: `CP${++counter}`,
    connectors: 1,
    timeScale: 600,
    powerProfile: 'ac22',
    ...options,
  });
  stations.push(station);
  return station;
}

/** A central system and one station, not started. */
export async function setup(options: Partial<SimStationOptions> = {}, csOptions: CentralSystemOptions = {}): Promise<Harness> {
  const cs = await centralSystem(csOptions);
  const station = aStation(cs.url, options);
  return { cs, station, id: station.identity };
}

/** A central system and one booted station. */
export async function booted(options: Partial<SimStationOptions> = {}, csOptions: CentralSystemOptions = {}): Promise<Harness> {
  const harness = await setup(options, csOptions);
  await harness.station.start();
  expect(harness.station.booted).toBe(true);
  return harness;
}

/** A session started on connector 1; its transactionId. */
export async function charging(station: SimStation, idTag = 'TAG', connectorId = 1): Promise<number> {
  const started = await station.startSession(connectorId, idTag);
  if (started.outcome !== 'Started') throw new Error(`session did not start: ${JSON.stringify(started)}`);
  return started.transactionId;
}

/** Milliseconds from now, as ISO 8601. */
export const inMs = (ms: number): string => new Date(Date.now() + ms).toISOString();
