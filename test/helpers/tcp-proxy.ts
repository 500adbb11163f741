import net from 'node:net';
import { createPostgresDatabase } from './db.ts';

/**
 * A TCP proxy between the gateway and PostgreSQL that a test can cut and restore: from the
 * gateway's side, exactly a database outage (connections drop, new ones are refused).
 */
export async function tcpProxy(targetHost: string, targetPort: number) {
  const sockets = new Set<net.Socket>();
  let up = true;
  let stalled = false;
  const server = net.createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.add(pair);
    if (stalled) hold(pair);
  });
  const pairs = new Set<[net.Socket, net.Socket]>();
  const hold = ([client, upstream]: [net.Socket, net.Socket]) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    /** Drops every connection and refuses new ones. */
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    /** New connections are accepted again (and, after a stall, passed on; held ones stay held). */
    restore() {
      up = true;
      stalled = false;
    },
    /** Stops passing bytes either way, connections left open: a database that hangs. */
    stall() {
      stalled = true;
      for (const pair of pairs) hold(pair);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A fresh PostgreSQL test database reached through a tcpProxy: its URL points at the proxy. */
export async function databaseBehindProxy() {
  const target = await createPostgresDatabase();
  const url = new URL(target.url!);
  const proxy = await tcpProxy(url.hostname, Number(url.port || 5432));
  url.host = `127.0.0.1:${proxy.port}`;
  return { target, proxy, url: url.toString() };
}
