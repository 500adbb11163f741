/**
 * `npm run test:faults`: the fault and hostile-input suites (crashes, database cuts, broken
 * stations, protocol and REST fuzzing, handshake attacks, floods, throttles, money guards), on
 * the embedded database and then on PostgreSQL (DATABASE_URL, or the local server).
 */
import { spawnSync } from 'node:child_process';

const SUITES = ['test/e2e/faults-', 'test/e2e/fuzz-', 'test/e2e/hostile-', 'test/e2e/auth-throttle', 'test/e2e/money-guards'];
const postgres = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

for (const [name, env] of [
  ['embedded database (PGlite)', { ...process.env, DATABASE_URL: '' }],
  [`PostgreSQL (${new URL(postgres).host})`, { ...process.env, DATABASE_URL: postgres }],
] as const) {
  process.stdout.write(`\n== fault and hostile-input suites on the ${name}\n`);
  const run = spawnSync('npx', ['vitest', 'run', ...SUITES], { stdio: 'inherit', env });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
