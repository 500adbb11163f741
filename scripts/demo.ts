/**
 * `npm run demo`: the prepaid wallet in action, in under a minute, with nothing but Node.
 *
 * Starts the gateway in this process (embedded database in a fresh temporary DATA_DIR, free
 * ports), sets up an organization, a rate, a charge station, a user with a token and a small
 * wallet through the admin REST API, then lets one simulated DC charger (time-accelerated)
 * charge until the wallet runs dry and the gateway stops it with RemoteStopTransaction. Shows
 * power, energy, cost and balance live, then the settled session and the wallet's ledger.
 *
 * Everything is removed afterwards. Ctrl-C stops it cleanly at any point.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp, type App } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { SimStation } from '../simulators/index.ts';

// ---- the scenario -------------------------------------------------------------------------

const TIME_SCALE = 10; // a simulated minute every 6 real seconds
const SAMPLE_INTERVAL_S = 5; // MeterValueSampleInterval in simulated seconds: a sample every 0.5 s
const ENERGY_PRICE = 45; // cents per kWh
const TAX_PERCENT = 8;
const TOP_UP = 300; // cents
const MINIMUM_TO_START = 100; // cents
const STATION_ID = 'DEMO-DC-01';
const IDTAG = 'DEMO-CARD-0001';
/** A small battery part-full, so the DC power visibly tapers while the money runs out. */
const EV = { batteryWh: 25_000, initialSoc: 0.4 };
const CHARGING_DEADLINE_MS = 40_000;

// ---- terminal -----------------------------------------------------------------------------

const tty = Boolean(process.stdout.isTTY);
const color = tty && !process.env.NO_COLOR;
const paint = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const yellow = paint('33');
const red = paint('31');
const cyan = paint('36');

let statusShown = false;
function clearStatus(): void {
  if (tty && statusShown) process.stdout.write('\r\x1b[2K');
  statusShown = false;
}
function say(line = ''): void {
  clearStatus();
  process.stdout.write(line + '\n');
}
const visibleLength = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').length;
/** The live line; on a terminal it is redrawn in place, so `extra` is left out if it would wrap. */
function showStatus(line: string, extra = ''): void {
  if (tty) {
    const columns = process.stdout.columns || 80;
    const text = visibleLength(line + extra) < columns ? line + extra : line;
    process.stdout.write('\r\x1b[2K' + text);
    statusShown = true;
  } else {
    process.stdout.write(line + extra + '\n');
  }
}

function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  return `${sign}$${(Math.abs(cents) / 100).toFixed(2)}`;
}
const kwh = (wh: number) => `${(wh / 1000).toFixed(3)} kWh`;
const kw = (w: number | null | undefined) => `${((w ?? 0) / 1000).toFixed(1).padStart(5)} kW`;

function bar(balance: number, full: number, width = 20): string {
  const filled = Math.max(0, Math.min(width, Math.round((balance / full) * width)));
  const text = '█'.repeat(filled) + '░'.repeat(width - filled);
  return balance > full * 0.25 ? green(text) : balance > 0 ? yellow(text) : red(text);
}

function indentJson(value: unknown): string {
  return JSON.stringify(value, null, 2)
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
}

// ---- lifecycle ----------------------------------------------------------------------------

const dataDir = mkdtempSync(path.join(tmpdir(), 'ocpp-gateway-demo-'));
const apiKey = 'demo-' + randomBytes(16).toString('hex');
const gatewayWarnings: string[] = [];
let app: App | undefined;
let station: SimStation | undefined;
let cleaningUp: Promise<void> | undefined;
let interrupted = false;

function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    clearStatus();
    if (tty) process.stdout.write('\x1b[?25h');
    await station?.stop().catch(() => {});
    await app?.stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  })();
  return cleaningUp;
}

