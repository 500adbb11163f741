import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { Reservation, ReservationStatus } from '../../db/tables/commands.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';
import { decideAuthorization } from '../sessions/authorization.ts';
import type { CommandResult, CommandStation, StationCommands } from './commands.ts';

export interface ReserveInput {
  connectorId: number;
  /** the driver: their newest active token reserves */
  user?: string | undefined;
  /** or a token's idTag directly */
  idTag?: string | undefined;
  expiresAt: Date;
  parentIdTag?: string | undefined;
}

/**
 * Reservations (ReserveNow / CancelReservation), wallet-aware: a driver whose token would not be
 * allowed to start here (wallet below the organization's minimum, no wallet, blocked, …) gets no
 * reservation either, and the station is not asked. The row exists before the call goes out, so
 * the OCPP reservationId is never reused, and follows the station's answer (the effects below);
 * a StartTransaction carrying the id uses it.
 */
export class Reservations {
  constructor(
    private readonly deps: { db: Db; commands: StationCommands },
  ) {
    deps.commands.onAnswer('ReserveNow', async (tx, station, req, conf, at) => {
      await tx
        .updateTable('reservations')
        .set({ status: conf.status === 'Accepted' ? 'reserved' : 'refused', station_status: conf.status, updated_at: at })
        .where('station_id', '=', station.stationId)
        .where('reservation_id', '=', req.reservationId)
        .execute();
    });
    deps.commands.onAnswer('CancelReservation', async (tx, station, req, conf, at) => {
      if (conf.status !== 'Accepted') return;
      await tx
        .updateTable('reservations')
        .set({ status: 'cancelled', updated_at: at })
        .where('station_id', '=', station.stationId)
        .where('reservation_id', '=', req.reservationId)
        .where('status', 'in', ['reserved', 'requested'])
        .execute();
    });
  }

  async reserve(
    station: CommandStation & { active: boolean },
    input: ReserveInput,
    requestedBy: string,
    now: Date,
  ): Promise<{ reservation: Reservation; result: CommandResult<'ReserveNow'> }> {
    const { db, commands } = this.deps;
    if (input.expiresAt.getTime() <= now.getTime()) {
      throw new ValidationError('expires_at must be in the future', { field: 'expires_at' });
    }
    const idTag = input.idTag ?? (await this.idTagOf(input.user));
    const decision = await decideAuthorization(db, { idTag, stationId: station.stationId, connectorId: input.connectorId || undefined }, now);
    if (decision.status !== 'Accepted') {
      const reason = decision.reason ?? 'refused';
      const code = reason === 'no_wallet' ? 'insufficient_balance' : reason;
      throw new ConflictError(code, `cannot reserve: ${reason.replace(/_/g, ' ')}`, {
        balance: decision.balance ?? 0,
        minimum_balance_to_start_session: decision.minimumBalance,
      });
    }
    const { rows } = await sql<{ n: number }>`select nextval('reservation_ids')::int as n`.execute(db);
    const reservationId = rows[0]!.n;
    const id = newId(now);
    await db
      .insertInto('reservations')
      .values({
        id,
        reservation_id: reservationId,
        station_id: station.stationId,
        connector_id: input.connectorId,
        id_tag: idTag,
        parent_id_tag: input.parentIdTag ?? null,
        user_id: decision.userId ?? null,
        expires_at: input.expiresAt,
        status: 'requested',
        requested_by: requestedBy,
        created_at: now,
        updated_at: now,
      })
      .execute();
    let result: CommandResult<'ReserveNow'>;
    try {
      result = await commands.sendTo(
        station,
        'ReserveNow',
        {
          connectorId: input.connectorId,
          expiryDate: input.expiresAt.toISOString(),
          idTag,
          ...(input.parentIdTag !== undefined ? { parentIdTag: input.parentIdTag } : {}),
          reservationId,
        },
        { requestedBy },
      );
    } catch (err) {
      await db.updateTable('reservations').set({ status: 'failed', updated_at: now }).where('id', '=', id).execute();
      throw err;
    }
    return { reservation: await this.get(station.stationId, reservationId), result };
  }

  async cancel(station: CommandStation & { active: boolean }, reservationId: number, requestedBy: string) {
    await this.get(station.stationId, reservationId);
    return this.deps.commands.sendTo(station, 'CancelReservation', { reservationId }, { requestedBy });
  }

  async get(stationId: string, reservationId: number): Promise<Reservation> {
    const row = await this.deps.db
      .selectFrom('reservations')
      .selectAll()
      .where('station_id', '=', stationId)
      .where('reservation_id', '=', reservationId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('reservation', String(reservationId));
    return row;
  }

  async list(stationId: string, q: { limit: number; cursor?: string | undefined }): Promise<Page<Reservation>> {
    let query = this.deps.db
      .selectFrom('reservations')
      .selectAll()
      .where('station_id', '=', stationId)
      .orderBy('id', 'desc')
      .limit(q.limit + 1);
    const before = decodeCursor(q.cursor);
    if (before) query = query.where('id', '<', before);
    return toPage(await query.execute(), q.limit, (r) => r.id);
  }

  /** The organization of the driver an idTag belongs to; undefined for an unknown idTag. */
  async organizationOfIdTag(idTag: string): Promise<string | undefined> {
    const row = await this.deps.db
      .selectFrom('tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select('u.organization_id')
      .where(sql<string>`upper(t.physical_id)`, '=', idTag.toUpperCase())
      .executeTakeFirst();
    return row?.organization_id;
  }

  private async idTagOf(userId: string | undefined): Promise<string> {
    if (!userId) throw new ValidationError('a reservation needs `user` or `id_tag`', { field: 'user' });
    const token = await this.deps.db
      .selectFrom('tokens')
      .select('physical_id')
      .where('user_id', '=', userId)
      .where('active', '=', true)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (!token) {
      const user = await this.deps.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
      if (!user) throw new NotFoundError('user', userId);
      throw new ConflictError('no_active_token', 'the user has no active token to reserve with');
    }
    return token.physical_id;
  }
}

/** A reserved reservation past its expiry is expired, whether or not anyone wrote it down. */
export function reservationStatus(r: Reservation, now: Date): ReservationStatus {
  return r.status === 'reserved' && r.expires_at.getTime() <= now.getTime() ? 'expired' : r.status;
}

/**
 * A StartTransaction carrying `reservationId` (OCPP 1.6 5.13): the station's reservation is used
 * by that session. An id the gateway does not know on this station changes nothing.
 */
export async function useReservation(
  db: Db,
  input: { stationId: string; reservationId: number; sessionId: string; transactionId: number },
  now: Date,
): Promise<boolean> {
  const result = await db
    .updateTable('reservations')
    .set({ status: 'used', session_id: input.sessionId, transaction_id: input.transactionId, updated_at: now })
    .where('station_id', '=', input.stationId)
    .where('reservation_id', '=', input.reservationId)
    .where('status', 'in', ['reserved', 'requested'])
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
