/**
 * OCTT's Central System cases of the OCPP 1.6 Security extension, against the real gateway
 * serving wss:// with an operator CA, and the simulator as the charge point. Written from the
 * cases' descriptions: what the Central System must send, accept and refuse.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { webcrypto } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../../simulators/x509.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { handshakeStatus, stationClient } from '../helpers/station.ts';
import { caseName, ChargePoints, conformanceGateway, eventually, ok, operation, stationJson } from './harness.ts';

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const day = 86_400_000;

/** The operator's PKI for these tests: a CA (its key on disk for the gateway) and the gateway's TLS certificate. */
async function operatorPki(dir: string) {
  const lib = await x509();
  const keyPem = async (keys: webcrypto.CryptoKeyPair) => lib.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  const caKeys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Operator Station CA',
    keys: caKeys,
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - day),
    notAfter: new Date(Date.now() + 30 * day),
    extensions: [new lib.BasicConstraintsExtension(true, undefined, true)],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const server = await lib.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - day),
    notAfter: new Date(Date.now() + 30 * day),
    extensions: [new lib.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const files = {
    SECURITY_CA_CERT_FILE: path.join(dir, 'ca.pem'),
    SECURITY_CA_KEY_FILE: path.join(dir, 'ca-key.pem'),
    TLS_CERT_FILE: path.join(dir, 'server.pem'),
    TLS_KEY_FILE: path.join(dir, 'server-key.pem'),
  };
  writeFileSync(files.SECURITY_CA_CERT_FILE, ca.toString('pem'));
  writeFileSync(files.SECURITY_CA_KEY_FILE, await keyPem(caKeys));
  writeFileSync(files.TLS_CERT_FILE, server.toString('pem'));
  writeFileSync(files.TLS_KEY_FILE, await keyPem(serverKeys));
  return { files, caPem: ca.toString('pem'), ca };
}

let gw: TestGateway;
let dir: string;
let pki: Awaited<ReturnType<typeof operatorPki>>;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gw-security-'));
  pki = await operatorPki(dir);
  gw = await conformanceGateway(pki.files);
});
afterEach(() => cps.stopAll());
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const PASSWORD = 'station-password-0001';

/** A charge point on security profile 2 (wss:// + Basic auth), booted. */
async function profile2(extra: Parameters<ChargePoints['boot']>[0] = {}) {
  return cps.boot({ password: PASSWORD, securityProfile: 2, tls: { ca: pki.caPem }, ...extra }, { password: PASSWORD });
}

const commands = async (id: string, action: string) => (await ok(gw, 'GET', `/v1/chargestations/${id}/commands?action=${action}`)).data;
const tlsClient = (identity: string, opts: { password?: string | Buffer; cert?: string; key?: string } = {}) =>
  stationClient(gw.ocppUrl, identity, {
    // ocpp-rpc sends a Buffer password byte for byte (a rotated key is random bytes)
    ...(opts.password ? { password: opts.password as string } : {}),
    wsOpts: { ca: pki.caPem, ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}) },
  });

