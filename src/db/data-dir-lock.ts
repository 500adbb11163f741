import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CannotStartError } from '../shared/errors.ts';

/**
 * The embedded database is one PostgreSQL backend inside this process: two gateway processes
 * opening the same DATA_DIR would corrupt it. A pid file taken with O_EXCL stops the second
 * one with a clear message; a file left by a dead process is taken over.
 */
export interface DataDirLock {
  release(): void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock files this process holds now (a pid file naming this pid but not here is stale). */
const heldHere = new Set<string>();

export function acquireDataDirLock(dataDir: string): DataDirLock {
  const file = path.resolve(dataDir, 'gateway.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldHere.add(file);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          heldHere.delete(file);
          try {
            unlinkSync(file);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      // Our own pid, in a file this process does not hold, was left by an earlier process: in a
      // container the gateway is pid 1 on every start, and one that did not exit cleanly
      // (SIGKILL, the graceful stop's deadline) left its file behind.
      const live = pid === process.pid ? heldHere.has(file) : processAlive(pid);
      if (Number.isInteger(pid) && pid > 0 && live) {
        throw new CannotStartError(
          `DATA_DIR ${dataDir} is in use by another gateway process (pid ${pid}): the embedded database ` +
            'serves one gateway process. To run several gateways as one cluster, start every one of them ' +
            'with DATABASE_URL set to the same PostgreSQL database (README, "A cluster of gateways").',
        );
      }
      unlinkSync(file);
    }
  }
  throw new Error(`could not lock DATA_DIR ${dataDir}`);
}
