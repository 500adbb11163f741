import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { createStation } from '../../src/domain/chargers/stations.ts';
import type { StationPort } from '../../src/domain/chargers/station-port.ts';
import { CommandLogWriter, deleteOldCommands, RecordedStations } from '../../src/domain/operations/command-log.ts';
import { StationTimeoutError } from '../../src/shared/errors.ts';
import { migratedDb, type MigratedDb } from '../helpers/db.ts';

/**
 * The port every call to a station goes through keeps each call in the command log once it has
 * ended (batched, after the answer), and the retention job keeps the log bounded.
 */
describe('the command log of every call sent through the station port', () => {
  let h: MigratedDb;
  const clock = new ManualClock(new Date('2026-07-01T10:00:00Z'));
  const log = createLogger('silent');
  beforeAll(async () => {
    h = await migratedDb();
  });
  afterAll(async () => {
    await h.dispose();
  });

  /** A station at the other end of the port: answers each call with `answer(action)`, or throws it. */
  function stationsAnswering(answer: (action: string) => unknown): StationPort {
    return {
      async call(identity, action) {
        const a = answer(action);
        if (a instanceof Error) throw a;
        return a as never;
      },
      async locate() {
        return new Map();
      },
      async disconnect() {},
    };
  }

  it('keeps answered and failed calls with who asked and why; masks a password; skips unknown stations', async () => {
    const identity = `CL-${Date.now()}`;
    const station = await createStation(h.db, clock, { ocpp_id: identity });
    const writer = new CommandLogWriter({ db: h.db, log });
    const port = new RecordedStations(
      stationsAnswering((action) => (action === 'TriggerMessage' ? new StationTimeoutError(identity, action) : { status: 'Accepted' })),
      writer,
      clock,
    );
    // Identities match ignoring case, as the handshake does.
    await port.call(identity.toLowerCase(), 'RemoteStopTransaction', { transactionId: 7 }, { urgent: true, reason: 'wallet_at_zero' });
    await expect(port.call(identity, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 }, { reason: 'predictive_reading' })).rejects.toThrow(
      StationTimeoutError,
    );
    await port.call(identity, 'ChangeConfiguration', { key: 'AuthorizationKey', value: 'a-secret-password' }, { requestedBy: 'key-1' });
    await port.call('NO-SUCH-STATION', 'Reset', { type: 'Soft' });
    // A caller that keeps its own entry (StationCommands) gets none from the port.
    await port.call(identity, 'Reset', { type: 'Hard' }, { logged: true });
    await writer.drain();

    const rows = await h.db.selectFrom('station_commands').selectAll().where('station_id', '=', station.id).orderBy('seq').execute();
    expect(rows.map((r) => [r.action, r.status, r.requested_by, r.reason])).toEqual([
      ['RemoteStopTransaction', 'answered', 'gateway', 'wallet_at_zero'],
      ['TriggerMessage', 'timeout', 'gateway', 'predictive_reading'],
      ['ChangeConfiguration', 'answered', 'key-1', null],
    ]);
    expect(rows[0]).toMatchObject({ payload: { transactionId: 7 }, answer: { status: 'Accepted' }, error: null, created_at: clock.now(), answered_at: clock.now() });
    expect(rows[1]).toMatchObject({ answer: null, error: { code: 'station_timeout' } });
    expect(rows[2]!.payload).toEqual({ key: 'AuthorizationKey', value: '(secret, not kept)' });
    expect(JSON.stringify(rows)).not.toContain('a-secret-password');
  });

  it('retention deletes entries older than the configured days, and only those', async () => {
    const station = await createStation(h.db, clock, { ocpp_id: `CR-${Date.now()}` });
    const entry = (id: string, daysAgo: number) =>
      sql`insert into station_commands (id, station_id, action, payload, status, requested_by, created_at)
        values (${id}, ${station.id}, 'Reset', '{}'::jsonb, 'answered', 'gateway', now() - ${daysAgo} * interval '1 day')`.execute(h.db);
    await entry(`old-${station.id}`, 40);
    await entry(`new-${station.id}`, 5);
    await deleteOldCommands(h.db, 30);
    const left = await h.db.selectFrom('station_commands').select('id').where('station_id', '=', station.id).execute();
    expect(left.map((r) => r.id)).toEqual([`new-${station.id}`]);
  });
});
