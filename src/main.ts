import { ConfigError, loadConfig } from './config.ts';
import { createApp, type App } from './app.ts';
import { createLogger } from './logger.ts';
import { CannotStartError } from './shared/errors.ts';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  throw err;
}

const log = createLogger(config.logLevel);
let app: App;
try {
  app = await createApp(config, { log });
  const started = await app.start();
  if (started.bootstrapApiKey) {
    // Printed once, on purpose outside the structured log: it is never shown again.
    process.stdout.write(
      '\n' +
        '  First start: an admin API key was created. It is shown only this once; keep it safe.\n' +
        `    ${started.bootstrapApiKey}\n` +
        `  Use it as: Authorization: Bearer <key>   (admin API on port ${started.adminPort})\n\n`,
    );
  }
} catch (err) {
  if (err instanceof CannotStartError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  log.fatal({ err }, 'gateway failed to start');
  process.exit(1);
}

/**
 * A graceful stop lets stations' pending calls finish and hands this node's leases back. It is
 * bounded: one that has not finished by then exits with code 1 (what was left is in the
 * database's hands: leases expire, stations resend what was not answered).
 */
const STOP_DEADLINE_MS = 15_000;

let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    signals += 1;
    if (signals > 1) {
      log.warn('second signal: exiting without waiting');
      process.exit(1);
    }
    log.info({ signal }, 'stopping');
    // Not unref'd: a stop waiting on a promise that never settles, with no socket left open,
    // would otherwise let the process end with code 0 and nothing said.
    setTimeout(() => {
      log.error({ deadlineMs: STOP_DEADLINE_MS }, 'graceful stop did not finish in time: exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS);
    app.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  });
}
