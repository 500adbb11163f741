import { recordDiagnosticsStatus, recordFirmwareStatus, recordStatus } from '../../domain/chargers/stations.ts';
import { configureStation, managedKeys } from '../../domain/chargers/configuration.ts';
import type { Handler, HandlerContext } from './context.ts';
import { stationChanged } from '../../domain/live.ts';
import type { StationConfigAnswers } from '../../db/tables/charge-stations.ts';

export const bootNotification: Handler<'BootNotification'> = async (ctx, req) => {
  const now = ctx.deps.clock.now();
  const recorded = await ctx.deps.stationWrites.boot(ctx.station.stationId, req, now);
  ctx.deps.events.publish(stationChanged(ctx.station.stationId));
  ctx.log.info(
    { vendor: req.chargePointVendor, model: req.chargePointModel, firmware: req.firmwareVersion },
    'station booted',
  );
  // After the answer has gone out (setImmediate runs after ocpp-rpc sends the CALLRESULT).
  setImmediate(() => void configureAfterBoot(ctx, recorded));
  return {
    status: 'Accepted',
    currentTime: now.toISOString(),
    interval: ctx.deps.config.heartbeatIntervalS,
  };
};

/** The keys the gateway manages, written only where the station differs; no answer is fatal. */
export async function configureAfterBoot(ctx: HandlerContext, recorded: StationConfigAnswers): Promise<void> {
  const { config } = ctx.deps;
  try {
    await configureStation(
      {
        stations: ctx.deps.stations,
        clock: ctx.deps.clock,
        log: ctx.log,
        recordAnswers: (stationId, answers) => ctx.deps.stationWrites.configAnswers(stationId, answers),
        learnt: (what) => ctx.deps.capabilities.learnt(ctx.station.identity, what),
      },
      ctx.station,
      managedKeys({
        meterValueSampleIntervalS: config.meterValueSampleIntervalS,
        offlineAuthorization: config.offlineAuthorization,
        localListSync: config.localListSync,
      }),
      recorded,
    );
  } catch (err) {
    ctx.log.error({ err }, 'could not configure the station after its boot');
  }
}

export const heartbeat: Handler<'Heartbeat'> = async (ctx) => {
  const now = ctx.deps.clock.now();
  await ctx.deps.stationWrites.heartbeat(ctx.station.stationId, now);
  ctx.deps.events.publish(stationChanged(ctx.station.stationId, { lastHeartbeat: now.toISOString() }));
  return { currentTime: now.toISOString() };
};

export const statusNotification: Handler<'StatusNotification'> = async (ctx, req) => {
  // A station clock ahead of ours does not date a status in the future: it would outrank every
  // later report (a connector stuck in Charging, refusing remote starts) until that time came.
  // (One in the past is kept as stamped: a queued report arriving late must not outrank newer ones.)
  const now = ctx.deps.clock.now();
  const stamped = req.timestamp ? Date.parse(req.timestamp) : undefined;
  const timestamp = stamped === undefined ? undefined : new Date(Math.min(stamped, now.getTime()));
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
      timestamp,
    },
    now,
  );
  ctx.deps.events.publish(stationChanged(ctx.station.stationId));
  await ctx.deps.sessions.connectorStatus(
    { stationId: ctx.station.stationId, identity: ctx.station.identity },
    // the station's own stamp: compared with its own stamp of the session's start
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
