import { describe, expect, it } from 'vitest';
import { parseDecimal } from '../../src/shared/decimal.ts';
import { sampledValueSchema } from '../../src/ocpp/messages.ts';
import {
  extractReadings,
  latestEnergy,
  type ExtractResult,
  type MeterValue,
  type SampledValue,
} from '../../src/domain/billing/meter-values.ts';

const T0 = '2024-05-01T10:00:00.000Z';
const T1 = '2024-05-01T10:01:00.000Z';
const T2 = '2024-05-01T10:02:00.000Z';

const mv = (sampledValue: SampledValue[], timestamp = T0): MeterValue => ({ timestamp, sampledValue });
const E = 'Energy.Active.Import.Register';
const P = 'Power.Active.Import';

/** Energy readings as plain [iso, wh] pairs, for readable expectations. */
const energyOf = (r: ExtractResult) => r.energy.map((e) => [e.timestamp.toISOString(), e.wh]);
const powerOf = (r: ExtractResult) => r.powerW.map((p) => [p.timestamp.toISOString(), p.w]);

describe('parseDecimal', () => {
  it.each<[string, bigint, number]>([
    ['1234', 1234n, 0],
    ['12.3456', 123456n, 4],
    ['-1.5', -15n, 1],
    ['.5', 5n, 1],
    ['5.', 5n, 0],
    ['0', 0n, 0],
    ['+7', 7n, 0],
    [' 42 ', 42n, 0], // surrounding whitespace tolerated
    ['1.2E3', 1200n, 0], // 1.2 × 10^3
    ['1.5e-2', 15n, 3], // 0.015
    ['12345678901234567890.5', 123456789012345678905n, 1], // beyond double precision, still exact
  ])('%s → %s / 10^%s', (value, unscaled, scale) => {
    expect(parseDecimal(value)).toEqual({ unscaled, scale });
  });

  it.each([[''], ['   '], ['abc'], ['NaN'], ['Infinity'], ['-Infinity'], ['0x10'], ['1,5'], ['1.2.3'], ['-'], ['.'], ['1e'], ['e3'], ['1e400'], ['1e-401'], ['12 kWh']])(
    '%j is not a decimal',
    (value) => {
      expect(parseDecimal(value)).toBeUndefined();
    },
  );
});

describe('a sampled value must be numeric unless it is SignedData', () => {
  it.each<[SampledValue, boolean]>([
    [{ value: '123.4' }, true], // format absent = Raw, numeric
    [{ value: '123.4', format: 'Raw' }, true],
    [{ value: '-3', format: 'Raw' }, true], // negative is still a number (billing skips it)
    [{ value: 'abc' }, false], // Raw, not a number
    [{ value: '', format: 'Raw' }, false],
    [{ value: 'NaN', format: 'Raw' }, false],
    [{ value: 'abc', format: 'SignedData' }, true], // SignedData is never numeric-checked
    [{ value: 'AQIDBAUGBwg=', format: 'SignedData' }, true],
  ])('%o → %s', (s, expected) => {
    expect(sampledValueSchema.safeParse(s).success).toBe(expected);
  });
});

