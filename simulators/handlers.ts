/**
 * Receiving the central system's calls: each OCPP operation decides its own answer, the answer
 * book may replace it (status, payload, delay, no answer, CALLERROR), then the operation applies
 * the answer (state it promises) and follows it up after the CALLRESULT is written (messages it
 * sends, reboots). Every call and answer is recorded.
 */
import type { StationCore } from './core.ts';
import type { AnswerSpec } from './answers.ts';
import type { FeatureProfile, InboundAction } from './ocpp-types.ts';
import { createRPCError, NOREPLY, type HandlerContext } from './rpc.ts';
import { sleep } from './timers.ts';
import { coreOperations } from './operations/core.ts';
import { featureOperations } from './operations/features.ts';
import { securityOperations } from './operations/security.ts';
import { triggerOperations } from './operations/triggers.ts';

export type Params = Record<string, any>;
export type Reply = Record<string, unknown>;

export interface Operation {
  /** The feature profile it belongs to ('Security': the Security extension). */
  feature: FeatureProfile | 'Security';
  /** The answer the station gives on its own (NOREPLY: none at all). */
  decide(params: Params): Reply | typeof NOREPLY | Promise<Reply | typeof NOREPLY>;
  /** Runs with the final answer before it is sent: the state the answer promises. */
  apply?(params: Params, reply: Reply): void | Promise<void>;
  /** Runs after the answer has been written: what the station does next. */
  follow?(params: Params, reply: Reply): void;
}

export type Operations = Partial<Record<InboundAction, Operation>>;

function isReply(reply: Reply | typeof NOREPLY): reply is Reply {
  return typeof reply === 'object';
}

/** The answer after the answer book had its say. */
function overridden(natural: Reply | typeof NOREPLY, spec: AnswerSpec | undefined): Reply | typeof NOREPLY {
  if (!spec) return natural;
  if (spec.noReply) return NOREPLY;
  if (spec.payload) return spec.payload;
  if (spec.status === undefined) return natural;
  return isReply(natural) && natural.status === spec.status ? natural : { status: spec.status };
}

export function registerOperations(core: StationCore): void {
  const client = core.parts.link.client;
  const operations: Operations = {
    ...coreOperations(core),
    ...triggerOperations(core),
    ...featureOperations(core),
    ...securityOperations(core),
  };
  client.handle(async ({ method, params }: HandlerContext) => {
    core.emit('inboundCall', { action: method ?? '', params: params ?? {} });
    core.record({ action: method ?? '', params: params ?? {}, response: undefined, callError: 'NotImplemented', at: Date.now() });
    throw createRPCError('NotImplemented', `${method} is not implemented by the simulator`);
  });
  for (const [action, operation] of Object.entries(operations) as Array<[InboundAction, Operation]>) {
    client.handle(action, ({ params }: HandlerContext) => receive(core, action, operation, params ?? {}));
  }
}

function supported(core: StationCore, operation: Operation): boolean {
  if (operation.feature === 'Security') return core.options.securityExtension !== false;
  return core.features.has(operation.feature);
}

async function receive(core: StationCore, action: InboundAction, operation: Operation, params: Params): Promise<Reply> {
  const at = Date.now();
  core.emit('inboundCall', { action, params });
  const spec = core.answers.take(action, params);
  const delay = spec?.delayMs ?? core.options.answerDelayMs ?? 0;
  if (delay > 0) await sleep(delay, core.abort.signal);
  if (!core.running) throw createRPCError('GenericError', 'station stopping');
  const callError = spec?.callError ?? (supported(core, operation) ? undefined : 'NotImplemented');
  if (callError) {
    core.record({ action, params, response: undefined, callError, at });
    throw createRPCError(callError, `${action}: ${callError}`);
  }
  const reply = overridden(spec?.noReply ? NOREPLY : await operation.decide(params), spec);
  if (isReply(reply)) {
    await operation.apply?.(params, reply);
    core.timers.immediate(() => operation.follow?.(params, reply));
  }
  const response = isReply(reply) ? reply : undefined;
  core.record({ action, params, response, at });
  core.emit('inboundResult', { action, params, response });
  // ocpp-rpc treats the NOREPLY symbol as "send nothing"; its typings do not know it.
  return reply as Reply;
}
