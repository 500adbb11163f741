/** Command-line parsing for simulators/cli.ts (kept apart so it can be tested). */
import { parseArgs } from 'node:util';
import type { EnergyUnit } from './meter.ts';
import { isPowerProfileName, POWER_PROFILES, type PowerProfileName } from './power.ts';
import type { RemoteStopMode } from './station.ts';

export interface CliOptions {
  url: string;
  stations: number;
  connectors: number;
  prefix: string;
  startIndex: number;
  password: string | undefined;
  idTag: string;
  timeScale: number;
  profile: PowerProfileName;
  /** Real seconds; 0 = until SIGINT. */
  duration: number;
  sessions: boolean;
  /** Simulated seconds a session lasts; 0 = until the end. */
  sessionLength: number;
  repeatSessions: boolean;
  concurrency: number;
  statusInterval: number;
  logLevel: string;
  json: boolean;
  // misbehaviour
  offline: { every: number; for: number; fraction: number } | undefined;
  storm: { every: number; count: number } | undefined;
  stormReboot: boolean;
  duplicateSends: boolean;
  energyUnit: EnergyUnit;
  threePhaseOnly: boolean;
  remoteStop: RemoteStopMode;
  answerDelayMs: number;
  keepChargingOnInvalidId: boolean;
  misbehaveRatio: number;
}

export const USAGE = `Usage: tsx simulators/cli.ts --url <ws-url> [options]

Simulates OCPP 1.6J charge points against any central system.

Connection
  --url <url>                 central system endpoint, e.g. ws://127.0.0.1:9000/ocpp
                              (the station identity is appended)
  --stations <n>              number of stations (default 1)
  --connectors <n>            connectors per station, 1-3 (default 1)
  --prefix <text>             identity prefix (default SIM); ids are <prefix><zero-padded n>
  --start-index <n>           first station number (default 1)
  --password <text>           HTTP Basic password for every station
  --concurrency <n>           stations connecting at the same time (default 200)

Charging
  --id-tag <text>             idTag for sessions (default SIMTAG); {n} = station number,
                              {c} = connector id
  --time-scale <x>            time acceleration; 10 = a simulated minute every 6 s (default 1)
  --profile <p>               ${POWER_PROFILES.join(' | ')} (default ac11)
  --sessions                  start a session on every connector after boot
  --session-length <s>        stop each session after this many simulated seconds
  --repeat-sessions           start a new session after each stop

Run
  --duration <s>              stop after this many real seconds (default: until Ctrl-C)
  --status-interval <s>       seconds between status lines (default 5)
  --log-level <level>         pino level on stderr (default warn)
  --json                      print the final summary as JSON

Misbehaviour (applied to --misbehave-ratio of the stations)
  --misbehave-ratio <0..1>    fraction of stations that misbehave (default 1)
  --duplicate-sends           send every MeterValues / StopTransaction twice
  --energy-unit <Wh|kWh>      unit of the energy register (default Wh)
  --three-phase-only          energy register only as L1/L2/L3 values
  --remote-stop <mode>        accept | ignore | reject | rejectFirst (default accept)
  --answer-delay-ms <ms>      delay every answer to the central system
  --keep-charging-on-invalid-id
                              StopTransactionOnInvalidId=false
  --offline <every:for[:frac]>
                              every <every> s, a fraction (default 0.1) of the stations
                              goes offline for <for> s (transaction messages are queued)
  --storm <every:count>       every <every> s, <count> stations drop and reconnect at once
  --storm-reboot              storming stations also send a fresh BootNotification

  -h, --help                  show this help
`;

export class CliUsageError extends Error {}

function num(name: string, raw: string | undefined, fallback: number, check?: (n: number) => boolean): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (check && !check(value))) {
    throw new CliUsageError(`invalid value for --${name}: ${raw}`);
  }
  return value;
}

function pair(name: string, raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(':').map(Number);
  if (parts.length < 2 || parts.some((n) => !Number.isFinite(n) || n < 0)) {
    throw new CliUsageError(`invalid value for --${name}: ${raw}`);
  }
  return parts;
}

