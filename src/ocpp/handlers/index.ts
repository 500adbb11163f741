import { createRPCError as rpcError } from '../rpc.ts';
import { ZodError, type core } from 'zod';
import { AppError, UnavailableError, ValidationError } from '../../shared/errors.ts';
import { isDatabaseUnavailable } from '../../db/errors.ts';
import { inbound, type InboundAction } from '../messages.ts';
import { lenienceOf } from '../lenience.ts';
import type { Ocpp16ErrorCode } from '../wire.ts';
import type { Handler, HandlerContext } from './context.ts';
import {
  bootNotification,
  dataTransfer,
  diagnosticsStatusNotification,
  firmwareStatusNotification,
  heartbeat,
  statusNotification,
} from './core.ts';
import { authorize } from './authorize.ts';
import { logStatusNotification, securityEventNotification } from './reports.ts';
import { signCertificate, signedFirmwareStatusNotification } from './security.ts';
import { meterValues, startTransaction, stopTransaction } from './transactions.ts';

function createRPCError(code: Ocpp16ErrorCode, message: string, details: object): Error {
  return rpcError(code, message, details) as Error;
}

type HandlerTable = { [A in InboundAction]?: Handler<A> };

export const coreHandlers: HandlerTable = {
  BootNotification: bootNotification,
  Heartbeat: heartbeat,
  StatusNotification: statusNotification,
  DataTransfer: dataTransfer,
  FirmwareStatusNotification: firmwareStatusNotification,
  DiagnosticsStatusNotification: diagnosticsStatusNotification,
  Authorize: authorize,
  StartTransaction: startTransaction,
  MeterValues: meterValues,
  StopTransaction: stopTransaction,
  SecurityEventNotification: securityEventNotification,
  LogStatusNotification: logStatusNotification,
  SignCertificate: signCertificate,
  SignedFirmwareStatusNotification: signedFirmwareStatusNotification,
};

interface HandlingClient {
  handle(
    method: string,
    handler: (call: { params: unknown; messageId: string }) => Promise<unknown>,
  ): void;
}

/** Which 1.6 CALLERROR a failed extra check deserves. */
export function errorCodeForIssue(issue: core.$ZodIssue): Ocpp16ErrorCode {
  if (issue.code === 'too_small' && issue.origin === 'array') return 'OccurenceConstraintViolation';
  if (issue.code === 'invalid_type') return 'TypeConstraintViolation';
  return 'PropertyConstraintViolation';
}

function describe(issue: core.$ZodIssue): string {
  const where = issue.path.length ? issue.path.join('.') + ': ' : '';
  return where + issue.message;
}

/** Turns what a handler threw into a CALLERROR; unknown failures are logged once. */
export function toCallError(err: unknown, ctx: HandlerContext, action: string): Error {
  if (err instanceof ZodError) {
    const first = err.issues[0]!;
    return createRPCError(errorCodeForIssue(first), describe(first), {});
  }
  if (err instanceof ValidationError) {
    return createRPCError('PropertyConstraintViolation', err.message, {});
  }
  if (err instanceof UnavailableError || isDatabaseUnavailable(err)) {
    ctx.log.warn({ action, reason: (err as Error).message }, 'database unavailable: answered InternalError so the station retries');
    return createRPCError('InternalError', 'temporarily unable to process; retry later', {});
  }
  if (err instanceof AppError) {
    ctx.log.warn({ action, code: err.code, msg: err.message }, 'message refused');
    return createRPCError('InternalError', err.message, {});
  }
  ctx.log.error({ err, action }, 'handler failed');
  return createRPCError('InternalError', 'internal error', {});
}

/** Runs each of a station's calls under its limits (src/ocpp/limits.ts); throws a CALLERROR to refuse one. */
export interface CallGate {
  run<T>(action: InboundAction, params: unknown, handle: () => Promise<T>): Promise<T>;
}

export function attachHandlers(
  client: HandlingClient,
  ctx: HandlerContext,
  table: HandlerTable = coreHandlers,
  gate?: CallGate,
): void {
  for (const action of Object.keys(table) as InboundAction[]) {
    const handler = table[action] as Handler<InboundAction>;
    const schema = inbound[action];
    const handle = async (params: unknown) => {
      try {
        const request = schema.parse(params);
        const lenient = lenienceOf(params, request);
        if (lenient.extraProperties.length || lenient.naiveTimestamps.length || lenient.replacedTexts.length) {
          ctx.log.debug(
            { action, ...lenient },
            'payload read leniently: extra properties dropped, times without a zone read as UTC, unstorable characters replaced',
          );
        }
        return await handler(ctx, request as never);
      } catch (err) {
        throw toCallError(err, ctx, action);
      }
    };
    client.handle(action, async ({ params }) => {
      // Counted from the moment the call is read to its answer, queueing behind the station's
      // other calls included; a refusal is counted under its CALLERROR code.
      const started = performance.now();
      try {
        const answer = await (gate ? gate.run(action, params, () => handle(params)) : handle(params));
        ctx.deps.metrics?.ocppMessage(action, 'ok', (performance.now() - started) / 1000);
        return answer;
      } catch (err) {
        const code = (err as { rpcErrorCode?: unknown }).rpcErrorCode;
        ctx.deps.metrics?.ocppMessage(action, typeof code === 'string' ? code : 'InternalError', (performance.now() - started) / 1000);
        throw err;
      }
    });
  }
}
