import { readFileSync } from 'node:fs';

/**
 * Reads a V8 `.cpuprofile` and says where the busy time of a window went. V8 stamps samples
 * with the system's monotonic clock in microseconds, the clock of `process.hrtime`, so a window
 * measured in the benchmark process selects the same samples in the gateway's profile.
 */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(root)']);

function where(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/((?:src|bench|simulators)\/.*)$/.exec(url);
  if (own) return own[1]!;
  if (url.startsWith('node:')) return 'node:' + (url.includes('stream') || url.includes('net') ? 'net/streams' : url.slice(5).split('/')[0]);
  return url || '(native/VM)';
}

function label(n: ProfileNode): string {
  const f = n.callFrame;
  return `${f.functionName || '(anonymous)'} ${where(f.url)}${f.url ? ':' + (f.lineNumber + 1) : ''}`;
}

function table(rows: Map<string, number>, busy: number, limit: number, perMessageUs?: number): string {
  return [...rows]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, t]) => {
      const share = `${((100 * t) / busy).toFixed(1)}%`.padStart(6);
      const per = perMessageUs === undefined ? '' : ` ${((t / busy) * perMessageUs).toFixed(1).padStart(6)} µs/msg`;
      return `${share}${per}  ${name}`;
    })
    .join('\n');
}

export function summarizeProfile(file: string, o: { fromUs: number; toUs: number; messages?: number }): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per sample node within the window.
  const timeOf = new Map<number, number>();
  let t = p.startTime;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < o.fromUs || t > o.toUs) continue;
    const dt = p.timeDeltas[i + 1] ?? 0; // a sample stands for the interval up to the next one
    const node = byId.get(p.samples[i]!)!;
    if (IDLE.has(node.callFrame.functionName)) idle += dt;
    else timeOf.set(node.id, (timeOf.get(node.id) ?? 0) + dt);
  }
  const busy = [...timeOf.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const byWhere = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, dt] of timeOf) {
    const n = byId.get(id)!;
    self.set(label(n), (self.get(label(n)) ?? 0) + dt);
    const w = n.callFrame.url ? where(n.callFrame.url) : n.callFrame.functionName;
    byWhere.set(w, (byWhere.get(w) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l) || IDLE.has(byId.get(cur)!.callFrame.functionName)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  }
  const windowUs = o.toUs - o.fromUs;
  const perMessageUs = o.messages ? busy / o.messages : undefined;
  return [
    `window ${(windowUs / 1e6).toFixed(1)} s: busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / windowUs).toFixed(0)}% of one core), idle ${(idle / 1e6).toFixed(2)} s` +
      (perMessageUs === undefined ? '' : `; ${o.messages} MeterValues answered, ${perMessageUs.toFixed(1)} µs busy per message`),
    '',
    '## self time by package / file',
    table(byWhere, busy, 25, perMessageUs),
    '',
    '## self time by function',
    table(self, busy, 40, perMessageUs),
    '',
    '## inclusive time (a function and what it calls)',
    table(inclusive, busy, 60),
  ].join('\n');
}
