import ocppRpc from 'ocpp-rpc';

/**
 * ocpp-rpc is CommonJS and spreads its error classes and symbols into `module.exports`, which
 * Node's ESM loader cannot always see as named exports. Everything the simulator takes from the
 * library comes through this file, with the few types its declarations get wrong fixed up.
 */
export const { RPCClient, RPCServer, createRPCError, TimeoutError } = ocppRpc;

/** Returned from a call handler: ocpp-rpc then sends no CALLRESULT at all. */
export const NOREPLY = (ocppRpc as unknown as { NOREPLY: symbol }).NOREPLY;

export type RpcClient = InstanceType<typeof RPCClient>;
export type RpcClientOptions = ConstructorParameters<typeof RPCClient>[0];

/** What ocpp-rpc passes to a handler registered with `client.handle(method, handler)`. */
export interface HandlerContext {
  messageId?: string;
  method?: string;
  params?: Record<string, unknown>;
  signal?: AbortSignal;
}

/** An error carrying an OCPP-J error code (a CALLERROR from the other side, or a schema failure). */
export function rpcErrorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'rpcErrorCode' in err) {
    const code = (err as { rpcErrorCode: unknown }).rpcErrorCode;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function isTimeoutError(err: unknown): boolean {
  return err instanceof TimeoutError;
}
