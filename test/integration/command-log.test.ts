import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
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

  /** A logger that keeps what was logged at warn and error level. */
  function recordingLog() {
    const warnings: unknown[] = [];
    const errors: unknown[] = [];
    const logger = { warn: (o: unknown) => warnings.push(o), error: (o: unknown) => errors.push(o), info() {}, debug() {} };
    return { log: logger as unknown as Logger, warnings, errors };
  }

  /** Entries as RecordedStations makes them: `n` answered calls to `identity`, each with its index in `payload`. */
  function entries(identity: string, n: number, from = 0) {
    return Array.from({ length: n }, (_, i) => ({
      id: `${identity}-${String(from + i).padStart(6, '0')}`,
      identity,
      action: 'ChangeConfiguration',
      payload: { key: 'MeterValueSampleInterval', value: String(from + i) },
      status: 'answered' as const,
      answer: { status: 'Accepted' },
      requested_by: 'gateway',
      reason: 'boot_configuration',
      created_at: clock.now().toISOString(),
      answered_at: clock.now().toISOString(),
    }));
  }
  /** A registered station and a writer whose warnings and errors are kept. */
  async function stationAndWriter(prefix: string) {
    const identity = `${prefix}-${Date.now()}`;
    const station = await createStation(h.db, clock, { ocpp_id: identity });
    const { log: logger, warnings, errors } = recordingLog();
    return { identity, station, warnings, errors, writer: new CommandLogWriter({ db: h.db, log: logger }) };
  }
  const written = (stationId: string) =>
    h.db.selectFrom('station_commands').select(['id', 'payload']).where('station_id', '=', stationId).orderBy('seq').execute();

  it("keeps a mass reconnect's burst of calls whole and in order (more than ten thousand at once)", async () => {
    const { identity, station, warnings, writer } = await stationAndWriter('CB');
    const burst = entries(identity, 12_000);
    for (const e of burst) writer.record(e);
    await writer.drain();
    const rows = await written(station.id);
    expect(rows.length).toBe(12_000);
    expect(rows.map((r) => r.id)).toEqual(burst.map((e) => e.id));
    expect(writer.droppedEntries).toBe(0);
    expect(warnings).toEqual([]);
  });

  it('drops (and counts) what exceeds its bound in bytes while writes are behind, and keeps the rest in order', async () => {
    const identity = `CD-${Date.now()}`;
    const station = await createStation(h.db, clock, { ocpp_id: identity });
    const { log: logger, warnings } = recordingLog();
    const perEntry = JSON.stringify(entries(identity, 1)[0]).length + 512;
    const writer = new CommandLogWriter(
      { db: h.db, log: logger },
      { maxWaitingBytes: perEntry * 100 + perEntry / 2 },
    );
    const burst = entries(identity, 130);
    for (const e of burst) writer.record(e);
    await writer.drain();
    expect(writer.droppedEntries).toBe(30);
    expect(warnings).toHaveLength(1);
    expect((await written(station.id)).map((r) => r.id)).toEqual(burst.slice(0, 100).map((e) => e.id));
    // once written, the room is free again
    const later = entries(identity, 50, 1_000);
    for (const e of later) writer.record(e);
    await writer.drain();
    expect(writer.droppedEntries).toBe(30);
    expect((await written(station.id)).length).toBe(150);
  });

  it('writes a batch again while the database is unavailable, once, in order, even when its first commit went through', async () => {
    const identity = `CR-${Date.now()}`;
    const station = await createStation(h.db, clock, { ocpp_id: identity });
    const unavailable = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    // the first insert never reaches the database; the second commits but its answer is lost;
    // calls that end meanwhile are queued behind the batch
    let inserts = 0;
    const later = entries(identity, 5, 100);
    const flaky = h.db.withPlugin({
      transformQuery(args) {
        if (args.node.kind === 'RawNode' && ++inserts === 1) {
          for (const e of later) writer.record(e);
          throw unavailable();
        }
        return args.node;
      },
      async transformResult(args) {
        if (inserts === 2) throw unavailable();
        return args.result;
      },
    });
    const { log: logger, errors } = recordingLog();
    const writer = new CommandLogWriter(
      { db: flaky, log: logger },
      { retryDelaysMs: [10, 10, 10] },
    );
    const batch = entries(identity, 20);
    for (const e of batch) writer.record(e);
    await writer.drain();
    expect(inserts).toBe(4);
    expect(errors).toEqual([]);
    expect((await written(station.id)).map((r) => r.id)).toEqual([...batch, ...later].map((e) => e.id));
  });

  it('keeps an answer holding a NUL or half a surrogate pair with U+FFFD; an entry the database refuses is lost alone, the rest in order', async () => {
    const { identity, station, errors, writer } = await stationAndWriter('CN');
    const batch = entries(identity, 10);
    batch[2]!.answer = { status: 'Accepted', data: 'a\u0000b\ud800' } as never;
    batch[4]!.created_at = 'not a time';
    for (const e of batch) writer.record(e);
    await writer.drain();
    const rows = await h.db.selectFrom('station_commands').select(['id', 'answer']).where('station_id', '=', station.id).orderBy('seq').execute();
    expect(rows.map((r) => r.id)).toEqual(batch.filter((_, i) => i !== 4).map((e) => e.id));
    expect(rows[2]!.answer).toEqual({ status: 'Accepted', data: 'a\ufffdb\ufffd' });
    // once for the batch, once for the entry written alone (named)
    expect(errors).toHaveLength(2);
    expect(errors[1]).toMatchObject({ entries: 1, id: batch[4]!.id, identity, action: 'ChangeConfiguration' });
  });

  it('gives a batch up after its retries, or at once on an error that is not the database being away', async () => {
    const identity = `CG-${Date.now()}`;
    await createStation(h.db, clock, { ocpp_id: identity });
    let inserts = 0;
    const failing = (err: () => Error) =>
      h.db.withPlugin({
        transformQuery(args) {
          if (args.node.kind === 'RawNode') {
            inserts++;
            throw err();
          }
          return args.node;
        },
        transformResult: async (args) => args.result,
      });
    const { log: quiet, errors } = recordingLog();
    const away = new CommandLogWriter({ db: failing(() => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), log: quiet }, { retryDelaysMs: [5, 5] });
    away.record(entries(identity, 1)[0]!);
    await away.drain();
    expect(inserts).toBe(3);
    inserts = 0;
    const wrong = new CommandLogWriter({ db: failing(() => Object.assign(new Error('syntax error'), { code: '42601' })), log: quiet }, { retryDelaysMs: [5, 5] });
    wrong.record(entries(identity, 1)[0]!);
    await wrong.drain();
    expect(inserts).toBe(1);
    expect(errors).toHaveLength(2);
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
