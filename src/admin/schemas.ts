import { z } from 'zod';

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' });

export const idParams = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{24}$/, 'must be an id (24 hex characters)'),
});

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() });
}

/** Error responses every authenticated route can give. */
export const commonErrors = {
  400: errorSchema,
  401: errorSchema,
  404: errorSchema,
} as const;

export const isoDate = z.string().meta({ format: 'date-time' });

export function iso(value: Date | null | undefined): string | null {
  return value ? value.toISOString() : null;
}

export const objectId = z.string().regex(/^[0-9a-f]{24}$/, 'must be an id (24 hex characters)');

/** An amount in integer cents (never a float). */
export function cents(opts: { min: number; max: number }) {
  return z
    .number({ error: 'must be a whole number of cents' })
    .int('must be a whole number of cents')
    .min(opts.min, `must be at least ${opts.min}`)
    .max(opts.max, `must be at most ${opts.max}`);
}

export const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD');

export const conflictErrors = { ...commonErrors, 409: errorSchema } as const;
