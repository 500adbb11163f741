/**
 * Prepaid sessions driven by the charge point simulator until the wallet runs dry, and the
 * meter formats a charger may use. Real gateway, real sockets, SimStation on the other end.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimStation } from '../../simulators/index.ts';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { aRate, aToken, aUserWithWallet, anOrganization } from '../helpers/builders.ts';
import { eventually } from '../helpers/station.ts';
import {
  balanceOf,
  energyCost,
  expectWalletConsistent,
  ledgerOf,
  sessionOf,
  settled,
  simGatewayOptions,
  Stations,
} from './sim.ts';

let gw: TestGateway;
let org: { _id: string };
const stations = new Stations();

beforeAll(async () => {
  // The stop at zero itself (the backstop): the predictive stop (predictive-stop.test.ts) is off.
  gw = await startGateway(simGatewayOptions({ PREDICTIVE_STOP: 'off' }));
  org = await anOrganization(gw, { minimum_balance_to_start_session: 100 });
});
afterEach(async () => {
  await stations.stopAll();
});
afterAll(async () => {
  await gw?.stop();
});

/** Outbound calls of one action the station made, in order. */
function recordCalls(station: SimStation, action: string) {
  const calls: any[] = [];
  station.on('call', (c) => {
    if (c.action === action) calls.push(c.params);
  });
  return calls;
}

describe('a wallet charged to zero by a simulated charger', () => {
  it('is stopped by the gateway (insufficient_balance), the station stops with Remote, and the balance ends at top-up − cost', async () => {
    // 80 c/kWh + 25 % tax = 0.1 c per Wh; ~208 Wh per sample → ~21 c per sample.
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 80, tax: 25 }] });
    const { station, record } = await stations.boot(gw, rate._id);
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const remoteStops: Array<{ transactionId: number; status: string }> = [];
    station.on('remoteStop', (r) => remoteStops.push(r));
    const samples: number[] = [];
    station.on('meterSample', (m) => samples.push(m.registerWh));
    const stopped = station.waitFor('sessionStopped', () => true, 20_000);

    const started = await station.startSession(1, token.physicalId);
    expect(started).toMatchObject({ outcome: 'Started', idTagStatus: 'Accepted' });
    if (started.outcome !== 'Started') return;
    const [stop] = await stopped;
    expect(stop).toMatchObject({ reason: 'Remote', transactionId: started.transactionId });
    expect(remoteStops).toEqual([{ transactionId: started.transactionId, status: 'Accepted' }]);

    const s = await settled(gw, record._id, started.transactionId);
    expect(s).toMatchObject({
      status: 'completed',
      stop_reason: 'Remote',
      termination: 'insufficient_balance',
      meter_start: 0,
      meter_stop: stop.meterStop,
      energy_wh: stop.meterStop,
    });
    // every Wh delivered is billed, including those after the zero crossing
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 80, 25));
    const balance = await balanceOf(gw, user._id);
    expect(balance).toBeLessThanOrEqual(0);
    expect(balance).toBe(150 - s.cost.amount);
    // the stop came at the first reading that took the balance to zero: the one before was still positive
    const ledger = await ledgerOf(gw, user._id);
    const crossing = ledger.findIndex((e) => e.type === 'debit' && e.balance_after <= 0);
    expect(crossing).toBeGreaterThan(1);
    expect(ledger.slice(0, crossing).every((e) => e.balance_after > 0)).toBe(true);
    expect(ledger.slice(crossing).every((e) => e.type === 'debit' && e.session === s._id)).toBe(true);
    expect(samples.length).toBeGreaterThanOrEqual(crossing);
    await expectWalletConsistent(gw, user, wallet._id);
  });

  it('two stations on one wallet are both stopped at zero, and both are billed in full', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 50 }] });
    const a = await stations.boot(gw, rate._id);
    const b = await stations.boot(gw, rate._id, { powerProfile: 'ac22' });
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 200 });
    const stopA = a.station.waitFor('sessionStopped', () => true, 20_000);
    const stopB = b.station.waitFor('sessionStopped', () => true, 20_000);
    const second = await aToken(gw, user._id); // one idTag per transaction; one wallet for both
    const [ta, tb] = await Promise.all([a.station.startSession(1, token.physicalId), b.station.startSession(1, second.physicalId)]);
    expect(ta.outcome).toBe('Started');
    expect(tb.outcome).toBe('Started');
    if (ta.outcome !== 'Started' || tb.outcome !== 'Started') return;
    const [[sa], [sb]] = await Promise.all([stopA, stopB]);
    expect(sa.reason).toBe('Remote');
    expect(sb.reason).toBe('Remote');

    const [fa, fb] = await Promise.all([settled(gw, a.record._id, ta.transactionId), settled(gw, b.record._id, tb.transactionId)]);
    for (const [f, stop] of [[fa, sa], [fb, sb]] as const) {
      expect(f).toMatchObject({ status: 'completed', stop_reason: 'Remote', termination: 'insufficient_balance', meter_stop: stop.meterStop });
      expect(f.cost.amount).toBe(energyCost(stop.meterStop, 50));
    }
    const balance = await balanceOf(gw, user._id);
    expect(balance).toBeLessThanOrEqual(0);
    expect(balance).toBe(200 - fa.cost.amount - fb.cost.amount);
    await expectWalletConsistent(gw, user, wallet._id);
  });

  it('duplicate MeterValues and StopTransactions are billed once: cost == energy × price', async () => {
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 100 }] });
    const { station, record } = await stations.boot(gw, rate._id, { duplicateSends: true });
    const meterCalls = recordCalls(station, 'MeterValues');
    const stopCalls = recordCalls(station, 'StopTransaction');
    const { user, wallet, token } = await aUserWithWallet(gw, { organization: org._id, balance: 150 });
    const stopped = station.waitFor('sessionStopped', () => true, 20_000);
    const started = await station.startSession(1, token.physicalId);
    if (started.outcome !== 'Started') throw new Error(`not started: ${started.outcome}`);
    const [stop] = await stopped;
    expect(stop.reason).toBe('Remote');
    const s = await settled(gw, record._id, started.transactionId);
    await eventually(() => stopCalls.length === 2 && station.queueLength === 0);

    // the station really did send everything twice
    expect(meterCalls.length).toBeGreaterThanOrEqual(4);
    expect(meterCalls.length % 2).toBe(0);
    for (let i = 0; i < meterCalls.length; i += 2) expect(meterCalls[i + 1]).toEqual(meterCalls[i]);
    expect(stopCalls[1]).toEqual(stopCalls[0]);

    expect(s).toMatchObject({ status: 'completed', termination: 'insufficient_balance', energy_wh: stop.meterStop });
    expect(s.cost.amount).toBe(energyCost(stop.meterStop, 100));
    expect(await balanceOf(gw, user._id)).toBe(150 - s.cost.amount);
    // at most one debit per distinct reading (plus the settlement)
    const debits = (await ledgerOf(gw, user._id)).filter((e) => e.type === 'debit');
    expect(debits.length).toBeLessThanOrEqual(meterCalls.length / 2 + 1);
    await expectWalletConsistent(gw, user, wallet._id);
  });
});

