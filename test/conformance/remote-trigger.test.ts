/** OCTT 1.6 Central System cases of the Remote Trigger profile. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { aDriver, caseName, ChargePoints, conformanceGateway, eventually, ok, operation, started, stationJson } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

describe('Remote Trigger', () => {
  it(caseName('TC_054', 'Trigger message'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const tx = started(await cp.station.startSession(1, driver.idTag));
    const trigger = (message: string, connectorId?: number) =>
      operation(gw, 'POST', `/v1/chargestations/${cp.id}/trigger`, { message, ...(connectorId ? { connector_id: connectorId } : {}) });
    const sentNext = (action: string) => cp.station.waitFor('callResult', (e: { action: string }) => e.action === action, 5_000);

    // Each triggered message reaches the gateway and is answered.
    for (const [message, connectorId] of [
      ['MeterValues', 1],
      ['Heartbeat', undefined],
      ['StatusNotification', 1],
      ['DiagnosticsStatusNotification', undefined],
      ['FirmwareStatusNotification', undefined],
      ['BootNotification', undefined],
    ] as const) {
      const answered = sentNext(message);
      expect(await trigger(message, connectorId), message).toEqual({ status: 'Accepted' });
      await answered;
    }
    const s = await stationJson(gw, cp.id);
    expect(s).toMatchObject({ firmware_status: 'Idle', diagnostics_status: 'Idle' });
    const session = (await ok(gw, 'GET', `/v1/sessions?chargestation=${cp.id}`)).data[0];
    expect(session.transaction_id).toBe(tx);
    await eventually(async () => (await ok(gw, 'GET', `/v1/sessions/${session._id}`)).meter_last > 0);
  });

  it(caseName('TC_055', 'Trigger message, rejected'), async () => {
    const cp = await cps.boot({ answers: { TriggerMessage: 'Rejected' } });
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/trigger`, { message: 'MeterValues', connector_id: 1 })).toEqual({
      status: 'Rejected',
    });
    // The station's own refusal too: a connector it does not have.
    cp.station.answers.set('TriggerMessage', undefined);
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/trigger`, { message: 'StatusNotification', connector_id: 7 })).toEqual({
      status: 'Rejected',
    });
  });
});
