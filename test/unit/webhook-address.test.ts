import { describe, expect, it } from 'vitest';
import { forbiddenAddress, forbiddenLiteral, refusedDestination } from '../../src/shared/webhook-address.ts';

describe('webhook destinations no receiver has', () => {
  it('are link-local, unspecified and multicast addresses, in IPv4, IPv6 and IPv4-mapped form', () => {
    for (const a of ['169.254.169.254', '169.254.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', 'fe80::1', '::', 'ff02::1', '::ffff:169.254.169.254']) {
      expect(forbiddenAddress(a), a).toBe(true);
    }
    for (const a of ['127.0.0.1', '10.0.0.5', '192.168.1.2', '93.184.216.34', '::1', '2001:db8::1', 'fd00::1', '::ffff:10.0.0.1']) {
      expect(forbiddenAddress(a), a).toBe(false);
    }
  });

  it('are refused as literals at creation and, resolved, before each delivery', async () => {
    expect(forbiddenLiteral('http://169.254.169.254/latest/meta-data/')).toBe(true);
    expect(forbiddenLiteral('http://[fe80::1]:8080/')).toBe(true);
    expect(forbiddenLiteral('https://example.com/hook')).toBe(false);
    expect(forbiddenLiteral('http://127.0.0.1:3000/hook')).toBe(false);
    expect(await refusedDestination('http://169.254.169.254/')).toMatch(/169\.254\.169\.254/);
    expect(await refusedDestination('http://localhost:3000/hook')).toBeUndefined();
    expect(await refusedDestination('http://127.0.0.1:3000/hook')).toBeUndefined();
  });
});

describe('text that is no URL', () => {
  it('is not refused by these checks, and does not throw (the schema refuses it as a URL)', async () => {
    for (const t of ['hasOwnPr', 'rs%~k7)7', '', 'http://']) {
      expect(forbiddenLiteral(t), t).toBe(false);
      expect(await refusedDestination(t), t).toBeUndefined();
    }
  });
});