describe('meter formats bill the same', () => {
  it('Wh, kWh, phase-only and kWh phase-only registers all bill 3000 Wh as 3000 Wh', async () => {
    // Each EV takes exactly 3000 Wh (75 kWh battery, 20 % → 24 %) and then draws nothing.
    const ev = { batteryWh: 75_000, initialSoc: 0.2, targetSoc: 0.24 };
    const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: 33.3333, tax: 7 }] });
    const variants = [
      { name: 'Wh', options: {} },
      { name: 'kWh', options: { energyUnit: 'kWh' as const } },
      { name: 'threePhaseOnly', options: { threePhaseOnly: true } },
      { name: 'kWh threePhaseOnly', options: { energyUnit: 'kWh' as const, threePhaseOnly: true } },
    ];
    const runs = await Promise.all(
      variants.map(async (v) => {
        const booted = await stations.boot(gw, rate._id, { ...v.options, ev, timeScale: 120, initialRegisterWh: 12_345 });
        const who = await aUserWithWallet(gw, { organization: org._id, balance: 5000 });
        const meterCalls = recordCalls(booted.station, 'MeterValues');
        const full = booted.station.waitFor('evFull', () => true, 15_000);
        const started = await booted.station.startSession(1, who.token.physicalId);
        if (started.outcome !== 'Started') throw new Error(`${v.name}: not started`);
        return { ...v, ...booted, ...who, started, full, meterCalls };
      }),
    );
    for (const r of runs) {
      await r.full;
      // the MeterValues path alone has billed the full 3000 Wh before any stop
      const live = await eventually(async () => {
        const s = await sessionOf(gw, r.record._id, r.started.transactionId);
        return s.energy_wh === 3000 ? s : undefined;
      }, 10_000);
      expect(live).toMatchObject({ status: 'active', meter_start: 12_345, meter_last: 15_345 });
      const stop = await r.station.stopSession(1, 'Local');
      expect(stop).toMatchObject({ outcome: 'Stopped', meterStop: 15_345, delivered: true });
    }
    // 3000 Wh × 33.3333 c/kWh × 1.07 = 106.999893 c → 107 c (rounded once, half-up)
    const expected = 107;
    for (const r of runs) {
      const s = await settled(gw, r.record._id, r.started.transactionId);
      expect(s, r.name).toMatchObject({ status: 'completed', stop_reason: 'Local', energy_wh: 3000, meter_stop: 15_345 });
      expect(s.cost.amount, r.name).toBe(expected);
      expect(await balanceOf(gw, r.user._id), r.name).toBe(5000 - expected);
      await expectWalletConsistent(gw, r.user, r.wallet._id);
    }
    // the formats were what they claim to be
    const sample = (r: (typeof runs)[number]) =>
      (r.meterCalls[0].meterValue[0].sampledValue as Array<Record<string, string>>).filter(
        (v) => v.measurand === 'Energy.Active.Import.Register',
      );
    const [wh, kwh, phases, kwhPhases] = runs.map(sample);
    expect(wh).toHaveLength(1);
    expect(wh![0]).toMatchObject({ unit: 'Wh' });
    expect(kwh![0]!.unit).toBe('kWh');
    expect(kwh![0]!.value).toMatch(/^\d+\.\d{3}$/);
    expect(phases!.map((v) => v.phase)).toEqual(['L1', 'L2', 'L3']);
    expect(kwhPhases!.every((v) => v.unit === 'kWh' && v.phase)).toBe(true);
  });
});
