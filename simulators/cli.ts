/**
 * OCPP 1.6J charge point simulator CLI: `tsx simulators/cli.ts --help`.
 * Runs a fleet against any central system, prints a status line every few seconds and a summary.
 */
import { pino, type Logger } from 'pino';
import { CliUsageError, expandIdTag, parseCliArgs, USAGE, type CliOptions } from './cli-args.ts';
import { Fleet, runPool, type FleetStats, type StationTemplate } from './fleet.ts';
import type { SimStation } from './station.ts';
import { TimerRegistry } from './timers.ts';

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

export function statusLine(stats: FleetStats, elapsedS: number): string {
  const l = stats.latency;
  return (
    `[${elapsedS.toFixed(0).padStart(5)}s] ` +
    `conn ${stats.connected}/${stats.stations} boot ${stats.booted} off ${stats.offline} ` +
    `sess ${stats.sessionsActive} (+${stats.sessionsStarted}/-${stats.sessionsStopped}) q ${stats.queuedMessages} ` +
    `calls ${stats.calls.sent} ok ${stats.calls.ok} err ${stats.calls.errors} in ${stats.inboundCalls} | ` +
    `p50 ${fmtMs(l.p50)} p95 ${fmtMs(l.p95)} p99 ${fmtMs(l.p99)} ms`
  );
}

export function summaryTable(stats: FleetStats, elapsedS: number, atEnd: FleetStats = stats): string {
  const rows = Object.entries(stats.byAction).map(([action, s]) => [
    action,
    String(s.sent),
    String(s.ok),
    String(s.errors),
    fmtMs(s.latency.p50),
    fmtMs(s.latency.p95),
    fmtMs(s.latency.p99),
    fmtMs(s.latency.max),
  ]);
  const header = ['action', 'sent', 'ok', 'errors', 'p50', 'p95', 'p99', 'max'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `Summary after ${elapsedS.toFixed(1)} s: ${stats.stations} stations, ${atEnd.booted} booted at the end, ` +
      `${stats.connectFailures} connect failures, ${stats.disconnects} disconnects, ` +
      `${stats.sessionsStarted} sessions started, ${stats.sessionsStopped} stopped, ` +
      `${stats.queuedMessages} messages still queued, ${stats.warnings} warnings`,
    line(header),
    ...rows.map(line),
    'latencies in ms (CALL → CALLRESULT)',
  ].join('\n');
}

/** Whether station `index` of `count` belongs to the misbehaving fraction (spread evenly). */
function misbehaves(index: number, ratio: number): boolean {
  return Math.floor((index + 1) * ratio) > Math.floor(index * ratio);
}

function buildFleet(opts: CliOptions, log: Logger): Fleet {
  const station: StationTemplate = {
    ...opts.station,
    connectors: opts.connectors,
    timeScale: opts.timeScale,
    powerProfile: opts.profile,
  };
  return new Fleet({
    url: opts.urls,
    stations: opts.stations,
    prefix: opts.prefix,
    startIndex: opts.startIndex,
    concurrency: opts.concurrency,
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    log,
    station,
    configure: (_identity, index) =>
      misbehaves(index, opts.misbehaveRatio)
        ? {
            duplicateSends: opts.duplicateSends,
            energyUnit: opts.energyUnit,
            threePhaseOnly: opts.threePhaseOnly,
            remoteStop: opts.remoteStop,
            answerDelayMs: opts.answerDelayMs,
            stopTransactionOnInvalidId: !opts.keepChargingOnInvalidId,
            ...opts.field,
          }
        : {},
  });
}

