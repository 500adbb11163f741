import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import type { Clock } from '../../src/shared/clock.ts';
import { createTestDatabase, pgliteTemplate, type TestDatabase } from './db.ts';

export const TEST_API_KEY = 'test-admin-key-0123456789abcdef';

export interface TestGateway {
  app: App;
  /** ws://127.0.0.1:<port>/ocpp */
  ocppUrl: string;
  adminUrl: string;
  apiKey: string;
  bootstrapApiKey: string | undefined;
  /** every log line the gateway wrote, raw JSON text */
  logs: string[];
  database: TestDatabase;
  /** JSON request to the admin API with the test key */
  api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** reuse a database (for restart tests) */
  database?: TestDatabase;
  /** omit ADMIN_API_KEY so the first start creates one */
  noAdminKey?: boolean;
  /** waits between RemoteStopTransaction attempts */
  stopRetryDelaysMs?: readonly number[];
  /** grace for a StopTransaction after a connector's Available ended its session, before an alert */
  implicitEndAlertDelayMs?: number;
}

/** Starts the real gateway on ports 0 against a fresh database of this test pass. */
export async function startGateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const database = options.database ?? (await createTestDatabase());
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    OCPP_PORT: '0',
    ADMIN_PORT: '0',
    DATA_DIR: 'memory://',
    LOG_LEVEL: 'debug',
    HEARTBEAT_INTERVAL_S: '300',
    METER_VALUE_SAMPLE_INTERVAL_S: '30',
    ...(options.noAdminKey ? {} : { ADMIN_API_KEY: TEST_API_KEY }),
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...options.env,
  };
  const config = loadConfig(env);
  const logs: string[] = [];
  const log = createLogger(config.logLevel, { write: (line: string) => void logs.push(line) });
  const template = config.dataDir === 'memory://' && !config.databaseUrl ? pgliteTemplate() : undefined;
  const app = await createApp(config, {
    log,
    ...(template ? { pgliteTemplate: template } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.stopRetryDelaysMs ? { stopRetryDelaysMs: options.stopRetryDelaysMs } : {}),
    ...(options.implicitEndAlertDelayMs !== undefined ? { implicitEndAlertDelayMs: options.implicitEndAlertDelayMs } : {}),
  });
  const started = await app.start();
  const scheme = config.tls ? 'wss' : 'ws';
  const adminUrl = `http://127.0.0.1:${started.adminPort}`;
  const apiKey = started.bootstrapApiKey ?? TEST_API_KEY;
  return {
    app,
    ocppUrl: `${scheme}://127.0.0.1:${started.ocppPort}/ocpp`,
    adminUrl,
    apiKey,
    bootstrapApiKey: started.bootstrapApiKey,
    logs,
    database,
    async api(method, path, body, headers = {}) {
      const res = await fetch(adminUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await app.stop();
      if (!options.database) await database.drop();
    },
  };
}

let counter = 0;
/** A unique charge point identity for this test run. */
export function uniqueIdentity(prefix = 'CP'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
