/**
 * One station flooding the gateway, and what the other stations feel: `npm run bench:flood`.
 *
 * A gateway on a fresh database; `--victims` stations with a running session each send
 * MeterValues open-loop at `--rate` MV/s for `--seconds` (latency from the scheduled send, as in
 * the main bench), first alone, then while one more registered station (bench/lib/flooder.ts, its
 * own process) pipelines Authorize and StatusNotification CALLs without waiting for answers and
 * reconnects whenever it is closed. Reports the victims' p50/p99/max and failures in both phases,
 * what the flood achieved, the gateway's memory, and a ledger check of the victims' sessions.
 *
 * Options: --database=postgres|pglite (default postgres), --victims=50, --rate=250,
 * --seconds=10, --gateway-root=<dir> (measure another checkout's gateway, e.g. an older commit
 * extracted with `git archive`, with node_modules linked), --env=NAME=value (repeatable: gateway
 * settings, e.g. --env=OCPP_MAX_QUEUED_CALLS=10000). Writes bench/results/flood-latest.{md,json}.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createFixture, createStations } from './lib/admin.ts';
import { PRICE_CENTS_PER_KWH } from './lib/config.ts';
import { removeAllDataDirs, startGateway, type Gateway } from './lib/gateway.ts';
import { checkLedger } from './lib/ledger.ts';
import { openLoop, type LoadResult } from './lib/load.ts';
import { dropAllBenchDatabases } from './lib/pg.ts';
import { cpuSeconds, cpuSecondsOf, cpuWindow, ROOT, rssBytes, selfCpuSeconds, spawnNode, stopAllChildren } from './lib/proc.ts';
import { fmtFailures, ms } from './lib/report.ts';
import { registerSessions, startSessions } from './lib/sessions.ts';
import { closeAll } from './lib/station.ts';
import { log, sleep, waitUntil } from './lib/util.ts';

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const database = arg('database', 'postgres') as 'postgres' | 'pglite';
const victims = Number(arg('victims', '50'));
const rate = Number(arg('rate', '250'));
const seconds = Number(arg('seconds', '10'));
const gatewayRoot = process.argv.find((a) => a.startsWith('--gateway-root='))?.slice(15);
const extraEnv = Object.fromEntries(
  process.argv.filter((a) => a.startsWith('--env=')).map((a) => a.slice(6).split(/=(.*)/s).slice(0, 2) as [string, string]),
);
const FLOOD_ID = 'FLOOD-0001';

interface FloodStats {
  sent: number;
  results: number;
  errors: Record<string, number>;
  connections: number;
  refusedHandshakes: number;
}

function phaseRow(name: string, r: LoadResult, cpu: Record<string, number>): string {
  return (
    `| ${name} | ${r.answered} / ${r.scheduled} | ${ms(r.latency.p50)} | ${ms(r.latency.p99)} | ${ms(r.latency.max)} | ` +
    `${fmtFailures(r)}${r.errorSamples.length ? ` (${r.errorSamples.join('; ')})` : ''} | ` +
    `${cpu.gateway}% / ${cpu.postgres}% / ${cpu.generator}% / ${cpu.flooder}% |`
  );
}

let gw: Gateway | undefined;
try {
  log(`flood bench: ${database}, ${victims} victims at ${rate} MV/s, ${seconds} s per phase${gatewayRoot ? `, gateway from ${gatewayRoot}` : ''}`);
  gw = await startGateway({ database, env: { WS_PING_INTERVAL_S: '0', ...extraEnv }, ...(gatewayRoot ? { root: gatewayRoot } : {}) });
  const fx = await createFixture(gw.api, 'Bench flood', PRICE_CENTS_PER_KWH);
  const registered = await registerSessions({ api: gw.api, fx, prefix: 'V-', count: victims, balance: 50_000_000 });
  await createStations(gw.api, fx, [FLOOD_ID]);
  const { stations, billed } = await startSessions(registered, gw.ocppUrl, 10_000);
  const load = () => openLoop({ stations, ratePerS: rate, durationMs: seconds * 1000, warmupMs: 1000, deltaWh: 10 });
  const gwPid = gw.child.pid;
  let flooderPid: number | undefined;
  const measure = async () => {
    const stop = cpuWindow({
      gateway: () => cpuSeconds(gwPid),
      postgres: () => cpuSecondsOf('postgres'),
      generator: selfCpuSeconds,
      flooder: () => (flooderPid ? cpuSeconds(flooderPid) : 0),
    });
    const r = await load();
    return { r, cpu: stop() };
  };

  log('phase 1: no flood');
  const quiet = await measure();
  const rssBefore = rssBytes(gwPid);

  log('phase 2: one station flooding');
  const flooder = spawnNode('flooder', 'bench/lib/flooder.ts', { FLOOD_URL: `${gw.ocppUrl}/${FLOOD_ID}` });
  flooderPid = flooder.pid;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    try {
      rssPeak = Math.max(rssPeak, rssBytes(gwPid));
    } catch {
      /* the gateway died: reported below */
    }
  }, 200);
  await sleep(2_000); // the flood reaches its steady state
  const t0 = Date.now();
  const flooded = await measure();
  await flooder.stop(5_000);
  flooderPid = undefined;
  const floodS = (Date.now() - t0 + 2_000) / 1000;
  clearInterval(sampler);
  const summaryLine = () => flooder.tail().split('\n').reverse().find((l) => l.startsWith('{"sent"'));
  await waitUntil(() => summaryLine() !== undefined, 2_000); // its stdout may arrive after its exit
  const statsLine = summaryLine();
  const flood: FloodStats | undefined = statsLine ? JSON.parse(statsLine) : undefined;
  const alive = gw.child.alive();

  log('phase 3: after the flood');
  const after = alive ? await measure() : undefined;
  await closeAll(stations);
  const ledger = alive ? await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed, pgUrl: gw.db?.url }) : undefined;

  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const lines = [
    `# One station flooding: the other stations' MeterValues`,
    '',
    `${new Date().toISOString()}; gateway on ${database}${gatewayRoot ? ` (from ${gatewayRoot})` : ''}` +
      `${Object.keys(extraEnv).length ? `, ${Object.entries(extraEnv).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}; ` +
      `${victims} stations with a session each, ${rate} MeterValues/s open loop, ${seconds} s per phase.`,
    '',
    `| phase | victims' MeterValues answered / scheduled | p50 | p99 | max | failures | CPU: gateway / postgres / generator / flooder |`,
    `|---|---|---|---|---|---|---|`,
    phaseRow('no flood', quiet.r, quiet.cpu),
    phaseRow('1 station flooding', flooded.r, flooded.cpu),
    ...(after ? [phaseRow('after the flood', after.r, after.cpu)] : ['| after the flood | gateway process gone | | | | | |']),
    '',
    'CPU in % of one core over the phase (the machine has 2 cores; every process shares them).',
    '',
    flood
      ? `Flood: ${flood.sent.toLocaleString('en')} CALLs sent in ${floodS.toFixed(1)} s over ${flood.connections} connections ` +
        `(${flood.refusedHandshakes} handshakes refused); ${flood.results.toLocaleString('en')} handled, ` +
        `refused: ${JSON.stringify(flood.errors)}.`
      : 'Flood: the flooder printed no summary.',
    `Gateway RSS: ${mib(rssBefore)} before the flood, ${mib(rssPeak)} at most during it; process ${alive ? 'up' : 'DEAD'} afterwards.`,
    ledger
      ? `Ledger check of the victims' sessions: ${ledger.ok ? 'exact' : 'FAILED'} (${ledger.sessions} sessions, ${ledger.wallets} wallets)` +
        `${ledger.problems.length ? `: ${ledger.problems.join('; ')}` : ''}.`
      : 'Ledger check: not run (gateway gone).',
    '',
  ];
  const md = lines.join('\n');
  const out = path.join(ROOT, 'bench', 'results');
  writeFileSync(path.join(out, 'flood-latest.md'), md);
  writeFileSync(
    path.join(out, 'flood-latest.json'),
    JSON.stringify({ database, victims, rate, seconds, gatewayRoot, extraEnv, quiet, flooded, after, flood, rssBefore, rssPeak, ledger }, null, 2),
  );
  process.stdout.write(md);
  process.exitCode = ledger && !ledger.ok ? 1 : 0;
} finally {
  await gw?.close().catch(() => {});
  await stopAllChildren();
  await dropAllBenchDatabases();
  removeAllDataDirs();
}
