/**
 * Unknown extra properties, the way some vendors' firmware adds them to standard payloads: one
 * object at the top of every message, and a field on each sampled value of a reading.
 */

/** The extra top-level property (a vendor's own block of data). */
export const VENDOR_EXTRA_FIELD = 'simVendorData';
/** The extra property on each sampledValue. */
export const VENDOR_SAMPLE_FIELD = 'simQuality';

type Json = Record<string, unknown>;

function withSampleExtras(meterValues: unknown): unknown {
  if (!Array.isArray(meterValues)) return meterValues;
  return meterValues.map((mv: Json) => ({
    ...mv,
    sampledValue: Array.isArray(mv.sampledValue)
      ? mv.sampledValue.map((sv: Json) => ({ ...sv, [VENDOR_SAMPLE_FIELD]: 'good' }))
      : mv.sampledValue,
  }));
}

/** A copy of the payload with the vendor's extra properties added. */
export function withVendorExtras(action: string, payload: unknown): Json {
  const body: Json = { ...(payload as Json), [VENDOR_EXTRA_FIELD]: { firmwareBuild: 'sim-4711', action } };
  if ('meterValue' in body) body.meterValue = withSampleExtras(body.meterValue);
  if ('transactionData' in body) body.transactionData = withSampleExtras(body.transactionData);
  return body;
}
