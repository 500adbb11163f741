/** OCTT 1.6 Central System cases of the Reservation profile, and its wallet rule. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.ts';
import { aDriver, caseName, ChargePoints, conformanceGateway, eventually, ok, operation, sessionIn, started, stationJson } from './harness.ts';

let gw: TestGateway;
const cps = new ChargePoints(() => gw);

beforeAll(async () => {
  gw = await conformanceGateway();
});
afterEach(() => cps.stopAll());
afterAll(() => gw.stop());

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

async function reserve(stationId: string, body: Record<string, unknown>) {
  const res = await gw.api('POST', `/v1/chargestations/${stationId}/reservations`, { expires_at: inAnHour(), ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { reservation: any; command: any };
}

describe('Reservation', () => {
  it(caseName('TC_046', 'Reservation of a connector, then a transaction'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const { reservation, command } = await reserve(cp.id, { connector_id: 1, user: driver.user._id });
    expect(command.answer).toEqual({ status: 'Accepted' });
    expect(reservation).toMatchObject({ status: 'reserved', connector_id: 1, id_tag: driver.idTag, user: driver.user._id });
    expect(cp.station.reservations().map((r) => r.id)).toEqual([reservation.reservation_id]);
    await eventually(async () => (await stationJson(gw, cp.id)).connectors.find((c: any) => c.connector_id === 1)?.status === 'Reserved');

    const tx = started(await cp.station.startSession(1, driver.idTag));
    expect(cp.station.received().length).toBeGreaterThan(0);
    const session = await sessionIn(gw, cp.id, tx, ['active']);
    const used = await eventually(async () => {
      const r = await ok(gw, 'GET', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`);
      return r.status === 'used' ? r : undefined;
    });
    expect(used).toMatchObject({ session: session._id, transaction_id: tx });
  });

  it(caseName('TC_047', 'Reservation of a connector, expire'), async () => {
    const cp = await cps.boot({ timeScale: 1 });
    const driver = await aDriver(gw);
    const expires = new Date(Date.now() + 1_500).toISOString();
    const { reservation } = await reserve(cp.id, { connector_id: 1, user: driver.user._id, expires_at: expires });
    expect(reservation.status).toBe('reserved');
    await cp.station.waitFor('reservation', (e: { state: string }) => e.state === 'Expired', 5_000);
    const r = await ok(gw, 'GET', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`);
    expect(r.status).toBe('expired');
    await eventually(async () => (await stationJson(gw, cp.id)).connectors.find((c: any) => c.connector_id === 1)?.status === 'Available');
  });

  it(caseName('TC_048_1', 'Reservation of a connector, faulted'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    cp.station.setError(1, { errorCode: 'GroundFailure' });
    const { reservation, command } = await reserve(cp.id, { connector_id: 1, user: driver.user._id });
    expect(command.answer).toEqual({ status: 'Faulted' });
    expect(reservation).toMatchObject({ status: 'refused', station_status: 'Faulted' });
  });

  it(caseName('TC_048_2', 'Reservation of a connector, occupied'), async () => {
    const cp = await cps.boot();
    const [charging, waiting] = [await aDriver(gw), await aDriver(gw)];
    started(await cp.station.startSession(1, charging.idTag));
    const { reservation } = await reserve(cp.id, { connector_id: 1, user: waiting.user._id });
    expect(reservation).toMatchObject({ status: 'refused', station_status: 'Occupied' });
  });

  it(caseName('TC_048_3', 'Reservation of a connector, unavailable'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    expect(await operation(gw, 'POST', `/v1/chargestations/${cp.id}/availability`, { connector_id: 1, type: 'Inoperative' })).toEqual({
      status: 'Accepted',
    });
    const connector = await eventually(async () =>
      (await stationJson(gw, cp.id)).connectors.find((c: any) => c.connector_id === 1 && c.status === 'Unavailable'),
    );
    expect(connector).toMatchObject({ availability: 'Inoperative', availability_status: 'Accepted' });
    const { reservation } = await reserve(cp.id, { connector_id: 1, user: driver.user._id });
    expect(reservation).toMatchObject({ status: 'refused', station_status: 'Unavailable' });
  });

  it(caseName('TC_048_4', 'Reservation of a connector, rejected'), async () => {
    const cp = await cps.boot({ answers: { ReserveNow: 'Rejected' } });
    const driver = await aDriver(gw);
    const { reservation } = await reserve(cp.id, { connector_id: 1, user: driver.user._id });
    expect(reservation).toMatchObject({ status: 'refused', station_status: 'Rejected' });
    expect(cp.station.reservations()).toEqual([]);
  });

  it(caseName('TC_049', 'Reservation of a charge point (connectorId 0)'), async () => {
    const cp = await cps.boot({ connectors: 2, configuration: { ReserveConnectorZeroSupported: 'true' } });
    const driver = await aDriver(gw);
    const { reservation } = await reserve(cp.id, { connector_id: 0, id_tag: driver.idTag });
    expect(reservation).toMatchObject({ status: 'reserved', connector_id: 0 });
    const tx = started(await cp.station.startSession(2, driver.idTag));
    await eventually(async () => (await ok(gw, 'GET', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`)).transaction_id === tx);
  });

  it(caseName('TC_051', 'Cancel reservation'), async () => {
    const cp = await cps.boot();
    const driver = await aDriver(gw);
    const { reservation } = await reserve(cp.id, { connector_id: 1, user: driver.user._id });
    const cancel = await ok(gw, 'DELETE', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`);
    expect(cancel).toMatchObject({ action: 'CancelReservation', answer: { status: 'Accepted' }, payload: { reservationId: reservation.reservation_id } });
    expect(cp.station.reservations()).toEqual([]);
    expect((await ok(gw, 'GET', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`)).status).toBe('cancelled');
  });

  it(caseName('TC_052', 'Cancel reservation, rejected'), async () => {
    const cp = await cps.boot({ answers: { CancelReservation: 'Rejected' } });
    const driver = await aDriver(gw);
    const { reservation } = await reserve(cp.id, { connector_id: 1, user: driver.user._id });
    const cancel = await ok(gw, 'DELETE', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`);
    expect(cancel.answer).toEqual({ status: 'Rejected' });
    expect((await ok(gw, 'GET', `/v1/chargestations/${cp.id}/reservations/${reservation.reservation_id}`)).status).toBe('reserved');
  });

  it('wallet-aware: a driver below the organization minimum gets no reservation, and the station is not asked', async () => {
    const cp = await cps.boot();
    const poor = await aDriver(gw, { balance: 500 });
    const res = await gw.api('POST', `/v1/chargestations/${cp.id}/reservations`, { connector_id: 1, user: poor.user._id, expires_at: inAnHour() });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'insufficient_balance', details: { balance: 500, minimum_balance_to_start_session: 2000 } });
    expect(cp.station.received('ReserveNow')).toEqual([]);
    expect((await ok(gw, 'GET', `/v1/chargestations/${cp.id}/reservations`)).data).toEqual([]);
  });
});
