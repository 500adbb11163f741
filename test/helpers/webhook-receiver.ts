import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedEvent {
  id: string;
  type: string;
  timestamp: string;
  data: any;
  /** when it arrived (ms since epoch) */
  at: number;
}

/** What the receiver does with the next request: answer with a status, after a delay, or never. */
export type Behaviour = { status: number; delayMs?: number } | 'hang';

/**
 * A real HTTP receiver on port 0 that verifies every request's Standard Webhooks signature with
 * the `standardwebhooks` package (as an operator's receiver would) before it counts it. Requests
 * with a bad signature are answered 400 and recorded in `rejected`.
 */
export async function webhookReceiver() {
  let verifier: Webhook | undefined;
  const events: ReceivedEvent[] = [];
  const requests: { id: string; status: number | 'hang'; at: number }[] = [];
  const rejected: string[] = [];
  const queue: Behaviour[] = [];
  let fallback: Behaviour = { status: 200 };
  const hanging = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      if (!verifier) {
        rejected.push('no secret set');
        res.writeHead(400).end();
        return;
      }
      let payload: any;
      try {
        payload = verifier.verify(body, req.headers as Record<string, string>);
      } catch (err) {
        rejected.push((err as Error).message);
        res.writeHead(400).end();
        return;
      }
      const behaviour = queue.shift() ?? fallback;
      requests.push({ id, status: behaviour === 'hang' ? 'hang' : behaviour.status, at: Date.now() });
      if (behaviour === 'hang') {
        hanging.add(res);
        return;
      }
      const answer = () => {
        if (behaviour.status >= 200 && behaviour.status < 300) {
          events.push({ id, type: payload.type, timestamp: payload.timestamp, data: payload.data, at: Date.now() });
        }
        res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('ok');
      };
      if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/hooks?token=not-for-logs`,
    events,
    requests,
    rejected,
    /** the whsec_… secret the create answer carried */
    useSecret(secret: string) {
      verifier = new Webhook(secret);
    },
    /** the next requests get these answers, in order; then `always` (default 200) */
    next(...behaviours: Behaviour[]) {
      queue.push(...behaviours);
    },
    always(b: Behaviour) {
      fallback = b;
    },
    ofType(type: string) {
      return events.filter((e) => e.type === type);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof webhookReceiver>>;
