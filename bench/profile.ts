/**
 * A CPU profile of the gateway's hot path: scenario 1's closed loop (stations in sessions
 * sending MeterValues, each a billed debit) on PostgreSQL, with the gateway under `--cpu-prof`.
 *
 *   npm run bench:profile -- [--stations=100] [--seconds=20] [--out=/tmp/gateway-profile]
 *
 * Writes the V8 profile (`*.cpuprofile`, open it in Chrome DevTools → Performance) to --out and
 * prints where the gateway's busy time went: by package or source file and by function (self
 * time), and the heaviest call paths (inclusive). Idle time and start-up are excluded by taking
 * only the samples of the load window. docs/performance.md quotes its output.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createFixture } from './lib/admin.ts';
import { PRICE_CENTS_PER_KWH } from './lib/config.ts';
import { startGateway } from './lib/gateway.ts';
import { closedLoop } from './lib/load.ts';
import { dropAllBenchDatabases } from './lib/pg.ts';
import { cpuSeconds, cpuSecondsOf, cpuWindow, selfCpuSeconds, stopAllChildren } from './lib/proc.ts';
import { monotonicUs, summarizeProfile } from './lib/profile-summary.ts';
import { registerSessions, startSessions } from './lib/sessions.ts';
import { closeAll } from './lib/station.ts';
import { log } from './lib/util.ts';

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const stations = Number(arg('stations', '100'));
const seconds = Number(arg('seconds', '20'));
const out = path.resolve(arg('out', '/tmp/gateway-profile'));

async function main(): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const gw = await startGateway({ database: 'postgres', cpuProfileDir: out });
  try {
    const fx = await createFixture(gw.api, 'Profile', PRICE_CENTS_PER_KWH);
    const registered = await registerSessions({ api: gw.api, fx, prefix: 'PR-', count: stations, balance: 50_000_000 });
    const { stations: fleet } = await startSessions(registered, gw.ocppUrl, 10_000);
    log(`closed loop, ${stations} stations, ${seconds} s`);
    const markStart = monotonicUs();
    const stop = cpuWindow({ gateway: () => cpuSeconds(gw.child.pid), postgres: () => cpuSecondsOf('postgres'), generator: selfCpuSeconds });
    const r = await closedLoop({ stations: fleet, durationMs: seconds * 1000, warmupMs: 1000, deltaWh: 10 });
    const cpu = stop();
    const markEnd = monotonicUs();
    log(
      `${r.throughput} MV/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.errors} errors; ` +
        `CPU gateway ${cpu.gateway}%, postgres ${cpu.postgres}%, generator ${cpu.generator}%`,
    );
    await closeAll(fleet);
    await gw.close(); // SIGTERM: the gateway exits normally and V8 writes the profile
    const file = readdirSync(out).filter((f) => f.endsWith('.cpuprofile')).sort()[0];
    if (!file) throw new Error(`no profile written to ${out}`);
    console.log(summarizeProfile(path.join(out, file), { fromUs: markStart, toUs: markEnd, messages: r.answered }));
    console.log(`\nprofile: ${path.join(out, file)}`);
  } finally {
    await stopAllChildren();
    await dropAllBenchDatabases();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
