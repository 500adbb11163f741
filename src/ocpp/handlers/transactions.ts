import { idTagInfoOf } from '../../domain/sessions/authorization.ts';
import type { IdTagInfo } from '../messages.ts';
import type { Handler } from './context.ts';
import { useReservation } from '../../domain/operations/reservations.ts';
import { dropTransactionProfiles } from '../../domain/operations/reports.ts';

export const startTransaction: Handler<'StartTransaction'> = async (ctx, req) => {
  const result = await ctx.deps.sessions.start(
    { stationId: ctx.station.stationId, identity: ctx.station.identity },
    {
      connectorId: req.connectorId,
      idTag: req.idTag,
      meterStart: req.meterStart,
      timestamp: new Date(req.timestamp),
    },
  );
  // The start's own status (a replay answers what the first start was answered), with the idTag's
  // expiry and group as they stand now: a replay answered without them would leave the station's
  // authorization cache different from the first answer's.
  const decision =
    result.decision ??
    (result.status === 'Accepted' ? await ctx.deps.sessions.idTagStatus({ stationId: ctx.station.stationId, identity: ctx.station.identity }, req.idTag) : undefined);
  const idTagInfo: IdTagInfo = decision
    ? { ...idTagInfoOf(decision, ctx.deps.clock.now(), ctx.deps.config.authExpiryS), status: result.status as IdTagInfo['status'] }
    : { status: result.status as IdTagInfo['status'] };
  if (result.created) {
    ctx.log.info(
      { transactionId: result.session.transaction_id, connectorId: req.connectorId, status: result.status },
      'transaction started',
    );
    if (req.reservationId !== undefined) {
      const input = { stationId: ctx.station.stationId, reservationId: req.reservationId, sessionId: result.session.id, transactionId: result.session.transaction_id };
      await useReservation(ctx.deps.db, input, ctx.deps.clock.now()).catch((err: unknown) =>
        ctx.log.error({ err, reservationId: req.reservationId }, 'could not mark a reservation used'),
      );
    }
  }
  return { transactionId: result.session.transaction_id, idTagInfo };
};

export const meterValues: Handler<'MeterValues'> = async (ctx, req) => {
  // Answered only after the debit has committed.
  await ctx.deps.sessions.meterValues({
    station: { stationId: ctx.station.stationId, identity: ctx.station.identity },
    connectorId: req.connectorId,
    transactionId: req.transactionId,
    meterValue: req.meterValue,
  });
  return {};
};

export const stopTransaction: Handler<'StopTransaction'> = async (ctx, req) => {
  const station = { stationId: ctx.station.stationId, identity: ctx.station.identity };
  const result = await ctx.deps.sessions.stop(station, {
    transactionId: req.transactionId,
    meterStop: req.meterStop,
    timestamp: new Date(req.timestamp),
    reason: req.reason,
    idTag: req.idTag,
    transactionData: req.transactionData,
  });
  if (result.settled) {
    ctx.log.info({ transactionId: req.transactionId, reason: req.reason ?? 'Local' }, 'transaction stopped');
    await dropTransactionProfiles(ctx.deps.db, station.stationId, req.transactionId).catch((err: unknown) =>
      ctx.log.error({ err }, "could not drop a stopped transaction's charging profiles"),
    );
  }
  if (!req.idTag) return {};
  // The idTag's standing now (e.g. Blocked at zero balance), for the station's cache.
  const decision = await ctx.deps.sessions.idTagStatus(station, req.idTag);
  return { idTagInfo: idTagInfoOf(decision, ctx.deps.clock.now(), ctx.deps.config.authExpiryS) };
};
