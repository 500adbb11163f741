import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { x509 } from '../../shared/x509.ts';

/** How long a station certificate the gateway signs is valid. */
export const STATION_CERTIFICATE_DAYS = 365;

/** The signing algorithm of the CA's key (WebCrypto parameters). */
type SigningAlgorithm = { name: 'ECDSA'; namedCurve: string; hash: string } | { name: 'RSASSA-PKCS1-v1_5'; hash: string };

/** Why a certificate signing request was refused (the station is answered Rejected). */
export class CsrRefused extends Error {}

/**
 * The CA the operator configures (SECURITY_CA_CERT_FILE, SECURITY_CA_KEY_FILE) to sign the
 * certificates stations ask for with SignCertificate (security profile 3's client certificates).
 * Keys: EC (P-256/P-384) or RSA, PKCS#8 or the key's own PEM form; signatures SHA-256.
 */
export class CertificateAuthority {
  private constructor(
    private readonly certPem: string,
    private readonly key: webcrypto.CryptoKey,
    private readonly algorithm: SigningAlgorithm,
  ) {}

  static async fromFiles(certFile: string, keyFile: string): Promise<CertificateAuthority> {
    const lib = await x509();
    const certPem = readFileSync(certFile, 'utf8');
    new lib.X509Certificate(certPem); // fails fast on a file that is not a certificate
    const keyObject = createPrivateKey(readFileSync(keyFile));
    const der = keyObject.export({ type: 'pkcs8', format: 'der' });
    let algorithm: SigningAlgorithm;
    if (keyObject.asymmetricKeyType === 'ec') {
      const curve = keyObject.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
      algorithm = { name: 'ECDSA', namedCurve: curve, hash: 'SHA-256' };
    } else if (keyObject.asymmetricKeyType === 'rsa') {
      algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    } else {
      throw new Error(`SECURITY_CA_KEY_FILE: unsupported key type ${keyObject.asymmetricKeyType}`);
    }
    const key = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
    return new CertificateAuthority(certPem, key, algorithm);
  }

  /**
   * Checks a station's PKCS#10 request: it must parse, its signature must verify (the station
   * holds the key), and its subject CN must name the station (its identity, or the serial
   * number it reported at boot, as the whitepaper has it). Returns the CSR's subject.
   */
  async check(csrPem: string, names: readonly string[]): Promise<string> {
    const lib = await x509();
    let csr: InstanceType<typeof lib.Pkcs10CertificateRequest>;
    try {
      csr = new lib.Pkcs10CertificateRequest(csrPem);
    } catch {
      throw new CsrRefused('not a PKCS#10 certificate signing request');
    }
    if (!(await csr.verify())) throw new CsrRefused('the request is not signed by its key');
    const cn = csr.subjectName.getField('CN')[0];
    if (!cn || !names.some((n) => n.toLowerCase() === cn.toLowerCase())) throw new CsrRefused(`CN ${cn ?? '(none)'} does not name the station`);
    return csr.subject;
  }

  /** Signs a checked request: the chain (leaf, then the CA) in PEM, as CertificateSigned carries it. */
  async sign(csrPem: string, now: Date): Promise<{ chainPem: string; serialNumber: string; notAfter: Date }> {
    const lib = await x509();
    const csr = new lib.Pkcs10CertificateRequest(csrPem);
    const ca = new lib.X509Certificate(this.certPem);
    const notAfter = new Date(now.getTime() + STATION_CERTIFICATE_DAYS * 86_400_000);
    const serialNumber = randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');
    const leaf = await lib.X509CertificateGenerator.create({
      serialNumber,
      subject: csr.subject,
      issuer: ca.subject,
      publicKey: csr.publicKey,
      signingKey: this.key,
      signingAlgorithm: this.algorithm,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      extensions: [
        new lib.BasicConstraintsExtension(false, undefined, true),
        new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyAgreement, true),
        new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.clientAuth]),
      ],
    });
    return { chainPem: `${leaf.toString('pem')}\n${ca.toString('pem')}\n`, serialNumber, notAfter };
  }
}
