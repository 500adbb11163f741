import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aStation, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { aCharger, aRunningSession } from '../helpers/charger.ts';
import { postEntries } from '../../src/domain/wallets/ledger.ts';
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
      // the two readings were billed by one or two group-commit batches, timed
      const batches = sample(during, `gateway_meter_batch_size_count{${node}}`) - sample(before, `gateway_meter_batch_size_count{${node}}`);
      expect(batches).toBeGreaterThanOrEqual(1);
      expect(sample(during, `gateway_meter_batch_size_sum{${node}}`) - sample(before, `gateway_meter_batch_size_sum{${node}}`)).toBe(2);
      expect(sample(during, `gateway_meter_batch_duration_seconds_count{${node}}`) - sample(before, `gateway_meter_batch_duration_seconds_count{${node}}`)).toBe(batches);

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

      // the settlement debited the 500 Wh the stop reported beyond the last reading
      expect(sample(after, `gateway_wallet_debited_cents_total{${node}}`) - sample(during, `gateway_wallet_debited_cents_total{${node}}`)).toBe(50);

      // the other gateway in this process saw none of it
      const theirs = (await scrape(other)).text;
      expect(sample(theirs, `gateway_wallet_debits_total{node="${other.app.config.nodeId}"}`)).toBe(0);
      expect(theirs).not.toContain('action="MeterValues"');
    } finally {
      await receiver.close();
    }
  });
});

describe('debit counters', () => {
  const node = () => `node="${gw.app.config.nodeId}"`;
  const counters = async () => {
    const text = (await scrape(gw)).text;
    return {
      cents: sample(text, `gateway_wallet_debited_cents_total{${node()}}`),
      debits: sample(text, `gateway_wallet_debits_total{${node()}}`),
    };
  };
  /** The debit entries the ledger holds for these wallets: how many, how many cents. */
  const ledgerDebits = async (walletIds: string[]) => {
    const rows = await gw.app.db
      .selectFrom('ledger_entries')
      .select('amount')
      .where('wallet_id', 'in', walletIds)
      .where('type', '=', 'debit')
      .execute();
    return { cents: rows.reduce((sum, r) => sum + r.amount, 0), debits: rows.length };
  };

  it('count every debit the ledger holds: start fee, readings, settlement, the TIME sweep', async () => {
    const before = await counters();

    // A FLAT start fee, then energy; the settlement rounds the energy up to its step (1 kWh).
    const feeRate = await aRate(gw, {
      price_components: [
        { type: 'FLAT', price: 250 },
        { type: 'ENERGY', price: 100, step_size: 1_000 },
      ],
    });
    const feeStation = await aStation(gw, { rate: feeRate._id });
    const payer = await aUserWithWallet(gw, { balance: 10_000 });
    const feeCharger = await aCharger(gw.ocppUrl, feeStation.ocpp_id);
    const fee = await feeCharger.start(payer.token.physicalId, 0);
    expect((await counters()).cents - before.cents).toBe(250); // the start fee, at the start
    await feeCharger.meter(fee.transactionId, 1_500); // 150 c
    await feeCharger.stop(fee.transactionId, 1_500); // settled: 2 kWh of steps, 50 c more
    await feeCharger.close();
    const afterFee = await counters();
    expect(afterFee.cents - before.cents).toBe(250 + 150 + 50);

    // A TIME session that sends no readings: the sweep bills it (3,600 c per hour = 1 c a second).
    const timeRate = await aRate(gw, { price_components: [{ type: 'TIME', price: 3_600 }] });
    const timeStation = await aStation(gw, { rate: timeRate._id });
    const timed = await aUserWithWallet(gw, { balance: 10_000 });
    const timeCharger = await aCharger(gw.ocppUrl, timeStation.ocpp_id);
    const started = new Date(Date.now() - 1_800_000); // half an hour ago
    const time = await timeCharger.start(timed.token.physicalId, 0, 1, started.toISOString());
    await gw.app.sessions.sweep();
    const swept = await ledgerDebits([timed.wallet._id]);
    expect(swept.cents).toBeGreaterThanOrEqual(1_800);
    expect((await counters()).cents - afterFee.cents).toBe(swept.cents);
    await timeCharger.stop(time.transactionId, 0); // settled up to the stop
    await timeCharger.close();

    // Both sessions are closed: nothing debits these wallets any more.
    const after = await counters();
    const ledger = await ledgerDebits([payer.wallet._id, timed.wallet._id]);
    expect(after.cents - before.cents).toBe(ledger.cents);
    expect(after.debits - before.debits).toBe(ledger.debits);
  });

  it('a debit whose transaction rolls back is not counted', async () => {
    const { wallet } = await aUserWithWallet(gw, { balance: 1_000 });
    const before = await counters();
    await expect(
      gw.app.db.transaction().execute(async (tx) => {
        await postEntries(tx, [{ walletId: wallet._id, type: 'debit', amount: 400 }], new Date());
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await counters()).toEqual(before);
    expect(await ledgerDebits([wallet._id])).toEqual({ cents: 0, debits: 0 });
  });
});
