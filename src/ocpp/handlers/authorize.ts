import { decideAuthorization } from '../../domain/sessions/authorization.ts';
import type { IdTagInfo } from '../messages.ts';
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
  const idTagInfo: IdTagInfo = { status: decision.status };
  if (decision.expiryDate) idTagInfo.expiryDate = decision.expiryDate.toISOString();
  return { idTagInfo };
};
