/**
 * Scenario 1w's webhook receiver, in a process of its own (as a customer's system would be): it
 * answers every POST 200 after DELAY_MS, without verifying (that is the tests' job). PORT and
 * DELAY_MS from the environment; GET /healthz answers 200 once it listens, GET /count the number
 * of deliveries answered so far.
 */
import { createServer } from 'node:http';

const delayMs = Number(process.env.DELAY_MS ?? 2000);
let received = 0;

createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(req.url === '/count' ? String(received) : 'ok');
    return;
  }
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      received += 1;
      res.writeHead(200).end();
    }, delayMs);
  });
}).listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
