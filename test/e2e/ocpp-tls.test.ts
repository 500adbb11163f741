import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { handshakeStatus, stationClient } from '../helpers/station.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';

let gw: TestGateway;
let tls: ReturnType<typeof selfSignedCertificate>;

beforeAll(async () => {
  tls = selfSignedCertificate();
  gw = await startGateway({ env: { TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile } });
});
afterAll(async () => {
  await gw?.stop();
  rmSync(tls.dir, { recursive: true, force: true });
});

describe('security profile 2: wss:// with Basic auth', () => {
  it('serves wss:// and authenticates the station over TLS', async () => {
    expect(gw.ocppUrl.startsWith('wss://')).toBe(true);
    const id = uniqueIdentity();
    const password = 'tls-station-password';
    expect((await gw.api('POST', '/v1/chargestations', { ocpp_id: id, password })).status).toBe(201);

    const wsOpts = { ca: tls.cert };
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id, { wsOpts }))).toBe(401);
    const client = stationClient(gw.ocppUrl, id, { password, wsOpts });
    await client.connect();
    const boot = await client.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    expect(boot.status).toBe('Accepted');
    await client.close();
  });

  it('refuses plain ws:// on the TLS port', async () => {
    const id = uniqueIdentity();
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const plain = stationClient(gw.ocppUrl.replace('wss://', 'ws://'), id);
    await expect(plain.connect()).rejects.toBeDefined();
  });

  it('a client that does not trust the certificate cannot connect', async () => {
    const id = uniqueIdentity();
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const untrusting = stationClient(gw.ocppUrl, id);
    await expect(untrusting.connect()).rejects.toThrow(/self[- ]signed|certificate/i);
  });
});
