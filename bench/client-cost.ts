/**
 * What one charge point costs the load generator: the lean bench client (lib/station.ts) against
 * the full simulator (simulators/), each connected N times to baseline (a)'s bare RPCServer in a
 * child process. Reports heap and RSS per connection (after a collection) and client CPU per
 * MeterValues. Decides whether the bench keeps its own client; see bench/README.md.
 *
 *   node --expose-gc --import tsx bench/client-cost.ts [--stations=1000] [--messages=20] [--reverse]
 *
 * --reverse measures the simulator first (RSS the first kind grows may be reused by the second).
 */
import { performance } from 'node:perf_hooks';
import { SimStation } from '../simulators/index.ts';
import { freePort, spawnNode, stopAllChildren, waitHttpOk } from './lib/proc.ts';
import { BenchStation } from './lib/station.ts';
import { pMap, sleep } from './lib/util.ts';

const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? Number(found.split('=')[1]) : fallback;
};
const STATIONS = arg('stations', 1_000);
const MESSAGES = arg('messages', 20);

interface Client {
  connect(): Promise<void>;
  meter(register: number): Promise<void>;
  close(): Promise<void>;
}

function settle(): void {
  for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
}

function meterValues(register: number) {
  return {
    connectorId: 1,
    transactionId: 1,
    meterValue: [
      {
        timestamp: new Date().toISOString(),
        sampledValue: [{ value: String(register), context: 'Sample.Periodic', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
      },
    ],
  };
}

const kinds: Record<string, (url: string, i: number) => Client> = {
  'bench client (lib/station.ts)': (url, i) => {
    const s = new BenchStation({ url, identity: `LEAN${i}`, callTimeoutMs: 30_000 });
    s.transactionId = 1;
    return { connect: () => s.connect(), meter: async () => void (await s.meter(10)), close: () => s.close() };
  },
  'simulator (SimStation)': (url, i) => {
    const s = new SimStation({ url, identity: `FULL${i}`, rpcOptions: { pingIntervalMs: 0, callTimeoutMs: 30_000 } });
    return {
      connect: async () => void (await s.start()),
      meter: async (register) => void (await s.send('MeterValues', meterValues(register))),
      close: () => s.stop(),
    };
  },
};

async function measure(name: string, url: string): Promise<Record<string, number>> {
  settle();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const clients = Array.from({ length: STATIONS }, (_, i) => kinds[name]!(url, i));
  const t0 = performance.now();
  await pMap(clients, 100, (c) => c.connect());
  const connectMs = performance.now() - t0;
  await sleep(1_000);
  settle();
  const heapPer = (process.memoryUsage().heapUsed - heap0) / STATIONS;
  const rssPer = (process.memoryUsage().rss - rss0) / STATIONS;
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  await pMap(clients, 100, async (c) => {
    for (let m = 1; m <= MESSAGES; m++) await c.meter(m * 10);
  });
  const cpu = process.cpuUsage(cpu0);
  const wallS = (performance.now() - w0) / 1000;
  const messages = STATIONS * MESSAGES;
  await pMap(clients, 200, (c) => c.close());
  return {
    'heap KiB per connection': heapPer / 1024,
    'RSS KiB per connection': rssPer / 1024,
    'connect+boot ms (all)': connectMs,
    'client CPU µs per MeterValues': ((cpu.user + cpu.system) / messages),
    'MeterValues/s': messages / wallS,
  };
}

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawnNode('protocol-server', 'bench/baseline/protocol-server.ts', { PORT: String(port), HOST: '127.0.0.1' });
  try {
    await waitHttpOk(`http://127.0.0.1:${port}/healthz`, server, 15_000);
    const url = `ws://127.0.0.1:${port}/ocpp`;
    const results: Record<string, Record<string, number>> = {};
    const order = process.argv.includes('--reverse') ? Object.keys(kinds).reverse() : Object.keys(kinds);
    for (const name of order) results[name] = await measure(name, url);
    const names = Object.keys(results);
    const metrics = Object.keys(results[names[0]!]!);
    console.log(`${STATIONS} stations, ${MESSAGES} MeterValues each, Node ${process.version}\n`);
    console.log(`| metric | ${names.join(' | ')} |`);
    console.log(`|---|${names.map(() => '---:').join('|')}|`);
    for (const metric of metrics) {
      console.log(`| ${metric} | ${names.map((n) => results[n]![metric]!.toFixed(1)).join(' | ')} |`);
    }
  } finally {
    await stopAllChildren();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
