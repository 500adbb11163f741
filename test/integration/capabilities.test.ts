import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import { capabilitiesOf, StationCapabilities } from '../../src/domain/chargers/capabilities.ts';
import { migratedDb, type MigratedDb } from '../helpers/db.ts';

/** What is learnt of a station is kept in its row: merged as it is learnt, read back by any later store. */
describe('StationCapabilities', () => {
  let h: MigratedDb;
  const clock = new ManualClock(new Date('2026-07-01T10:00:00Z'));
  const log = createLogger('silent');
  beforeAll(async () => {
    h = await migratedDb();
  });
  afterAll(async () => {
    await h.dispose();
  });

  it('merges what is learnt (a later value replaces, an absent one keeps), by identity ignoring case', async () => {
    const identity = `CAP-${Date.now()}`;
    const station = await createStation(h.db, clock, { ocpp_id: identity });
    const store = new StationCapabilities({ db: h.db, log });
    expect(await store.load(identity)).toBeUndefined();
    store.learnt(identity, { triggerMeterValues: true, stopDelayTimeS: 2.5 });
    store.learnt(identity.toLowerCase(), { triggerMeterValues: false });
    await store.drain();
    store.learnt(identity, { sampleIntervalChange: true, stopDelayEnergyS: 1.25 });
    store.learnt('NOT-A-STATION', { smartCharging: true });
    await store.drain();

    const later = new StationCapabilities({ db: h.db, log });
    expect(await later.load(identity.toLowerCase())).toEqual({
      triggerMeterValues: false,
      sampleIntervalChange: true,
      stopDelayEnergyS: 1.25,
      stopDelayTimeS: 2.5,
    });
    expect(await capabilitiesOf(h.db, station.id)).toMatchObject({ smart_charging: null, trigger_meter_values: false });
  });
});
