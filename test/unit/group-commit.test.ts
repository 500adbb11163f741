import { describe, expect, it } from 'vitest';
import { BatchLoader, GroupCommit } from '../../src/shared/group-commit.ts';

/** A GroupCommit whose first write waits until `release()`; `writes` records each batch. */
function gatedAfterFirst() {
  const writes: number[][] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const gc = new GroupCommit<number>(async (items) => {
    writes.push(items);
    if (writes.length === 1) await gate;
  });
  return { writes, gc, release: () => release() };
}

describe('GroupCommit', () => {
  it('writes what arrives during a write as one batch, in order, and settles each submitter after its write', async () => {
    const { writes, gc, release } = gatedAfterFirst();
    const settled: number[] = [];
    const first = gc.submit(1).then(() => void settled.push(1));
    await new Promise((r) => setTimeout(r, 5));
    const rest = [2, 3, 4].map((n) => gc.submit(n).then(() => void settled.push(n)));
    await new Promise((r) => setTimeout(r, 5));
    expect(writes).toEqual([[1]]);
    expect(settled).toEqual([]);
    release();
    await Promise.all([first, ...rest]);
    expect(writes).toEqual([[1], [2, 3, 4]]);
    expect(settled).toEqual([1, 2, 3, 4]);
  });

  it('starts a write at the end of the event loop turn, so what one turn submits shares it', async () => {
    const writes: number[][] = [];
    const gc = new GroupCommit<number>(async (items) => void writes.push(items));
    // as a node reading several messages in one poll: each handler submits, none waits
    const submitted = [1, 2, 3].map((n) => gc.submit(n));
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    const later = gc.submit(4);
    await Promise.all([...submitted, later]);
    expect(writes).toEqual([[1, 2, 3], [4]]);
  });

  it('after a write, takes what the rest of that turn submits into the next one', async () => {
    const { writes, gc, release } = gatedAfterFirst();
    const first = gc.submit(1);
    await new Promise((r) => setTimeout(r, 5));
    const second = gc.submit(2);
    // One turn: the write's answer is read, then more messages (two callbacks of one phase).
    const rest: Promise<void>[] = [];
    setImmediate(() => release());
    setImmediate(() => rest.push(gc.submit(3), gc.submit(4)));
    await Promise.all([first, second]);
    await Promise.all(rest);
    expect(writes).toEqual([[1], [2, 3, 4]]);
  });

  it('rejects the items of a failed write only, and keeps going', async () => {
    const gc = new GroupCommit<string>(async (items) => {
      if (items.includes('bad')) throw new Error('write failed');
    }, { maxBatch: 1 });
    const results = await Promise.allSettled([gc.submit('a'), gc.submit('bad'), gc.submit('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await gc.drain();
  });
  it('settles each submitter with its own result', async () => {
    const gc = new GroupCommit<number, string>(async (items) => items.map((n) => `#${n}`));
    expect(await Promise.all([1, 2, 3].map((n) => gc.submit(n)))).toEqual(['#1', '#2', '#3']);
  });

  it('with isolateFailures, a failed batch is written again item by item, so one bad item fails alone', async () => {
    const writes: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<string, string>(
      async (items) => {
        writes.push(items);
        if (writes.length === 1) await gate;
        if (items.includes('bad')) throw new Error('write failed');
        return items.map((i) => i.toUpperCase());
      },
      { isolateFailures: (err) => (err as Error).message === 'write failed' },
    );
    const first = gc.submit('first');
    await new Promise((r) => setTimeout(r, 5));
    const rest = Promise.allSettled([gc.submit('a'), gc.submit('bad'), gc.submit('c')]);
    release();
    expect(await first).toBe('FIRST');
    const results = await rest;
    expect(results).toEqual([
      { status: 'fulfilled', value: 'A' },
      { status: 'rejected', reason: new Error('write failed') },
      { status: 'fulfilled', value: 'C' },
    ]);
    expect(writes).toEqual([['first'], ['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('runs up to `concurrency` writes at once and drains them all', async () => {
    let inFlight = 0;
    let most = 0;
    const gc = new GroupCommit<number>(
      async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight -= 1;
      },
      { maxBatch: 1, concurrency: 3 },
    );
    for (let i = 0; i < 10; i++) void gc.submit(i);
    expect(gc.pending).toBe(10);
    await gc.drain();
    expect(gc.pending).toBe(0);
    expect(most).toBe(3);
  });
});

describe('BatchLoader', () => {
  it('looks up the keys asked for during a lookup together, once each, and answers every caller', async () => {
    const loads: string[][] = [];
    const loader = new BatchLoader<string, number>(async (keys) => {
      loads.push(keys);
      await new Promise((r) => setTimeout(r, 5));
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
    });
    const first = loader.get('a');
    await new Promise((r) => setImmediate(r)); // the first lookup is under way
    const answers = await Promise.all([first, ...['bb', 'bb', 'missing', 'ccc'].map((k) => loader.get(k))]);
    expect(answers).toEqual([1, 2, 2, undefined, 3]);
    expect(loads).toEqual([['a'], ['bb', 'missing', 'ccc']]);
  });

  it('looks up the keys asked for in one turn of the event loop in one lookup', async () => {
    const loads: string[][] = [];
    const loader = new BatchLoader<string, number>(async (keys) => {
      loads.push(keys);
      return new Map(keys.map((k) => [k, k.length]));
    });
    const answers = await Promise.all(['a', 'bb', 'a', 'ccc'].map((k) => loader.get(k)));
    expect(answers).toEqual([1, 2, 1, 3]);
    expect(loads).toEqual([['a', 'bb', 'ccc']]);
  });

  it('a failed lookup fails its keys and the next lookup still runs', async () => {
    const loader = new BatchLoader<string, string>(async (keys) => {
      if (keys.includes('boom')) throw new Error('db down');
      return new Map(keys.map((k) => [k, k.toUpperCase()]));
    }, 1);
    const [a, b, c] = await Promise.allSettled([loader.get('x'), loader.get('boom'), loader.get('y')]);
    expect(a).toEqual({ status: 'fulfilled', value: 'X' });
    expect(b.status).toBe('rejected');
    expect(c).toEqual({ status: 'fulfilled', value: 'Y' });
  });

  it('a key that makes the batched lookup fail fails only itself; the rest of its batch is answered', async () => {
    const loads: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const loader = new BatchLoader<string, string>(async (keys) => {
      loads.push(keys);
      if (loads.length === 1) await gate;
      if (keys.includes('nul\0')) throw new Error('invalid byte sequence');
      return new Map(keys.map((k) => [k, k.toUpperCase()]));
    });
    const first = loader.get('first');
    await new Promise((r) => setImmediate(r)); // the first lookup is under way
    const batch = ['a', 'b', 'nul\0', 'c', 'd'].map((k) => loader.get(k));
    release();
    await first;
    const results = await Promise.allSettled(batch);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual(['A', 'B', 'rejected', 'C', 'D']);
    // the batch, then halves until the bad key stands alone
    expect(loads.length).toBeLessThanOrEqual(2 + 2 * Math.ceil(Math.log2(5)));
  });

  it('an error that is not about one key (the database is down) fails the batch without splitting it', async () => {
    let calls = 0;
    const loader = new BatchLoader<string, string>(
      async (keys) => {
        calls += 1;
        if (calls === 1) await new Promise((r) => setTimeout(r, 5));
        else throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', keys });
        return new Map();
      },
      1_000,
      (err) => (err as { code?: string }).code !== 'ECONNREFUSED',
    );
    const first = loader.get('x');
    await new Promise((r) => setImmediate(r)); // the first lookup is under way
    const batch = ['a', 'b', 'c', 'd'].map((k) => loader.get(k));
    await first;
    const results = await Promise.allSettled(batch);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBe(2);
  });
});

