/**
 * Firmware updates and file uploads, each a sequence of status notifications over time:
 * UpdateFirmware (FirmwareStatusNotification, then a reboot into the new version),
 * SignedUpdateFirmware (SignedFirmwareStatusNotification), GetDiagnostics
 * (DiagnosticsStatusNotification) and GetLog (LogStatusNotification). No file is transferred:
 * how each ends is set by the station's options (or setFirmwareOutcome / setUploadOutcome).
 */
import type { StationCore } from './core.ts';
import type { DiagnosticsStatus, FirmwareStatus, SignedFirmwareStatus, UploadLogStatus } from './ocpp-types.ts';
import type { FirmwareOutcome, UploadOutcome } from './options.ts';
import { sleep } from './timers.ts';
import { parseChain } from './x509.ts';

export interface UpdateFirmwareParams {
  location: string;
  retrieveDate: string;
}

export interface SignedUpdateFirmwareParams {
  requestId: number;
  firmware: { location: string; retrieveDateTime: string; installDateTime?: string; signingCertificate: string; signature: string };
}

export interface GetLogParams {
  logType: string;
  requestId: number;
  log: { remoteLocation: string };
}

/** A running sequence; aborted when a newer request replaces it or the station stops. */
interface Job {
  abort: AbortController;
  requestId?: number;
}

export class Maintenance {
  firmwareOutcome: FirmwareOutcome;
  uploadOutcome: UploadOutcome;
  private readonly stepSeconds: number;
  private readonly uploadStepSeconds: number;
  private firmware: Job | undefined;
  private firmwareState: SignedFirmwareStatus = 'Idle';
  private firmwareSigned = false;
  private diagnostics: Job | undefined;
  private diagnosticsState: DiagnosticsStatus = 'Idle';
  private log: Job | undefined;
  private logState: UploadLogStatus = 'Idle';
  /** Installed is reported after the reboot into the new firmware. */
  private installedAfterBoot: { signed: boolean; requestId?: number } | undefined;

  constructor(private readonly core: StationCore) {
    this.firmwareOutcome = core.options.firmware?.outcome ?? 'Installed';
    this.stepSeconds = core.options.firmware?.stepSeconds ?? 10;
    this.uploadOutcome = core.options.uploads?.outcome ?? 'Uploaded';
    this.uploadStepSeconds = core.options.uploads?.stepSeconds ?? 10;
  }

  /** The status a TriggerMessage reports: the update's while one runs, else Idle. */
  get firmwareStatus(): { status: SignedFirmwareStatus; requestId?: number; signed: boolean } {
    if (!this.firmware) return { status: 'Idle', signed: this.firmwareSigned };
    return { status: this.firmwareState, signed: this.firmwareSigned, ...(this.firmware.requestId !== undefined ? { requestId: this.firmware.requestId } : {}) };
  }

  get diagnosticsStatus(): DiagnosticsStatus {
    return this.diagnostics ? this.diagnosticsState : 'Idle';
  }

  get logStatus(): { status: UploadLogStatus; requestId?: number } {
    if (!this.log) return { status: 'Idle' };
    return { status: this.logState, ...(this.log.requestId !== undefined ? { requestId: this.log.requestId } : {}) };
  }

  /** UpdateFirmware (answered {}): download at retrieveDate, install, reboot, Installed. */
  updateFirmware(params: UpdateFirmwareParams): void {
    const job = this.replace('firmware');
    this.firmwareSigned = false;
    void this.run(job, async (wait) => {
      await wait(this.core.clock.realMsUntil(new Date(params.retrieveDate)));
      if (!(await this.download(job, wait))) return;
      await this.install(job, wait, params.location);
    });
  }

  /** SignedUpdateFirmware's answer: InvalidCertificate when the signing certificate does not parse. */
  async checkSignedUpdate(params: SignedUpdateFirmwareParams): Promise<'Accepted' | 'AcceptedCanceled' | 'InvalidCertificate'> {
    try {
      await parseChain(params.firmware.signingCertificate);
    } catch {
      return 'InvalidCertificate';
    }
    return this.firmware ? 'AcceptedCanceled' : 'Accepted';
  }

