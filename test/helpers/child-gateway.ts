import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The real gateway in its own process (`node --import tsx src/main.ts`), for crash tests. */
export async function childGateway(env: Record<string, string>) {
  const ocppPort = await freePort();
  const adminPort = await freePort();
  const apiKey = 'child-gateway-key-0123456789';
  const fullEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    OCPP_PORT: String(ocppPort),
    ADMIN_PORT: String(adminPort),
    ADMIN_API_KEY: apiKey,
    LOG_LEVEL: 'warn',
    ...env,
  };
  let child: ChildProcess | undefined;
  const output: string[] = [];

  async function start() {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => output.push(String(d)));
    child.stderr!.on('data', (d) => output.push(String(d)));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}: ${output.join('')}`);
      try {
        const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
        if (res.ok) return;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gateway did not start: ${output.join('')}`);
  }

  await start();
  return {
    ocppUrl: `ws://127.0.0.1:${ocppPort}/ocpp`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    output,
    async api(method: string, path: string, body?: unknown) {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    /** SIGKILL: no graceful stop, nothing flushed. */
    async kill() {
      const c = child!;
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`the gateway had already exited (${c.exitCode ?? c.signalCode}): ${output.join('').slice(-3000)}`);
      }
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    /** SIGTERM; a gateway that has not exited 20 s later is killed, and that is an error. */
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), 20_000)));
      const outcome = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (outcome === 'late') {
        c.kill('SIGKILL');
        await exited;
        throw new Error(`gateway did not stop within 20 s of SIGTERM: ${output.join('').slice(-2000)}`);
      }
    },
    /**
     * SIGTERM: the exit code and how long the process took to exit (its output read to the end).
     * One still running after `killAfterMs` is killed (SIGKILL) and reported with code null.
     */
    async terminate(killAfterMs = 40_000): Promise<{ code: number | null; ms: number }> {
      const c = child!;
      if (c.exitCode !== null || c.signalCode !== null) return { code: c.exitCode, ms: 0 };
      const started = Date.now();
      // 'close', not 'exit': the process's last lines may still be in the pipe at 'exit'
      const closed = new Promise<number | null>((r) => c.once('close', (code) => r(code)));
      c.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), killAfterMs)));
      const outcome = await Promise.race([closed, late]);
      clearTimeout(timer);
      if (outcome === 'late') {
        c.kill('SIGKILL');
        await closed;
        return { code: null, ms: Date.now() - started };
      }
      return { code: outcome, ms: Date.now() - started };
    },
    restart: start,
  };
}