describe('extractReadings: energy', () => {
  it.each<{ name: string; input: MeterValue[]; wh: number[] }>([
    // --- defaults and units --------------------------------------------------------------------
    { name: 'measurand and unit absent = register in Wh', input: [mv([{ value: '1234' }])], wh: [1234] },
    { name: 'explicit register in Wh', input: [mv([{ value: '1234', measurand: E, unit: 'Wh' }])], wh: [1234] },
    // 12.3456 kWh = 12345.6 Wh → floor 12345
    { name: 'kWh "12.3456" → 12345 Wh', input: [mv([{ value: '12.3456', measurand: E, unit: 'kWh' }])], wh: [12345] },
    // 12.3456789 kWh = 12345.6789 Wh → 12345
    { name: 'kWh with 7 decimals floors', input: [mv([{ value: '12.3456789', unit: 'kWh' }])], wh: [12345] },
    // 7 kWh = 7000 Wh (zeros appended, no float)
    { name: 'kWh integer', input: [mv([{ value: '7', unit: 'kWh' }])], wh: [7000] },
    // 0.0009 kWh = 0.9 Wh → 0
    { name: 'kWh below 1 Wh floors to 0', input: [mv([{ value: '0.0009', unit: 'kWh' }])], wh: [0] },
    // 1.2E1 kWh = 12 kWh = 12000 Wh
    { name: 'kWh in exponent form', input: [mv([{ value: '1.2E1', unit: 'kWh' }])], wh: [12000] },
    // 0.1 + 0.2 would be 0.30000000000000004 as floats; exact decimal: 0.3 kWh = 300 Wh
    { name: 'kWh "0.3" exactly 300', input: [mv([{ value: '0.3', unit: 'kWh' }])], wh: [300] },
    // 1234.99 Wh → 1234
    { name: 'fractional Wh floors', input: [mv([{ value: '1234.99' }])], wh: [1234] },
    { name: 'zero', input: [mv([{ value: '0' }])], wh: [0] },
    // 9007199254740.991 kWh = 9007199254740991 Wh = 2^53 − 1: largest safe
    { name: 'largest safe Wh', input: [mv([{ value: '9007199254740.991', unit: 'kWh' }])], wh: [Number.MAX_SAFE_INTEGER] },
    { name: 'beyond safe Wh is skipped', input: [mv([{ value: '9007199254740992' }])], wh: [] },

    // --- phases --------------------------------------------------------------------------------
    // 1000 + 2000.6 + 3000.5 = 6001.1 → 6001 (exact sum first; floors first would give 6000)
    {
      name: 'phases only are summed exactly, then floored',
      input: [mv([
        { value: '1000', phase: 'L1' },
        { value: '2000.6', phase: 'L2' },
        { value: '3000.5', phase: 'L3' },
      ])],
      wh: [6001],
    },
    // 1.0005 + 1.0005 kWh = 2.001 kWh = 2001 Wh (floor per phase would give 2000)
    {
      name: 'line-to-neutral phases in kWh',
      input: [mv([
        { value: '1.0005', phase: 'L1-N', unit: 'kWh', measurand: E },
        { value: '1.0005', phase: 'L2-N', unit: 'kWh', measurand: E },
      ])],
      wh: [2001],
    },
    // Wh and kWh phases mixed: 500 Wh + 0.25 kWh = 750
    {
      name: 'phases with mixed units',
      input: [mv([
        { value: '500', phase: 'L1', unit: 'Wh' },
        { value: '0.25', phase: 'L2', unit: 'kWh' },
      ])],
      wh: [750],
    },
    // overall 5000 wins over L1 + L2 = 2000, whatever the order
    {
      name: 'mixed overall + phases: overall wins (phases first)',
      input: [mv([
        { value: '1000', phase: 'L1' },
        { value: '1000', phase: 'L2' },
        { value: '5000' },
      ])],
      wh: [5000],
    },
    {
      name: 'mixed overall + phases: overall wins (overall first)',
      input: [mv([{ value: '5.5', unit: 'kWh' }, { value: '1000', phase: 'L1' }])],
      wh: [5500],
    },
    // N and line-to-line phases are ignored: 100 + 200 = 300
    {
      name: 'N and L1-L2 ignored',
      input: [mv([
        { value: '100', phase: 'L1' },
        { value: '200', phase: 'L2' },
        { value: '50', phase: 'N' },
        { value: '999', phase: 'L1-L2' },
        { value: '999', phase: 'L3-L1' },
      ])],
      wh: [300],
    },
    { name: 'only N / line-to-line: no reading', input: [mv([{ value: '50', phase: 'N' }, { value: '9', phase: 'L2-L3' }])], wh: [] },
    // L1 and L1-N are the same phase: counted once → 100 + 200 = 300
    {
      name: 'same phase in both spellings counted once',
      input: [mv([
        { value: '100', phase: 'L1' },
        { value: '100', phase: 'L1-N' },
        { value: '200', phase: 'L2' },
      ])],
      wh: [300],
    },

    // --- format --------------------------------------------------------------------------------
    {
      name: 'SignedData ignored, Raw used',
      input: [mv([
        { value: 'AQIDBAUGBwg=', format: 'SignedData' },
        { value: '500', format: 'Raw' },
      ])],
      wh: [500],
    },
    // even a numeric SignedData value is never billed
    { name: 'only SignedData (numeric): no reading', input: [mv([{ value: '9999', format: 'SignedData', measurand: E }])], wh: [] },
    {
      name: 'SignedData overall does not hide Raw phases',
      input: [mv([
        { value: '9999', format: 'SignedData' },
        { value: '10', phase: 'L1' },
        { value: '20', phase: 'L2' },
      ])],
      wh: [30],
    },

    // --- other measurands and units ignored ---------------------------------------------------
    { name: 'varh is not the active register', input: [mv([{ value: '9999', unit: 'varh' }])], wh: [] },
    { name: 'kvarh is not the active register', input: [mv([{ value: '9', measurand: E, unit: 'kvarh' }])], wh: [] },
    {
      name: 'other measurands ignored',
      input: [mv([
        { value: '16', measurand: 'Current.Import', unit: 'A' },
        { value: '230', measurand: 'Voltage', unit: 'V' },
        { value: '55', measurand: 'SoC', unit: 'Percent' },
        { value: '777', measurand: 'Energy.Reactive.Import.Register', unit: 'varh' },
        { value: '888', measurand: 'Energy.Active.Export.Register', unit: 'Wh' },
        { value: '999', measurand: 'Energy.Active.Import.Interval', unit: 'Wh' },
        { value: '4200', measurand: E, unit: 'Wh' },
      ])],
      wh: [4200],
    },

    // --- bad values skipped -------------------------------------------------------------------
    { name: 'negative energy skipped', input: [mv([{ value: '-5' }])], wh: [] },
    { name: 'non-numeric energy skipped', input: [mv([{ value: 'abc' }])], wh: [] },
    { name: 'bad overall falls back to phases', input: [mv([{ value: 'n/a' }, { value: '-1' }, { value: '7', phase: 'L1' }, { value: '8', phase: 'L2' }])], wh: [15] },
    { name: 'negative phase skipped from the sum', input: [mv([{ value: '7', phase: 'L1' }, { value: '-8', phase: 'L2' }])], wh: [7] },
    { name: 'empty sampledValue', input: [mv([])], wh: [] },
    { name: 'empty meterValue', input: [], wh: [] },
    { name: 'unparsable timestamp skipped', input: [mv([{ value: '5' }], 'not a date')], wh: [] },

    // --- location ------------------------------------------------------------------------------
    { name: 'Outlet preferred over Inlet', input: [mv([{ value: '6000', location: 'Inlet' }, { value: '5000', location: 'Outlet' }])], wh: [5000] },
    { name: 'absent location preferred over EV', input: [mv([{ value: '7000', location: 'EV' }, { value: '5000' }])], wh: [5000] },
    { name: 'Inlet used when it is the only one', input: [mv([{ value: '6000', location: 'Inlet' }])], wh: [6000] },
    { name: 'Inlet preferred over EV', input: [mv([{ value: '7000', location: 'EV' }, { value: '6000', location: 'Inlet' }])], wh: [6000] },
    { name: 'two Outlet values: first wins', input: [mv([{ value: '5000', location: 'Outlet' }, { value: '5.1', unit: 'kWh' }])], wh: [5000] },
    {
      name: 'phases summed at one location only',
      input: [mv([
        { value: '10', phase: 'L1', location: 'Inlet' },
        { value: '1', phase: 'L1', location: 'Outlet' },
        { value: '2', phase: 'L2', location: 'Outlet' },
      ])],
      wh: [3],
    },

    // --- contexts: all accepted ---------------------------------------------------------------
    ...['Sample.Periodic', 'Sample.Clock', 'Transaction.Begin', 'Transaction.End', 'Trigger', 'Interruption.Begin', 'Interruption.End', 'Other'].map(
      (context) => ({ name: `context ${context}`, input: [mv([{ value: '321', context }])], wh: [321] }),
    ),
  ])('$name → $wh', ({ input, wh }) => {
    expect(extractReadings(input).energy.map((e) => e.wh)).toEqual(wh);
  });

  it('several meterValue elements: one reading per element with energy, in input order', () => {
    const result = extractReadings([
      mv([{ value: '1000', context: 'Transaction.Begin' }], T1),
      mv([{ value: '7.2', measurand: P, unit: 'kW' }], T0), // power only: no energy reading
      mv([{ value: '1.5', unit: 'kWh' }, { value: '7.4', measurand: P, unit: 'kW' }], T2),
      mv([{ value: '1200', phase: 'L1' }, { value: '400', phase: 'L2' }], T0),
    ]);
    expect(energyOf(result)).toEqual([
      [T1, 1000],
      [T2, 1500],
      [T0, 1600], // 1200 + 400
    ]);
    expect(powerOf(result)).toEqual([
      [T0, 7200],
      [T2, 7400],
    ]);
    expect(result.energy[0]!.timestamp).toBeInstanceOf(Date);
  });

  it('accepts timestamps with offsets', () => {
    const result = extractReadings([mv([{ value: '5' }], '2024-05-01T12:00:00+02:00')]);
    expect(energyOf(result)).toEqual([['2024-05-01T10:00:00.000Z', 5]]);
  });
});

