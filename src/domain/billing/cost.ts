import {
  add,
  ceilToMultiple,
  mul,
  rat,
  ratToString,
  roundHalfUp,
  toCentsNumber,
  ZERO,
  type Rational,
} from '../../shared/money.ts';

/**
 * Session cost from a rate snapshot. Pure: no I/O.
 *
 * Every component is costed exactly (bigint rationals), tax applied per component, the
 * components summed exactly, and the total rounded half-up ONCE to integer cents.
 */

export type ComponentType = 'ENERGY' | 'TIME' | 'FLAT';

/**
 * ENERGY: price in cents per kWh; step_size in Wh.
 * TIME:   price in cents per hour; step_size in seconds.
 * FLAT:   price in cents per session; step_size ignored.
 * tax_e4: tax percent × 10000 (7.25 % → 72500; 0 = no tax).
 */
export interface PriceComponent {
  type: ComponentType;
  price_e4: number;
  tax_e4: number;
  step_size: number;
}

export interface CostInput {
  energyWh: number;
  durationS: number;
  /** true at settlement: quantities are rounded up to the component's step_size. */
  settle: boolean;
}

export interface CostResult {
  /** Integer cents, rounded half-up once from the exact sum. */
  amount: number;
  /**
   * One entry per input component, same order. `quantity` is the billed quantity (Wh for
   * ENERGY, seconds for TIME, 1 for FLAT) after step rounding; `amount_exact` is the
   * component's exact cost in cents including its tax, "num/den" in lowest terms.
   */
  components: Array<{ type: ComponentType; quantity: number; amount_exact: string }>;
}

/** e4 price → cents: ÷ 10^4. ENERGY is per kWh (÷ 1000 Wh), TIME per hour (÷ 3600 s). */
const ENERGY_DEN = 10_000n * 1_000n;
const TIME_DEN = 10_000n * 3_600n;
const FLAT_DEN = 10_000n;
/** tax_e4 is percent × 10^4, so the multiplier is 1 + tax_e4 / (100 × 10^4). */
const TAX_DEN = 1_000_000n;

/** Negative, NaN or infinite usage counts as 0; fractions are floored. */
function usage(n: number): bigint {
  if (!Number.isFinite(n) || n <= 0) return 0n;
  return BigInt(Math.floor(n));
}

function nonNegativeInt(n: number, what: string): bigint {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`);
  }
  return BigInt(n);
}

/**
 * Computes the cost of a session with `input.energyWh` Wh delivered over `input.durationS`
 * seconds. Several components of the same type are each billed. FLAT is charged from the
 * start (also at zero energy and duration).
 *
 * A component with a negative or non-integer price_e4, tax_e4 or step_size is a broken rate
 * snapshot: RangeError (negative prices would break monotonicity).
 *
 * Guarantees, for valid components: the running cost is non-decreasing in energy and in
 * time, and the settled cost is ≥ the running cost for the same input.
 */
export function computeCost(components: readonly PriceComponent[], input: CostInput): CostResult {
  const wh = usage(input.energyWh);
  const seconds = usage(input.durationS);

  let total: Rational = ZERO;
  const out: CostResult['components'] = [];

  for (const c of components) {
    const price = nonNegativeInt(c.price_e4, `${c.type} price_e4`);
    const tax = nonNegativeInt(c.tax_e4, `${c.type} tax_e4`);
    const step = nonNegativeInt(c.step_size, `${c.type} step_size`);

    let quantity: bigint;
    let cost: Rational;
    switch (c.type) {
      case 'ENERGY':
        quantity = input.settle ? ceilToMultiple(wh, step) : wh;
        cost = rat(price * quantity, ENERGY_DEN);
        break;
      case 'TIME':
        quantity = input.settle ? ceilToMultiple(seconds, step) : seconds;
        cost = rat(price * quantity, TIME_DEN);
        break;
      case 'FLAT':
        quantity = 1n;
        cost = rat(price, FLAT_DEN);
        break;
      default: {
        const never: never = c.type;
        throw new RangeError(`unknown price component type ${String(never)}`);
      }
    }
    if (tax !== 0n) cost = mul(cost, rat(TAX_DEN + tax, TAX_DEN));

    total = add(total, cost);
    out.push({ type: c.type, quantity: Number(quantity), amount_exact: ratToString(cost) });
  }

  return { amount: toCentsNumber(roundHalfUp(total)), components: out };
}
