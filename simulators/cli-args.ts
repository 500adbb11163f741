/** Command-line parsing for simulators/cli.ts (kept apart so it can be tested). */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Answer } from './answers.ts';
import type { EnergyUnit, PowerUnit } from './meter.ts';
import { FEATURE_PROFILES, INBOUND_ACTIONS, type FeatureProfile, type InboundAction, type Measurand, type StatusDetails } from './ocpp-types.ts';
import type { FirmwareOutcome, RemoteStopMode, SimStationOptions, UploadOutcome } from './options.ts';
import { isPowerProfileName, POWER_PROFILES, type PowerProfileName } from './power.ts';

export interface CliOptions {
  /** The first URL (kept for messages); `urls` has them all. */
  url: string;
  urls: string[];
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
  /** Options of every station (connection, metering, clock, features). */
  station: Partial<SimStationOptions>;
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
  /** Field behaviours of the misbehaving stations (issue-13 style firmware quirks). */
  field: Partial<SimStationOptions>;
}

export const USAGE = `Usage: tsx simulators/cli.ts --url <ws-url>[,<ws-url>...] [options]

Simulates OCPP 1.6J charge points against any central system.

Connection
  --url <url>                 central system endpoint, e.g. ws://127.0.0.1:9000/ocpp
                              (the identity is appended). Several (comma-separated or
                              repeated): stations are spread over them, and a station whose
                              node fails moves on to the next URL
  --stations <n>              number of stations (default 1)
  --connectors <n>            connectors per station, 1-3 (default 1)
  --prefix <text>             identity prefix (default SIM); ids are <prefix><zero-padded n>
  --start-index <n>           first station number (default 1)
  --password <text>           HTTP Basic password for every station
  --basic-auth-challenge      send credentials only after a 401 with WWW-Authenticate: Basic
  --tls-ca <file>             CA certificate(s) (PEM) to trust for wss://
  --tls-cert <file>           client certificate chain (PEM), security profile 3
  --tls-key <file>            client private key (PEM), security profile 3
  --security-profile <0-3>    initial SecurityProfile configuration key (default 0)
  --concurrency <n>           stations connecting at the same time (default 200)

Charging
  --id-tag <text>             idTag for sessions (default SIMTAG); {n} = station number,
                              {c} = connector id
  --time-scale <x>            time acceleration; 10 = a simulated minute every 6 s (default 1)
  --profile <p>               ${POWER_PROFILES.join(' | ')} (default ac11)
  --power <kW>                charge at this fixed power, whatever the state of charge
  --sample-interval <s>       MeterValueSampleInterval until the central system sets one
                              (simulated s, default 60)
  --clock-aligned-interval <s>
                              ClockAlignedDataInterval: Sample.Clock readings on connector 0
                              and idle connectors (simulated s, default 0 = off)
  --measurands <list>         MeterValuesSampledData, e.g.
                              Energy.Active.Import.Register,Power.Active.Import,SoC,Voltage,Current.Import
  --no-transaction-data       no transactionData in StopTransaction
  --features <list>           supported feature profiles (default all:
                              ${FEATURE_PROFILES.join(',')})
  --sessions                  start a session on every connector after boot
  --session-length <s>        stop each session after this many simulated seconds
  --repeat-sessions           start a new session after each stop

Answers to the central system
  --answer <Action=answer>    answer an operation this way, repeatable; answer is a status
                              (e.g. Reset=Rejected, UnlockConnector=UnlockFailed,
                              TriggerMessage=NotImplemented), 'ignore' (no answer at all) or
                              'error:<code>' (a CALLERROR, e.g. error:NotSupported)
  --firmware-outcome <o>      Installed | DownloadFailed | InstallationFailed |
                              InvalidSignature | InstallVerificationFailed (default Installed)
  --upload-outcome <o>        Uploaded | Failed | NoFile (GetDiagnostics / GetLog, default Uploaded)
  --security-events           send SecurityEventNotifications by itself (startup, reset, ...)

Run
  --duration <s>              stop after this many real seconds (default: until Ctrl-C)
  --status-interval <s>       seconds between status lines (default 5)
  --log-level <level>         pino level on stderr (default warn)
  --json                      print the final summary as JSON

Misbehaviour and field behaviour (applied to --misbehave-ratio of the stations)
  --misbehave-ratio <0..1>    fraction of stations that misbehave (default 1)
  --duplicate-sends           send every MeterValues / StopTransaction twice
  --energy-unit <Wh|kWh>      unit of the energy register (default Wh)
  --power-unit <W|kW>         unit of power values (default W)
  --three-phase-only          energy register only as L1/L2/L3 values
  --remote-stop <mode>        accept | ignore | reject | rejectFirst | acceptNoStop
                              (default accept)
  --stop-delay <s|min:max>    simulated seconds from an accepted RemoteStopTransaction to
                              StopTransaction, power falling to zero meanwhile
  --answer-delay-ms <ms>      delay every answer to the central system
  --keep-charging-on-invalid-id
                              StopTransactionOnInvalidId=false
  --no-stop-on-invalid-id     StopTransactionOnInvalidId not supported: a refused
                              transaction is dropped without StopTransaction, the connector
                              back to Available
  --forget-sessions-on-restart
                              a restart loses running sessions without StopTransaction
  --meter-stop-deficit <Wh>   StopTransaction's meterStop this much below the register
  --status-vendor <id[:code[:info]]>
                              vendorId, vendorErrorCode and info in every StatusNotification
  --vendor-extras             unknown extra properties in every payload
  --timestamps-without-zone   timestamps without a time zone designator
  --clock-skew <s>            the station's clock runs this many seconds ahead (behind:
                              --clock-skew=-30)
  --pongless                  never answer WebSocket pings (liveness only from messages)
  --late-readings <s>         hold each periodic reading this many simulated seconds
  --reading-burst <n>         send periodic readings in bursts of n
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

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  const value = raw ?? fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new CliUsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function list(raw: string | undefined): string[] | undefined {
  return raw
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function file(name: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliUsageError(`--${name}: cannot read ${path} (${(err as Error).message})`);
  }
}

/** `Action=answer` pairs: a status, `ignore`, or `error:<code>`. */
export function parseAnswers(raw: readonly string[]): Partial<Record<InboundAction, Answer>> {
  const answers: Partial<Record<InboundAction, Answer>> = {};
  for (const item of raw) {
    const [action, answer] = item.split('=', 2);
    if (!action || !answer || !(INBOUND_ACTIONS as readonly string[]).includes(action)) {
      throw new CliUsageError(`--answer wants <Action>=<answer> with an OCPP operation, got ${item}`);
    }
    if (answer === 'ignore') answers[action as InboundAction] = { noReply: true };
    else if (answer.startsWith('error:')) answers[action as InboundAction] = { callError: answer.slice('error:'.length) };
    else answers[action as InboundAction] = answer;
  }
  return answers;
}

/** One delay, or a min:max range, in simulated seconds. */
function stopDelay(raw: string | undefined): number | [number, number] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(':').map(Number);
  if (parts.length > 2 || parts.some((n) => !Number.isFinite(n) || n < 0) || (parts.length === 2 && parts[0]! > parts[1]!)) {
    throw new CliUsageError(`invalid value for --stop-delay: ${raw}`);
  }
  return parts.length === 2 ? [parts[0]!, parts[1]!] : parts[0]!;
}

function statusVendor(raw: string | undefined): Omit<StatusDetails, 'errorCode'> | undefined {
  if (raw === undefined) return undefined;
  const [vendorId, vendorErrorCode, info] = raw.split(':');
  if (!vendorId) throw new CliUsageError(`--status-vendor wants <vendorId>[:<vendorErrorCode>[:<info>]]`);
  return { vendorId, ...(vendorErrorCode ? { vendorErrorCode } : {}), ...(info ? { info } : {}) };
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
        url: { type: 'string', multiple: true },
        stations: { type: 'string' },
        connectors: { type: 'string' },
        prefix: { type: 'string' },
        'start-index': { type: 'string' },
        password: { type: 'string' },
        'basic-auth-challenge': { type: 'boolean' },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'security-profile': { type: 'string' },
        'id-tag': { type: 'string' },
        'time-scale': { type: 'string' },
        profile: { type: 'string' },
        power: { type: 'string' },
        'sample-interval': { type: 'string' },
        'clock-aligned-interval': { type: 'string' },
        measurands: { type: 'string' },
        'no-transaction-data': { type: 'boolean' },
        features: { type: 'string' },
        duration: { type: 'string' },
        sessions: { type: 'boolean' },
        'session-length': { type: 'string' },
        'repeat-sessions': { type: 'boolean' },
        answer: { type: 'string', multiple: true },
        'firmware-outcome': { type: 'string' },
        'upload-outcome': { type: 'string' },
        'security-events': { type: 'boolean' },
        concurrency: { type: 'string' },
        'status-interval': { type: 'string' },
        'log-level': { type: 'string' },
        json: { type: 'boolean' },
        'misbehave-ratio': { type: 'string' },
        'duplicate-sends': { type: 'boolean' },
        'energy-unit': { type: 'string' },
        'power-unit': { type: 'string' },
        'three-phase-only': { type: 'boolean' },
        'remote-stop': { type: 'string' },
        'stop-delay': { type: 'string' },
        'answer-delay-ms': { type: 'string' },
        'keep-charging-on-invalid-id': { type: 'boolean' },
        'no-stop-on-invalid-id': { type: 'boolean' },
        'forget-sessions-on-restart': { type: 'boolean' },
        'meter-stop-deficit': { type: 'string' },
        'status-vendor': { type: 'string' },
        'vendor-extras': { type: 'boolean' },
        'timestamps-without-zone': { type: 'boolean' },
        'clock-skew': { type: 'string' },
        pongless: { type: 'boolean' },
        'late-readings': { type: 'string' },
        'reading-burst': { type: 'string' },
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
  const urls = (v.url ?? []).flatMap((u) => list(u) ?? []).map((u) => u.replace(/\/+$/, ''));
  if (urls.length === 0) throw new CliUsageError('--url is required');
  for (const url of urls) {
    if (!/^wss?:\/\//.test(url)) throw new CliUsageError(`--url must start with ws:// or wss://, got ${url}`);
  }

  const profile = v.profile ?? 'ac11';
  if (!isPowerProfileName(profile)) throw new CliUsageError(`unknown --profile ${profile}`);
  const energyUnit = oneOf<EnergyUnit>('energy-unit', v['energy-unit'], ['Wh', 'kWh'], 'Wh');
  const powerUnit = oneOf<PowerUnit>('power-unit', v['power-unit'], ['W', 'kW'], 'W');
  const remoteStop = oneOf<RemoteStopMode>('remote-stop', v['remote-stop'], ['accept', 'ignore', 'reject', 'rejectFirst', 'acceptNoStop'], 'accept');
  const features = list(v.features);
  for (const feature of features ?? []) {
    if (!(FEATURE_PROFILES as readonly string[]).includes(feature)) throw new CliUsageError(`unknown feature profile in --features: ${feature}`);
  }
  const offline = pair('offline', v.offline);
  const storm = pair('storm', v.storm);
  const isInt = (n: number) => Number.isInteger(n);
  const tlsCa = file('tls-ca', v['tls-ca']);
  const tlsCert = file('tls-cert', v['tls-cert']);
  const tlsKey = file('tls-key', v['tls-key']);
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new CliUsageError('--tls-cert and --tls-key go together');
  const power = v.power === undefined ? undefined : num('power', v.power, 0, (n) => n > 0) * 1000;
  const answers = parseAnswers(v.answer ?? []);
  const sampleInterval = v['sample-interval'] === undefined ? undefined : num('sample-interval', v['sample-interval'], 60, (n) => isInt(n) && n >= 0);
  const clockAligned = v['clock-aligned-interval'] === undefined ? undefined : num('clock-aligned-interval', v['clock-aligned-interval'], 0, (n) => isInt(n) && n >= 0);
  const securityProfile = v['security-profile'] === undefined ? undefined : num('security-profile', v['security-profile'], 0, (n) => isInt(n) && n >= 0 && n <= 3);
  const delay = stopDelay(v['stop-delay']);
  const vendorStatus = statusVendor(v['status-vendor']);
  const deficit = v['meter-stop-deficit'] === undefined ? undefined : num('meter-stop-deficit', v['meter-stop-deficit'], 0, (n) => isInt(n) && n > 0);
  const skew = v['clock-skew'] === undefined ? undefined : num('clock-skew', v['clock-skew'], 0);
  const late = v['late-readings'] === undefined ? undefined : num('late-readings', v['late-readings'], 0, (n) => n > 0);
  const burst = v['reading-burst'] === undefined ? undefined : num('reading-burst', v['reading-burst'], 1, (n) => isInt(n) && n >= 2);

  const station: Partial<SimStationOptions> = {
    ...(v['basic-auth-challenge'] ? { basicAuth: 'challenge' as const } : {}),
    ...(tlsCa || tlsCert ? { tls: { ...(tlsCa ? { ca: tlsCa } : {}), ...(tlsCert ? { cert: tlsCert, key: tlsKey } : {}) } } : {}),
    ...(securityProfile !== undefined ? { securityProfile } : {}),
    ...(power !== undefined ? { fixedPowerW: power } : {}),
    ...(sampleInterval !== undefined ? { meterValueSampleInterval: sampleInterval } : {}),
    ...(clockAligned !== undefined ? { clockAlignedDataInterval: clockAligned } : {}),
    ...(v.measurands ? { measurands: list(v.measurands) as Measurand[] } : {}),
    ...(v['no-transaction-data'] ? { transactionData: false } : {}),
    ...(features ? { features: features as FeatureProfile[] } : {}),
    ...(Object.keys(answers).length > 0 ? { answers } : {}),
    ...(v['firmware-outcome']
      ? { firmware: { outcome: oneOf<FirmwareOutcome>('firmware-outcome', v['firmware-outcome'], ['Installed', 'DownloadFailed', 'InstallationFailed', 'InvalidSignature', 'InstallVerificationFailed'], 'Installed') } }
      : {}),
    ...(v['upload-outcome'] ? { uploads: { outcome: oneOf<UploadOutcome>('upload-outcome', v['upload-outcome'], ['Uploaded', 'Failed', 'NoFile'], 'Uploaded') } } : {}),
    ...(v['security-events'] ? { securityEvents: true } : {}),
  };
  const field: Partial<SimStationOptions> = {
    ...(powerUnit !== 'W' ? { powerUnit } : {}),
    ...(delay !== undefined ? { stopDelaySeconds: delay } : {}),
    ...(v['no-stop-on-invalid-id'] ? { dropRefusedTransactions: true } : {}),
    ...(v['forget-sessions-on-restart'] ? { forgetSessionsOnRestart: true } : {}),
    ...(deficit !== undefined ? { meterStopDeficitWh: deficit } : {}),
    ...(vendorStatus ? { statusDetails: vendorStatus } : {}),
    ...(v['vendor-extras'] ? { vendorExtras: true } : {}),
    ...(v['timestamps-without-zone'] ? { timestampFormat: 'no-zone' as const } : {}),
    ...(skew !== undefined ? { clockSkewSeconds: skew } : {}),
    ...(v.pongless ? { pongless: true } : {}),
    ...(late !== undefined ? { lateReadingsSeconds: late } : {}),
    ...(burst !== undefined ? { readingBurst: burst } : {}),
  };

  return {
    url: urls[0]!,
    urls,
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
    station,
    offline: offline
      ? { every: offline[0]!, for: offline[1]!, fraction: Math.min(1, offline[2] ?? 0.1) }
      : undefined,
    storm: storm ? { every: storm[0]!, count: Math.floor(storm[1]!) } : undefined,
    stormReboot: v['storm-reboot'] ?? false,
    duplicateSends: v['duplicate-sends'] ?? false,
    energyUnit,
    threePhaseOnly: v['three-phase-only'] ?? false,
    remoteStop,
    answerDelayMs: num('answer-delay-ms', v['answer-delay-ms'], 0, (n) => n >= 0),
    keepChargingOnInvalidId: v['keep-charging-on-invalid-id'] ?? false,
    misbehaveRatio: num('misbehave-ratio', v['misbehave-ratio'], 1, (n) => n >= 0 && n <= 1),
    field,
  };
}

/** Expands {n} (station number) and {c} (connector id) in an idTag template; max 20 chars. */
export function expandIdTag(template: string, stationNumber: number, connectorId: number): string {
  return template.replaceAll('{n}', String(stationNumber)).replaceAll('{c}', String(connectorId)).slice(0, 20);
}
