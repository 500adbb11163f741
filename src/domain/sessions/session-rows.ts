import type { Db } from '../../db/index.ts';
import { isInt32 } from '../../shared/storable.ts';
import { BILLING_COLUMNS, OPEN_STATUSES, type BillingRow } from './billing.ts';

/** The billing rows of sessions with these transaction ids (an id beyond int32 matches none). */
export async function billingRowsByTransaction(db: Db, transactionIds: readonly number[]): Promise<BillingRow[]> {
  const ids = transactionIds.filter(isInt32);
  if (!ids.length) return [];
  return db.selectFrom('sessions').select(BILLING_COLUMNS).where('transaction_id', 'in', ids).execute();
}

/** The billing rows of the open sessions on these stations, newest start first. */
export async function openBillingRowsOnStations(db: Db, stationIds: readonly string[]): Promise<BillingRow[]> {
  if (!stationIds.length) return [];
  return db
    .selectFrom('sessions')
    .select(BILLING_COLUMNS)
    .where('station_id', 'in', [...stationIds])
    .where('status', 'in', [...OPEN_STATUSES])
    .orderBy('start_timestamp', 'desc')
    .execute();
}

/**
 * Billing rows as a writer last wrote them, by transaction id, so a busy session is not read
 * before every debit. Never trusted on its own: writes are compare-and-set against these values
 * (applyBilling), and a row someone else changed is dropped and read again. Bounded: the least
 * recently written row goes first (sessions that end on another node age out).
 */
export class BillingRowCache {
  private readonly rows = new Map<number, BillingRow>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.rows.size;
  }

  get(transactionId: number): BillingRow | undefined {
    return this.rows.get(transactionId);
  }

  /** Remembers a row as just written; a completed session is forgotten instead. */
  set(row: BillingRow): void {
    this.rows.delete(row.transaction_id);
    if (row.status === 'completed') return;
    this.rows.set(row.transaction_id, row);
    if (this.rows.size > this.max) this.rows.delete(this.rows.keys().next().value!);
  }

  delete(transactionId: number): void {
    this.rows.delete(transactionId);
  }
}

/** Statuses a connector reports while a transaction runs on it. */
const BUSY_STATUSES = ['Charging', 'SuspendedEV', 'SuspendedEVSE'];

/** True when the connector is known to be in a transaction: a session open on it, or a charging status. */
export async function connectorBusy(db: Db, stationId: string, connectorId: number): Promise<boolean> {
  const open = await db
    .selectFrom('sessions')
    .select('id')
    .where('station_id', '=', stationId)
    .where('connector_id', '=', connectorId)
    .where('status', 'in', [...OPEN_STATUSES, 'held'])
    .limit(1)
    .executeTakeFirst();
  if (open) return true;
  const connector = await db
    .selectFrom('connectors')
    .select('status')
    .where('station_id', '=', stationId)
    .where('connector_id', '=', connectorId)
    .executeTakeFirst();
  return connector?.status !== undefined && connector.status !== null && BUSY_STATUSES.includes(connector.status);
}
