import { describe, expect, it } from 'vitest';
import { computeCost, type CostInput, type PriceComponent } from '../../src/domain/billing/cost.ts';
import { add, compare, rat, ZERO, type Rational } from '../../src/shared/money.ts';

const energy = (price_e4: number, tax_e4 = 0, step_size = 0): PriceComponent => ({
  type: 'ENERGY',
  price_e4,
  tax_e4,
  step_size,
});
const time = (price_e4: number, tax_e4 = 0, step_size = 0): PriceComponent => ({
  type: 'TIME',
  price_e4,
  tax_e4,
  step_size,
});
const flat = (price_e4: number, tax_e4 = 0): PriceComponent => ({
  type: 'FLAT',
  price_e4,
  tax_e4,
  step_size: 0,
});

const run = (energyWh: number, durationS: number): CostInput => ({ energyWh, durationS, settle: false });
const settle = (energyWh: number, durationS: number): CostInput => ({ energyWh, durationS, settle: true });

/** 32.4567 c/kWh, the price from the brief. */
const P = 324567;
/** 7.25 % tax. */
const TAX = 72500;

/** Exact total: the sum of the components' "num/den" strings. */
function exactTotal(components: ReturnType<typeof computeCost>['components']): Rational {
  return components.reduce<Rational>((sum, c) => {
    const [n, d] = c.amount_exact.split('/');
    return add(sum, rat(BigInt(n!), BigInt(d!)));
  }, ZERO);
}

interface Case {
  name: string;
  components: PriceComponent[];
  input: CostInput;
  amount: number;
}

