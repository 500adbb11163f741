import { describe, expect, it } from 'vitest';
import { createRPCError } from '../../simulators/rpc.ts';
import { TxQueue, type TxQueueDeps } from '../../simulators/tx-queue.ts';

function harness(overrides: Partial<TxQueueDeps> = {}) {
  const sent: Array<{ action: string; payload: any }> = [];
  const ids = new Map<number, number>();
  const state = { online: true, failNext: [] as unknown[] };
  const ac = new AbortController();
  const deps: TxQueueDeps = {
    canSend: () => state.online,
    call: async (action, payload) => {
      const failure = state.failNext.shift();
      if (failure) throw failure;
      sent.push({ action, payload });
      return action === 'StartTransaction' ? { transactionId: 500 + sent.length, idTagInfo: { status: 'Accepted' } } : {};
    },
    transactionIdFor: (ref) => ids.get(ref),
    onDelivered: (message, result) => {
      if (message.payload.action === 'StartTransaction') ids.set(message.sessionRef, (result as any).transactionId);
    },
    duplicate: () => false,
    maxAttempts: () => 2,
    retryDelayMs: () => 1,
    signal: () => ac.signal,
    warn: () => undefined,
    ...overrides,
  };
  return { queue: new TxQueue(deps), sent, state, ids, ac };
}

const start = { action: 'StartTransaction' as const, body: { connectorId: 1, idTag: 'T', meterStart: 0, timestamp: 't0' } };
const meter = (ts: string) => ({ action: 'MeterValues' as const, body: { connectorId: 1, meterValue: [{ timestamp: ts, sampledValue: [{ value: '1' }] }] } });
const stop = { action: 'StopTransaction' as const, body: { meterStop: 5, timestamp: 't9' } };

describe('TxQueue', () => {
  it('holds messages while offline and replays them in order with the real transaction id', async () => {
    const { queue, sent, state } = harness();
    state.online = false;
    queue.enqueue(1, 7, start);
    queue.enqueue(1, 7, meter('t1'));
    queue.enqueue(1, 7, stop);
    expect(queue.length).toBe(3);
    expect(sent).toHaveLength(0);
    state.online = true;
    await queue.pump();
    expect(sent.map((s) => s.action)).toEqual(['StartTransaction', 'MeterValues', 'StopTransaction']);
    expect(sent[1]!.payload).toMatchObject({ transactionId: 501, meterValue: [{ timestamp: 't1' }] });
    expect(sent[2]!.payload).toEqual({ meterStop: 5, timestamp: 't9', transactionId: 501 });
    expect(await queue.drained(100)).toBe(true);
  });

  it('keeps a message after a connection failure and retries CALLERRORs up to the attempt limit', async () => {
    const { queue, sent, state } = harness();
    state.failNext.push(new Error('Client disconnected'));
    const first = queue.enqueue(1, 1, start);
    await queue.pump();
    expect(queue.length).toBe(1); // connection errors keep the message
    await queue.pump();
    expect((await first.done).delivered).toBe(true);

    state.failNext.push(createRPCError('InternalError'), createRPCError('InternalError'));
    const doomed = queue.enqueue(1, 2, start);
    const orphan = queue.enqueue(1, 2, stop);
    await doomed.done;
    expect(await doomed.done).toMatchObject({ delivered: false, reason: 'dropped' });
    // its StopTransaction cannot be sent without a transaction id
    expect(await orphan.done).toMatchObject({ delivered: false, reason: 'unresolved' });
    expect(sent).toHaveLength(1);
  });

  it('sends MeterValues / StopTransaction twice when duplicating', async () => {
    const { queue, sent } = harness({ duplicate: () => true });
    queue.enqueue(1, 3, start);
    queue.enqueue(1, 3, meter('t1'));
    const last = queue.enqueue(1, 3, stop);
    await last.done;
    expect(sent.map((s) => s.action)).toEqual([
      'StartTransaction',
      'MeterValues',
      'MeterValues',
      'StopTransaction',
      'StopTransaction',
    ]);
  });

  it('discards the unsent messages of a session it lets go of, also from onDelivered', async () => {
    const { queue, sent, state } = harness({
      onDelivered: (message) => {
        if (message.payload.action === 'StartTransaction') queue.discard(message.sessionRef);
      },
    });
    state.online = false;
    queue.enqueue(1, 4, start);
    const meterOf4 = queue.enqueue(1, 4, meter('t1'));
    const other = queue.enqueue(2, 5, { ...start, body: { ...start.body, connectorId: 2 } });
    state.online = true;
    await queue.pump();
    expect(await meterOf4.done).toMatchObject({ delivered: false, reason: 'dropped' });
    expect((await other.done).delivered).toBe(true);
    expect(sent.map((s) => [s.action, (s.payload as { connectorId: number }).connectorId])).toEqual([
      ['StartTransaction', 1],
      ['StartTransaction', 2],
    ]);
  });
});
