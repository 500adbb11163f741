import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalLiveEvents, type LiveEvent } from '../../src/shared/events.ts';

describe('LocalLiveEvents', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps nothing and schedules nothing while nobody watches', () => {
    vi.useFakeTimers();
    const events = new LocalLiveEvents(() => {}, 250);
    expect(events.watched).toBe(false);
    events.publish({ type: 'session', id: 's1', data: { cost: 1 } });
    expect(vi.getTimerCount()).toBe(0);
    const seen: LiveEvent[][] = [];
    events.subscribe((b) => seen.push([...b]));
    vi.advanceTimersByTime(1000);
    expect(seen).toEqual([]); // what was published before anyone watched is not replayed
  });

  it('merges a subject’s events within a flush: later figures win, refresh sticks, ids are kept', () => {
    vi.useFakeTimers();
    const events = new LocalLiveEvents(() => {}, 250);
    const batches: LiveEvent[][] = [];
    const stop = events.subscribe((b) => batches.push([...b]));
    events.publish({ type: 'session', id: 's1', station: 'st1', wallet: 'w1', data: { cost: 1, energy_wh: 10 } });
    events.publish({ type: 'session', id: 's1', station: 'st1', wallet: null, refresh: true });
    events.publish({ type: 'session', id: 's1', data: { cost: 2 } });
    events.publish({ type: 'station', id: 'st1', data: { online: true } });
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(250);
    expect(batches).toEqual([
      [
        { type: 'session', id: 's1', station: 'st1', wallet: 'w1', data: { cost: 2, energy_wh: 10 }, refresh: true },
        { type: 'station', id: 'st1', data: { online: true } },
      ],
    ]);
    // a subject is flushed at most once per interval
    events.publish({ type: 'session', id: 's1', data: { cost: 3 } });
    vi.advanceTimersByTime(100);
    events.publish({ type: 'session', id: 's1', data: { cost: 4 } });
    vi.advanceTimersByTime(150);
    expect(batches).toHaveLength(2);
    expect(batches[1]).toEqual([{ type: 'session', id: 's1', data: { cost: 4 } }]);
    stop();
    expect(events.watched).toBe(false);
  });

  it('hands every listener the same batch, and one failing listener does not stop the others', () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    const events = new LocalLiveEvents((err) => errors.push(err), 250);
    const got: string[] = [];
    events.subscribe(() => {
      throw new Error('broken listener');
    });
    events.subscribe((b) => got.push(...b.map((e) => e.id)));
    events.publish({ type: 'alert', id: 'a1', refresh: true });
    vi.advanceTimersByTime(250);
    expect(got).toEqual(['a1']);
    expect(errors).toHaveLength(1);
    events.close();
    events.publish({ type: 'alert', id: 'a2' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
