import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { createDb } from '../src/db/index.ts';
import { migrateToLatest } from '../src/db/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
  }
}

/**
 * Runs once per test run: an embedded database with every migration applied, dumped to a file.
 * Each test's in-memory PGlite loads it instead of running initdb and the migrations again.
 */
export default async function setup(project: TestProject) {
  const handle = await createDb({ dataDir: 'memory://' });
  await migrateToLatest(handle.db);
  const dump = await dumpOf(handle);
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-test-template-'));
  const file = path.join(dir, 'pglite.tar');
  writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
  await handle.close();
  project.provide('pgliteTemplate', file);
}

async function dumpOf(handle: Awaited<ReturnType<typeof createDb>>): Promise<Blob> {
  if (!handle.dumpDataDir) throw new Error('not an embedded database');
  return handle.dumpDataDir();
}
