import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { x509 } from '../../simulators/x509.ts';
import { aStation, booted, centralSystem } from './harness.ts';
import { testCa } from './pki.ts';

describe('certificates', () => {
  it('InstallCertificate, GetInstalledCertificateIds, DeleteCertificate', async () => {
    const root = await testCa('CSMS Root');
    const maker = await testCa('Manufacturer Root');
    const { cs, station, id } = await booted({ configuration: { CertificateStoreMaxLength: '2' } });
    const install = (certificateType: string, certificate: string) => cs.send(id, 'InstallCertificate', { certificateType, certificate });
    expect(await cs.send(id, 'GetInstalledCertificateIds', { certificateType: 'CentralSystemRootCertificate' })).toEqual({ status: 'NotFound' });
    expect(await install('CentralSystemRootCertificate', root.certPem)).toEqual({ status: 'Accepted' });
    expect(await install('ManufacturerRootCertificate', maker.certPem)).toEqual({ status: 'Accepted' });
    expect(await install('CentralSystemRootCertificate', 'garbage')).toEqual({ status: 'Rejected' });
    expect(await install('CentralSystemRootCertificate', (await testCa('Third')).certPem)).toEqual({ status: 'Failed' }); // store full

    const ids = await cs.send(id, 'GetInstalledCertificateIds', { certificateType: 'CentralSystemRootCertificate' });
    expect(ids.status).toBe('Accepted');
    expect(ids.certificateHashData).toHaveLength(1);
    const [hash] = ids.certificateHashData;
    // the OCPP way of naming a certificate: SHA-256 of the issuer name and key, and the serial number
    const lib = await x509();
    const cert = new lib.X509Certificate(root.certPem);
    const { createHash } = await import('node:crypto');
    expect(hash).toEqual({
      hashAlgorithm: 'SHA256',
      issuerNameHash: createHash('sha256').update(Buffer.from(cert.issuerName.toArrayBuffer())).digest('hex'),
      issuerKeyHash: Buffer.from(await cert.publicKey.getKeyIdentifier('SHA-256')).toString('hex'),
      serialNumber: 'a1b',
    });

    expect(await cs.send(id, 'DeleteCertificate', { certificateHashData: hash })).toEqual({ status: 'Accepted' });
    expect(await cs.send(id, 'DeleteCertificate', { certificateHashData: hash })).toEqual({ status: 'NotFound' });
    expect(station.certificates().map((c) => c.use)).toEqual(['ManufacturerRootCertificate']);
    expect(cs.validationFailures).toEqual([]);
  });

  it('SignCertificate with a fresh key and CSR; CertificateSigned for that key is Accepted, another is Rejected', async () => {
    const ca = await testCa('CPO Sub CA');
    const { cs, station, id } = await booted({ serial: 'SER-42', configuration: { CpoName: 'Acme CPO' } });
    expect(await cs.send(id, 'ExtendedTriggerMessage', { requestedMessage: 'SignChargePointCertificate' })).toEqual({ status: 'Accepted' });
    const [sign] = await cs.waitForCalls(id, 'SignCertificate');
    const lib = await x509();
    const csr = new lib.Pkcs10CertificateRequest(sign!.params.csr);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('CN=SER-42, O=Acme CPO');

    // a chain for some other key is refused
    const other = await testCa('Other');
    const otherCsr = (await lib.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=x',
      keys: (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    })).toString('pem');
    expect(await cs.send(id, 'CertificateSigned', { certificateChain: await other.sign(otherCsr) })).toEqual({ status: 'Rejected' });

    const chain = await ca.sign(sign!.params.csr);
    const changed = station.waitFor('credentialsChanged', (e) => e.kind === 'certificate');
    expect(await cs.send(id, 'CertificateSigned', { certificateChain: chain })).toEqual({ status: 'Accepted' });
    await changed;
    expect(station.clientCertificate?.chainPem).toBe(chain);
    expect(station.clientCertificate?.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('SecurityEventNotification on demand, queued while offline; by itself with securityEvents', async () => {
    const { cs, station, id } = await booted({ securityEvents: true });
    const [startup] = await cs.waitForCalls(id, 'SecurityEventNotification');
    expect(startup!.params.type).toBe('StartupOfTheDevice');
    await station.goOffline();
    station.sendSecurityEvent('TamperDetectionActivated', 'cabinet opened');
    await station.goOnline();
    const [, tamper] = await cs.waitForCalls(id, 'SecurityEventNotification', 2);
    expect(tamper!.params).toMatchObject({ type: 'TamperDetectionActivated', techInfo: 'cabinet opened' });
    expect(Number.isNaN(Date.parse(tamper!.params.timestamp))).toBe(false);
  });
});

describe('credentials', () => {
  it('AuthorizationKey (hex, 16-20 bytes): Accepted, then the station reconnects with the new password', async () => {
    const passwords = new Map([['KEY1', 'old-password-0001']]);
    const cs = await centralSystem({ password: (identity) => passwords.get(identity) });
    const station = aStation(cs.url, { identity: 'KEY1', password: 'old-password-0001' });
    await station.start();
    const change = (value: string) => cs.send('KEY1', 'ChangeConfiguration', { key: 'AuthorizationKey', value });
    expect(await change('abc')).toEqual({ status: 'Rejected' }); // not 16-20 bytes of hex
    const fresh = 'new-password-0002-xyz'.slice(0, 20);
    const hex = Buffer.from(fresh).toString('hex');
    passwords.set('KEY1', fresh); // the central system's side of the rotation
    const reconnected = station.waitFor('connected');
    expect(await change(hex)).toEqual({ status: 'Accepted' });
    await reconnected;
    const last = cs.handshakes.at(-1)!;
    expect(last).toMatchObject({ identity: 'KEY1', password: fresh });
    expect(last.refused).toBeUndefined();
    expect(station.connected).toBe(true);
    expect((await cs.send('KEY1', 'GetConfiguration', { key: ['AuthorizationKey'] })).configurationKey).toEqual([
      { key: 'AuthorizationKey', readonly: false },
    ]);
  });

  it('security profile 3: connects with a TLS client certificate; SecurityProfile cannot go down', async () => {
    const ca = await testCa('Station CA');
    const server = await ca.serverCertificate();
    const cs = await centralSystem({ tls: { ...server, ca: ca.certPem, requestCert: true } });
    // the station's own certificate, from the same CA
    const lib = await x509();
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await lib.Pkcs10CertificateRequestGenerator.create({ name: 'CN=TLS1', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    const chain = await ca.sign(csr.toString('pem'));
    const key = lib.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    const station = aStation(cs.url, { identity: 'TLS1', securityProfile: 3, tls: { ca: ca.certPem, cert: chain, key } });
    await station.start();
    expect(station.booted).toBe(true);
    expect(cs.handshakes.at(-1)).toMatchObject({ identity: 'TLS1', clientCertificate: true, password: undefined });
    expect(await cs.send('TLS1', 'ChangeConfiguration', { key: 'SecurityProfile', value: '2' })).toEqual({ status: 'Rejected' });
  });
});
