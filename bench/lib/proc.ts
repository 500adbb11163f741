import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from './util.ts';

/** The repository root (bench/lib/ → ../..). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Soft/hard open-file limits of this shell, and what children are started with. */
export function fileLimits(): { soft: number; hard: number } {
  const read = (flag: string) => Number(execFileSync('bash', ['-c', `ulimit ${flag} -n`]).toString().trim());
  return { soft: read('-S'), hard: read('-H') };
}

/** The open-file limit children get (spawnNode raises the soft limit as far as it may go). */
export function childFileLimit(): number {
  return Number(execFileSync('bash', ['-c', `${RAISE_NOFILE}; ulimit -n`]).toString().trim());
}

const RAISE_NOFILE = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -H -n)"';

const TICKS_PER_S = 100; // USER_HZ on Linux

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** RSS after a settle time: the median of three samples. */
export async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    samples.push(rssBytes(pid));
    await sleep(200);
  }
  return samples.sort((a, b) => a - b)[1]!;
}

/** user + system CPU seconds of a process. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S; // utime, stime
}

/** What cpuSecondsOf has seen of each process name: a running total, and each process's CPU at the last look. */
const seenCpu = new Map<string, { total: number; byPid: Map<number, number> }>();

/**
 * CPU seconds used by the processes named `comm` (e.g. the PostgreSQL server's backends), as a
 * counter that only grows, for the difference of two calls: a sum over the processes alive at
 * each call would drop when one exits (a closed connection's backend) and make a window's CPU
 * negative. A process seen for the first time after the first call counts from its start (it
 * was born since); what one used between the last call and its exit is not counted.
 */
export function cpuSecondsOf(comm: string): number {
  let seen = seenCpu.get(comm);
  const first = !seen;
  if (!seen) seenCpu.set(comm, (seen = { total: 0, byPid: new Map() }));
  const now = new Map<number, number>();
  for (const line of execFileSync('bash', ['-c', `pgrep -x ${comm} || true`]).toString().split('\n')) {
    const pid = Number(line.trim());
    if (!pid) continue;
    try {
      now.set(pid, cpuSeconds(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  if (!first) {
    for (const [pid, cpu] of now) {
      const before = seen.byPid.get(pid) ?? 0;
      seen.total += cpu >= before ? cpu - before : cpu; // less than before: the pid was reused
    }
  }
  seen.byPid = now;
  return seen.total;
}

/** File descriptors a process holds open right now (sockets included). */
export function openFileCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function openFilesLimit(pid: number): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A Node child process (`node --import tsx <script>`) with its recent output kept for diagnosis. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  readonly alive: () => boolean;
  /** last lines of stdout+stderr */
  tail(): string;
  /** counts of pino levels seen on stdout (40 warn, 50 error, 60 fatal), distinct messages, a line of each */
  readonly logs: { warn: number; error: number; samples: string[]; lines: string[] };
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash); resolves when the process has exited. */
  kill(): Promise<void>;
}

const children = new Set<Child>();
/** Each child stopped: CPU seconds used, seconds alive, how long it took to exit, whether SIGKILL was needed. */
export const childStops: { name: string; cpuS: number; wallS: number; stopMs: number; killed: boolean }[] = [];

/** `cwd`: the checkout to run `script` from (default this one; bench/flood.ts can measure an older one). */
export function spawnNode(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = [], cwd = ROOT): Child {
  // Raise the soft open-file limit to the hard one for the child (10,000 sockets need it).
  const args = nodeArgs.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const cmd = `${RAISE_NOFILE}; exec node ${args} --import tsx ${script}`;
  const started = Date.now();
  const proc: ChildProcess = spawn('bash', ['-c', cmd], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const logs = { warn: 0, error: 0, samples: [] as string[], lines: [] as string[] };
  // BENCH_CHILD_LOG_DIR=<dir>: every line a child prints, kept in <dir>/<name>-<pid>.log.
  const logFile = process.env.BENCH_CHILD_LOG_DIR ? path.join(process.env.BENCH_CHILD_LOG_DIR, `${name}-${proc.pid}.log`) : undefined;
  const keep = (line: string) => {
    if (!line.trim()) return;
    if (logFile) appendFileSync(logFile, line + '\n');
    lines.push(line);
    if (lines.length > 60) lines.shift();
    const level = /"level":(\d+)/.exec(line)?.[1];
    if (level === '40') logs.warn++;
    if (level === '50' || level === '60') logs.error++;
    if (level === '40' || level === '50' || level === '60') {
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 200);
      if (!logs.samples.includes(msg) && logs.samples.length < 8) {
        logs.samples.push(msg);
        logs.lines.push(line.slice(0, 600));
      }
    }
  };
  // Per stream, a line cut between two chunks waits for its end.
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      parts.forEach(keep);
    });
  }
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  const child: Child = {
    name,
    pid: proc.pid!,
    exited,
    alive: () => running,
    tail: () => lines.slice(-25).join('\n'),
    logs,
    async stop(graceMs = 20_000) {
      const t0 = Date.now();
      let cpuS = 0;
      try {
        cpuS = running ? cpuSeconds(proc.pid!) : 0;
      } catch {
        /* already gone */
      }
      if (running) proc.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
      if (killed && running) {
        proc.kill('SIGKILL');
        await exited;
      }
      childStops.push({ name, cpuS, wallS: Math.round((t0 - started) / 100) / 10, stopMs: Date.now() - t0, killed });
      children.delete(child);
    },
    async kill() {
      if (running) proc.kill('SIGKILL');
      await exited;
      childStops.push({ name, cpuS: 0, wallS: Math.round((Date.now() - started) / 100) / 10, stopMs: 0, killed: true });
      children.delete(child);
    },
  };
  children.add(child);
  return child;
}

/** Every child still running (for cleanup after a crash). */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...children].map((c) => c.stop(5_000)));
}

/** Polls an HTTP URL until it answers 200; fails early if the child exits. */
export async function waitHttpOk(url: string, child: Child, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!child.alive()) throw new Error(`${child.name} exited during start:\n${child.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  throw new Error(`${child.name} not healthy after ${timeoutMs} ms:\n${child.tail()}`);
}

/** CPU seconds of this process (the load generator). */
export const selfCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Starts measuring CPU of several sources (name → cumulative CPU seconds); the returned
 * function gives each one's use over the window in percent of one core.
 */
export function cpuWindow(sources: Record<string, () => number>): () => Record<string, number> {
  const t0 = Date.now();
  const start = Object.fromEntries(Object.entries(sources).map(([k, f]) => [k, safe(f)]));
  return () => {
    const wall = (Date.now() - t0) / 1000;
    return Object.fromEntries(
      Object.entries(sources).map(([k, f]) => [k, wall > 0 ? Math.round(((safe(f) - start[k]!) / wall) * 100) : 0]),
    );
  };
}

function safe(f: () => number): number {
  try {
    return f();
  } catch {
    return 0;
  }
}