/** Returns the options, or 'help' when usage was requested. Throws CliUsageError on bad input. */
export function parseCliArgs(argv: string[]): CliOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        url: { type: 'string' },
        stations: { type: 'string' },
        connectors: { type: 'string' },
        prefix: { type: 'string' },
        'start-index': { type: 'string' },
        password: { type: 'string' },
        'id-tag': { type: 'string' },
        'time-scale': { type: 'string' },
        profile: { type: 'string' },
        duration: { type: 'string' },
        sessions: { type: 'boolean' },
        'session-length': { type: 'string' },
        'repeat-sessions': { type: 'boolean' },
        concurrency: { type: 'string' },
        'status-interval': { type: 'string' },
        'log-level': { type: 'string' },
        json: { type: 'boolean' },
        'misbehave-ratio': { type: 'string' },
        'duplicate-sends': { type: 'boolean' },
        'energy-unit': { type: 'string' },
        'three-phase-only': { type: 'boolean' },
        'remote-stop': { type: 'string' },
        'answer-delay-ms': { type: 'string' },
        'keep-charging-on-invalid-id': { type: 'boolean' },
        offline: { type: 'string' },
        storm: { type: 'string' },
        'storm-reboot': { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (!v.url) throw new CliUsageError('--url is required');
  if (!/^wss?:\/\//.test(v.url)) throw new CliUsageError(`--url must start with ws:// or wss://, got ${v.url}`);

  const profile = v.profile ?? 'ac11';
  if (!isPowerProfileName(profile)) throw new CliUsageError(`unknown --profile ${profile}`);
  const energyUnit = v['energy-unit'] ?? 'Wh';
  if (energyUnit !== 'Wh' && energyUnit !== 'kWh') throw new CliUsageError(`--energy-unit must be Wh or kWh`);
  const remoteStop = v['remote-stop'] ?? 'accept';
  if (!['accept', 'ignore', 'reject', 'rejectFirst'].includes(remoteStop)) {
    throw new CliUsageError(`--remote-stop must be accept, ignore, reject or rejectFirst`);
  }
  const offline = pair('offline', v.offline);
  const storm = pair('storm', v.storm);
  const isInt = (n: number) => Number.isInteger(n);

  return {
    url: v.url.replace(/\/+$/, ''),
    stations: num('stations', v.stations, 1, (n) => isInt(n) && n >= 1),
    connectors: num('connectors', v.connectors, 1, (n) => isInt(n) && n >= 1 && n <= 3),
    prefix: v.prefix ?? 'SIM',
    startIndex: num('start-index', v['start-index'], 1, (n) => isInt(n) && n >= 0),
    password: v.password,
    idTag: v['id-tag'] ?? 'SIMTAG',
    timeScale: num('time-scale', v['time-scale'], 1, (n) => n > 0),
    profile,
    duration: num('duration', v.duration, 0, (n) => n >= 0),
    sessions: v.sessions ?? false,
    sessionLength: num('session-length', v['session-length'], 0, (n) => n >= 0),
    repeatSessions: v['repeat-sessions'] ?? false,
    concurrency: num('concurrency', v.concurrency, 200, (n) => isInt(n) && n >= 1),
    statusInterval: num('status-interval', v['status-interval'], 5, (n) => n > 0),
    logLevel: v['log-level'] ?? 'warn',
    json: v.json ?? false,
    offline: offline
      ? { every: offline[0]!, for: offline[1]!, fraction: Math.min(1, offline[2] ?? 0.1) }
      : undefined,
    storm: storm ? { every: storm[0]!, count: Math.floor(storm[1]!) } : undefined,
    stormReboot: v['storm-reboot'] ?? false,
    duplicateSends: v['duplicate-sends'] ?? false,
    energyUnit,
    threePhaseOnly: v['three-phase-only'] ?? false,
    remoteStop: remoteStop as RemoteStopMode,
    answerDelayMs: num('answer-delay-ms', v['answer-delay-ms'], 0, (n) => n >= 0),
    keepChargingOnInvalidId: v['keep-charging-on-invalid-id'] ?? false,
    misbehaveRatio: num('misbehave-ratio', v['misbehave-ratio'], 1, (n) => n >= 0 && n <= 1),
  };
}

/** Expands {n} (station number) and {c} (connector id) in an idTag template; max 20 chars. */
export function expandIdTag(template: string, stationNumber: number, connectorId: number): string {
  return template.replaceAll('{n}', String(stationNumber)).replaceAll('{c}', String(connectorId)).slice(0, 20);
}
