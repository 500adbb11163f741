/**
 * A hostile charge point, run as its own process by bench/flood.ts so that its busy loop does not
 * slow the load generator that measures the other stations: it pipelines Authorize and
 * StatusNotification CALLs as fast as its socket takes them (never waiting for an answer), and
 * reconnects at once whenever the gateway closes it. On SIGTERM it prints what happened as JSON.
 *
 * Environment: FLOOD_URL (ws://host:port/ocpp/<identity>).
 */
import WebSocket from 'ws';

const url = process.env.FLOOD_URL;
if (!url) throw new Error('FLOOD_URL is required');

const stats = { sent: 0, results: 0, errors: {} as Record<string, number>, connections: 0, refusedHandshakes: 0 };
let ws: WebSocket | undefined;
let stopping = false;
let seq = 0;

function frame(): string {
  const id = `f${++seq}`;
  return seq % 2
    ? JSON.stringify([2, id, 'Authorize', { idTag: 'FLOODTAG' }])
    : JSON.stringify([2, id, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' }]);
}

function pump(socket: WebSocket): void {
  if (stopping || socket.readyState !== WebSocket.OPEN) return;
  // Keep the socket's send buffer full, but bounded; while the gateway does not read, wait
  // instead of spinning (the attacker's CPU is its own machine's, not this one's).
  // (At most 1,000 frames a turn: a socket the gateway has just dropped takes writes without
  // growing its buffer until its close event has run.)
  const full = socket.bufferedAmount >= 256 * 1024;
  for (let i = 0; i < 1_000 && socket.readyState === WebSocket.OPEN && socket.bufferedAmount < 256 * 1024; i++) {
    socket.send(frame());
    stats.sent++;
  }
  if (full) setTimeout(() => pump(socket), 1);
  else setImmediate(() => pump(socket));
}

function connect(): void {
  if (stopping) return;
  const socket = new WebSocket(url!, ['ocpp1.6']);
  ws = socket;
  socket.on('open', () => {
    stats.connections++;
    pump(socket);
  });
  socket.on('message', (data) => {
    const msg = JSON.parse(String(data)) as unknown[];
    if (msg[0] === 3) stats.results++;
    else if (msg[0] === 4) stats.errors[String(msg[2])] = (stats.errors[String(msg[2])] ?? 0) + 1;
    else if (msg[0] === 2) socket.send(JSON.stringify([3, msg[1], { status: 'Accepted' }]));
  });
  socket.on('unexpected-response', () => {
    stats.refusedHandshakes++;
  });
  socket.on('error', () => {});
  socket.on('close', () => setTimeout(connect, 0));
}

process.once('SIGTERM', () => {
  stopping = true;
  ws?.terminate();
  process.stdout.write(JSON.stringify(stats) + '\n', () => process.exit(0));
});

connect();
