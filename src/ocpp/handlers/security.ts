import { recordReport } from '../../domain/operations/reports.ts';
import { stationChanged } from '../../domain/live.ts';
import type { Handler } from './context.ts';

/**
 * Security extension: a station asks for a certificate. Answered at once (Accepted when the
 * operator's CA is configured and the request names this station and is signed by its key);
 * the signed chain follows with CertificateSigned once the answer has gone out.
 */
export const signCertificate: Handler<'SignCertificate'> = async (ctx, req) => {
  const status = await ctx.deps.security.checkSigningRequest(ctx.station, req.csr);
  if (status === 'Accepted') {
    setImmediate(() => {
      ctx.deps.security.deliverCertificate(ctx.station.stationId, req.csr).catch((err: unknown) => {
        ctx.log.warn({ err: (err as Error).message }, 'could not deliver the signed certificate');
      });
    });
  }
  return { status };
};

/** Security extension: progress of a SignedUpdateFirmware, kept like FirmwareStatusNotification. */
export const signedFirmwareStatusNotification: Handler<'SignedFirmwareStatusNotification'> = async (ctx, req) => {
  await recordReport(
    ctx.deps.db,
    ctx.station.stationId,
    { kind: 'firmware', status: req.status, ...(req.requestId !== undefined ? { requestId: req.requestId } : {}), details: { signed: true } },
    ctx.deps.clock.now(),
  );
  ctx.deps.events.publish(stationChanged(ctx.station.stationId));
  return {};
};
