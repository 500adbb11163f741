import type { Db } from '../../db/index.ts';
import type { Rate, StoredPriceComponent } from '../../db/tables/wallets.ts';
import type { Clock } from '../../shared/clock.ts';
import { NotFoundError, ValidationError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { formatE4, parseE4 } from '../../shared/money.ts';
import { decodeCursor, definedOnly, toPage, type Page } from '../../shared/pagination.ts';

/** A price component as operators write it: decimal cents and percent. */
export interface PriceComponentInput {
  type: 'ENERGY' | 'TIME' | 'FLAT';
  /** cents per kWh (ENERGY), per hour (TIME) or per session (FLAT); up to 4 decimals */
  price: number;
  /** percent, up to 4 decimals */
  tax?: number | undefined;
  /** Wh (ENERGY) or seconds (TIME), applied at settlement */
  step_size?: number | undefined;
}

export function toStoredComponents(input: PriceComponentInput[]): StoredPriceComponent[] {
  return input.map((c, i) => {
    const tax_e4 = c.tax === undefined ? 0 : parseE4(c.tax, `price_components.${i}.tax`);
    if (tax_e4 > 100 * 10_000) {
      throw new ValidationError(`price_components.${i}.tax must be at most 100 (percent)`, {
        field: `price_components.${i}.tax`,
      });
    }
    return {
      type: c.type,
      price_e4: parseE4(c.price, `price_components.${i}.price`),
      tax_e4,
      step_size: c.type === 'FLAT' ? 0 : (c.step_size ?? 0),
    };
  });
}

export function toComponentOutput(stored: StoredPriceComponent[]) {
  return stored.map((c) => ({
    type: c.type,
    price: formatE4(c.price_e4),
    tax: formatE4(c.tax_e4),
    step_size: c.step_size,
  }));
}

export interface RateInput {
  description?: string | undefined;
  currency?: string | undefined;
  price_components?: PriceComponentInput[] | undefined;
  active?: boolean | undefined;
}

function columns(input: RateInput) {
  return definedOnly({
    description: input.description,
    currency: input.currency,
    active: input.active,
    price_components: input.price_components
      ? JSON.stringify(toStoredComponents(input.price_components))
      : undefined,
  });
}

export async function createRate(
  db: Db,
  clock: Clock,
  input: RateInput & { currency: string; price_components: PriceComponentInput[] },
): Promise<Rate> {
  const now = clock.now();
  const cols = columns(input);
  return db
    .insertInto('rates')
    .values({
      id: newId(now),
      description: null,
      ...cols,
      currency: input.currency,
      price_components: cols.price_components!,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Changes apply to sessions started afterwards; running sessions keep their snapshot. */
export async function updateRate(db: Db, clock: Clock, id: string, input: RateInput): Promise<Rate> {
  const row = await db
    .updateTable('rates')
    .set({ ...columns(input), updated_at: clock.now() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new NotFoundError('rate', id);
  return row;
}

export async function getRate(db: Db, id: string): Promise<Rate> {
  const row = await db.selectFrom('rates').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError('rate', id);
  return row;
}

export async function listRates(db: Db, q: { limit: number; cursor?: string | undefined }): Promise<Page<Rate>> {
  let query = db.selectFrom('rates').selectAll().orderBy('id').limit(q.limit + 1);
  const after = decodeCursor(q.cursor);
  if (after) query = query.where('id', '>', after);
  return toPage(await query.execute(), q.limit, (r) => r.id);
}

/**
 * The rate that applies on a station's connector: the connector's override, else the
 * station's rate. Without a connector (Authorize), the station's rate.
 */
export async function resolveRate(
  db: Db,
  stationId: string,
  connectorId?: number,
): Promise<Rate | undefined> {
  const row = await db
    .selectFrom('charge_stations as s')
    .leftJoin('connectors as c', (j) =>
      j.onRef('c.station_id', '=', 's.id').on('c.connector_id', '=', connectorId ?? -1),
    )
    .select(['s.rate_id as station_rate', 'c.rate_id as connector_rate'])
    .where('s.id', '=', stationId)
    .executeTakeFirst();
  const rateId = row?.connector_rate ?? row?.station_rate;
  if (!rateId) return undefined;
  return db.selectFrom('rates').selectAll().where('id', '=', rateId).executeTakeFirst();
}
