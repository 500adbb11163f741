/**
 * The OCPP 1.6 Security extension, charger side: the certificate store (InstallCertificate,
 * GetInstalledCertificateIds, DeleteCertificate), the charge point's own key and certificate
 * (SignCertificate → CertificateSigned, used for security profile 3), SecurityEventNotification,
 * and new credentials set through ChangeConfiguration (AuthorizationKey, SecurityProfile).
 */
import type { StationCore } from './core.ts';
import type { SecurityEventNotificationReq } from './ocpp-types.ts';
import { hashData, newKeyAndCsr, parseChain, spki, type CertificateHashData, type KeyAndCsr } from './x509.ts';

export type CertificateUse = 'CentralSystemRootCertificate' | 'ManufacturerRootCertificate';

export interface InstalledCertificate {
  use: CertificateUse;
  pem: string;
  hash: CertificateHashData;
}

/** The charge point's certificate from CertificateSigned, and its private key. */
export interface ClientCertificate {
  chainPem: string;
  privateKeyPem: string;
}

function sameHash(a: CertificateHashData, b: Partial<CertificateHashData>): boolean {
  const serial = (s: string | undefined) => (s ?? '').toLowerCase().replace(/^0+(?=.)/, '');
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.issuerNameHash.toLowerCase() === (b.issuerNameHash ?? '').toLowerCase() &&
    a.issuerKeyHash.toLowerCase() === (b.issuerKeyHash ?? '').toLowerCase() &&
    serial(a.serialNumber) === serial(b.serialNumber)
  );
}

export class Security {
  private installed: InstalledCertificate[] = [];
  /** The key whose CSR went out with SignCertificate, until CertificateSigned. */
  private pendingKey: KeyAndCsr | undefined;
  private client: ClientCertificate | undefined;
  /** Events waiting for the station to be able to send. */
  private readonly pendingEvents: SecurityEventNotificationReq[] = [];
  private startupReported = false;

  constructor(private readonly core: StationCore) {}

  /** Installed certificates, of one use or all. */
  certificates(use?: CertificateUse): InstalledCertificate[] {
    return this.installed.filter((c) => use === undefined || c.use === use);
  }

  /** The charge point's certificate once CertificateSigned was accepted. */
  get clientCertificate(): ClientCertificate | undefined {
    return this.client;
  }

  /** The CSR sent last (PEM), while its CertificateSigned is awaited. */
  get pendingCsr(): string | undefined {
    return this.pendingKey?.csrPem;
  }

  /** InstallCertificate's answer: Rejected when it is not a certificate, Failed when the store is full. */
  async checkInstall(pem: string): Promise<'Accepted' | 'Rejected' | 'Failed'> {
    const hash = await this.hashOf(pem);
    if (!hash) return 'Rejected';
    const others = this.installed.filter((c) => !sameHash(c.hash, hash));
    return others.length >= this.core.config.getInt('CertificateStoreMaxLength', 10) ? 'Failed' : 'Accepted';
  }

  /** InstallCertificate accepted (the same certificate installed again replaces itself). */
  async install(use: CertificateUse, pem: string): Promise<void> {
    const hash = await this.hashOf(pem);
    if (!hash) return;
    this.installed = [...this.installed.filter((c) => !sameHash(c.hash, hash)), { use, pem, hash }];
  }

  /** GetInstalledCertificateIds. */
  ids(use: CertificateUse): { status: 'Accepted' | 'NotFound'; certificateHashData?: CertificateHashData[] } {
    const found = this.certificates(use).map((c) => c.hash);
    return found.length === 0 ? { status: 'NotFound' } : { status: 'Accepted', certificateHashData: found };
  }

  /** DeleteCertificate's answer. */
  checkDelete(hash: Partial<CertificateHashData>): 'Accepted' | 'NotFound' {
    return this.installed.some((c) => sameHash(c.hash, hash)) ? 'Accepted' : 'NotFound';
  }

  delete(hash: Partial<CertificateHashData>): void {
    this.installed = this.installed.filter((c) => !sameHash(c.hash, hash));
  }

