import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { anOrganization } from '../helpers/builders.ts';
import { aRunningSession } from '../helpers/charger.ts';
import { eventually } from '../helpers/station.ts';
import { webhookReceiver } from '../helpers/webhook-receiver.ts';

let gw: TestGateway;
let other: TestGateway;

beforeAll(async () => {
  gw = await startGateway({ env: { WEBHOOK_POLL_INTERVAL_MS: '50' } });
  // a second gateway in the same process: each has a registry of its own
  other = await startGateway();
});
afterAll(async () => {
  await Promise.allSettled([gw.stop(), other.stop()]);
});

async function scrape(target: TestGateway, auth = `Bearer ${target.apiKey}`) {
  const res = await fetch(`${target.adminUrl}/metrics`, { headers: auth ? { authorization: auth } : {} });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The value of one sample (name and exact label set as Prometheus prints them), 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('GET /metrics', () => {
  it('needs an unscoped API key, like the admin API', async () => {
    expect((await scrape(gw, '')).status).toBe(401);
    expect((await scrape(gw, 'Bearer not-a-key-0123456789')).status).toBe(401);
    const org = await anOrganization(gw);
    const scoped = (await gw.api('POST', '/v1/api_keys', { name: 'scoped', organization: org._id })).body.key;
    expect((await scrape(gw, `Bearer ${scoped}`)).status).toBe(403);
    const ok = await scrape(gw);
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain/);
    expect(ok.text).toContain('gateway_process_cpu_seconds_total');
  });

  it('moves the counters as stations talk and wallets are debited; gauges are read at scrape time', async () => {
    const node = `node="${gw.app.config.nodeId}"`;
    const before = (await scrape(gw)).text;
    const { charger, transactionId } = await aRunningSession(gw, { pricePerKwh: 100, balance: 5000 });
    await charger.meter(transactionId, 1000); // 100 c
    await charger.meter(transactionId, 1500); // 50 c
    const receiver = await webhookReceiver();
    try {
      const hook = (await gw.api('POST', '/v1/webhooks', { url: receiver.url, events: ['session.stopped'] })).body;
      receiver.useSecret(hook.secret);
      const during = (await scrape(gw)).text;
      expect(sample(during, `gateway_stations_connected{${node}}`)).toBe(1);
      expect(sample(during, `gateway_sessions_active{${node}}`)).toBe(1);
      expect(
        sample(during, `gateway_ocpp_messages_total{action="MeterValues",result="ok",${node}}`) -
          sample(before, `gateway_ocpp_messages_total{action="MeterValues",result="ok",${node}}`),
      ).toBe(2);
      expect(sample(during, `gateway_ocpp_messages_total{action="StartTransaction",result="ok",${node}}`)).toBe(1);
      expect(sample(during, `gateway_ocpp_message_duration_seconds_count{${node},action="MeterValues"}`)).toBeGreaterThanOrEqual(2);
      expect(sample(during, `gateway_wallet_debited_cents_total{${node}}`) - sample(before, `gateway_wallet_debited_cents_total{${node}}`)).toBe(150);
      expect(sample(during, `gateway_wallet_debits_total{${node}}`) - sample(before, `gateway_wallet_debits_total{${node}}`)).toBe(2);

      // a call the gateway refuses is counted with its CALLERROR code
      await expect(charger.meter(transactionId, 1600, { connectorId: 999 })).rejects.toThrow();
      await charger.stop(transactionId, 2000);
      await eventually(() => receiver.events.length === 1, 10_000);
      await charger.close();
      const after = await eventually(async () => {
        const text = (await scrape(gw)).text;
        const delivered = sample(text, `gateway_webhook_deliveries_total{outcome="delivered",${node}}`) === 1;
        // the attempt is counted as it ends and recorded just after: wait for the record too
        return delivered && sample(text, `gateway_webhook_queue_depth{${node}}`) === 0 ? text : undefined;
      });
      expect(sample(after, `gateway_sessions_active{${node}}`)).toBe(0);
      expect(sample(after, `gateway_webhook_queue_depth{${node}}`)).toBe(0);
      expect(after).toMatch(/gateway_ocpp_messages_total\{action="MeterValues",result="PropertyConstraintViolation",node="[^"]+"\} 1/);
      await eventually(async () => sample((await scrape(gw)).text, `gateway_stations_connected{${node}}`) === 0);

      // the other gateway in this process saw none of it
      const theirs = (await scrape(other)).text;
      expect(sample(theirs, `gateway_wallet_debits_total{node="${other.app.config.nodeId}"}`)).toBe(0);
      expect(theirs).not.toContain('action="MeterValues"');
    } finally {
      await receiver.close();
    }
  });
});
