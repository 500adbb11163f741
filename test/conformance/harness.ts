/**
 * The conformance suite's world: the real gateway on port 0 (PGlite, or PostgreSQL with
 * DATABASE_URL) and simulated charge points from simulators/ speaking OCPP 1.6J over real
 * sockets. Each OCTT Central System case drives the charger side with the simulator and the
 * operator side with the admin API, and checks what the gateway answered, sent and recorded.
 *
 * Case ids: the 2024-04 edition names Central System cases `TC_xxx_CS`, the 2026-02 edition
 * `TC_xxx_CSMS`; each test name carries both (`caseName`).
 */
import { expect } from 'vitest';
import { SimStation, type SimStationOptions } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';

export { eventually };

/** "TC_046_CS / TC_046_CSMS: Reservation of a connector - transaction" */
export function caseName(id: string, title: string): string {
  return `${id}_CS / ${id}_CSMS: ${title}`;
}

export async function conformanceGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  return startGateway({
    env: {
      LOG_LEVEL: 'info',
      OCPP_CALL_TIMEOUT_S: '5',
      METER_VALUE_SAMPLE_INTERVAL_S: '60',
      // The simulator squeezes time, so its energy arrives faster than a real charger's.
      MAX_STATION_POWER_KW: '0',
      // The simulator's clock runs 60× faster, so the gateway's short expiryDate on wallet tokens
      // (OCPP_AUTH_EXPIRY_S, 15 minutes) would lapse within a case; the token's own expiry stays.
      OCPP_AUTH_EXPIRY_S: '0',
      ...env,
    },
    stopRetryDelaysMs: [200, 400, 800],
  });
}

export interface ChargePoint {
  station: SimStation;
  /** the station's admin id */
  id: string;
  ocppId: string;
  rate: string;
}

/** Charge points created by a file's tests, stopped after each test. */
export class ChargePoints {
  private readonly all: SimStation[] = [];

  constructor(private readonly gw: () => TestGateway) {}

  /** Registers a station (with a rate) and connects a simulated charger to it, booted. */
  async boot(options: Partial<SimStationOptions> = {}, registration: Record<string, unknown> = {}): Promise<ChargePoint> {
    const cp = await this.create(options, registration);
    await cp.station.start();
    await configurationPass(cp.station);
    return cp;
  }

  /** As boot(), not started. */
  async create(options: Partial<SimStationOptions> = {}, registration: Record<string, unknown> = {}): Promise<ChargePoint> {
    const gw = this.gw();
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 30 }] });
    const record = await aStation(gw, { rate: rate._id, ...registration });
    const station = new SimStation({
      url: gw.ocppUrl,
      identity: record.ocpp_id,
      connectors: 1,
      timeScale: 60,
      powerProfile: 'ac22',
      rpcOptions: { callTimeoutMs: 10_000 },
      ...options,
    });
    this.all.push(station);
    return { station, id: record._id, ocppId: record.ocpp_id, rate: rate._id };
  }

  async stopAll(): Promise<void> {
    const stations = this.all.splice(0);
    await Promise.allSettled(stations.map((s) => s.stop()));
  }
}

/**
 * After an accepted boot the gateway reads the charger's configuration and writes the keys it
 * manages that differ (docs/interop.md). A case that changes configuration itself waits for that
 * pass, or the pass's record of what it read could land after the case's own change.
 */
export async function configurationPass(station: SimStation, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!station.received('GetConfiguration').length) {
    if (Date.now() > until) return; // a boot that was not accepted has no configuration pass
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 300)); // its ChangeConfigurations follow at once
}

/** A driver with a wallet of `balance` cents (default: well above the Default organization's minimum). */
export async function aDriver(gw: TestGateway, opts: { balance?: number; organization?: string; token?: Record<string, unknown> } = {}) {
  const who = await aUserWithWallet(gw, { balance: opts.balance ?? 10_000, ...opts });
  return { ...who, idTag: who.token.physicalId as string };
}

/** An admin call that must succeed with `status` (default 200); its body. */
export async function ok<T = any>(gw: TestGateway, method: string, path: string, body?: unknown, status = 200): Promise<T> {
  const res = await gw.api<T>(method, path, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
  return res.body;
}

/** The station's answer to an operation route (the command's `answer`), checked as logged. */
export async function operation(gw: TestGateway, method: string, path: string, body?: unknown): Promise<any> {
  const command = await ok(gw, method, path, body);
  expect(command.status).toBe('answered');
  return command.answer;
}

export async function sessionsOf(gw: TestGateway, stationId: string): Promise<any[]> {
  return (await ok(gw, 'GET', `/v1/sessions?chargestation=${stationId}`)).data;
}

/** The session of a transaction, once the gateway has it in one of `statuses`. */
export function sessionIn(gw: TestGateway, stationId: string, transactionId: number, statuses: string[], ms = 10_000) {
  return eventually(async () => {
    const s = (await sessionsOf(gw, stationId)).find((x) => x.transaction_id === transactionId);
    return s && statuses.includes(s.status) ? s : undefined;
  }, ms);
}

export async function stationJson(gw: TestGateway, id: string): Promise<any> {
  return ok(gw, 'GET', `/v1/chargestations/${id}`);
}

export function started(result: { outcome: string }): number {
  expect(result.outcome).toBe('Started');
  return (result as unknown as { transactionId: number }).transactionId;
}
