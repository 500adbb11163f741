import { recordDiagnosticsStatus, recordFirmwareStatus, recordStatus } from '../../domain/chargers/stations.ts';
import { AppError } from '../../shared/errors.ts';
import type { Handler, HandlerContext } from './context.ts';
import { stationChanged } from '../../domain/live.ts';

export const bootNotification: Handler<'BootNotification'> = async (ctx, req) => {
  const now = ctx.deps.clock.now();
  await ctx.deps.stationWrites.boot(ctx.station.stationId, req, now);
  ctx.deps.events.publish(stationChanged(ctx.station.stationId));
  ctx.log.info(
    { vendor: req.chargePointVendor, model: req.chargePointModel, firmware: req.firmwareVersion },
    'station booted',
  );
  // After the answer has gone out (setImmediate runs after ocpp-rpc sends the CALLRESULT).
  setImmediate(() => void configureAfterBoot(ctx));
  return {
    status: 'Accepted',
    currentTime: now.toISOString(),
    interval: ctx.deps.config.heartbeatIntervalS,
  };
};

/** Settings the gateway needs on every station; each answer is recorded, none is fatal. */
export async function configureAfterBoot(ctx: HandlerContext): Promise<void> {
  const wanted: [string, string][] = [
    ['MeterValueSampleInterval', String(ctx.deps.config.meterValueSampleIntervalS)],
    ['StopTransactionOnInvalidId', 'true'],
  ];
  const answers: { key: string; value: string; status: string; at: Date }[] = [];
  for (const [key, value] of wanted) {
    let status: string;
    try {
      const conf = await ctx.deps.stations.call(ctx.station.identity, 'ChangeConfiguration', {
        key,
        value,
      });
      status = conf.status;
    } catch (err) {
      status = err instanceof AppError ? err.code : 'error';
      ctx.log.warn({ key, err: (err as Error).message }, 'ChangeConfiguration failed');
    }
    answers.push({ key, value, status, at: ctx.deps.clock.now() });
  }
  try {
    await ctx.deps.stationWrites.configAnswers(ctx.station.stationId, answers);
  } catch (err) {
    ctx.log.error({ err }, 'could not record configuration answers');
  }
}

export const heartbeat: Handler<'Heartbeat'> = async (ctx) => {
  const now = ctx.deps.clock.now();
  await ctx.deps.stationWrites.heartbeat(ctx.station.stationId, now);
  ctx.deps.events.publish(stationChanged(ctx.station.stationId, { lastHeartbeat: now.toISOString() }));
  return { currentTime: now.toISOString() };
};

export const statusNotification: Handler<'StatusNotification'> = async (ctx, req) => {
  await recordStatus(
    ctx.deps.db,
    ctx.station.stationId,
    {
      connectorId: req.connectorId,
      status: req.status,
      errorCode: req.errorCode,
      info: req.info,
      vendorId: req.vendorId,
      vendorErrorCode: req.vendorErrorCode,
      timestamp: req.timestamp ? new Date(req.timestamp) : undefined,
    },
    ctx.deps.clock.now(),
  );
  ctx.deps.events.publish(stationChanged(ctx.station.stationId));
  await ctx.deps.sessions.connectorStatus(
    { stationId: ctx.station.stationId, identity: ctx.station.identity },
    { connectorId: req.connectorId, status: req.status, timestamp: req.timestamp ? new Date(req.timestamp) : undefined },
  );
  return {};
};

export const dataTransfer: Handler<'DataTransfer'> = async (ctx, req) => {
  ctx.log.info({ vendorId: req.vendorId, messageId: req.messageId }, 'DataTransfer from station (no vendor extensions known)');
  return { status: 'UnknownVendorId' };
};

export const firmwareStatusNotification: Handler<'FirmwareStatusNotification'> = async (ctx, req) => {
  await recordFirmwareStatus(ctx.deps.db, ctx.station.stationId, req.status, ctx.deps.clock.now());
  return {};
};

export const diagnosticsStatusNotification: Handler<'DiagnosticsStatusNotification'> = async (ctx, req) => {
  await recordDiagnosticsStatus(ctx.deps.db, ctx.station.stationId, req.status, ctx.deps.clock.now());
  return {};
};
