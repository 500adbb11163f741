import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { ConflictError, StationTimeoutError, ValidationError } from '../../shared/errors.ts';
import { hashPassword } from '../../shared/secrets.ts';
import type { StationCommand } from '../../db/tables/commands.ts';
import type { StationCommands } from '../operations/commands.ts';
import { CertificateAuthority, CsrRefused } from './certificate-authority.ts';

/** Bytes of a generated AuthorizationKey: the whitepaper's maximum (16 to 20 bytes, 40 hex digits). */
export const AUTHORIZATION_KEY_BYTES = 20;

export interface SecurityState {
  security_profile: number | null;
  password_set: boolean;
  rotation_pending: boolean;
  password_rotated_at: Date | null;
}

/**
 * A station's credentials under the OCPP 1.6 Security extension: its Basic-auth password rotated
 * through `AuthorizationKey`, the lowest security profile it may connect with, and the
 * certificates the operator's CA signs for it (SignCertificate → CertificateSigned).
 */
export class StationSecurity {
  private readonly ca: Promise<CertificateAuthority> | undefined;

  constructor(
    private readonly deps: {
      db: Db;
      clock: Clock;
      log: Logger;
      commands: StationCommands;
      /** the gateway serves wss:// (security profiles 2 and 3) */
      tls: boolean;
      /** the gateway checks client certificates (security profile 3) */
      clientCertificates: boolean;
      ca?: { certFile: string; keyFile: string } | undefined;
    },
  ) {
    this.ca = deps.ca ? CertificateAuthority.fromFiles(deps.ca.certFile, deps.ca.keyFile) : undefined;
    this.ca?.catch(() => {}); // reported by ready()
  }

  /** Resolves once the configured CA is loaded; rejects (stopping the start) when it cannot be. */
  async ready(): Promise<void> {
    await this.ca;
  }

  get signs(): boolean {
    return this.ca !== undefined;
  }

  async state(stationId: string): Promise<SecurityState> {
    const row = await this.deps.db
      .selectFrom('charge_stations')
      .select(['security_profile', 'password_hash', 'pending_password_hash', 'password_rotated_at'])
      .where('id', '=', stationId)
      .executeTakeFirstOrThrow();
    return {
      security_profile: row.security_profile,
      password_set: row.password_hash !== null,
      rotation_pending: row.pending_password_hash !== null,
      password_rotated_at: row.password_rotated_at,
    };
  }

