import { performance } from 'node:perf_hooks';

export const now = (): number => performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref?.());

/** Runs fn over items with at most `concurrency` in flight; results in input order. */
export async function pMap<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

/** Polls `check` every `everyMs` until it is true or `timeoutMs` passes; returns whether it became true. */
export async function waitUntil(check: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const end = now() + timeoutMs;
  while (!check()) {
    if (now() >= end) return false;
    await sleep(everyMs);
  }
  return true;
}

export const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const round = (n: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

export function log(msg: string): void {
  const t = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${t}] ${msg}\n`);
}
