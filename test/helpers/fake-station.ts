import { EventEmitter } from 'node:events';
import type { LiveClient } from '../../src/ocpp/connections.ts';
import { TimeoutError } from '../../src/ocpp/rpc.ts';

export type Answerer = (action: string, params: any) => Promise<unknown>;

/** A station socket as LocalConnections sees it, answering calls as the test says (Accepted by default). */
export class FakeStation extends EventEmitter implements LiveClient {
  state = 1;
  calls: { action: string; params: any }[] = [];
  constructor(
    readonly identity: string,
    private readonly answer: Answerer = async () => ({ status: 'Accepted' }),
  ) {
    super();
  }
  /** As ocpp-rpc's: a finite `callTimeoutMs` times the call out, an aborted `signal` ends it with an AbortError. */
  call(action: string, params: unknown, options: { callTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
    this.calls.push({ action, params });
    return new Promise((resolve, reject) => {
      const ms = options.callTimeoutMs ?? 30_000;
      const timer = Number.isFinite(ms) ? setTimeout(() => reject(new TimeoutError('timed out')), ms) : undefined;
      options.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(Object.assign(new Error(String(options.signal!.reason)), { name: 'AbortError' }));
        },
        { once: true },
      );
      this.answer(action, params).then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }
  async close(): Promise<void> {
    if (this.state !== 1) return;
    this.state = 3;
    this.emit('close', { code: 1000, reason: '' });
  }
  override once(event: 'close', listener: () => void): this {
    return super.once(event, listener);
  }
  /** the transaction ids of the RemoteStopTransaction calls it received */
  get stops(): number[] {
    return this.calls.filter((c) => c.action === 'RemoteStopTransaction').map((c) => c.params.transactionId as number);
  }
}
