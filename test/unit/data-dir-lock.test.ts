import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock } from '../../src/db/data-dir-lock.ts';
import { CannotStartError } from '../../src/shared/errors.ts';

describe('the embedded data directory lock', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'gw-lock-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is refused while another live process holds it', () => {
    const dir = dataDir();
    writeFileSync(path.join(dir, 'gateway.pid'), String(process.ppid));
    expect(() => acquireDataDirLock(dir)).toThrow(CannotStartError);
  });

  it('takes over a file left by a process that is gone', () => {
    const dir = dataDir();
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(path.join(dir, 'gateway.pid'), String(gone));
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(path.join(dir, 'gateway.pid'), 'utf8')).toBe(String(process.pid));
    lock.release();
    expect(existsSync(path.join(dir, 'gateway.pid'))).toBe(false);
  });

  it('is refused while this same process holds it', () => {
    const dir = dataDir();
    const lock = acquireDataDirLock(dir);
    expect(() => acquireDataDirLock(dir)).toThrow(CannotStartError);
    lock.release();
    acquireDataDirLock(dir).release();
  });

  it('takes over a file naming its own pid (a container restarted: the gateway is pid 1 each time)', () => {
    const dir = dataDir();
    writeFileSync(path.join(dir, 'gateway.pid'), String(process.pid));
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(path.join(dir, 'gateway.pid'), 'utf8')).toBe(String(process.pid));
    lock.release();
  });
});