  /**
   * Gives the station a new, generated Basic-auth password (ChangeConfiguration AuthorizationKey,
   * 20 random bytes as 40 hex digits; the station uses the bytes as its password). While the
   * call is out, the handshake accepts the new password beside the old one (a station may
   * reconnect with it before its answer arrives). Accepted: the new one replaces the old one,
   * which stops working. Rejected or NotSupported (or a CALLERROR, or offline): the new one is
   * dropped and the old one keeps working. No answer, or RebootRequired: both stay valid until
   * the station logs in with the new one (passwordRotationUsed). A rotation while another is
   * unsettled is refused (409 rotation_pending). The key is never logged or returned.
   */
  async rotateAuthorizationKey(stationId: string, requestedBy: string): Promise<StationCommand> {
    const { db, commands, clock } = this.deps;
    const station = await commands.station(stationId);
    const key = randomBytes(AUTHORIZATION_KEY_BYTES);
    const pending = await hashPassword(key);
    // One rotation at a time: the pending slot is taken only when free.
    const taken = await db
      .updateTable('charge_stations')
      .set({ pending_password_hash: pending })
      .where('id', '=', stationId)
      .where('pending_password_hash', 'is', null)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) {
      key.fill(0);
      throw new ConflictError('rotation_pending', 'the last rotation is unsettled: the station has not used the new password yet');
    }
    let outcome: 'accepted' | 'refused' | 'unknown' = 'refused';
    try {
      const { command, answer } = await commands.sendTo(
        station,
        'ChangeConfiguration',
        { key: 'AuthorizationKey', value: key.toString('hex') },
        { requestedBy, logPayload: { key: 'AuthorizationKey', value: '(generated, not kept)' } },
      );
      // RebootRequired: the station uses the new key only after a reboot, so both stay valid until then.
      outcome = answer.status === 'Accepted' ? 'accepted' : answer.status === 'RebootRequired' ? 'unknown' : 'refused';
      return command;
    } catch (err) {
      if (err instanceof StationTimeoutError) outcome = 'unknown';
      throw err;
    } finally {
      key.fill(0);
      if (outcome === 'accepted') {
        await db
          .updateTable('charge_stations')
          .set({ password_hash: pending, pending_password_hash: null, password_rotated_at: clock.now() })
          .where('id', '=', stationId)
          .where('pending_password_hash', '=', pending)
          .execute();
      } else if (outcome === 'refused') {
        await db.updateTable('charge_stations').set({ pending_password_hash: null }).where('id', '=', stationId).where('pending_password_hash', '=', pending).execute();
      }
    }
  }

  /**
   * A station logged in with the pending password of a rotation whose answer was lost or was
   * RebootRequired: it uses the new key, so the new one replaces the old one now.
   */
  async passwordRotationUsed(stationId: string, hash: string): Promise<void> {
    await this.deps.db
      .updateTable('charge_stations')
      .set({ password_hash: hash, pending_password_hash: null, password_rotated_at: this.deps.clock.now() })
      .where('id', '=', stationId)
      .where('pending_password_hash', '=', hash)
      .execute();
    this.deps.log.info({ stationId }, 'station logged in with its rotated password: the old one is retired');
  }

  /**
   * The lowest security profile the station may connect with. With `notify` (the default) the
   * station is sent ChangeConfiguration SecurityProfile first, upwards only, and the profile is
   * recorded once it is Accepted (the station then reconnects with it; a connection below it is
   * refused from now on). Without, it is only recorded (a station set up on site, or a recovery).
   * Returns the command sent, if any.
   */
  async setSecurityProfile(
    stationId: string,
    profile: 0 | 1 | 2 | 3,
    options: { notify: boolean; requestedBy: string },
  ): Promise<{ command?: StationCommand; security_profile: number | null }> {
    const { db, commands } = this.deps;
    const current = await this.state(stationId);
    if ((profile === 1 || profile === 2) && !current.password_set) {
      throw new ConflictError('password_required', `security profile ${profile} authenticates with a Basic-auth password: set one first`);
    }
    if (profile >= 2 && !this.deps.tls) throw new ConflictError('tls_not_configured', `security profile ${profile} needs wss:// (TLS_CERT_FILE, TLS_KEY_FILE)`);
    if (profile === 3 && !this.deps.clientCertificates) {
      throw new ConflictError('client_ca_not_configured', 'security profile 3 needs TLS_CLIENT_CA_FILE or SECURITY_CA_CERT_FILE');
    }
    const record = async () => {
      await db.updateTable('charge_stations').set({ security_profile: profile === 0 ? null : profile }).where('id', '=', stationId).execute();
      return profile === 0 ? null : profile;
    };
    if (!options.notify) return { security_profile: await record() };
    if (profile <= (current.security_profile ?? 0)) {
      throw new ValidationError(`a station's security profile only goes up (it is ${current.security_profile ?? 0}); use notify=false to record a lower one`);
    }
    const { command, answer } = await commands.send(stationId, 'ChangeConfiguration', { key: 'SecurityProfile', value: String(profile) }, { requestedBy: options.requestedBy });
    if (answer.status === 'Accepted' || answer.status === 'RebootRequired') return { command, security_profile: await record() };
    return { command, security_profile: current.security_profile };
  }

  /**
   * A station's SignCertificate: Accepted when a CA is configured and the request is sound (see
   * CertificateAuthority.check); the certificate itself goes out afterwards with
   * `deliverCertificate`, as the whitepaper orders it.
   */
  async checkSigningRequest(station: { stationId: string; identity: string }, csrPem: string): Promise<'Accepted' | 'Rejected'> {
    if (!this.ca) return 'Rejected';
    const serial = await this.deps.db
      .selectFrom('charge_stations')
      .select(['serial_number', 'charge_box_serial_number'])
      .where('id', '=', station.stationId)
      .executeTakeFirst();
    const names = [station.identity, serial?.serial_number, serial?.charge_box_serial_number].filter((n): n is string => Boolean(n));
    try {
      await (await this.ca).check(csrPem, names);
      return 'Accepted';
    } catch (err) {
      if (!(err instanceof CsrRefused)) throw err;
      this.deps.log.warn({ identity: station.identity, reason: err.message }, 'certificate signing request refused');
      return 'Rejected';
    }
  }

  /** Signs an accepted request and sends the chain with CertificateSigned (logged as the gateway's command). */
  async deliverCertificate(stationId: string, csrPem: string): Promise<StationCommand> {
    if (!this.ca) throw new ConflictError('ca_not_configured', 'no SECURITY_CA_CERT_FILE / SECURITY_CA_KEY_FILE');
    const signed = await (await this.ca).sign(csrPem, this.deps.clock.now());
    this.deps.log.info({ stationId, serialNumber: signed.serialNumber, notAfter: signed.notAfter }, 'station certificate signed');
    const { command } = await this.deps.commands.send(stationId, 'CertificateSigned', { certificateChain: signed.chainPem }, { requestedBy: 'gateway', reason: 'certificate_signing' });
    return command;
  }
}
