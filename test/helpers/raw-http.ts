import { connect, type Socket } from 'node:net';

/** What a raw TCP client saw after sending bytes to a port. */
export interface RawAnswer {
  /** the HTTP status of the first response line, if one came */
  status: number | undefined;
  /** response header lines, lower-cased names */
  headers: Record<string, string>;
  /** the server closed the connection (FIN or reset) */
  closed: boolean;
  /** everything received, as latin1 text */
  text: string;
}

/**
 * Sends `request` over a fresh TCP connection and collects what comes back until the server
 * closes the connection, a 101 head has arrived, or `waitMs` passes (then the client closes it).
 */
export function rawRequest(
  port: number,
  request: string | Buffer,
  options: { waitMs?: number; localAddress?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = false;
    const socket = connect({ port, host: '127.0.0.1', ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(Buffer.concat(chunks).toString('latin1'), closed));
    };
    const timer = setTimeout(finish, options.waitMs ?? 3_000);
    socket.on('data', (d) => {
      chunks.push(d);
      // An accepted upgrade stays open: done as soon as its 101 head is in.
      if (/^HTTP\/1\.1 101 [^]*?\r\n\r\n/.test(Buffer.concat(chunks).toString('latin1'))) finish();
    });
    socket.on('error', () => {
      closed = true;
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', () => socket.write(request));
  });
}

function parseAnswer(text: string, closed: boolean): RawAnswer {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  const headers: Record<string, string> = {};
  const head = text.split('\r\n\r\n')[0] ?? '';
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: match ? Number(match[1]) : undefined, headers, closed, text };
}

/** A well-formed WebSocket upgrade request for `path`, with overridable headers (null drops one). */
export function upgradeRequest(path: string, headers: Record<string, string | null> = {}): string {
  const base: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Protocol': 'ocpp1.6',
    ...headers,
  };
  const lines = Object.entries(base)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `${k}: ${v}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** Opens a TCP connection and leaves it idle; resolves once connected. */
export function idleSocket(port: number): Promise<Socket & { closedAt?: number }> {
  return new Promise((resolve, reject) => {
    const socket: Socket & { closedAt?: number } = connect({ port, host: '127.0.0.1' });
    socket.on('close', () => {
      socket.closedAt = Date.now();
    });
    socket.once('connect', () => resolve(socket));
    socket.on('error', reject); // a no-op once connected; the close listener records the end
  });
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}
