/** OCTT 1.6 Central System cases of the Local Auth List Management profile (manual list management). */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { caseName, ChargePoints, conformanceGateway, operation, stationJson } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

const entry = (idTag: string, status = 'Accepted') => ({ idTag, idTagInfo: { status } });

describe('Local Auth List Management', () => {
  it(caseName('TC_042_1', 'Get local list version, not supported'), async () => {
    const cp = await cps.boot({ answers: { GetLocalListVersion: { payload: { listVersion: -1 } } } });
    expect(await operation(gw, 'GET', `/v1/chargestations/${cp.id}/local_list`)).toEqual({ listVersion: -1 });
    expect((await stationJson(gw, cp.id)).local_list_version).toBe(-1);
    // The other answer the case allows: a CALLERROR NotSupported, passed on as 502 with its code.
    cp.station.answers.set('GetLocalListVersion', { callError: 'NotSupported' });
    const res = await gw.api('GET', `/v1/chargestations/${cp.id}/local_list`);
    expect(res).toMatchObject({ status: 502, body: { error: { details: { ocpp_error_code: 'NotSupported' } } } });
  });

  it(caseName('TC_042_2', 'Get local list version, empty'), async () => {
    const cp = await cps.boot();
    expect(await operation(gw, 'GET', `/v1/chargestations/${cp.id}/local_list`)).toEqual({ listVersion: 0 });
    expect((await stationJson(gw, cp.id)).local_list_version).toBe(0);
  });

  it(caseName('TC_043_1', 'Send local authorization list, NotSupported'), async () => {
    const cp = await cps.boot({ configuration: { LocalAuthListEnabled: 'false' } });
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/local_list`, {
      list_version: 1,
      update_type: 'Full',
      entries: [entry('LOCAL-1')],
    });
    expect(answer).toEqual({ status: 'NotSupported' });
    expect((await stationJson(gw, cp.id)).local_list_version).toBeNull();
  });

  it(caseName('TC_043_3', 'Send local authorization list, failed'), async () => {
    const cp = await cps.boot({ configuration: { SendLocalListMaxLength: '1' } });
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/local_list`, {
      list_version: 1,
      update_type: 'Full',
      entries: [entry('LOCAL-1'), entry('LOCAL-2')],
    });
    expect(answer).toEqual({ status: 'Failed' });
    expect(cp.station.localList().entries.size).toBe(0);
  });

  it(caseName('TC_043_4', 'Send local authorization list, full'), async () => {
    const cp = await cps.boot();
    const answer = await operation(gw, 'POST', `/v1/chargestations/${cp.id}/local_list`, {
      list_version: 3,
      update_type: 'Full',
      entries: [entry('LOCAL-1'), entry('LOCAL-2', 'Blocked')],
    });
    expect(answer).toEqual({ status: 'Accepted' });
    expect(cp.station.received('SendLocalList').at(-1)?.params).toEqual({
      listVersion: 3,
      updateType: 'Full',
      localAuthorizationList: [entry('LOCAL-1'), entry('LOCAL-2', 'Blocked')],
    });
    const list = cp.station.localList();
    expect([list.version, [...list.entries.keys()]]).toEqual([3, ['LOCAL-1', 'LOCAL-2']]);
    expect((await stationJson(gw, cp.id)).local_list_version).toBe(3);
  });

  it(caseName('TC_043_5', 'Send local authorization list, differential'), async () => {
    const cp = await cps.boot();
    const url = `/v1/chargestations/${cp.id}/local_list`;
    await operation(gw, 'POST', url, { list_version: 1, update_type: 'Full', entries: [entry('LOCAL-1'), entry('LOCAL-2')] });
    const answer = await operation(gw, 'POST', url, {
      list_version: 2,
      update_type: 'Differential',
      entries: [entry('LOCAL-3'), { idTag: 'LOCAL-1' }],
    });
    expect(answer).toEqual({ status: 'Accepted' });
    expect([...cp.station.localList().entries.keys()].sort()).toEqual(['LOCAL-2', 'LOCAL-3']);
    expect(await operation(gw, 'GET', url)).toEqual({ listVersion: 2 });
    // A differential update that is not newer is refused by the station, and the version kept.
    expect(await operation(gw, 'POST', url, { list_version: 2, update_type: 'Differential', entries: [entry('LOCAL-4')] })).toEqual({
      status: 'VersionMismatch',
    });
    expect((await stationJson(gw, cp.id)).local_list_version).toBe(2);
  });
});