describe('extractReadings: power', () => {
  it.each<{ name: string; input: SampledValue[]; w: number[] }>([
    { name: 'kW converted', input: [{ value: '7.4', measurand: P, unit: 'kW' }], w: [7400] },
    { name: 'kW with 4 decimals', input: [{ value: '11.0456', measurand: P, unit: 'kW' }], w: [11045.6] },
    { name: 'W', input: [{ value: '7400', measurand: P, unit: 'W' }], w: [7400] },
    { name: 'W fractional', input: [{ value: '1.5', measurand: P, unit: 'W' }], w: [1.5] },
    { name: 'unit absent taken as W', input: [{ value: '3680', measurand: P }], w: [3680] },
    // 2300 + 2300 + 2300.5 = 6900.5
    {
      name: 'phases summed',
      input: [
        { value: '2300', measurand: P, unit: 'W', phase: 'L1' },
        { value: '2300', measurand: P, unit: 'W', phase: 'L2' },
        { value: '2300.5', measurand: P, unit: 'W', phase: 'L3' },
        { value: '5', measurand: P, unit: 'W', phase: 'N' },
      ],
      w: [6900.5],
    },
    {
      name: 'overall wins over phases',
      input: [
        { value: '2.3', measurand: P, unit: 'kW', phase: 'L1' },
        { value: '6.9', measurand: P, unit: 'kW' },
      ],
      w: [6900],
    },
    { name: 'negative power skipped', input: [{ value: '-10', measurand: P, unit: 'W' }], w: [] },
    // beyond Number's safe range no bigint column or plan takes it: skipped, as energy that large is
    { name: 'power beyond the safe integer range skipped', input: [{ value: '100000000000000000000', measurand: P, unit: 'W' }], w: [] },
    { name: 'power in kW beyond it skipped', input: [{ value: '9007199254740.993', measurand: P, unit: 'kW' }], w: [] },
    { name: 'power up to it kept', input: [{ value: '9007199254740991', measurand: P, unit: 'W' }], w: [9_007_199_254_740_991] },
    { name: 'SignedData power skipped', input: [{ value: '7400', measurand: P, unit: 'W', format: 'SignedData' }], w: [] },
    { name: 'other units skipped', input: [{ value: '7.4', measurand: P, unit: 'kVA' }], w: [] },
    { name: 'energy is not power', input: [{ value: '7400' }], w: [] },
    { name: 'Power.Offered is not Power.Active.Import', input: [{ value: '11000', measurand: 'Power.Offered', unit: 'W' }], w: [] },
  ])('$name → $w', ({ input, w }) => {
    expect(extractReadings([mv(input)]).powerW.map((p) => p.w)).toEqual(w);
  });
});

