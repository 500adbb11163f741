/**
 * The benchmark: `npm run bench` (full, about 4½ minutes on 2 cores) or `npm run bench -- --quick`
 * (under a minute).
 *
 * First every scenario prepares at once (starts its gateway and baseline child processes, creates
 * its data through the admin API; PGlite's 10–30 s start is hidden there), then the scenarios
 * measure one after the other while the other processes sit idle. Writes
 * bench/results/<timestamp>.json, latest.json, latest.md and latest.svg.
 *
 * Options: --quick (scenario 7: 200 sessions instead of 1,000; --predict-stations=N sets its stations, 2 sessions each); --only=1,3 (scenario numbers; 4 needs 1); --out=<dir>; --console (after scenario 1,
 * its p99 at 2,000 MV/s with the operator console open on a busy session page vs closed); --webhooks (after
 * scenario 1, its p99 at 2,000 MV/s with a webhook receiver that answers in 2 s vs no endpoint).
 * Exit code: 0 (targets missed are reported, not fatal), 1 = a ledger check failed,
 * 2 = the harness itself failed.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { FULL, QUICK, type Ctx } from './lib/config.ts';
import { removeAllDataDirs } from './lib/gateway.ts';
import { createBenchDatabase, dropAllBenchDatabases, PG_SERVER_URL, serverSettings } from './lib/pg.ts';
import { childFileLimit, childStops, fileLimits, ROOT, selfCpuSeconds, stopAllChildren } from './lib/proc.ts';
import { Report } from './lib/report.ts';
import { log, now } from './lib/util.ts';
import { prepareEmbedded, runEmbedded } from './scenarios/embedded.ts';
import { runHotWallet } from './scenarios/hot-wallet.ts';
import { prepareIdleFleet, runIdleFleet } from './scenarios/idle-fleet.ts';
import { prepareSteady, runSteady, type SteadyState } from './scenarios/steady.ts';
import { prepareZeroStop, runZeroStop } from './scenarios/zero-stop.ts';
import { runConsoleComparison } from './scenarios/console.ts';
import { prepareCluster, runCluster } from './scenarios/cluster.ts';
import { runWebhookComparison } from './scenarios/webhooks.ts';
import { preparePredictive, runPredictive } from './scenarios/predictive.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const withConsole = args.includes('--console');
const withWebhooks = args.includes('--webhooks');
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',').map(Number);
const outDir = args.find((a) => a.startsWith('--out='))?.slice(6) ?? path.join(ROOT, 'bench', 'results');
const predictStations = Number(args.find((a) => a.startsWith('--predict-stations='))?.slice(19) ?? NaN);
const base = quick ? QUICK : FULL;
const cfg = Number.isInteger(predictStations) && predictStations > 0 ? { ...base, predict: { ...base.predict, stations: predictStations } } : base;
const wanted = (n: number) => !only || only.includes(n);

const limits = fileLimits();
const report = new Report({
  mode: cfg.mode,
  startedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMiB: Math.round(totalmem() / 2 ** 20), node: process.version },
  openFiles: { soft: limits.soft, hard: limits.hard, children: childFileLimit() },
  config: cfg,
  machineLine: `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
});
const ctx: Ctx = { cfg, report };

/** Stops every child process and drops every bench database; one run of it, however often asked. */
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAllChildren();
    await dropAllBenchDatabases();
    removeAllDataDirs();
  })();
  return cleaning;
}

/** Set when the run is being abandoned (signal, crash): nothing more is written. */
let abandoned = false;
function bail(code: number, why: string): void {
  abandoned = true;
  log(why);
  void cleanup().finally(() => process.exit(code));
  setTimeout(() => process.exit(code), 30_000).unref();
}
process.once('SIGINT', () => bail(130, 'interrupted: cleaning up'));
process.once('SIGTERM', () => bail(143, 'terminated: cleaning up'));
process.on('uncaughtException', (err) => bail(2, `harness crashed: ${err.stack ?? err}`));
process.on('unhandledRejection', (err) => bail(2, `harness crashed: ${(err as Error)?.stack ?? err}`));
// A closed pipe (`| head`) must not crash the run halfway.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

/** One step: a crash is recorded (the run then fails) and the next scenario still runs. */
async function step(name: string, fn: () => Promise<void>): Promise<void> {
  const t0 = now();
  try {
    await fn();
  } catch (err) {
    const msg = `${name}: ${(err as Error).stack ?? String(err)}`;
    log(`HARNESS ERROR in ${msg}`);
    report.errors.push(msg);
  } finally {
    log(`${name} done in ${((now() - t0) / 1000).toFixed(1)} s`);
  }
}