async function main(argv: string[]): Promise<number> {
  let opts: CliOptions | 'help';
  try {
    opts = parseCliArgs(argv);
  } catch (err) {
    if (err instanceof CliUsageError) {
      process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const options = opts;

  const log = pino({ level: options.logLevel, base: { service: 'ocpp-sim' } }, pino.destination(2));
  const fleet = buildFleet(options, log);
  const timers = new TimerRegistry();
  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  let shuttingDown = false;

  const numbers = new Map<SimStation, number>();
  fleet.stations.forEach((s, i) => numbers.set(s, options.startIndex + i));

  const runSession = (station: SimStation, connectorId: number): void => {
    if (shuttingDown || !station.started || station.hasSession(connectorId)) return;
    const idTag = expandIdTag(options.idTag, numbers.get(station) ?? 0, connectorId);
    station
      .startSession(connectorId, idTag)
      .then((result) => {
        if (result.outcome !== 'Started' && result.outcome !== 'Queued') {
          log.warn(
            {
              station: station.identity,
              connectorId,
              result: result.outcome,
              ...('idTagStatus' in result ? { idTagStatus: result.idTagStatus } : {}),
            },
            'session not started',
          );
          if (options.repeatSessions) timers.timeout(() => runSession(station, connectorId), 5_000);
          return;
        }
        if (options.sessionLength > 0) {
          timers.timeout(
            () => {
              if (shuttingDown || !station.hasSession(connectorId)) return;
              station
                .stopSession(connectorId, 'Local')
                .catch((err: unknown) => log.warn({ err }, 'stop failed'))
                .finally(() => {
                  if (options.repeatSessions) {
                    timers.timeout(() => runSession(station, connectorId), (60 * 1000) / options.timeScale);
                  }
                });
            },
            (options.sessionLength * 1000) / options.timeScale,
          );
        }
      })
      .catch((err: unknown) => log.warn({ err, station: station.identity }, 'session failed'));
  };

  if (options.sessions) {
    for (const station of fleet.stations) {
      station.on('booted', () => {
        for (let c = 1; c <= station.connectorCount; c++) runSession(station, c);
      });
    }
  }

  const printStatus = () => process.stdout.write(`${statusLine(fleet.stats(), elapsed())}\n`);
  const statusLoop = () => {
    timers.timeout(() => {
      printStatus();
      statusLoop();
    }, options.statusInterval * 1000);
  };

  if (options.offline) {
    const { every, for: period, fraction } = options.offline;
    const tick = () => {
      timers.timeout(() => {
        const online = fleet.stations.filter((s) => s.connected && !s.offline);
        const count = Math.max(1, Math.round(fleet.stations.length * fraction));
        for (const station of online.sort(() => Math.random() - 0.5).slice(0, count)) {
          void station.goOffline().then(() => {
            timers.timeout(() => void station.goOnline(), period * 1000);
          });
        }
        tick();
      }, every * 1000);
    };
    tick();
  }

  if (options.storm) {
    const { every, count } = options.storm;
    const tick = () => {
      timers.timeout(() => {
        void fleet.reconnectStorm(count, { reboot: options.stormReboot }).then((r) => {
          log.info(r, 'reconnect storm done');
        });
        tick();
      }, every * 1000);
    };
    tick();
  }

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const onSignal = () => {
    if (shuttingDown) {
      process.stderr.write('second interrupt: exiting now\n');
      process.exit(130);
    }
    process.stderr.write('\ninterrupted: stopping stations (Ctrl-C again to force)\n');
    resolveDone();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  process.stdout.write(
    `simulating ${options.stations} station(s) × ${options.connectors} connector(s) → ${options.urls.join(', ')} ` +
      `(profile ${options.profile}, time scale ${options.timeScale})\n`,
  );
  statusLoop();
  if (options.duration > 0) timers.timeout(resolveDone, options.duration * 1000);

  const startup = await Promise.race([fleet.start().then((r) => r), done.then(() => undefined)]);
  if (startup) {
    process.stdout.write(
      `${startup.started} station(s) connected in ${(startup.elapsedMs / 1000).toFixed(1)} s` +
        (startup.failed ? `, ${startup.failed} failed (retrying)` : '') +
        '\n',
    );
  }
  await done;

  shuttingDown = true;
  timers.clearAll();
  const atEnd = fleet.stats();
  process.stdout.write(`${statusLine(atEnd, elapsed())}\n`);
  // Stations the --offline schedule left offline come back so their queues can drain.
  const offline = fleet.stations.filter((s) => s.offline);
  if (offline.length > 0) {
    await Promise.race([
      runPool(offline, options.concurrency, (s) => s.goOnline()),
      new Promise((resolve) => timers.timeout(() => resolve(undefined), 3_000)),
    ]);
    timers.clearAll();
  }
  await fleet.stop({ endSessions: true, reason: 'Local', flushTimeoutMs: 5_000 });
  const stats = fleet.stats();
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ elapsedS: elapsed(), bootedAtEnd: atEnd.booted, ...stats }, null, 2)}\n`);
  } else {
    process.stdout.write(`${summaryTable(stats, elapsed(), atEnd)}\n`);
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  log.flush();
  return startup !== undefined && startup.started === 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