describe('Security extension: credentials', () => {
  it(caseName('TC_073', 'Update Charge Point password for HTTP Basic authentication'), async () => {
    const cp = await profile2();
    const reconnected = cp.station.waitFor('connected', undefined, 10_000);
    const command = await ok(gw, 'POST', `/v1/chargestations/${cp.id}/authorization_key`);
    expect(command).toMatchObject({ action: 'ChangeConfiguration', status: 'answered', answer: { status: 'Accepted' } });
    // the key itself is nowhere: not in the answer, not in the command log
    expect(command.payload).toEqual({ key: 'AuthorizationKey', value: '(generated, not kept)' });
    const sent = cp.station.received('ChangeConfiguration').at(-1)!.params as { key: string; value: string };
    expect(sent.key).toBe('AuthorizationKey');
    expect(sent.value).toMatch(/^[0-9a-f]{40}$/); // 20 bytes, hex: within the whitepaper's 16-20 bytes
    expect(JSON.stringify(await commands(cp.id, 'ChangeConfiguration'))).not.toContain(sent.value);
    expect(gw.logs.join('\n')).not.toContain(sent.value);
    expect(JSON.stringify(await stationJson(gw, cp.id))).not.toContain(sent.value);

    await reconnected; // the station reconnected with the new password
    await eventually(() => cp.station.connected);
    expect(await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).toMatchObject({ rotation_pending: false, password_set: true });
    expect((await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).password_rotated_at).not.toBeNull();
    // the old password no longer opens a connection; the new one does
    expect(await handshakeStatus(tlsClient(cp.ocppId, { password: PASSWORD }))).toBe(401);
    const fresh = tlsClient(cp.ocppId, { password: Buffer.from(sent.value, 'hex') });
    await fresh.connect();
    await fresh.close({ force: true });
  });

  it('TC_073 (refused): a station that answers Rejected or NotSupported keeps its old password', async () => {
    for (const answer of ['Rejected', 'NotSupported'] as const) {
      const cp = await profile2();
      cp.station.answers.set('ChangeConfiguration', (p) => ((p as { key: string }).key === 'AuthorizationKey' ? answer : undefined));
      const command = await ok(gw, 'POST', `/v1/chargestations/${cp.id}/authorization_key`);
      expect(command.answer).toEqual({ status: answer });
      expect(await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).toMatchObject({ rotation_pending: false, password_rotated_at: null });
      const old = tlsClient(cp.ocppId, { password: PASSWORD });
      await old.connect(); // replaces the simulator's connection: the old password still works
      await old.close({ force: true });
    }
  });

  it('TC_073 (unsettled): RebootRequired keeps both passwords until the station logs in with the new one; one rotation at a time', async () => {
    const cp = await profile2();
    cp.station.answers.set('ChangeConfiguration', (p) => ((p as { key: string }).key === 'AuthorizationKey' ? 'RebootRequired' : undefined));
    expect((await ok(gw, 'POST', `/v1/chargestations/${cp.id}/authorization_key`)).answer).toEqual({ status: 'RebootRequired' });
    expect(await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).toMatchObject({ rotation_pending: true });
    const conflict = await gw.api('POST', `/v1/chargestations/${cp.id}/authorization_key`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('rotation_pending');
    const old = tlsClient(cp.ocppId, { password: PASSWORD });
    await old.connect(); // the old password still works
    await old.close({ force: true });
    const hex = (cp.station.received('ChangeConfiguration').at(-1)!.params as { value: string }).value;
    const fresh = tlsClient(cp.ocppId, { password: Buffer.from(hex, 'hex') });
    await fresh.connect(); // the station uses the new one: the rotation is settled
    await fresh.close({ force: true });
    expect(await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).toMatchObject({ rotation_pending: false });
    expect(await handshakeStatus(tlsClient(cp.ocppId, { password: PASSWORD }))).toBe(401);
  });

  it(caseName('TC_085', 'Basic authentication: a valid username/password combination'), async () => {
    const cp = await profile2();
    expect(cp.station.booted).toBe(true);
    expect(await handshakeStatus(tlsClient(cp.ocppId, { password: 'not-the-password-000' }))).toBe(401);
    expect(await handshakeStatus(tlsClient(cp.ocppId))).toBe(401);
  });

  it(caseName('TC_086', 'TLS with a server-side certificate (security profile 2)'), async () => {
    expect(gw.ocppUrl.startsWith('wss://')).toBe(true);
    const cp = await profile2();
    await ok(gw, 'PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 2, notify: false });
    expect(cp.station.booted).toBe(true);
    // a client that does not trust the operator's CA gets no connection
    await expect(stationClient(gw.ocppUrl, cp.ocppId, { password: PASSWORD }).connect()).rejects.toThrow(/certificate/i);
  });
});

describe('Security extension: certificates', () => {
  it(caseName('TC_074', 'Update Charge Point certificate by request of the Central System'), async () => {
    const cp = await profile2();
    const signed = cp.station.waitFor('credentialsChanged', (e) => e.kind === 'certificate', 10_000);
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/extended_trigger`, { requested_message: 'SignChargePointCertificate' });
    expect(answer).toEqual({ status: 'Accepted' });
    await signed;
    const [delivered] = await eventually(async () => {
      const list = await commands(cp.id, 'CertificateSigned');
      return list.length && list[0].status === 'answered' ? list : undefined;
    });
    expect(delivered).toMatchObject({ requested_by: 'gateway', answer: { status: 'Accepted' } });
    // the leaf names the station and is signed by the operator's CA
    const lib = await x509();
    const leaf = new lib.X509Certificate(cp.station.clientCertificate!.chainPem);
    expect(leaf.subjectName.getField('CN')[0]).toBe(cp.ocppId);
    expect(await leaf.verify({ publicKey: pki.ca.publicKey, signatureOnly: true })).toBe(true);
  });

  it('TC_074 (refused): a signing request naming another station is Rejected and nothing is signed', async () => {
    const cp = await profile2();
    const lib = await x509();
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await lib.Pkcs10CertificateRequestGenerator.create({ name: 'CN=NOT-THIS-STATION, O=SimCPO', keys, signingAlgorithm: algorithm });
    expect(await cp.station.send('SignCertificate', { csr: csr.toString('pem') })).toEqual({ status: 'Rejected' });
    expect(await cp.station.send('SignCertificate', { csr: 'not a request' })).toEqual({ status: 'Rejected' });
    await new Promise((r) => setTimeout(r, 200)); // a CertificateSigned would follow at once
    expect(await commands(cp.id, 'CertificateSigned')).toEqual([]);
  });

  it(caseName('TC_075', 'Install a certificate on the Charge Point'), async () => {
    const cp = await profile2();
    expect(
      await operation(gw, 'POST', `/v1/chargestations/${cp.id}/certificates`, { certificate_type: 'CentralSystemRootCertificate', certificate: pki.caPem }),
    ).toEqual({ status: 'Accepted' });
    const ids = await operation(gw, 'GET', `/v1/chargestations/${cp.id}/certificates?certificate_type=CentralSystemRootCertificate`);
    expect(ids.status).toBe('Accepted');
    expect(ids.certificateHashData).toHaveLength(1);
    expect(ids.certificateHashData[0]).toMatchObject({ hashAlgorithm: 'SHA256', serialNumber: '1' });
  });

  it(caseName('TC_076', 'Delete a specific certificate from the Charge Point'), async () => {
    const cp = await profile2();
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/certificates`, { certificate_type: 'CentralSystemRootCertificate', certificate: pki.caPem });
    const [hash] = (await operation(gw, 'GET', `/v1/chargestations/${cp.id}/certificates?certificate_type=CentralSystemRootCertificate`)).certificateHashData;
    const query = new URLSearchParams(hash).toString();
    expect(await operation(gw, 'DELETE', `/v1/chargestations/${cp.id}/certificates?${query}`)).toEqual({ status: 'Accepted' });
    expect(await operation(gw, 'GET', `/v1/chargestations/${cp.id}/certificates?certificate_type=CentralSystemRootCertificate`)).toEqual({
      status: 'NotFound',
    });
    expect(await operation(gw, 'DELETE', `/v1/chargestations/${cp.id}/certificates?${query}`)).toEqual({ status: 'NotFound' });
  });

  it(caseName('TC_078', 'Invalid CentralSystemCertificate: the station refuses it and the refusal is relayed and logged'), async () => {
    const cp = await profile2();
    const bad = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/certificates`, { certificate_type: 'CentralSystemRootCertificate', certificate: bad })).toEqual({
      status: 'Rejected',
    });
    const [logged] = await commands(cp.id, 'InstallCertificate');
    expect(logged).toMatchObject({ status: 'answered', answer: { status: 'Rejected' } });
  });
});

describe('Security extension: security profiles', () => {
  it(caseName('TC_087', 'TLS with a client-side certificate (security profile 3)'), async () => {
    const cp = await profile2();
    // the station gets its certificate from the operator's CA (TC_074), then uses profile 3
    const signed = cp.station.waitFor('credentialsChanged', (e) => e.kind === 'certificate', 10_000);
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/extended_trigger`, { requested_message: 'SignChargePointCertificate' });
    await signed;
    const { chainPem, privateKeyPem } = cp.station.clientCertificate!;
    await ok(gw, 'PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 3, notify: false });
    // a certificate from the CA that names the station: in, with no password
    const withCert = tlsClient(cp.ocppId, { cert: chainPem, key: privateKeyPem });
    await withCert.connect();
    expect((await withCert.call('Heartbeat', {})).currentTime).toBeDefined();
    await withCert.close({ force: true });
    // the password alone is profile 2: refused
    expect(await handshakeStatus(tlsClient(cp.ocppId, { password: PASSWORD }))).toBe(403);
    // another station's certificate does not open this station
    const other = await profile2();
    expect(await handshakeStatus(tlsClient(other.ocppId, { cert: chainPem, key: privateKeyPem }))).toBe(401);
  });

  it(caseName('TC_083', 'Upgrade the security profile (2 → 3)'), async () => {
    const cp = await profile2();
    const signed = cp.station.waitFor('credentialsChanged', (e) => e.kind === 'certificate', 10_000);
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/extended_trigger`, { requested_message: 'SignChargePointCertificate' });
    await signed;
    const reconnected = cp.station.waitFor('connected', undefined, 10_000);
    const r = await ok(gw, 'PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 3 });
    expect(r).toMatchObject({ security_profile: 3, command: { action: 'ChangeConfiguration', answer: { status: 'Accepted' } } });
    expect(r.command.payload).toEqual({ key: 'SecurityProfile', value: '3' });
    await reconnected; // now on its client certificate
    await eventually(() => cp.station.connected);
    expect(await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).toMatchObject({ security_profile: 3 });
    // downgrading through the station is refused; a connection below 3 is refused
    expect((await gw.api('PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 2 })).status).toBe(400);
    expect(await handshakeStatus(tlsClient(cp.ocppId, { password: PASSWORD }))).toBe(403);
  });

  // TC_084 (Downgrade security profile - Rejected) is a Charge Point case, with no Central System
  // counterpart (docs/conformance.md). The gateway's side of it: it never asks for a lower profile,
  // and a SecurityProfile change the station rejects leaves the recorded profile where it was.
  it('a SecurityProfile change the station rejects is relayed and the recorded profile stays; a downgrade is never sent', async () => {
    const cp = await profile2(); // no client certificate yet, so the station rejects profile 3
    await ok(gw, 'PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 2, notify: false }); // recorded, nothing sent
    const r = await ok(gw, 'PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 3 });
    expect(r).toMatchObject({ security_profile: 2, command: { action: 'ChangeConfiguration', answer: { status: 'Rejected' } } });
    expect(r.command.payload).toEqual({ key: 'SecurityProfile', value: '3' });
    expect(await ok(gw, 'GET', `/v1/chargestations/${cp.id}/security`)).toMatchObject({ security_profile: 2 });
    expect(cp.station.connected).toBe(true);
    expect(await handshakeStatus(tlsClient(cp.ocppId, { password: 'wrong-password-000001' }))).toBe(401);
    // asking for a lower profile is refused before anything reaches the station
    expect((await gw.api('PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 1 })).status).toBe(400);
    const sent = (await commands(cp.id, 'ChangeConfiguration')).filter((c: any) => c.payload?.key === 'SecurityProfile');
    expect(sent.map((c: any) => c.payload.value)).toEqual(['3']);
  });

  it('a security profile the gateway cannot serve is refused (409): profile 1 without a password', async () => {
    const cp = await cps.boot({ tls: { ca: pki.caPem } });
    const res = await gw.api('PUT', `/v1/chargestations/${cp.id}/security_profile`, { security_profile: 1, notify: false });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('password_required');
  });

  it(caseName('TC_088', 'WebSocket subprotocol negotiation: ocpp1.6 chosen from a list, a list without it refused'), async () => {
    const cp = await profile2();
    const offering = stationClient(gw.ocppUrl, cp.ocppId, {
      password: PASSWORD,
      protocols: ['ocpp2.0.1', 'ocpp1.6', 'ocpp1.5'],
      strict: false, // the client has no validators for the other versions
      wsOpts: { ca: pki.caPem },
    });
    await offering.connect();
    expect(offering.protocol).toBe('ocpp1.6');
    await offering.close({ force: true });
    expect(
      await handshakeStatus(stationClient(gw.ocppUrl, cp.ocppId, { password: PASSWORD, protocols: ['ocpp2.0.1', 'ocpp1.5'], strict: false, wsOpts: { ca: pki.caPem } })),
    ).toBe(400);
  });
});

describe('Security extension: logs and signed firmware', () => {
  it(caseName('TC_079', 'Get security log'), async () => {
    const cp = await profile2();
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/log`, {
      log_type: 'SecurityLog',
      request_id: 7,
      remote_location: 'ftp://logs.example.com/up',
    });
    expect(answer.status).toBe('Accepted');
    expect(typeof answer.filename).toBe('string');
    const station = await eventually(async () => {
      const s = await stationJson(gw, cp.id);
      return s.log_status === 'Uploaded' ? s : undefined;
    }, 10_000);
    expect(station.log_status).toBe('Uploaded');
  });

  it(caseName('TC_080', 'Secure firmware update'), async () => {
    const cp = await profile2({ firmware: { stepSeconds: 1 } });
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/signed_firmware`, {
      request_id: 11,
      location: 'https://firmware.example.com/v2.bin',
      retrieve_date_time: new Date().toISOString(),
      signing_certificate: pki.caPem,
      signature: Buffer.from('signature').toString('base64'),
    });
    expect(answer).toEqual({ status: 'Accepted' });
    const reports = await eventually(async () => {
      const list = (await ok(gw, 'GET', `/v1/chargestations/${cp.id}/firmware`)).data;
      return list.some((r: { status: string }) => r.status === 'Installed') ? list : undefined;
    }, 20_000);
    const statuses = reports.map((r: { status: string }) => r.status).reverse();
    expect(statuses[0]).toBe('Downloading');
    expect(statuses.at(-1)).toBe('Installed');
    expect(reports.every((r: { request_id: number | null }) => r.request_id === 11)).toBe(true);
  });

  it(caseName('TC_081', 'Secure firmware update: invalid signature'), async () => {
    const cp = await profile2({ firmware: { stepSeconds: 1, outcome: 'InvalidSignature' } });
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/signed_firmware`, {
      request_id: 12,
      location: 'https://firmware.example.com/v2.bin',
      retrieve_date_time: new Date().toISOString(),
      signing_certificate: pki.caPem,
      signature: Buffer.from('forged').toString('base64'),
    });
    await eventually(async () => (await stationJson(gw, cp.id)).firmware_status === 'InvalidSignature', 20_000);
  });

  it('TC_080 (invalid certificate): a signing certificate the station cannot read is answered InvalidCertificate', async () => {
    const cp = await profile2();
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/signed_firmware`, {
      request_id: 13,
      location: 'https://firmware.example.com/v2.bin',
      retrieve_date_time: new Date().toISOString(),
      signing_certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      signature: 'c2ln',
    });
    expect(answer).toEqual({ status: 'InvalidCertificate' });
  });
});
