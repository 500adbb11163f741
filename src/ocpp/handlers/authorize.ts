import { decideAuthorization, idTagInfoOf } from '../../domain/sessions/authorization.ts';
import type { Handler } from './context.ts';

export const authorize: Handler<'Authorize'> = async (ctx, req) => {
  const decision = await decideAuthorization(
    ctx.deps.db,
    { idTag: req.idTag, stationId: ctx.station.stationId },
    ctx.deps.clock.now(),
  );
  if (decision.status !== 'Accepted') {
    ctx.log.info({ idTag: req.idTag, status: decision.status, reason: decision.reason }, 'authorization refused');
  }
  return { idTagInfo: idTagInfoOf(decision, ctx.deps.clock.now(), ctx.deps.config.authExpiryS) };
};
