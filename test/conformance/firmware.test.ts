/** OCTT 1.6 Central System cases of the Firmware Management profile (firmware and diagnostics). */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { caseName, ChargePoints, conformanceGateway, eventually, ok, operation, stationJson } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

/**
 * The statuses reported, oldest first, once the last is one of `final`. (Steps are half a real
 * second apart: the simulator reboots one step after Installing, and a notification still waiting
 * in its queue when it closes the connection to reboot is never sent; on a busy machine a step of
 * 80 ms was not always enough.)
 */
async function progress(path: string, final: string[]): Promise<string[]> {
  return eventually(async () => {
    const statuses = (await ok(gw, 'GET', path)).data.map((r: { status: string }) => r.status).reverse();
    return final.includes(statuses.at(-1)) ? statuses : undefined;
  }, 15_000);
}

describe('Firmware Management', () => {
  it(caseName('TC_044_1', 'Firmware update, download and install'), async () => {
    const cp = await cps.boot({ firmware: { newVersion: '2.0.0', stepSeconds: 30 } });
    const rebooted = cp.station.waitFor('booted', undefined, 15_000);
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/firmware`, { location: 'https://firmware.example.com/cp-2.0.0.bin' });
    expect(answer).toEqual({});
    const sent = cp.station.received('UpdateFirmware').at(-1)?.params as { location: string; retrieveDate: string };
    expect(sent.location).toBe('https://firmware.example.com/cp-2.0.0.bin');
    expect(Date.parse(sent.retrieveDate)).not.toBeNaN();
    expect(await progress(`/v1/chargestations/${cp.id}/firmware`, ['Installed'])).toEqual(['Downloading', 'Downloaded', 'Installing', 'Installed']);
    await rebooted;
    const s = await eventually(async () => {
      const j = await stationJson(gw, cp.id);
      return j.boot.firmware_version === '2.0.0' ? j : undefined;
    });
    expect(s).toMatchObject({ firmware_status: 'Installed', firmware_status_at: expect.any(String) });
  });

  it(caseName('TC_044_2', 'Firmware update, download failed'), async () => {
    const cp = await cps.boot({ firmware: { outcome: 'DownloadFailed', stepSeconds: 30 } });
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/firmware`, { location: 'https://firmware.example.com/missing.bin', retries: 0 });
    expect(await progress(`/v1/chargestations/${cp.id}/firmware`, ['DownloadFailed'])).toEqual(['Downloading', 'DownloadFailed']);
    expect((await stationJson(gw, cp.id)).firmware_status).toBe('DownloadFailed');
  });

  it(caseName('TC_044_3', 'Firmware update, installation failed'), async () => {
    const cp = await cps.boot({ firmware: { outcome: 'InstallationFailed', stepSeconds: 30 } });
    await operation(gw, 'POST', `/v1/chargestations/${cp.id}/firmware`, { location: 'https://firmware.example.com/broken.bin' });
    expect(await progress(`/v1/chargestations/${cp.id}/firmware`, ['InstallationFailed'])).toEqual([
      'Downloading',
      'Downloaded',
      'Installing',
      'InstallationFailed',
    ]);
  });

  it(caseName('TC_045_1', 'Get diagnostics'), async () => {
    const cp = await cps.boot({ uploads: { stepSeconds: 30 } });
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/diagnostics`, {
      location: 'ftp://diagnostics.example.com/uploads/',
      start_time: new Date(Date.now() - 86_400_000).toISOString(),
    });
    expect(answer.fileName).toEqual(expect.any(String));
    expect(await progress(`/v1/chargestations/${cp.id}/diagnostics`, ['Uploaded', 'UploadFailed'])).toEqual(['Uploading', 'Uploaded']);
    expect(await stationJson(gw, cp.id)).toMatchObject({ diagnostics_status: 'Uploaded', diagnostics_file_name: answer.fileName });
  });

  it('GetDiagnostics with nothing to upload, and an upload that fails, are shown as the station reports them', async () => {
    const nothing = await cps.boot({ uploads: { outcome: 'NoFile' } });
    expect(await operation(gw, 'POST', `/v1/chargestations/${nothing.id}/diagnostics`, { location: 'ftp://d.example.com/' })).toEqual({});
    expect((await stationJson(gw, nothing.id)).diagnostics_file_name).toBeNull();
    const failing = await cps.boot({ uploads: { outcome: 'Failed', stepSeconds: 30 } });
    await operation(gw, 'POST', `/v1/chargestations/${failing.id}/diagnostics`, { location: 'ftp://d.example.com/' });
    expect(await progress(`/v1/chargestations/${failing.id}/diagnostics`, ['UploadFailed'])).toEqual(['Uploading', 'UploadFailed']);
  });
});
