/**
 * Baseline (a), the protocol ceiling: a bare ocpp-rpc RPCServer (strict mode, ocpp1.6) that
 * answers the calls the load generator makes with minimal payloads and touches no database.
 * Run as a child process: PORT, HOST, PING_INTERVAL_S, HEARTBEAT_INTERVAL_S from the environment.
 * GET /healthz answers 200 once it listens.
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import ocppRpc from 'ocpp-rpc';

const { RPCServer } = ocppRpc;
const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
const heartbeatS = Number(process.env.HEARTBEAT_INTERVAL_S ?? 300);

const rpc = new RPCServer({
  protocols: ['ocpp1.6'],
  strictMode: true,
  pingIntervalMs: Number(process.env.PING_INTERVAL_S ?? 0) * 1000,
  callConcurrency: Number.POSITIVE_INFINITY,
});

let nextTransactionId = 1;
const time = () => new Date().toISOString();

rpc.on('client', (client: any) => {
  client.handle('BootNotification', async () => ({ status: 'Accepted', currentTime: time(), interval: heartbeatS }));
  client.handle('Heartbeat', async () => ({ currentTime: time() }));
  client.handle('StatusNotification', async () => ({}));
  client.handle('Authorize', async () => ({ idTagInfo: { status: 'Accepted' } }));
  client.handle('StartTransaction', async () => ({
    transactionId: nextTransactionId++,
    idTagInfo: { status: 'Accepted' },
  }));
  client.handle('MeterValues', async () => ({}));
  client.handle('StopTransaction', async () => ({}));
});

const server = createServer((req, res) => {
  res.statusCode = req.url === '/healthz' ? 200 : 426;
  res.end();
});
server.on('upgrade', (req, socket, head) => rpc.handleUpgrade(req, socket as Socket, head));
server.listen(port, host);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void rpc.close({ code: 1001, force: true }).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  });
}
