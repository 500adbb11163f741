import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import { isDatabaseUnavailable, isDataException } from '../../db/errors.ts';
import type { CommandStatus } from '../../db/tables/commands.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import { storableJson } from '../../shared/storable.ts';
import { newId } from '../../shared/ids.ts';
import type {
  CallOptions,
  StationAction,
  StationCalls,
  StationLocation,
  StationPort,
} from '../chargers/station-port.ts';
import { classifyFailure } from './commands.ts';

/** Who asked for a call the gateway sends of its own accord. */
export const GATEWAY = 'gateway';

/** One ended call, as the command log keeps it. */
interface Ended {
  id: string;
  identity: string;
  action: string;
  payload: unknown;
  status: CommandStatus;
  answer?: unknown;
  error?: { code: string; message: string };
  requested_by: string;
  reason?: string;
  created_at: string;
  answered_at: string;
}

/**
 * How much may wait for its write: 32 MiB of entries (their JSON, plus a fixed charge per entry
 * for the queue's own objects). Past it new entries are dropped (and counted): the log never grows
 * memory without end. A bound in bytes, not entries: a node's share of a mass reconnect (thousands
 * of stations, each with its boot configuration's calls, while the pool is busy with their boots)
 * queues tens of thousands of small entries for a few seconds, which the writer then catches up
 * on at thousands per second; a bound of entries small enough to cap the large answers dropped them.
 */
const MAX_WAITING_BYTES = 32 * 1024 * 1024;
const ENTRY_OVERHEAD_BYTES = 512;
/**
 * An answer bigger than this (serialized) is kept as its size only: a mass reconnect after an
 * outage brings thousands of full GetConfiguration answers at once.
 */
const MAX_ANSWER_CHARS = 16_384;
/**
 * Waits before writing a batch again when the database was unavailable (no free connection in
 * time, connection lost): about 30 s of pauses (each attempt may also wait up to the pool's
 * connect timeout), then the batch is given up (and logged). The write skips entries already
 * there, so a retry after a commit whose answer was lost adds nothing.
 */
const RETRY_DELAYS_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

function bounded(answer: unknown): unknown {
  const text = JSON.stringify(answer);
  return text !== undefined && text.length > MAX_ANSWER_CHARS ? { truncated: true, chars: text.length } : answer;
}

export interface CommandLogWriterOptions {
  /** see MAX_WAITING_BYTES */
  maxWaitingBytes?: number;
  /** see RETRY_DELAYS_MS */
  retryDelaysMs?: readonly number[];
}

/**
 * The command log's writer for calls that do not go through StationCommands (the stop at zero,
 * the predictive stop's TriggerMessage and ChangeConfiguration, the boot configuration pass, a
 * remote start without an operator…). Entries are written after the call has ended, batched (one
 * INSERT for every entry that ended while the previous write ran), one write at a time so the
 * log's order is the order the calls ended, never awaited by the caller: a failed write costs a
 * log line, never a call. Payloads carrying a secret are masked here.
 */
export class CommandLogWriter {
  private readonly writes: GroupCommit<string>;
  private waitingBytes = 0;
  private dropped = 0;
  private readonly maxWaitingBytes: number;
  private readonly retryDelaysMs: readonly number[];

  constructor(
    private readonly deps: { db: Db; log: Logger },
    options: CommandLogWriterOptions = {},
  ) {
    this.maxWaitingBytes = options.maxWaitingBytes ?? MAX_WAITING_BYTES;
    this.retryDelaysMs = options.retryDelaysMs ?? RETRY_DELAYS_MS;
    this.writes = new GroupCommit((items) => this.write(items), {
      maxBatch: 500,
      // one write at a time: the entries' order is the log's order
      concurrency: 1,
      // a batch refused for what one entry holds (a data exception) is written again entry by
      // entry, in order, so only that entry is lost
      isolateFailures: isDataException,
    });
  }

  /** Queues one entry; returns at once. Only its JSON is kept while it waits. */
  record(entry: Ended): void {
    let text: string;
    try {
      // an answer holding a NUL or half a surrogate pair is kept with U+FFFD (one bad entry would
      // otherwise fail its batch, and be written again alone, on every boot of such firmware)
      text = storableJson(entry);
    } catch (err) {
      this.deps.log.error({ err, action: entry.action, identity: entry.identity }, 'could not serialize a command log entry');
      return;
    }
    const bytes = text.length + ENTRY_OVERHEAD_BYTES;
    if (this.waitingBytes + bytes > this.maxWaitingBytes) {
      if (this.dropped++ % 1_000 === 0) {
        this.deps.log.warn({ dropped: this.dropped, waiting: this.writes.pending }, 'command log writes are behind: entries dropped');
      }
      return;
    }
    this.waitingBytes += bytes;
    // a failed write is logged once, by write(), not once per entry
    this.writes
      .submit(text)
      .catch(() => {})
      .finally(() => {
        this.waitingBytes -= bytes;
      });
  }

