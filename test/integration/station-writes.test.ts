import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import { StationWrites } from '../../src/domain/chargers/station-writes.ts';
import { migratedDb, type MigratedDb } from '../helpers/db.ts';

describe('StationWrites: boots, heartbeats and configuration answers of many stations, group-committed', () => {
  let h: MigratedDb;
  const clock = new ManualClock(new Date('2026-07-01T10:00:00Z'));
  beforeAll(async () => {
    h = await migratedDb();
  });
  afterAll(async () => {
    await h.dispose();
  });

  it('each station gets its own record; of two records for one station in a batch the later wins; answers merge, the newer per key', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createStation(h.db, clock, { ocpp_id: `SW-${i}-${Date.now()}` })).id);
    const writes = new StationWrites(h.db);
    const t = (s: number) => new Date(clock.now().getTime() + s * 1000);
    await Promise.all([
      writes.boot(ids[0]!, { chargePointVendor: 'Acme', chargePointModel: 'A1', firmwareVersion: '1.0' }, t(1)),
      writes.boot(ids[1]!, { chargePointVendor: 'Bolt', chargePointModel: 'B2' }, t(1)),
      writes.boot(ids[1]!, { chargePointVendor: 'Bolt', chargePointModel: 'B3', chargePointSerialNumber: 'SN-9' }, t(2)),
      writes.heartbeat(ids[2]!, t(5)),
      writes.heartbeat(ids[2]!, t(3)),
      writes.configAnswers(ids[0]!, [{ key: 'MeterValueSampleInterval', value: '30', status: 'Accepted', at: t(1) }]),
      writes.configAnswers(ids[0]!, [{ key: 'StopTransactionOnInvalidId', value: 'true', status: 'Rejected', at: t(2) }]),
      // one key answered twice, the newer answer submitted first: the newer one is kept
      writes.configAnswers(ids[2]!, [{ key: 'HeartbeatInterval', value: '600', status: 'Accepted', at: t(4) }]),
      writes.configAnswers(ids[2]!, [{ key: 'HeartbeatInterval', value: '300', status: 'Accepted', at: t(3) }]),
    ]);
    await writes.drain();
    const rows = await h.db
      .selectFrom('charge_stations')
      .select(['id', 'vendor', 'model', 'serial_number', 'firmware_version', 'booted_at', 'last_heartbeat_at', 'configuration'])
      .where('id', 'in', ids)
      .execute();
    const by = new Map(rows.map((r) => [r.id, r]));
    expect(by.get(ids[0]!)).toMatchObject({ vendor: 'Acme', model: 'A1', firmware_version: '1.0', booted_at: t(1), last_heartbeat_at: t(1) });
    expect(by.get(ids[0]!)!.configuration).toEqual({
      MeterValueSampleInterval: { value: '30', status: 'Accepted', at: t(1).toISOString() },
      StopTransactionOnInvalidId: { value: 'true', status: 'Rejected', at: t(2).toISOString() },
    });
    expect(by.get(ids[1]!)).toMatchObject({ vendor: 'Bolt', model: 'B3', serial_number: 'SN-9', booted_at: t(2) });
    expect(by.get(ids[2]!)).toMatchObject({ vendor: null, booted_at: null, last_heartbeat_at: t(5) });
    expect(by.get(ids[2]!)!.configuration).toEqual({ HeartbeatInterval: { value: '600', status: 'Accepted', at: t(4).toISOString() } });
  });

  it("a boot resolves with the station's recorded configuration, read by the boots' own statement", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createStation(h.db, clock, { ocpp_id: `SB-${i}-${Date.now()}` })).id);
    const answer = { key: 'LocalPreAuthorize', value: 'false', status: 'Rejected', at: clock.now() };
    await new StationWrites(h.db).configAnswers(ids[0]!, [answer]);
    // statements the boots cost, counted as they reach the database
    let statements = 0;
    const counted = h.db.withPlugin({
      transformQuery(args) {
        statements++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const writes = new StationWrites(counted);
    const boot = { chargePointVendor: 'Acme', chargePointModel: 'A1' };
    const recorded = await Promise.all(ids.map((id) => writes.boot(id, boot, clock.now())));
    expect(recorded[0]).toEqual({ LocalPreAuthorize: { value: 'false', status: 'Rejected', at: answer.at.toISOString() } });
    expect(recorded.slice(1)).toEqual([{}, {}]);
    expect(statements).toBe(1);
  });
});