describe('computeCost: amounts', () => {
  it.each<Case>([
    // --- ENERGY: price_e4 × Wh / 10^7 ---------------------------------------------------------
    // 324567 × 1 / 10^7 = 0.0324567 c → 0
    { name: '32.4567 c/kWh × 1 Wh', components: [energy(P)], input: run(1, 0), amount: 0 },
    // 324567 × 1000 / 10^7 = 32.4567 c → 32
    { name: '32.4567 c/kWh × 1 kWh', components: [energy(P)], input: run(1000, 0), amount: 32 },
    // 324567 × 12345 = 4 006 779 615; / 10^7 = 400.6779615 c → 401
    { name: '32.4567 c/kWh × 12345 Wh', components: [energy(P)], input: run(12345, 0), amount: 401 },
    // 50 c/kWh × 10 Wh = 5 000 000 / 10^7 = 0.5 c exactly → 1 (half up)
    { name: 'exactly half a cent rounds up', components: [energy(500000)], input: run(10, 0), amount: 1 },
    // 50 c/kWh × 50 Wh = 2.5 c → 3 (not banker's 2)
    { name: '2.5 c rounds up to 3', components: [energy(500000)], input: run(50, 0), amount: 3 },
    // 50 c/kWh × 49 Wh = 2.45 c → 2
    { name: '2.45 c rounds down', components: [energy(500000)], input: run(49, 0), amount: 2 },
    // 12.5 c/kWh × 100 Wh = 12 500 000 / 10^7 = 1.25 c → 1
    { name: '1.25 c rounds down', components: [energy(125000)], input: run(100, 0), amount: 1 },

    // --- tax: × (1 + tax_e4 / 10^6) ------------------------------------------------------------
    // 100 c/kWh × 1 kWh = 100 c; × 1.0725 = 107.25 → 107
    { name: 'tax 7.25 % on 100 c', components: [energy(1000000, TAX)], input: run(1000, 0), amount: 107 },
    // FLAT 200 c × 1.0725 = 214.5 → 215 (half up after tax)
    { name: 'tax 7.25 % on flat 200 c = 214.5', components: [flat(2000000, TAX)], input: run(0, 0), amount: 215 },
    // 400.6779615 × 1.0725 = 429.72711370875 → 430
    { name: 'tax 7.25 % on 12345 Wh', components: [energy(P, TAX)], input: run(12345, 0), amount: 430 },

    // --- TIME: price_e4 × s / (10^4 × 3600) ----------------------------------------------------
    // 120 c/h × 59 s = 1 200 000 × 59 / 36 000 000 = 59/30 = 1.9667 c → 2
    { name: 'TIME 120 c/h × 59 s', components: [time(1200000)], input: run(0, 59), amount: 2 },
    // 120 c/h × 1 s = 1/30 = 0.0333 c → 0
    { name: 'TIME 120 c/h × 1 s', components: [time(1200000)], input: run(0, 1), amount: 0 },
    // 120 c/h × 15 s = 0.5 c exactly → 1
    { name: 'TIME 120 c/h × 15 s = 0.5', components: [time(1200000)], input: run(0, 15), amount: 1 },
    // 120 c/h × 3600 s = 120 c
    { name: 'TIME 120 c/h × 1 h', components: [time(1200000)], input: run(0, 3600), amount: 120 },

    // --- step_size only at settlement ----------------------------------------------------------
    // running: 1 Wh → 0.0324567 → 0
    { name: 'step 1000 Wh, running, 1 Wh', components: [energy(P, 0, 1000)], input: run(1, 0), amount: 0 },
    // settle: 1 Wh → 1000 Wh → 32.4567 → 32
    { name: 'step 1000 Wh, settled, 1 Wh', components: [energy(P, 0, 1000)], input: settle(1, 0), amount: 32 },
    // running: 1001 Wh → 324 891 567 / 10^7 = 32.4891567 → 32
    { name: 'step 1000 Wh, running, 1001 Wh', components: [energy(P, 0, 1000)], input: run(1001, 0), amount: 32 },
    // settle: 1001 Wh → 2000 Wh → 64.9134 → 65
    { name: 'step 1000 Wh, settled, 1001 Wh', components: [energy(P, 0, 1000)], input: settle(1001, 0), amount: 65 },
    // settle: exactly 1000 Wh stays 1000 → 32
    { name: 'step 1000 Wh, settled, 1000 Wh', components: [energy(P, 0, 1000)], input: settle(1000, 0), amount: 32 },
    // running: 59 s → 1.9667 → 2
    { name: 'step 900 s, running, 59 s', components: [time(1200000, 0, 900)], input: run(0, 59), amount: 2 },
    // settle: 59 s → 900 s → 120 × 900/3600 = 30
    { name: 'step 900 s, settled, 59 s', components: [time(1200000, 0, 900)], input: settle(0, 59), amount: 30 },
    // running: 901 s → 120 × 901/3600 = 30.0333 → 30
    { name: 'step 900 s, running, 901 s', components: [time(1200000, 0, 900)], input: run(0, 901), amount: 30 },
    // settle: 901 s → 1800 s → 60
    { name: 'step 900 s, settled, 901 s', components: [time(1200000, 0, 900)], input: settle(0, 901), amount: 60 },
    // settle with 0 usage: 0 stays 0
    { name: 'step at settlement, zero usage', components: [energy(P, 0, 1000), time(1200000, 0, 900)], input: settle(0, 0), amount: 0 },

    // --- FLAT ----------------------------------------------------------------------------------
    // 2 500 000 / 10^4 = 250 c from the start of the session
    { name: 'FLAT 250 at zero energy, running', components: [flat(2500000)], input: run(0, 0), amount: 250 },
    { name: 'FLAT 250 at zero energy, settled', components: [flat(2500000)], input: settle(0, 0), amount: 250 },
    // FLAT is not scaled by usage
    { name: 'FLAT 250 with usage', components: [flat(2500000)], input: run(50000, 7200), amount: 250 },

    // --- sum exactly, round ONCE ---------------------------------------------------------------
    // 50 c/kWh × 10 Wh = 0.5; 180 c/h × 10 s = 0.5; sum 1.0 → 1 (per-component rounding: 2)
    { name: '0.5 + 0.5 → 1, not 2', components: [energy(500000), time(1800000)], input: run(10, 10), amount: 1 },
    // 40 c/kWh × 10 Wh = 0.4; 144 c/h × 10 s = 0.4; sum 0.8 → 1 (per-component rounding: 0)
    { name: '0.4 + 0.4 → 1, not 0', components: [energy(400000), time(1440000)], input: run(10, 10), amount: 1 },

    // --- several components of one type are each billed ---------------------------------------
    // 100 + 50 = 150
    { name: 'two FLAT components', components: [flat(1000000), flat(500000)], input: run(0, 0), amount: 150 },
    // 10 c/kWh + 20 c/kWh over 1 kWh = 30
    { name: 'two ENERGY components', components: [energy(100000), energy(200000)], input: run(1000, 0), amount: 30 },

    // --- full tariff: ENERGY 32.4567 c/kWh step 1000, TIME 120 c/h step 900, FLAT 250, all 7.25 %
    // running, 12345 Wh / 3725 s: 400.6779615 + 124.1666… + 250 = 774.8446281666…
    //   × 1.0725 = 831.0208637… → 831
    {
      name: 'full tariff, running',
      components: [energy(P, TAX, 1000), time(1200000, TAX, 900), flat(2500000, TAX)],
      input: run(12345, 3725),
      amount: 831,
    },
    // settled: 13000 Wh → 421.9371; 4500 s → 150; + 250 = 821.9371 × 1.0725 = 881.52753975 → 882
    {
      name: 'full tariff, settled',
      components: [energy(P, TAX, 1000), time(1200000, TAX, 900), flat(2500000, TAX)],
      input: settle(12345, 3725),
      amount: 882,
    },

    // --- degenerate input --------------------------------------------------------------------
    { name: 'no components', components: [], input: settle(12345, 3725), amount: 0 },
    // negative energy/time are treated as 0; FLAT still 250
    { name: 'negative usage counts as 0', components: [energy(P), time(1200000), flat(2500000)], input: run(-5, -60), amount: 250 },
    { name: 'negative usage at settlement', components: [energy(P, 0, 1000), time(1200000, 0, 900)], input: settle(-1, -1), amount: 0 },
    { name: 'NaN usage counts as 0', components: [energy(P)], input: run(Number.NaN, 0), amount: 0 },
    // price 0 → 0 regardless of usage and tax
    { name: 'zero price', components: [energy(0, TAX), time(0, TAX)], input: run(1e6, 1e6), amount: 0 },
  ])('$name → $amount', ({ components, input, amount }) => {
    const result = computeCost(components, input);
    expect(result.amount).toBe(amount);
    expect(result.components).toHaveLength(components.length);
    // the rounded amount comes from the exact sum of the reported component amounts
    const total = exactTotal(result.components);
    expect(compare(total, rat(amount * 2 - 1, 2))).toBeGreaterThanOrEqual(0); // total ≥ amount − ½
    expect(compare(total, rat(amount * 2 + 1, 2))).toBe(-1); // total < amount + ½
  });
});

