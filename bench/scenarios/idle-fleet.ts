import { createFixture, createStations } from '../lib/admin.ts';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { startBaselineServer, startGateway, type Gateway } from '../lib/gateway.ts';
import { checkLedger } from '../lib/ledger.ts';
import { fmtRatio } from '../lib/report.ts';
import { cpuWindow, openFilesLimit, selfCpuSeconds, settledRss } from '../lib/proc.ts';
import { closeAll, connectAll, identities, makeFleet, type BenchStation } from '../lib/station.ts';
import { log, now, round, waitUntil } from '../lib/util.ts';

const S2 = '2 idle fleet';
const MB = 1024 * 1024;

interface FleetMemory {
  before: number;
  after: number;
  /** bytes of RSS growth per connection */
  perConnection: number;
  connectMs: number;
}

/** Connects (and boots) the fleet to a server process and measures its RSS growth. */
async function measureFleet(pid: number, stations: BenchStation[], settleMs: number): Promise<FleetMemory> {
  const before = await settledRss(pid, 200);
  const t0 = now();
  await connectAll(stations, 200);
  const connectMs = Math.round(now() - t0);
  const after = await settledRss(pid, settleMs);
  return { before, after, perConnection: (after - before) / stations.length, connectMs };
}

/** Baseline (a) with the same fleet: a fresh bare server process. */
async function measureBaseline({ cfg }: Ctx): Promise<FleetMemory> {
  const c = cfg.idle;
  const base = await startBaselineServer({ heartbeatIntervalS: c.heartbeatS });
  const fleet = makeFleet({
    url: base.ocppUrl, prefix: 'IDLE-', count: c.stations, callTimeoutMs: cfg.callTimeoutMs, heartbeats: true, sourceAddresses: c.sourceAddresses,
  });
  try {
    return await measureFleet(base.child.pid, fleet, c.settleMs);
  } finally {
    await closeAll(fleet);
    await base.close();
  }
}

export interface IdlePrep {
  gw: Gateway;
  fleet: BenchStation[];
  /** measured already when `cfg.idle.memoryInPrepare` */
  gwMem?: FleetMemory;
  aMem?: FleetMemory;
}

/**
 * The gateway (no WebSocket pings) with N stations registered. With `memoryInPrepare` (quick
 * runs) the fleets also connect here and RSS is measured, while other scenarios prepare: a
 * memory figure does not suffer from a busy CPU (the connect times do, and say so).
 */
export async function prepareIdleFleet(ctx: Ctx): Promise<IdlePrep> {
  const c = ctx.cfg.idle;
  const gw = await startGateway({
    database: 'postgres',
    // the fleet plus reconnect overlap must fit under the OCPP port's connection cap
    env: { WS_PING_INTERVAL_S: '0', HEARTBEAT_INTERVAL_S: String(c.heartbeatS), OCPP_MAX_CONNECTIONS: String(c.stations + 1_000) },
  });
  const fx = await createFixture(gw.api, 'Bench idle', PRICE_CENTS_PER_KWH);
  const t0 = now();
  await createStations(gw.api, fx, identities('IDLE-', c.stations));
  log(`  registered ${c.stations} IDLE- stations in ${Math.round(now() - t0)} ms`);
  const fleet = makeFleet({
    url: gw.ocppUrl, prefix: 'IDLE-', count: c.stations, callTimeoutMs: ctx.cfg.callTimeoutMs, heartbeats: true, sourceAddresses: c.sourceAddresses,
  });
  if (!c.memoryInPrepare) return { gw, fleet };
  const [gwMem, aMem] = await Promise.all([measureFleet(gw.child.pid, fleet, c.settleMs), measureBaseline(ctx)]);
  log(`  ${S2}: memory measured (${c.stations} stations on the gateway and on baseline (a))`);
  return { gw, fleet, gwMem, aMem };
}