/** What the figures depend on: durability settings as a bench database sees them, open-file limits. */
async function checkEnvironment(): Promise<void> {
  const db = await createBenchDatabase();
  try {
    const settings = await serverSettings(db.url);
    const serverDefault = (await serverSettings(PG_SERVER_URL)).synchronous_commit;
    report.details.postgres = settings;
    report.target('env', 'PostgreSQL synchronous_commit (bench databases)', settings.synchronous_commit, 'on', settings.synchronous_commit === 'on',
      `server default ${serverDefault}; fsync ${settings.fsync}; PostgreSQL ${settings.version}`);
  } finally {
    await db.drop();
  }
  // The machine is shared: a busy one moves every latency figure.
  report.add('env', 'load average (1 / 5 / 15 min) at start', loadavg().map((l) => l.toFixed(1)).join(' / '));
  const files = report.meta.openFiles as { soft: number; hard: number; children: number };
  report.add('env', 'open files (ulimit -n)', `generator ${files.soft} (hard ${files.hard}), child processes ${files.children}`);
}

/** A preparation started now, awaited later (its failure is reported by the step that needs it). */
function early<T>(start: () => Promise<T>): () => Promise<T> {
  const p = start();
  p.catch(() => {});
  return () => p;
}

const t0 = now();
log(`${cfg.mode} run; ulimit -n ${limits.soft}/${limits.hard}; preparing every scenario`);
try {
  await step('environment', checkEnvironment);
  const prep1 = wanted(1) || wanted(4) ? early(() => prepareSteady(ctx, wanted(4))) : undefined;
  const prep2 = wanted(2) ? early(() => prepareIdleFleet(ctx)) : undefined;
  const prep3 = wanted(3) ? early(() => prepareZeroStop(ctx)) : undefined;
  const prep5 = wanted(5) ? early(() => prepareEmbedded(ctx)) : undefined;
  const prep6 = wanted(6) ? early(() => prepareCluster(ctx)) : undefined;
  const prep7 = wanted(7) ? early(() => preparePredictive(ctx)) : undefined;
  // Nothing is measured until every preparation has finished (or failed).
  await Promise.allSettled([prep1, prep2, prep3, prep5, prep6, prep7].map((p) => p?.()));
  report.details.prepareSeconds = Math.round((now() - t0) / 100) / 10;
  log(`prepared in ${report.details.prepareSeconds} s`);

  // The idle fleet first: in quick runs it is already connected (and heartbeating).
  if (prep2) await step('scenario 2', async () => runIdleFleet(ctx, await prep2()));
  if (prep1) {
    let steady: SteadyState | undefined;
    await step('scenario 1', async () => {
      steady = await runSteady(ctx, await prep1());
    });
    if (steady && withConsole) await step('console', () => runConsoleComparison(ctx, steady!));
    if (steady && withWebhooks) await step('webhooks', () => runWebhookComparison(ctx, steady!));
    if (steady && wanted(4)) await step('scenario 4', () => runHotWallet(ctx, steady!));
    await prep1().then(
      (p) => p.gw.close().catch((err) => void report.errors.push(`closing scenario 1's gateway: ${err}`)),
      () => {},
    );
  }
  if (prep3) await step('scenario 3', async () => runZeroStop(ctx, await prep3()));
  if (prep5) await step('scenario 5', async () => runEmbedded(ctx, await prep5()));
  if (prep6) await step('scenario 6', async () => runCluster(ctx, await prep6()));
  if (prep7) await step('scenario 7', async () => runPredictive(ctx, await prep7()));
} finally {
  await cleanup();
}
if (abandoned) await new Promise(() => {}); // bail() exits once the cleanup is done

report.details.totalSeconds = Math.round((now() - t0) / 100) / 10;
report.details.cpuSeconds = { generator: Math.round(selfCpuSeconds() * 10) / 10, children: childStops };
report.add('run', 'load average (1 / 5 / 15 min) at the end', loadavg().map((l) => l.toFixed(1)).join(' / '));
report.add('run', 'total time', `${report.details.totalSeconds} s (preparing ${report.details.prepareSeconds ?? '?'} s)`);
const latest = only ? `latest-only-${only.join('-')}` : 'latest';
const md = report.write(outDir, latest);
process.stdout.write('\n' + md);
log(`results in ${path.relative(process.cwd(), outDir) || '.'}/${latest}.{json,md,svg}`);
process.exit(report.ledgerFailed ? 1 : report.errors.length ? 2 : 0);