describe('computeCost: component breakdown', () => {
  it.each<{
    name: string;
    components: PriceComponent[];
    input: CostInput;
    expected: Array<{ type: string; quantity: number; amount_exact: string }>;
  }>([
    {
      // 4 006 779 615 / 10 000 000 = 801 355 923 / 2 000 000 (÷ 5)
      name: 'ENERGY 12345 Wh',
      components: [energy(P)],
      input: run(12345, 0),
      expected: [{ type: 'ENERGY', quantity: 12345, amount_exact: '801355923/2000000' }],
    },
    {
      // 1 200 000 × 59 / 36 000 000 = 59/30
      name: 'TIME 59 s',
      components: [time(1200000)],
      input: run(0, 59),
      expected: [{ type: 'TIME', quantity: 59, amount_exact: '59/30' }],
    },
    {
      // settled quantities are the rounded-up ones; FLAT quantity is 1
      name: 'settled quantities',
      components: [energy(P, 0, 1000), time(1200000, 0, 900), flat(2500000)],
      input: settle(1, 59),
      expected: [
        { type: 'ENERGY', quantity: 1000, amount_exact: '324567/10000' }, // 32.4567
        { type: 'TIME', quantity: 900, amount_exact: '30/1' },
        { type: 'FLAT', quantity: 1, amount_exact: '250/1' },
      ],
    },
    {
      // 200 × 1 072 500 / 1 000 000 = 214.5 = 429/2: tax is inside amount_exact
      name: 'taxed FLAT',
      components: [flat(2000000, TAX)],
      input: run(0, 0),
      expected: [{ type: 'FLAT', quantity: 1, amount_exact: '429/2' }],
    },
    {
      name: 'zero',
      components: [energy(P)],
      input: run(0, 0),
      expected: [{ type: 'ENERGY', quantity: 0, amount_exact: '0/1' }],
    },
  ])('$name', ({ components, input, expected }) => {
    expect(computeCost(components, input).components).toEqual(expected);
  });
});

