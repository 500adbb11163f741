import { recordReport } from '../../domain/operations/reports.ts';
import { alertRaised, stationChanged } from '../../domain/live.ts';
import type { Handler } from './context.ts';

/** Security extension: a security event is kept; one an operator must see also raises an alert. */
export const securityEventNotification: Handler<'SecurityEventNotification'> = async (ctx, req) => {
  const { alerted } = await recordReport(
    ctx.deps.db,
    ctx.station.stationId,
    {
      kind: 'security_event',
      status: req.type,
      details: req.techInfo !== undefined ? { techInfo: req.techInfo } : {},
      reportedAt: new Date(req.timestamp),
    },
    ctx.deps.clock.now(),
  );
  ctx.log.info({ type: req.type, techInfo: req.techInfo, alerted }, 'security event');
  if (alerted) ctx.deps.events.publish(alertRaised({ stationId: ctx.station.stationId, kind: 'security_event' }));
  return {};
};

/** Security extension: progress of a GetLog upload. */
export const logStatusNotification: Handler<'LogStatusNotification'> = async (ctx, req) => {
  await recordReport(ctx.deps.db, ctx.station.stationId, { kind: 'log', status: req.status, requestId: req.requestId }, ctx.deps.clock.now());
  ctx.deps.events.publish(stationChanged(ctx.station.stationId));
  return {};
};
