import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { RESERVED_DESCRIPTORS, SocketGuard } from '../../src/ocpp/sockets.ts';

describe('SocketGuard', () => {
  it('lowers a connection cap the open-file limit cannot hold, and says so', () => {
    const lines: string[] = [];
    const log = createLogger('warn', { write: (l: string) => void lines.push(l) });
    const options = { maxConnections: 10_000, handshakeTimeoutMs: 1_000, tls: false };
    const capped = new SocketGuard(createServer(), options, log, 4_096);
    expect(capped.maxConnections).toBe(4_096 - RESERVED_DESCRIPTORS);
    expect(lines.join('')).toContain('OCPP_MAX_CONNECTIONS');
    expect(new SocketGuard(createServer(), options, log, 1_048_576).maxConnections).toBe(10_000);
    expect(new SocketGuard(createServer(), options, log, undefined).maxConnections).toBe(10_000);
  });
});