  /** Resolves once every entry queued so far is written (or has failed). */
  drain(): Promise<void> {
    return this.writes.drain();
  }

  /** Entries dropped so far because too much was waiting. */
  get droppedEntries(): number {
    return this.dropped;
  }

  /** One batch, written again after a pause while the database is unavailable. */
  private async write(items: string[]): Promise<void> {
    const rows = `[${items.join(',')}]`;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.insert(rows);
      } catch (err) {
        const delay = this.retryDelaysMs[attempt];
        if (delay === undefined || !isDatabaseUnavailable(err)) {
          // a lone entry (one isolated from its batch) is named
          const entry = items.length === 1 ? (JSON.parse(items[0]!) as Partial<Ended>) : undefined;
          this.deps.log.error(
            { err, entries: items.length, attempts: attempt + 1, ...(entry ? { id: entry.id, identity: entry.identity, action: entry.action } : {}) },
            'could not write command log entries',
          );
          throw err;
        }
        // unref: a pause must not keep a stopping process alive
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  /**
   * One statement for the batch, in the order the calls ended (that is the `seq` order). An entry
   * whose identity names no registered station is skipped, and so is one already written.
   */
  private async insert(rows: string): Promise<void> {
    await sql`
      insert into station_commands
        (id, station_id, action, payload, status, answer, error, requested_by, reason, created_at, answered_at)
      select e.v->>'id', c.id, e.v->>'action', e.v->'payload', e.v->>'status', e.v->'answer', e.v->'error',
        e.v->>'requested_by', e.v->>'reason', (e.v->>'created_at')::timestamptz, (e.v->>'answered_at')::timestamptz
      from jsonb_array_elements(${rows}::jsonb) with ordinality as e(v, n)
      -- one index lookup per entry: joined plainly, the planner's 100-row guess for the array
      -- picks a scan of every station for each batch of log entries
      cross join lateral (select id from charge_stations c where lower(c.ocpp_id) = lower(e.v->>'identity') offset 0) c
      order by e.n
      on conflict (id) do nothing`.execute(this.deps.db);
  }
}

/**
 * The station port every part of the gateway calls through, keeping each call in the station's
 * command log with who asked: the one place calls to stations leave, so no caller can forget it.
 * The call goes out exactly as the inner port sends it (nothing is read or written before);
 * its entry is queued once the call has ended. Callers that keep their own entry
 * (StationCommands, for operator operations whose answers change records) say `logged`.
 */
export class RecordedStations implements StationPort {
  constructor(
    private readonly inner: StationPort,
    private readonly commandLog: CommandLogWriter,
    private readonly clock: Clock,
  ) {}

  async call<A extends StationAction>(
    identity: string,
    action: A,
    params: StationCalls[A]['req'],
    options: CallOptions = {},
  ): Promise<StationCalls[A]['conf']> {
    if (options.logged) return this.inner.call(identity, action, params, options);
    const sentAt = this.clock.now();
    const entry = (status: CommandStatus, more: { answer?: unknown; error?: { code: string; message: string } }): Ended => ({
      id: newId(sentAt),
      identity,
      action,
      payload: masked(action, params),
      status,
      ...more,
      requested_by: options.requestedBy ?? GATEWAY,
      ...(options.reason ? { reason: options.reason } : {}),
      created_at: sentAt.toISOString(),
      answered_at: this.clock.now().toISOString(),
    });
    let answer: StationCalls[A]['conf'];
    try {
      answer = await this.inner.call(identity, action, params, options);
    } catch (err) {
      const { status, error } = classifyFailure(err, identity, action);
      this.commandLog.record(entry(status, { error }));
      throw err;
    }
    this.commandLog.record(entry('answered', { answer: bounded(answer ?? {}) }));
    return answer;
  }

  locate(identities: readonly string[]): Promise<Map<string, StationLocation>> {
    return this.inner.locate(identities);
  }

  disconnect(identity: string, reason: string): Promise<void> {
    return this.inner.disconnect(identity, reason);
  }
}

/** Keys whose value is a credential: never in the log. */
const SECRET_KEYS = new Set(['authorizationkey']);

function masked(action: string, params: unknown): unknown {
  if (action !== 'ChangeConfiguration') return params;
  const p = params as { key?: unknown; value?: unknown };
  return typeof p.key === 'string' && SECRET_KEYS.has(p.key.toLowerCase()) ? { ...p, value: '(secret, not kept)' } : params;
}

/**
 * Deletes command log entries older than `days`, in chunks (a first run over a large backlog
 * holds no lock for long). Run once per hour, cluster-wide.
 */
export async function deleteOldCommands(db: Db, days: number): Promise<void> {
  for (;;) {
    const { rows } = await sql<{ id: string }>`
      delete from station_commands where id in (
        select id from station_commands
        where created_at < now() - ${days} * interval '1 day'
        order by created_at
        limit 5000
      )
      returning id`.execute(db);
    if (rows.length < 5000) return;
  }
}
