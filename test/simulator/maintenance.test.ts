import { describe, expect, it } from 'vitest';
import { booted, charging, inMs } from './harness.ts';
import { testCa } from './pki.ts';

const statusesOf = (calls: Array<{ params: Record<string, any> }>) => calls.map((c) => c.params.status);

describe('UpdateFirmware', () => {
  it('Downloading → Downloaded → Installing, reboots into the new version, then Installed', async () => {
    const { cs, station, id } = await booted({ firmwareVersion: 'v1' });
    const transactionId = await charging(station);
    expect(await cs.send(id, 'UpdateFirmware', { location: 'https://files.example/fw/v2.bin', retrieveDate: new Date().toISOString() })).toEqual({});
    const trace = await cs.waitForCalls(id, 'FirmwareStatusNotification', 4, undefined, 5_000);
    expect(statusesOf(trace)).toEqual(['Downloading', 'Downloaded', 'Installing', 'Installed']);
    const boots = cs.callsOf(id, 'BootNotification');
    expect(boots.map((b) => b.params.firmwareVersion)).toEqual(['v1', 'v2']);
    // the reboot happened between Installing and Installed, after the transaction was stopped
    expect(boots[1]!.at).toBeGreaterThanOrEqual(trace[2]!.at);
    expect(boots[1]!.at).toBeLessThanOrEqual(trace[3]!.at);
    const [stop] = cs.callsOf(id, 'StopTransaction');
    expect(stop!.params).toMatchObject({ transactionId, reason: 'Reboot' });
    expect(station.firmwareVersion).toBe('v2');
    expect(station.firmwareStatus.status).toBe('Idle');
  });

  it('waits for retrieveDate and reports DownloadFailed or InstallationFailed without a reboot', async () => {
    const { cs, station, id } = await booted({ firmware: { outcome: 'DownloadFailed' } });
    // 60 simulated seconds ahead: ~100 ms at 600×
    await cs.send(id, 'UpdateFirmware', { location: 'ftp://x/fw.bin', retrieveDate: inMs(60_000) });
    const sentAt = Date.now();
    const failed = await cs.waitForCalls(id, 'FirmwareStatusNotification', 2);
    expect(statusesOf(failed)).toEqual(['Downloading', 'DownloadFailed']);
    expect(failed[0]!.at - sentAt).toBeGreaterThanOrEqual(80);

    station.setFirmwareOutcome('InstallationFailed');
    await cs.send(id, 'UpdateFirmware', { location: 'ftp://x/fw.bin', retrieveDate: new Date().toISOString() });
    const all = await cs.waitForCalls(id, 'FirmwareStatusNotification', 6);
    expect(statusesOf(all.slice(2))).toEqual(['Downloading', 'Downloaded', 'Installing', 'InstallationFailed']);
    expect(cs.callsOf(id, 'BootNotification')).toHaveLength(1);
  });

  it('TriggerMessage reports the update in progress', async () => {
    const { cs, station, id } = await booted({ firmware: { stepSeconds: 600 } }); // a step lasts 1 s
    await cs.send(id, 'UpdateFirmware', { location: 'ftp://x/fw.bin', retrieveDate: new Date().toISOString() });
    await station.waitFor('firmwareStatus', (e) => e.status === 'Downloading');
    await cs.send(id, 'TriggerMessage', { requestedMessage: 'FirmwareStatusNotification' });
    const calls = await cs.waitForCalls(id, 'FirmwareStatusNotification', 2);
    expect(statusesOf(calls)).toEqual(['Downloading', 'Downloading']);
  });
});

describe('GetDiagnostics', () => {
  it('answers the file name, then Uploading → Uploaded; UploadFailed and no file on demand', async () => {
    const { cs, station, id } = await booted();
    const answer = await cs.send(id, 'GetDiagnostics', { location: 'ftp://logs.example/' });
    expect(answer.fileName).toMatch(new RegExp(`^diagnostics-${id}-\\d+\\.log$`));
    expect(statusesOf(await cs.waitForCalls(id, 'DiagnosticsStatusNotification', 2))).toEqual(['Uploading', 'Uploaded']);

    station.setUploadOutcome('Failed');
    await cs.send(id, 'GetDiagnostics', { location: 'ftp://logs.example/' });
    expect(statusesOf(await cs.waitForCalls(id, 'DiagnosticsStatusNotification', 4)).slice(2)).toEqual(['Uploading', 'UploadFailed']);

    station.setUploadOutcome('NoFile');
    expect(await cs.send(id, 'GetDiagnostics', { location: 'ftp://logs.example/' })).toEqual({});
    await new Promise((r) => setTimeout(r, 100));
    expect(cs.callsOf(id, 'DiagnosticsStatusNotification')).toHaveLength(4);
  });
});