let signals = 0;
function onSignal(signal: NodeJS.Signals): void {
  signals += 1;
  interrupted = true;
  if (signals > 1) {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(130);
  }
  say(dim(`\n  ${signal}: stopping the station and the gateway… (again to quit at once)`));
  void cleanup().then(() => process.exit(130));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

class Interrupted extends Error {}

// ---- admin API ----------------------------------------------------------------------------

let adminUrl = '';
async function api<T = any>(method: string, route: string, body?: unknown): Promise<T> {
  if (interrupted) throw new Interrupted();
  const res = await fetch(adminUrl + route, {
    method,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route} → HTTP ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

function step(text: string): void {
  say(`${cyan('▸')} ${text}`);
}

// ---- the demo -----------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = Date.now();
  say(bold('Prepaid OCPP 1.6J gateway — demo'));
  say(dim(`  a wallet with ${money(TOP_UP)}, a simulated DC charger at ${TIME_SCALE}× speed, and a stop at zero`));
  say();

  const config = loadConfig({
    HOST: '127.0.0.1',
    OCPP_PORT: '0',
    ADMIN_PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_API_KEY: apiKey,
    LOG_LEVEL: 'warn',
    HEARTBEAT_INTERVAL_S: '60',
    METER_VALUE_SAMPLE_INTERVAL_S: String(SAMPLE_INTERVAL_S),
    BILLING_SWEEP_INTERVAL_S: '1',
    // The demo runs an hour of DC charging in a minute: no real station delivers energy that
    // fast, so the gateway's plausibility check is off here.
    MAX_STATION_POWER_KW: '0',
  });
  // Warnings are kept for the end: log lines would tear the live display apart.
  const log = createLogger(config.logLevel, { write: (line: string) => void gatewayWarnings.push(line.trim()) });
  step(`starting the gateway (embedded database in ${dataDir})`);
  app = await createApp(config, { log, stopRetryDelaysMs: [500, 1_000, 2_000] });
  const started = await app.start();
  adminUrl = `http://127.0.0.1:${started.adminPort}`;
  const ocppUrl = `ws://127.0.0.1:${started.ocppPort}/ocpp`;
  say(dim(`    OCPP ${ocppUrl}   admin API ${adminUrl}/v1   (${Date.now() - t0} ms)`));

  const org = await api('POST', '/v1/organizations', { name: 'Demo Charging Co', minimum_balance_to_start_session: MINIMUM_TO_START });
  step(`organization ${bold(org.name)}: minimum balance to start ${money(org.minimum_balance_to_start_session)}`);
  const rate = await api('POST', '/v1/rates', {
    description: 'Demo DC rate',
    currency: 'USD',
    price_components: [{ type: 'ENERGY', price: ENERGY_PRICE, tax: TAX_PERCENT }],
  });
  step(`rate: ${ENERGY_PRICE} ¢/kWh + ${TAX_PERCENT} % tax = ${((ENERGY_PRICE * (100 + TAX_PERCENT)) / 100).toFixed(2)} ¢/kWh`);
  const cs = await api('POST', '/v1/chargestations', { ocpp_id: STATION_ID, rate: rate._id });
  step(`charge station ${bold(cs.ocpp_id)} registered`);
  const user = await api('POST', '/v1/users', { firstname: 'Ada', lastname: 'Driver', email: 'ada.driver@example.com', organization: org._id });
  const token = await api('POST', '/v1/tokens', { physicalId: IDTAG, user: user._id });
  step(`user ${bold(`${user.firstname} ${user.lastname}`)} with RFID token ${bold(token.physicalId)}`);

  const withWallet = await api('GET', `/v1/users/${user._id}/wallet`);
  step(`GET /v1/users/${user._id}/wallet`);
  say(indentJson(withWallet));
  const walletId: string = withWallet.wallet._id;
  const topUp = await api('POST', '/v1/top_up', { type: 'manual', wallet: walletId, amount: TOP_UP });
  step(`top-up of ${bold(money(topUp.amount))} → wallet balance ${money((await api('GET', `/v1/users/${user._id}/wallet`)).wallet.balance)}`);

  // ---- the charger --------------------------------------------------------------------------
  station = new SimStation({
    url: ocppUrl,
    identity: STATION_ID,
    connectors: 1,
    powerProfile: 'dc150',
    timeScale: TIME_SCALE,
    ev: EV,
    vendor: 'SimVendor',
    model: 'Sim-DC150',
  });
  const sampleIntervalSet = station
    .waitFor('configurationChanged', (c) => c.key === 'MeterValueSampleInterval', 5_000)
    .catch(() => undefined);
  await station.start();
  await sampleIntervalSet;
  step(`simulated charger connected and booted (DC up to 150 kW; sends meter values every ${SAMPLE_INTERVAL_S} simulated s)`);

  let remoteStopAt: number | undefined;
  let registerAtStopRequest: number | undefined;
  let lastSampleWh: number | undefined;
  station.on('meterSample', (s) => {
    lastSampleWh = s.registerWh;
  });
  station.on('remoteStop', (r) => {
    remoteStopAt = Date.now();
    registerAtStopRequest = lastSampleWh;
    say(`  ${red('■')} the gateway sent ${bold('RemoteStopTransaction')} (transaction ${r.transactionId}); the charger answered ${r.status}`);
  });
  station.on('sessionStopped', (s) => {
    say(`  ${red('■')} the charger stopped: StopTransaction reason ${bold(s.reason)}, meterStop ${s.meterStop} Wh`);
  });

  const startedSession = await station.startSession(1, IDTAG);
  if (startedSession.outcome !== 'Started') throw new Error(`the session did not start: ${JSON.stringify(startedSession)}`);
  const transactionId = startedSession.transactionId;
  step(`plugged in, token presented: StartTransaction ${startedSession.idTagStatus}, transaction ${transactionId}`);
  const list = await api('GET', `/v1/sessions?chargestation=${cs._id}`);
  const sessionId: string | undefined = list.data.find((s: any) => s.transaction_id === transactionId)?._id;
  if (!sessionId) throw new Error(`no session for transaction ${transactionId}`);

  say();
  say(bold('     time     power     energy    cost  wallet' + ' '.repeat(15) + 'status'));
  if (tty) process.stdout.write('\x1b[?25l');
  const chargingStart = Date.now();
  let session: any;
  let balance = TOP_UP;
  let lastPrinted = '';
  for (;;) {
    if (interrupted) throw new Interrupted();
    [session, balance] = await Promise.all([
      api('GET', `/v1/sessions/${sessionId}`),
      api('GET', `/v1/users/${user._id}/wallet`).then((u) => u.wallet.balance as number),
    ]);
    const elapsed = (Date.now() - chargingStart) / 1000;
    const simulated = Math.round(elapsed * TIME_SCALE);
    const key = `${session.energy_wh}/${balance}/${session.status}`;
    const line =
      `  ${elapsed.toFixed(1).padStart(5)} s  ${kw(session.status === 'completed' ? 0 : session.power_w)}  ${kwh(session.energy_wh).padStart(9)}` +
      `  ${money(session.cost.amount).padStart(6)}  ${money(balance).padStart(6)} ${bar(balance, TOP_UP, 12)}  ${session.status}`;
    const extra = dim(`  (${Math.floor(simulated / 60)}m${String(simulated % 60).padStart(2, '0')}s simulated)`);
    if (tty || key !== lastPrinted) showStatus(line, extra);
    lastPrinted = key;
    if (session.status === 'completed' || session.status === 'stop_failed') break;
    if (Date.now() - chargingStart > CHARGING_DEADLINE_MS) {
      throw new Error(`the session is still ${session.status} after ${CHARGING_DEADLINE_MS / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  clearStatus();
  if (tty) process.stdout.write('\x1b[?25h');
  say();

  // ---- the result --------------------------------------------------------------------------
  step(`GET /v1/sessions/${sessionId}`);
  say(indentJson(session));
  const ledger = await api('GET', `/v1/users/${user._id}/wallet/transactions?limit=200`);
  step(`GET /v1/users/${user._id}/wallet/transactions  (${ledger.data.length} entries)`);
  say(bold('    type      amount   balance after   for'));
  const row = (e: any) => {
    const what = e.session ? `session ${e.session}` : e.top_up ? `top-up ${e.top_up}` : '';
    const amount = e.type === 'credit' ? green(`+${money(e.amount)}`.padStart(8)) : `-${money(e.amount)}`.padStart(8);
    const after = money(e.balance_after).padStart(13);
    say(`    ${e.type.padEnd(6)}  ${amount}   ${e.balance_after < 0 ? red(after) : after}   ${dim(what)}`);
  };
  const entries: any[] = ledger.data;
  if (entries.length <= 12) entries.forEach(row);
  else {
    entries.slice(0, 4).forEach(row);
    say(dim(`    … ${entries.length - 8} more entries …`));
    entries.slice(-4).forEach(row);
  }
  const debits = entries.filter((e) => e.type === 'debit' && e.session === sessionId);
  const debited = debits.reduce((sum: number, e) => sum + e.amount, 0);
  const crossingIndex = entries.findIndex((e) => e.type === 'debit' && e.balance_after <= 0);
  const crossing = entries[crossingIndex];
  const tailCost = entries
    .slice(crossingIndex + 1)
    .filter((e) => e.type === 'debit')
    .reduce((sum: number, e) => sum + e.amount, 0);
  say();
  say(
    `  ${bold('Result:')} ${kwh(session.energy_wh)} delivered, session cost ${money(session.cost.amount)}, ` +
      `${debits.length} debits totalling ${money(debited)}; wallet ${money(TOP_UP)} → ${bold(money(balance))}.`,
  );
  if (balance < 0 && crossing) {
    const tailWh =
      registerAtStopRequest !== undefined && session.meter_stop !== null
        ? Math.max(0, session.meter_stop - registerAtStopRequest)
        : undefined;
    const before = crossing.balance_after + crossing.amount;
    say(
      `  ${bold('Why below zero?')} Debits follow the meter: the reading that crossed zero cost ${money(crossing.amount)} ` +
        `with ${money(before)} left (balance ${money(crossing.balance_after)}), and the charger delivered ` +
        `${tailWh !== undefined ? `another ${tailWh} Wh` : 'a little more'} (${tailCost > 0 ? money(tailCost) : 'under a cent'}) ` +
        `after that reading, while the gateway's RemoteStopTransaction${remoteStopAt !== undefined ? ` (sent at ${((remoteStopAt - chargingStart) / 1000).toFixed(1)} s)` : ''} ` +
        `was on its way.\n  Delivered energy is never free, so the wallet owes ${money(-balance)}; the next top-up pays that debt first.`,
    );
  } else if (balance > 0) {
    say(
      `  ${bold('Why not zero?')} The gateway stopped the charge ahead of zero (the predictive stop: it times ` +
        `the RemoteStopTransaction from the power it sees and the charger's stop delay), so ${money(balance)} stays in the wallet.`,
    );
  } else {
    say('  The balance landed exactly on zero: the last reading cost exactly what was left.');
  }

  if (gatewayWarnings.length) {
    say();
    say(yellow(`  the gateway logged ${gatewayWarnings.length} warning(s):`));
    for (const w of gatewayWarnings.slice(0, 10)) say(dim('    ' + w));
  }
  say();
  say(dim(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s; removing ${dataDir}`));
}

try {
  await main();
  await cleanup();
  process.exitCode = 0;
} catch (err) {
  if (interrupted || err instanceof Interrupted) {
    await cleaningUp;
  } else {
    say();
    say(red(`demo failed: ${err instanceof Error ? err.message : String(err)}`));
    for (const w of gatewayWarnings.slice(-10)) say(dim('    ' + w));
    await cleanup();
    process.exitCode = 1;
  }
}
