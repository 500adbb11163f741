/**
 * SecurityEventNotification as the gateway keeps it (Security extension). The certificate
 * operations that make a station report these events in OCTT's TC_077 / TC_078 belong with the
 * rest of the Security extension cases; this file covers the gateway's part: the event is
 * answered, stored and, when it needs an operator, raises an alert.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { caseName, ChargePoints, conformanceGateway, eventually, ok } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

const events = async (id: string) => (await ok(gw, 'GET', `/v1/chargestations/${id}/security_events`)).data;
const alerts = async (id: string) => (await ok(gw, 'GET', `/v1/alerts?chargestation=${id}&kind=security_event`)).data;

describe('Security events', () => {
  for (const [id, type] of [
    ['TC_077', 'InvalidChargePointCertificate'],
    ['TC_078', 'InvalidCentralSystemCertificate'],
  ] as const) {
    it(caseName(id, `${type} security event: stored and alerted (the gateway's part)`), async () => {
      const cp = await cps.boot();
      const answered = cp.station.waitFor('callResult', (e: { action: string }) => e.action === 'SecurityEventNotification');
      cp.station.sendSecurityEvent(type, 'certificate chain did not verify');
      expect((await answered)[0].result).toEqual({});
      const [event] = await eventually(async () => ((await events(cp.id)).length ? events(cp.id) : undefined));
      expect(event).toMatchObject({ status: type, details: { techInfo: 'certificate chain did not verify' }, reported_at: expect.any(String) });
      const [alert] = await alerts(cp.id);
      expect(alert).toMatchObject({ kind: 'security_event', acknowledged: false, details: { type } });
      expect(alert.message).toContain(type);
    });
  }

  it('routine security events are stored without an alert', async () => {
    const cp = await cps.boot();
    cp.station.sendSecurityEvent('StartupOfTheDevice');
    await eventually(async () => (await events(cp.id)).length === 1);
    expect(await alerts(cp.id)).toEqual([]);
  });
});
