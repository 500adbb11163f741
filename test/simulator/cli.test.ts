import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { expandIdTag, parseCliArgs } from '../../simulators/cli-args.ts';
import { TestCentralSystem } from './central-system.ts';

const CLI = fileURLToPath(new URL('../../simulators/cli.ts', import.meta.url));

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI under tsx; `onStdout` may act on output (e.g. send SIGINT). */
function runCli(args: string[], onStdout?: (text: string, kill: (signal: NodeJS.Signals) => void) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(stdout, (signal) => child.kill(signal));
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

let cs: TestCentralSystem | undefined;
afterEach(async () => {
  await cs?.close();
  cs = undefined;
});

describe('CLI argument parsing', () => {
  it('parses options with defaults', () => {
    const opts = parseCliArgs(['--url', 'ws://h:9000/ocpp/', '--stations', '3', '--remote-stop', 'rejectFirst', '--offline', '30:5']);
    expect(opts).toMatchObject({
      url: 'ws://h:9000/ocpp',
      stations: 3,
      connectors: 1,
      prefix: 'SIM',
      timeScale: 1,
      profile: 'ac11',
      remoteStop: 'rejectFirst',
      offline: { every: 30, for: 5, fraction: 0.1 },
      energyUnit: 'Wh',
    });
    expect(parseCliArgs(['--help'])).toBe('help');
  });

  it('rejects bad input', () => {
    expect(() => parseCliArgs([])).toThrow(/--url/);
    expect(() => parseCliArgs(['--url', 'http://x'])).toThrow(/ws:\/\//);
    expect(() => parseCliArgs(['--url', 'ws://x', '--connectors', '4'])).toThrow(/connectors/);
    expect(() => parseCliArgs(['--url', 'ws://x', '--profile', 'dc400'])).toThrow(/profile/);
    expect(() => parseCliArgs(['--url', 'ws://x', '--bogus'])).toThrow();
  });

  it('parses several URLs, per-operation answers and the field behaviours', () => {
    const opts = parseCliArgs([
      '--url', 'ws://a:9000/ocpp,ws://b:9000/ocpp/',
      '--url', 'ws://c:9000/ocpp',
      '--answer', 'TriggerMessage=ignore',
      '--answer', 'ChangeConfiguration=Rejected',
      '--answer', 'GetDiagnostics=error:NotSupported',
      '--stop-delay', '1:5',
      '--power', '150',
      '--sample-interval', '60',
      '--clock-aligned-interval', '900',
      '--no-stop-on-invalid-id',
      '--meter-stop-deficit', '150',
      '--status-vendor', 'Acme:E17:door open',
      '--vendor-extras',
      '--timestamps-without-zone',
      '--clock-skew=-30',
      '--pongless',
      '--basic-auth-challenge',
      '--reading-burst', '3',
      '--remote-stop', 'acceptNoStop',
      '--features', 'Core,SmartCharging',
    ]);
    expect(opts).not.toBe('help');
    if (opts === 'help') return;
    expect(opts.urls).toEqual(['ws://a:9000/ocpp', 'ws://b:9000/ocpp', 'ws://c:9000/ocpp']);
    expect(opts.url).toBe('ws://a:9000/ocpp');
    expect(opts.remoteStop).toBe('acceptNoStop');
    expect(opts.station).toMatchObject({
      basicAuth: 'challenge',
      fixedPowerW: 150_000,
      meterValueSampleInterval: 60,
      clockAlignedDataInterval: 900,
      features: ['Core', 'SmartCharging'],
      answers: {
        TriggerMessage: { noReply: true },
        ChangeConfiguration: 'Rejected',
        GetDiagnostics: { callError: 'NotSupported' },
      },
    });
    expect(opts.field).toEqual({
      stopDelaySeconds: [1, 5],
      dropRefusedTransactions: true,
      meterStopDeficitWh: 150,
      statusDetails: { vendorId: 'Acme', vendorErrorCode: 'E17', info: 'door open' },
      vendorExtras: true,
      timestampFormat: 'no-zone',
      clockSkewSeconds: -30,
      pongless: true,
      readingBurst: 3,
    });
    expect(() => parseCliArgs(['--url', 'ws://x', '--answer', 'Bogus=Accepted'])).toThrow(/--answer/);
    expect(() => parseCliArgs(['--url', 'ws://x', '--stop-delay', '5:1'])).toThrow(/stop-delay/);
    expect(() => parseCliArgs(['--url', 'ws://x,http://y'])).toThrow(/ws:\/\//);
    expect(() => parseCliArgs(['--url', 'ws://x', '--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.pem'])).toThrow(/cannot read/);
    expect(() => parseCliArgs(['--url', 'ws://x', '--features', 'Core,Teleport'])).toThrow(/Teleport/);
  });

  it('expands idTag templates', () => {
    expect(expandIdTag('TAG{n}-{c}', 12, 2)).toBe('TAG12-2');
    expect(expandIdTag('X'.repeat(30), 1, 1)).toHaveLength(20);
  });
});

describe('CLI process', () => {
  it('prints usage with --help and exits 2 on bad arguments', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: tsx simulators/cli.ts');
    const bad = await runCli(['--stations', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--url is required');
  });

  it('runs a fleet with sessions for --duration, then stops sessions and prints a summary', async () => {
    cs = await TestCentralSystem.start({ heartbeatInterval: 10 });
    const result = await runCli([
      '--url', cs.url,
      '--stations', '3',
      '--connectors', '2',
      '--prefix', 'CLI',
      '--sessions',
      '--id-tag', 'T{n}C{c}',
      '--time-scale', '600',
      '--duration', '1.5',
      '--status-interval', '0.5',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/conn 3\/3 boot 3/);
    expect(result.stdout).toContain('Summary after');
    expect(result.stdout).toMatch(/BootNotification\s+3\s+3\s+0/);
    const starts = cs.calls.filter((c) => c.action === 'StartTransaction');
    expect(starts).toHaveLength(6);
    expect(new Set(starts.map((c) => c.params.idTag))).toEqual(new Set(['T1C1', 'T1C2', 'T2C1', 'T2C2', 'T3C1', 'T3C2']));
    const stops = cs.calls.filter((c) => c.action === 'StopTransaction');
    expect(stops).toHaveLength(6);
    expect(stops.every((c) => c.params.reason === 'Local')).toBe(true);
    expect(cs.calls.filter((c) => c.action === 'MeterValues').length).toBeGreaterThanOrEqual(6);
    expect(cs.validationFailures).toEqual([]);
  });

  it('spreads stations over several URLs and sends clock-aligned readings', async () => {
    cs = await TestCentralSystem.start();
    const other = await TestCentralSystem.start();
    try {
      const result = await runCli([
        '--url', `${cs.url},${other.url}`,
        '--stations', '2',
        '--prefix', 'DUO',
        '--time-scale', '600',
        '--clock-aligned-interval', '60',
        '--duration', '1',
        '--status-interval', '0.5',
      ]);
      expect(result.code).toBe(0);
      expect(cs.calls.filter((c) => c.action === 'BootNotification').map((c) => c.identity)).toEqual(['DUO0001']);
      expect(other.calls.filter((c) => c.action === 'BootNotification').map((c) => c.identity)).toEqual(['DUO0002']);
      const clock = cs.calls.filter((c) => c.action === 'MeterValues' && c.params.meterValue[0].sampledValue[0].context === 'Sample.Clock');
      expect(clock.length).toBeGreaterThanOrEqual(2);
      expect(cs.validationFailures).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('stops cleanly on SIGINT', async () => {
    cs = await TestCentralSystem.start();
    let sent = false;
    const result = await runCli(['--url', cs.url, '--stations', '2', '--sessions', '--time-scale', '60'], (out, kill) => {
      if (!sent && out.includes('connected in')) {
        sent = true;
        kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('interrupted');
    expect(result.stdout).toContain('Summary after');
    expect(cs.calls.filter((c) => c.action === 'BootNotification')).toHaveLength(2);
  });
});
