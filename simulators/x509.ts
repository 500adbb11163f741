/**
 * X.509 through @peculiar/x509 (loaded on first use, see src/shared/x509.ts, so a station that
 * never touches a certificate never loads it): parsing PEM, certificate hash data as OCPP identifies
 * certificates, key pairs and certificate signing requests.
 */
import { createHash, webcrypto } from 'node:crypto';
import { x509, type X509 } from '../src/shared/x509.ts';

// Loaded the gateway's way (one home): tests and the simulator's callers take it from here too.
export { x509 };

export interface CertificateHashData {
  hashAlgorithm: 'SHA256';
  issuerNameHash: string;
  issuerKeyHash: string;
  serialNumber: string;
}

/** Every certificate in a PEM text, leaf first; throws when there is none or one does not parse. */
export async function parseChain(pem: string): Promise<InstanceType<X509['X509Certificate']>[]> {
  const lib = await x509();
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate');
  return blocks.map((block) => new lib.X509Certificate(block));
}

/**
 * How OCPP names a certificate: SHA-256 of its issuer's distinguished name (DER) and of its
 * issuer's public key (the subjectPublicKey bits), and its serial number in hex. For a
 * certificate that is not self-signed the issuer's key is the `issuer` certificate's, when given.
 */
export async function hashData(
  cert: InstanceType<X509['X509Certificate']>,
  issuer?: InstanceType<X509['X509Certificate']>,
): Promise<CertificateHashData> {
  const sha256 = (data: ArrayBuffer) => createHash('sha256').update(Buffer.from(data)).digest('hex');
  const issuerKey = (issuer ?? cert).publicKey;
  return {
    hashAlgorithm: 'SHA256',
    issuerNameHash: sha256(cert.issuerName.toArrayBuffer()),
    issuerKeyHash: Buffer.from(await issuerKey.getKeyIdentifier('SHA-256')).toString('hex'),
    serialNumber: cert.serialNumber.replace(/^0+(?=.)/, '').toLowerCase(),
  };
}

export interface KeyAndCsr {
  keys: webcrypto.CryptoKeyPair;
  csrPem: string;
  privateKeyPem: string;
}

/** A new ECDSA P-256 key pair and a PKCS#10 request for `subject` (e.g. "CN=serial, O=CPO"). */
export async function newKeyAndCsr(subject: string): Promise<KeyAndCsr> {
  const lib = await x509();
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await lib.Pkcs10CertificateRequestGenerator.create({ name: subject, keys, signingAlgorithm: algorithm });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, csrPem: csr.toString('pem'), privateKeyPem: lib.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

/** The subjectPublicKeyInfo (DER) of a public key, to compare keys. */
export async function spki(key: webcrypto.CryptoKey): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.exportKey('spki', key));
}
