import ocppRpc from 'ocpp-rpc';

/**
 * ocpp-rpc is CommonJS and spreads its error classes and symbols into module.exports, which
 * Node's ESM loader cannot see as named exports. Everything we use from it comes through here.
 */
export const { RPCServer, RPCClient, createRPCError, TimeoutError, NOREPLY } = ocppRpc;