  /**
   * A new key pair and CSR (CN = serial number, O = CpoName, as the whitepaper asks), sent with
   * SignCertificate. Resolves with the central system's answer.
   */
  async signCertificate(): Promise<'Accepted' | 'Rejected'> {
    const { core } = this;
    const serial = (core.options.serial ?? core.identity).replace(/[,=+<>#;"\\]/g, '_');
    const cpo = (core.config.getString('CpoName') ?? 'SimCPO').replace(/[,=+<>#;"\\]/g, '_');
    this.pendingKey = await newKeyAndCsr(`CN=${serial}, O=${cpo}`);
    const answer = await core.call('SignCertificate', { csr: this.pendingKey.csrPem });
    return answer.status;
  }

  /**
   * CertificateSigned's answer: Accepted when the chain parses, fits CertificateSignedMaxChainSize
   * and its leaf carries the key of the CSR sent.
   */
  async checkSigned(chainPem: string): Promise<'Accepted' | 'Rejected'> {
    const pending = this.pendingKey;
    if (!pending || chainPem.length > this.core.config.getInt('CertificateSignedMaxChainSize', 10_000)) return 'Rejected';
    try {
      const [leaf] = await parseChain(chainPem);
      return Buffer.from(leaf!.publicKey.rawData).equals(await spki(pending.keys.publicKey)) ? 'Accepted' : 'Rejected';
    } catch {
      return 'Rejected';
    }
  }

  /** CertificateSigned accepted: the certificate and the CSR's key are the station's client certificate. */
  storeSigned(chainPem: string): void {
    if (!this.pendingKey) return;
    this.client = { chainPem, privateKeyPem: this.pendingKey.privateKeyPem };
    this.pendingKey = undefined;
  }

  /** The new client certificate goes into use: a station on security profile 3 reconnects with it. */
  useClientCertificate(): void {
    const { core } = this;
    if (!this.client) return;
    core.parts.link.setTls({ ...core.parts.link.tlsOptions, cert: this.client.chainPem, key: this.client.privateKeyPem });
    core.emit('credentialsChanged', { kind: 'certificate' });
    if (core.config.getInt('SecurityProfile', 0) >= 3) void core.parts.boot.reconnect();
  }

  /** ChangeConfiguration of a security key: the answer, or undefined for other keys. */
  vetoChange(key: string, value: string): 'Rejected' | undefined {
    if (key === 'AuthorizationKey') return this.decodeKey(value) === undefined ? 'Rejected' : undefined;
    if (key !== 'SecurityProfile') return undefined;
    const profile = Number(value);
    const current = this.core.config.getInt('SecurityProfile', 0);
    if (!Number.isInteger(profile) || profile < 0 || profile > 3 || profile <= current) return 'Rejected';
    const tls = this.core.parts.link.urls.every((u) => u.startsWith('wss://'));
    if (profile >= 2 && !tls) return 'Rejected';
    const hasClientCert = this.client !== undefined || this.core.options.tls?.cert !== undefined;
    return profile === 3 && !hasClientCert ? 'Rejected' : undefined;
  }

  /** An accepted change of AuthorizationKey or SecurityProfile: reconnect with the new credentials. */
  applyChange(key: string, value: string): void {
    const { core } = this;
    if (key === 'AuthorizationKey') {
      core.parts.link.setPassword(this.decodeKey(value));
      core.emit('credentialsChanged', { kind: 'password' });
    } else if (key === 'SecurityProfile') {
      if (Number(value) >= 3 && this.client) {
        core.parts.link.setTls({ ...core.parts.link.tlsOptions, cert: this.client.chainPem, key: this.client.privateKeyPem });
      }
      core.emit('credentialsChanged', { kind: 'securityProfile' });
    } else {
      return;
    }
    this.event('ReconfigurationOfSecurityParameters', key);
    void core.parts.boot.reconnect();
  }

  /** A security event the station reports by itself (only with the securityEvents option). */
  event(type: string, techInfo?: string): void {
    if (this.core.options.securityEvents) this.send(type, techInfo);
  }

  /** SecurityEventNotification now, or as soon as the station can send. */
  send(type: string, techInfo?: string): void {
    const event: SecurityEventNotificationReq = {
      type: type.slice(0, 50),
      timestamp: this.core.clock.stamp(),
      ...(techInfo !== undefined ? { techInfo: techInfo.slice(0, 255) } : {}),
    };
    this.pendingEvents.push(event);
    this.flush();
  }

  booted(): void {
    if (!this.startupReported) {
      this.startupReported = true;
      this.event('StartupOfTheDevice');
    }
    this.flush();
  }

  resumed(): void {
    this.flush();
  }

  private flush(): void {
    const { core } = this;
    while (core.canSend() && this.pendingEvents.length > 0) core.send('SecurityEventNotification', this.pendingEvents.shift()!);
  }

  private async hashOf(pem: string): Promise<CertificateHashData | undefined> {
    try {
      const [cert] = await parseChain(pem);
      return await hashData(cert!);
    } catch {
      return undefined;
    }
  }

  /** The Basic-auth password an AuthorizationKey value stands for, or undefined when it is not acceptable. */
  private decodeKey(value: string): Buffer | undefined {
    if (this.core.options.authorizationKeyEncoding === 'plain') {
      return value.length >= 16 && value.length <= 40 ? Buffer.from(value, 'utf8') : undefined;
    }
    // the whitepaper's form: the key's bytes, hex encoded; 16 to 20 bytes
    if (!/^(?:[0-9a-fA-F]{2}){16,20}$/.test(value)) return undefined;
    return Buffer.from(value, 'hex');
  }
}
