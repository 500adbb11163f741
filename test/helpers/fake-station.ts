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
  call(action: string, params: unknown, options: { callTimeoutMs?: number } = {}): Promise<unknown> {
    this.calls.push({ action, params });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError('timed out')), options.callTimeoutMs ?? 30_000);
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