describe('latestEnergy', () => {
  const at = (iso: string, wh: number) => ({ timestamp: new Date(iso), wh });

  it.each<{ name: string; energy: Array<{ timestamp: Date; wh: number }>; expected: [string, number] | undefined }>([
    { name: 'empty', energy: [], expected: undefined },
    { name: 'single', energy: [at(T0, 5)], expected: [T0, 5] },
    { name: 'latest timestamp wins, not last in order', energy: [at(T2, 300), at(T0, 100), at(T1, 200)], expected: [T2, 300] },
    // a later timestamp wins even with fewer Wh (a meter reset is not this function's call)
    { name: 'latest even if lower', energy: [at(T1, 900), at(T2, 800)], expected: [T2, 800] },
    { name: 'ties: highest wh', energy: [at(T2, 300), at(T2, 350), at(T2, 320), at(T1, 999)], expected: [T2, 350] },
  ])('$name', ({ energy, expected }) => {
    const r = latestEnergy({ energy, powerW: [] });
    expect(r === undefined ? undefined : [r.timestamp.toISOString(), r.wh]).toEqual(expected);
  });

  it('works on extractReadings output', () => {
    const r = latestEnergy(
      extractReadings([
        mv([{ value: '2.5', unit: 'kWh' }], T2),
        mv([{ value: '1000' }], T0),
        mv([{ value: '2600' }], T2),
        mv([{ value: '2000' }], T1),
      ]),
    );
    expect(r && [r.timestamp.toISOString(), r.wh]).toEqual([T2, 2600]);
  });
});