describe('Security extension: SignedUpdateFirmware and GetLog', () => {
  it('runs the signed update: scheduled download, signature verified, scheduled install, reboot, Installed', async () => {
    const ca = await testCa('Firmware Signer');
    const { cs, station, id } = await booted({ firmwareVersion: 'v1', firmware: { newVersion: 'v9' } });
    const request = {
      requestId: 77,
      firmware: {
        location: 'https://files.example/fw.bin',
        retrieveDateTime: inMs(60_000),
        installDateTime: inMs(120_000),
        signingCertificate: ca.certPem,
        signature: 'c2lnbmF0dXJl',
      },
    };
    expect(await cs.send(id, 'SignedUpdateFirmware', request)).toEqual({ status: 'Accepted' });
    const trace = await cs.waitForCalls(id, 'SignedFirmwareStatusNotification', 8, undefined, 5_000);
    expect(statusesOf(trace)).toEqual([
      'DownloadScheduled',
      'Downloading',
      'Downloaded',
      'SignatureVerified',
      'InstallScheduled',
      'Installing',
      'InstallRebooting',
      'Installed',
    ]);
    expect(trace.every((c) => c.params.requestId === 77)).toBe(true);
    expect(cs.callsOf(id, 'BootNotification').map((b) => b.params.firmwareVersion)).toEqual(['v1', 'v9']);
    expect(cs.callsOf(id, 'FirmwareStatusNotification')).toHaveLength(0);
    expect(station.firmwareVersion).toBe('v9');
    expect(cs.validationFailures).toEqual([]);
  });

  it('InvalidCertificate for a signing certificate that does not parse; InvalidSignature raises a security event', async () => {
    const ca = await testCa('Firmware Signer');
    const { cs, id } = await booted({ firmware: { outcome: 'InvalidSignature' } });
    const firmware = { location: 'https://f/fw.bin', retrieveDateTime: new Date().toISOString(), signingCertificate: 'not a certificate', signature: 'eA==' };
    expect(await cs.send(id, 'SignedUpdateFirmware', { requestId: 1, firmware })).toEqual({ status: 'InvalidCertificate' });
    expect(await cs.send(id, 'SignedUpdateFirmware', { requestId: 2, firmware: { ...firmware, signingCertificate: ca.certPem } })).toEqual({
      status: 'Accepted',
    });
    expect(statusesOf(await cs.waitForCalls(id, 'SignedFirmwareStatusNotification', 3))).toEqual(['Downloading', 'Downloaded', 'InvalidSignature']);
    const [event] = await cs.waitForCalls(id, 'SecurityEventNotification');
    expect(event!.params.type).toBe('InvalidFirmwareSignature');
  });

  it('a second SignedUpdateFirmware cancels the first: AcceptedCanceled', async () => {
    const ca = await testCa();
    const { cs, id } = await booted({ firmware: { stepSeconds: 600 } });
    const firmware = { location: 'https://f/fw.bin', retrieveDateTime: new Date().toISOString(), signingCertificate: ca.certPem, signature: 'eA==' };
    expect(await cs.send(id, 'SignedUpdateFirmware', { requestId: 1, firmware })).toEqual({ status: 'Accepted' });
    await cs.waitForCalls(id, 'SignedFirmwareStatusNotification', 1);
    expect(await cs.send(id, 'SignedUpdateFirmware', { requestId: 2, firmware })).toEqual({ status: 'AcceptedCanceled' });
    const [, second] = await cs.waitForCalls(id, 'SignedFirmwareStatusNotification', 2);
    expect(second!.params).toEqual({ status: 'Downloading', requestId: 2 });
  });

  it('GetLog: filename, then LogStatusNotification Uploading → Uploaded with the requestId; ExtendedTriggerMessage reports it', async () => {
    const { cs, station, id } = await booted({ uploads: { stepSeconds: 600 } });
    const answer = await cs.send(id, 'GetLog', { logType: 'SecurityLog', requestId: 5, log: { remoteLocation: 'https://logs.example/up' } });
    expect(answer).toEqual({ status: 'Accepted', filename: `security-${id}-5.log` });
    await station.waitFor('uploadStatus', (e) => e.kind === 'Log' && e.status === 'Uploading');
    expect(await cs.send(id, 'ExtendedTriggerMessage', { requestedMessage: 'LogStatusNotification' })).toEqual({ status: 'Accepted' });
    const logs = await cs.waitForCalls(id, 'LogStatusNotification', 3, undefined, 5_000);
    expect(logs.map((c) => c.params)).toEqual([
      { status: 'Uploading', requestId: 5 },
      { status: 'Uploading', requestId: 5 },
      { status: 'Uploaded', requestId: 5 },
    ]);
    await cs.send(id, 'ExtendedTriggerMessage', { requestedMessage: 'LogStatusNotification' });
    expect((await cs.waitForCalls(id, 'LogStatusNotification', 4))[3]!.params).toEqual({ status: 'Idle' });
  });
});