  /** SignedUpdateFirmware accepted: scheduled download, signature check, scheduled install, reboot, Installed. */
  signedUpdateFirmware(params: SignedUpdateFirmwareParams): void {
    const job = this.replace('firmware', params.requestId);
    this.firmwareSigned = true;
    const { firmware } = params;
    void this.run(job, async (wait) => {
      const untilRetrieve = this.core.clock.realMsUntil(new Date(firmware.retrieveDateTime));
      if (untilRetrieve > 0) this.notifyFirmware(job, 'DownloadScheduled');
      await wait(untilRetrieve);
      if (!(await this.download(job, wait))) return;
      if (this.firmwareOutcome === 'InvalidSignature') {
        this.notifyFirmware(job, 'InvalidSignature');
        this.core.parts.security.send('InvalidFirmwareSignature', firmware.location);
        return this.finish(job);
      }
      this.notifyFirmware(job, 'SignatureVerified');
      const untilInstall = firmware.installDateTime ? this.core.clock.realMsUntil(new Date(firmware.installDateTime)) : 0;
      if (untilInstall > 0) {
        this.notifyFirmware(job, 'InstallScheduled');
        await wait(untilInstall);
      }
      await this.install(job, wait, firmware.location);
    });
  }

  /** GetDiagnostics' answer: the file it will upload (none with the NoFile outcome). */
  diagnosticsFile(): Record<string, unknown> {
    if (this.uploadOutcome === 'NoFile') return {};
    return { fileName: `diagnostics-${this.core.identity}-${Date.now()}.log`.slice(0, 255) };
  }

  /** GetDiagnostics answered with a file: Uploading, then Uploaded or UploadFailed. */
  uploadDiagnostics(): void {
    const job = this.replace('diagnostics');
    void this.run(job, async (wait) => {
      this.notifyDiagnostics(job, 'Uploading');
      await wait(this.core.simToRealMs(this.uploadStepSeconds));
      this.notifyDiagnostics(job, this.uploadOutcome === 'Uploaded' ? 'Uploaded' : 'UploadFailed');
      this.finish(job);
    });
  }

  /** GetLog's answer (NoFile: Rejected; a log upload already running: AcceptedCanceled). */
  logAnswer(params: GetLogParams): Record<string, unknown> {
    if (this.uploadOutcome === 'NoFile') return { status: 'Rejected' };
    const kind = params.logType === 'SecurityLog' ? 'security' : 'diagnostics';
    return {
      status: this.log ? 'AcceptedCanceled' : 'Accepted',
      filename: `${kind}-${this.core.identity}-${params.requestId}.log`.slice(0, 255),
    };
  }

  /** GetLog accepted: Uploading, then Uploaded or UploadFailure, with the requestId. */
  uploadLog(params: GetLogParams): void {
    const job = this.replace('log', params.requestId);
    void this.run(job, async (wait) => {
      this.notifyLog(job, 'Uploading');
      await wait(this.core.simToRealMs(this.uploadStepSeconds));
      this.notifyLog(job, this.uploadOutcome === 'Uploaded' ? 'Uploaded' : 'UploadFailure');
      this.finish(job);
    });
  }

  /** Booted: after a firmware reboot, the update is reported Installed. */
  booted(): void {
    const done = this.installedAfterBoot;
    if (!done) return;
    this.installedAfterBoot = undefined;
    this.firmwareSigned = done.signed;
    const job: Job = { abort: new AbortController(), ...(done.requestId !== undefined ? { requestId: done.requestId } : {}) };
    this.firmware = job;
    this.notifyFirmware(job, 'Installed');
    this.finish(job);
  }

  /** Sends the current firmware status (TriggerMessage, ExtendedTriggerMessage). */
  reportFirmware(signed: boolean): void {
    const { status, requestId } = this.firmwareStatus;
    if (signed) this.core.send('SignedFirmwareStatusNotification', { status, ...(requestId !== undefined ? { requestId } : {}) });
    else this.core.send('FirmwareStatusNotification', { status: status as FirmwareStatus });
  }

  reportDiagnostics(): void {
    this.core.send('DiagnosticsStatusNotification', { status: this.diagnosticsStatus });
  }

  reportLog(): void {
    this.core.send('LogStatusNotification', this.logStatus);
  }