describe('computeCost: invalid rate snapshot', () => {
  it.each<[string, PriceComponent]>([
    ['negative price', energy(-1)],
    ['fractional price', energy(1.5)],
    ['negative tax', flat(100, -1)],
    ['negative step', time(100, 0, -900)],
    ['unknown type', { type: 'PARKING' as 'FLAT', price_e4: 1, tax_e4: 0, step_size: 0 }],
  ])('%s → RangeError', (_name, component) => {
    expect(() => computeCost([component], settle(10, 10))).toThrow(RangeError);
  });
});

describe('computeCost: properties', () => {
  const tariffs: Array<[string, PriceComponent[]]> = [
    ['full tariff with steps and tax', [energy(P, TAX, 1000), time(1200000, TAX, 900), flat(2500000, TAX)]],
    ['energy only, odd step', [energy(P, 0, 333)]],
    ['time only, odd price', [time(1234567, 190000, 61)]],
    ['two energies + two times', [energy(1, 1, 7), energy(999999, 0, 0), time(3, 0, 5), time(777777, TAX, 3600)]],
  ];
  const energies = Array.from({ length: 41 }, (_, i) => i * 137); // 0 … 5480 Wh
  const times = Array.from({ length: 41 }, (_, i) => i * 97); // 0 … 3880 s

  it.each(tariffs)('%s: running cost is non-decreasing in energy and time', (_name, components) => {
    let checks = 0;
    for (let ti = 0; ti < times.length; ti++) {
      for (let ei = 0; ei < energies.length; ei++) {
        const here = computeCost(components, run(energies[ei]!, times[ti]!));
        const hereExact = exactTotal(here.components);
        if (ei > 0) {
          const left = computeCost(components, run(energies[ei - 1]!, times[ti]!));
          expect(here.amount).toBeGreaterThanOrEqual(left.amount);
          expect(compare(hereExact, exactTotal(left.components))).toBeGreaterThanOrEqual(0);
          checks++;
        }
        if (ti > 0) {
          const below = computeCost(components, run(energies[ei]!, times[ti - 1]!));
          expect(here.amount).toBeGreaterThanOrEqual(below.amount);
          expect(compare(hereExact, exactTotal(below.components))).toBeGreaterThanOrEqual(0);
          checks++;
        }
      }
    }
    expect(checks).toBe(2 * 41 * 40);
  });

  it.each(tariffs)('%s: running cost is non-decreasing one Wh / one second at a time', (_name, components) => {
    let prev = computeCost(components, run(0, 0)).amount;
    for (let wh = 1; wh <= 3000; wh++) {
      const cur = computeCost(components, run(wh, 0)).amount;
      expect(cur).toBeGreaterThanOrEqual(prev);
      prev = cur;
    }
    prev = computeCost(components, run(0, 0)).amount;
    for (let s = 1; s <= 3000; s++) {
      const cur = computeCost(components, run(0, s)).amount;
      expect(cur).toBeGreaterThanOrEqual(prev);
      prev = cur;
    }
  });

  it.each(tariffs)('%s: settled cost ≥ running cost, and also monotonic', (_name, components) => {
    let strictlyGreater = 0;
    for (const e of energies) {
      let prevSettled = -1;
      for (const t of times) {
        const running = computeCost(components, run(e, t)).amount;
        const settled = computeCost(components, settle(e, t)).amount;
        expect(settled).toBeGreaterThanOrEqual(running);
        expect(settled).toBeGreaterThanOrEqual(prevSettled);
        prevSettled = settled;
        if (settled > running) strictlyGreater++;
      }
    }
    // the steps do bite somewhere on the grid, so the property is not vacuous
    expect(strictlyGreater).toBeGreaterThan(0);
  });
});
