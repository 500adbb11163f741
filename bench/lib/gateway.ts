import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AdminApi } from './admin.ts';
import { createBenchDatabase, type BenchDatabase } from './pg.ts';
import { freePort, spawnNode, waitHttpOk, type Child } from './proc.ts';
import { now } from './util.ts';

export const BENCH_API_KEY = 'bench-admin-key-0123456789abcdef';

export interface GatewayOptions {
  database: 'postgres' | 'pglite';
  /** extra environment (HEARTBEAT_INTERVAL_S, WS_PING_INTERVAL_S, …) */
  env?: Record<string, string>;
  /** run under `node --cpu-prof`, the profile written here when the gateway exits */
  cpuProfileDir?: string;
  /** run the gateway of another checkout (e.g. an older commit, for a before/after figure) */
  root?: string;
  /** PostgreSQL: join this database (a cluster node) instead of creating one; close() leaves it */
  sharedDb?: BenchDatabase;
  /** the child process's name in logs and reports (default gateway-<database>) */
  name?: string;
}

/** The gateway under test, `node --import tsx src/main.ts` in a child process. */
export interface Gateway {
  readonly kind: 'postgres' | 'pglite';
  child: Child;
  readonly ocppUrl: string;
  readonly api: AdminApi;
  /** the bench database (PostgreSQL only) */
  readonly db: BenchDatabase | undefined;
  /** PGlite's DATA_DIR */
  readonly dataDir: string | undefined;
  /** ms from spawn to /healthz answering, last start */
  startMs: number;
  /** SIGTERM, wait for exit, start again with the same database and ports. */
  restart(): Promise<{ stopMs: number; startMs: number }>;
  /** Stops the process (SIGKILL if it has not exited 5 s after SIGTERM) and removes its database (if its own). */
  close(): Promise<void>;
}

/** PGlite data directories not removed yet (removed again by the run's cleanup). */
const dataDirs = new Set<string>();

function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  dataDirs.delete(dir);
}

export function removeAllDataDirs(): void {
  for (const dir of dataDirs) {
    try {
      removeDataDir(dir);
    } catch {
      /* reported by the caller's own attempt */
    }
  }
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const db = o.sharedDb ?? (o.database === 'postgres' ? await createBenchDatabase() : undefined);
  const ownsDb = !o.sharedDb;
  const dataDir = o.database === 'pglite' ? mkdtempSync(path.join(tmpdir(), 'bench-pglite-')) : undefined;
  if (dataDir) dataDirs.add(dataDir);
  const [ocppPort, adminPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    OCPP_PORT: String(ocppPort),
    ADMIN_PORT: String(adminPort),
    ADMIN_API_KEY: BENCH_API_KEY,
    LOG_LEVEL: 'warn',
    // Load generators raise registers far faster than any station could deliver energy; the
    // plausibility check would hold every session, so it is off for benchmarks.
    MAX_STATION_POWER_KW: '0',
    ...(db ? { DATABASE_URL: db.url } : { DATA_DIR: dataDir!, DATABASE_URL: '' }),
    ...o.env,
  };
  // BENCH_CPU_PROFILE=<dir> profiles every gateway of a run (one file per process, restarts included).
  const profileDir = o.cpuProfileDir ?? (process.env.BENCH_CPU_PROFILE ? path.resolve(process.env.BENCH_CPU_PROFILE) : undefined);
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  // BENCH_GATEWAY_NODE_ARGS="--trace-gc ..." for diagnosis (with BENCH_CHILD_LOG_DIR to keep the output).
  nodeArgs.push(...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const launch = async () => {
    const t0 = now();
    const child = spawnNode(o.name ?? `gateway-${o.database}`, 'src/main.ts', env, nodeArgs, o.root);
    try {
      await waitHttpOk(`${adminUrl}/healthz`, child, o.database === 'pglite' ? 120_000 : 60_000);
    } catch (err) {
      await child.stop(5_000);
      throw err;
    }
    return { child, ms: Math.round(now() - t0) };
  };
  let first: { child: Child; ms: number };
  try {
    first = await launch();
  } catch (err) {
    if (ownsDb) await db?.drop().catch(() => {});
    if (dataDir) removeDataDir(dataDir);
    throw err;
  }
  const gw: Gateway = {
    kind: o.database,
    child: first.child,
    ocppUrl: `ws://127.0.0.1:${ocppPort}/ocpp`,
    api: new AdminApi(adminUrl, BENCH_API_KEY),
    db,
    dataDir,
    startMs: first.ms,
    async restart() {
      const t0 = now();
      await gw.child.stop(30_000);
      const stopMs = Math.round(now() - t0);
      const next = await launch();
      gw.child = next.child;
      gw.startMs = next.ms;
      return { stopMs, startMs: next.ms };
    },
    async close() {
      await gw.child.stop(5_000);
      if (ownsDb) await db?.drop();
      if (dataDir) removeDataDir(dataDir);
    },
  };
  return gw;
}

/** Baseline (a): the bare RPCServer of bench/baseline/protocol-server.ts in a child process. */
export interface BaselineServer {
  child: Child;
  readonly ocppUrl: string;
  close(): Promise<void>;
}

export async function startBaselineServer(env: { pingIntervalS?: number; heartbeatIntervalS?: number } = {}): Promise<BaselineServer> {
  const port = await freePort();
  const child = spawnNode('baseline-a', 'bench/baseline/protocol-server.ts', {
    HOST: '127.0.0.1',
    PORT: String(port),
    PING_INTERVAL_S: String(env.pingIntervalS ?? 0),
    HEARTBEAT_INTERVAL_S: String(env.heartbeatIntervalS ?? 300),
  });
  await waitHttpOk(`http://127.0.0.1:${port}/healthz`, child, 30_000);
  return { child, ocppUrl: `ws://127.0.0.1:${port}/ocpp`, close: () => child.stop(5_000) };
}

/**
 * A cluster: `size` gateway processes on one new PostgreSQL database (NODE_ID node1, node2, …),
 * each on its own ports. close() stops every node and drops the database.
 */
export interface Cluster {
  readonly nodes: Gateway[];
  readonly db: BenchDatabase;
  close(): Promise<void>;
}

export async function startCluster(size: number, env: Record<string, string> = {}): Promise<Cluster> {
  const db = await createBenchDatabase();
  const started = await Promise.allSettled(
    Array.from({ length: size }, (_, i) =>
      startGateway({ database: 'postgres', sharedDb: db, name: `node${i + 1}`, env: { NODE_ID: `node${i + 1}`, ...env } }),
    ),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const close = async () => {
    await Promise.allSettled(nodes.map((n) => n.close()));
    await db.drop();
  };
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await close();
    throw (failed as PromiseRejectedResult).reason;
  }
  return { nodes, db, close };
}