  /** Downloading → Downloaded (or DownloadFailed: false). */
  private async download(job: Job, wait: (ms: number) => Promise<void>): Promise<boolean> {
    this.notifyFirmware(job, 'Downloading');
    await wait(this.core.simToRealMs(this.stepSeconds));
    if (this.firmwareOutcome === 'DownloadFailed') {
      this.notifyFirmware(job, 'DownloadFailed');
      this.finish(job);
      return false;
    }
    this.notifyFirmware(job, 'Downloaded');
    await wait(this.core.simToRealMs(this.stepSeconds));
    return true;
  }

  /** Installing → (a failure, or) a reboot into the new version, reported Installed after boot. */
  private async install(job: Job, wait: (ms: number) => Promise<void>, location: string): Promise<void> {
    const { core } = this;
    this.notifyFirmware(job, 'Installing');
    await wait(core.simToRealMs(this.stepSeconds));
    const failure = this.firmwareOutcome === 'InstallationFailed' || (this.firmwareSigned && this.firmwareOutcome === 'InstallVerificationFailed');
    if (failure) {
      this.notifyFirmware(job, this.firmwareSigned ? (this.firmwareOutcome as SignedFirmwareStatus) : 'InstallationFailed');
      return this.finish(job);
    }
    if (this.firmwareSigned) this.notifyFirmware(job, 'InstallRebooting');
    const name = location.split(/[/?#]/).filter(Boolean).pop()?.replace(/\.[a-z0-9]+$/i, '');
    core.parts.boot.firmwareVersion = (core.options.firmware?.newVersion ?? name ?? `${core.parts.boot.firmwareVersion}-new`).slice(0, 50);
    this.installedAfterBoot = { signed: this.firmwareSigned, ...(job.requestId !== undefined ? { requestId: job.requestId } : {}) };
    this.finish(job);
    core.parts.security.event('FirmwareUpdated', core.parts.boot.firmwareVersion);
    await core.parts.boot.reboot('Reboot', 5);
  }

  private replace(kind: 'firmware' | 'diagnostics' | 'log', requestId?: number): Job {
    this[kind]?.abort.abort();
    const job: Job = { abort: new AbortController(), ...(requestId !== undefined ? { requestId } : {}) };
    this[kind] = job;
    return job;
  }

  private finish(job: Job): void {
    if (this.firmware === job) this.firmware = undefined;
    if (this.diagnostics === job) this.diagnostics = undefined;
    if (this.log === job) this.log = undefined;
  }

  /** Runs a sequence whose waits end early (and the sequence with them) when it is replaced or the station stops. */
  private async run(job: Job, steps: (wait: (ms: number) => Promise<void>) => Promise<void>): Promise<void> {
    const signal = AbortSignal.any([job.abort.signal, this.core.abort.signal]);
    const wait = async (ms: number) => {
      if (!(await sleep(ms, signal))) throw signal.reason ?? new Error('aborted');
    };
    try {
      await steps(wait);
    } catch (err) {
      if (!signal.aborted) this.core.warn('maintenance sequence failed', err);
      this.finish(job);
    }
  }

  private notifyFirmware(job: Job, status: SignedFirmwareStatus): void {
    if (this.firmware !== job && status !== 'Installed') return;
    this.firmwareState = status;
    this.core.emit('firmwareStatus', { status, signed: this.firmwareSigned, ...(job.requestId !== undefined ? { requestId: job.requestId } : {}) });
    if (this.firmwareSigned) {
      this.core.send('SignedFirmwareStatusNotification', { status, ...(job.requestId !== undefined ? { requestId: job.requestId } : {}) });
    } else {
      this.core.send('FirmwareStatusNotification', { status: status as FirmwareStatus });
    }
  }

  private notifyDiagnostics(job: Job, status: DiagnosticsStatus): void {
    if (this.diagnostics !== job) return;
    this.diagnosticsState = status;
    this.core.emit('uploadStatus', { kind: 'Diagnostics', status });
    this.core.send('DiagnosticsStatusNotification', { status });
  }

  private notifyLog(job: Job, status: UploadLogStatus): void {
    if (this.log !== job) return;
    this.logState = status;
    const requestId = job.requestId;
    this.core.emit('uploadStatus', { kind: 'Log', status, ...(requestId !== undefined ? { requestId } : {}) });
    this.core.send('LogStatusNotification', { status, ...(requestId !== undefined ? { requestId } : {}) });
  }
}
