/** A throw-away certificate authority for the security tests, made with @peculiar/x509. */
import { webcrypto } from 'node:crypto';
import { x509 } from '../../simulators/x509.ts';

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const day = 86_400_000;

export interface TestCa {
  certPem: string;
  /** Signs a PKCS#10 request (PEM); the chain is the leaf then the CA. */
  sign(csrPem: string): Promise<string>;
  /** A certificate and key for a TLS server at 127.0.0.1. */
  serverCertificate(): Promise<{ cert: string; key: string }>;
}

async function keyPem(keys: webcrypto.CryptoKeyPair): Promise<string> {
  const lib = await x509();
  return lib.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
}

export async function testCa(name = 'Sim Test Root'): Promise<TestCa> {
  const lib = await x509();
  const caKeys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a1b',
    name: `CN=${name}`,
    keys: caKeys,
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - day),
    notAfter: new Date(Date.now() + day),
    extensions: [new lib.BasicConstraintsExtension(true, undefined, true)],
  });
  let serial = 100;
  const issue = async (subject: string, publicKey: webcrypto.CryptoKey | InstanceType<typeof lib.PublicKey>, extensions: InstanceType<typeof lib.Extension>[] = []) =>
    lib.X509CertificateGenerator.create({
      serialNumber: (serial++).toString(16).padStart(4, '0'),
      subject,
      issuer: ca.subject,
      publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: algorithm,
      notBefore: new Date(Date.now() - day),
      notAfter: new Date(Date.now() + day),
      extensions,
    });
  return {
    certPem: ca.toString('pem'),
    async sign(csrPem) {
      const csr = new lib.Pkcs10CertificateRequest(csrPem);
      const leaf = await issue(csr.subject, csr.publicKey);
      return `${leaf.toString('pem')}\n${ca.toString('pem')}`;
    },
    async serverCertificate() {
      const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const cert = await issue('CN=127.0.0.1', keys.publicKey, [
        new lib.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
      ]);
      return { cert: cert.toString('pem'), key: await keyPem(keys) };
    },
  };
}