/** Scenario 2: N stations connected and heartbeating; memory per connection; restart and reconnect time. */
export async function runIdleFleet(ctx: Ctx, prep: IdlePrep): Promise<void> {
  const { cfg, report } = ctx;
  const c = cfg.idle;
  const n = c.stations;
  const { gw, fleet } = prep;
  let gwMem = prep.gwMem;
  let restart: { stopMs: number; startMs: number };
  let reconnect: {
    all: boolean;
    booted: number;
    fromSigtermMs: number;
    fromReadyMs: number;
    generatorCpu: number;
    connectAttempts: number;
    bootErrors: number;
  };
  try {
    if (!gwMem) {
      log(`${S2}: connecting ${n} stations to the gateway`);
      gwMem = await measureFleet(gw.child.pid, fleet, c.settleMs);
    }
    report.details.openFiles = { ...(report.details.openFiles as object), gateway: openFilesLimit(gw.child.pid) };

    log(`${S2}: restarting the gateway (SIGTERM, start again on the same database)`);
    const cpu = cpuWindow({ generator: selfCpuSeconds });
    const firstLogs = gw.child.logs;
    const count = (f: (s: BenchStation) => number) => fleet.reduce((a, s) => a + f(s), 0);
    const [attempts0, bootErrors0] = [count((s) => s.connectAttempts), count((s) => s.bootErrors)];
    const tSig = now();
    restart = await gw.restart();
    const tReady = tSig + restart.stopMs + restart.startMs;
    const all = await waitUntil(() => fleet.every((s) => s.lastBootAt > tSig), c.reconnectTimeoutMs, 50);
    const booted = fleet.filter((s) => s.lastBootAt > tSig);
    const last = Math.max(...booted.map((s) => s.lastBootAt), tReady);
    reconnect = {
      all, booted: booted.length, fromSigtermMs: Math.round(last - tSig), fromReadyMs: Math.round(last - tReady), generatorCpu: cpu().generator!,
      connectAttempts: count((s) => s.connectAttempts) - attempts0, bootErrors: count((s) => s.bootErrors) - bootErrors0,
    };
    report.ledger(S2, await checkLedger({ api: gw.api, priceCentsPerKwh: PRICE_CENTS_PER_KWH, billed: [], pgUrl: gw.db!.url }));
    report.gatewayLogs(S2, 'before the restart', firstLogs);
    report.gatewayLogs(S2, 'after the restart', gw.child.logs);
  } finally {
    const t0 = now();
    await closeAll(fleet);
    const t1 = now();
    await gw.close();
    log(`  ${S2}: fleet closed in ${Math.round(t1 - t0)} ms, gateway stopped in ${Math.round(now() - t1)} ms`);
  }
  let aMem = prep.aMem;
  if (!aMem) {
    log(`${S2}: connecting ${n} stations to baseline (a)`);
    aMem = await measureBaseline(ctx);
  }

  const kb = (b: number) => `${round(b / 1024, 1)} KiB`;
  const ratio = gwMem.perConnection / Math.max(1, aMem.perConnection);
  const mem = (m: FleetMemory) => `${kb(m.perConnection)} (RSS ${round(m.before / MB)} → ${round(m.after / MB)} MiB)`;
  report.target(S2, `RSS per connection, ${n} stations`, mem(gwMem), 'target ≤ 1.5', ratio <= 1.5, `(a) ${mem(aMem)}`, fmtRatio(ratio, 1.5));
  report.add(S2, `connect + boot ${n} stations${prep.gwMem ? ' (during preparation: CPU shared)' : ''}`, `${gwMem.connectMs} ms`, {
    baseline: `(a) ${aMem.connectMs} ms`,
  });
  report.target(S2, 'restart: SIGTERM → all reconnected and booted', `${reconnect.fromSigtermMs} ms (${reconnect.booted}/${n} booted)`,
    '≤ 15 s, all stations', reconnect.all && reconnect.fromSigtermMs <= 15_000,
    `stop ${restart.stopMs} ms, start to /healthz ${restart.startMs} ms, ready → all booted ${reconnect.fromReadyMs} ms; ` +
      `${reconnect.connectAttempts} connection attempts, ${reconnect.bootErrors} BootNotification errors`);
  report.details[S2] = { gateway: gwMem, baselineA: aMem, restart, reconnect };
}
