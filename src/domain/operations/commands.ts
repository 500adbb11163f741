import type { Db, Tx } from '../../db/index.ts';
import type { CommandStatus, StationCommand } from '../../db/tables/commands.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import {
  NotFoundError,
  StationCallError,
  StationOfflineError,
  StationTimeoutError,
} from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { decodeSeqCursor, toPage, type Page } from '../../shared/pagination.ts';
import type { StationAction, StationCalls, StationPort } from '../chargers/station-port.ts';

/** The station a command goes to. */
export interface CommandStation {
  stationId: string;
  identity: string;
  organizationId: string;
}

/**
 * What an accepted answer changes in the gateway's own records (a reservation now held, the
 * configuration as last read, a charging profile in force…). Runs in the transaction that
 * completes the command, so the log and the state it explains never disagree.
 */
export type CommandEffect<A extends StationAction> = (
  tx: Tx,
  station: CommandStation,
  payload: StationCalls[A]['req'],
  answer: StationCalls[A]['conf'],
  at: Date,
) => Promise<void>;

export type CommandEffects = { [A in StationAction]?: CommandEffect<A> };

export interface SendOptions {
  /** the API key id that asked (a console session's key), or `gateway` */
  requestedBy: string;
  /** why the gateway sends it of its own accord (`local_list_sync`, …) */
  reason?: string;
  /** how long to wait for the answer; default: the OCPP call timeout */
  timeoutMs?: number;
  /** what the log keeps instead of the payload (a payload carrying a secret, e.g. AuthorizationKey) */
  logPayload?: unknown;
}

export interface CommandResult<A extends StationAction> {
  command: StationCommand;
  answer: StationCalls[A]['conf'];
}

/**
 * Every CSMS→station call an operator asks for (and the gateway's own that change records, such
 * as the local list sync): looked up, logged before it leaves, sent through the station
 * port (on whichever cluster node holds the station), its answer recorded with what it changes.
 *
 * Outcomes: the station's answer (whatever its status: Rejected is an answer); a station not
 * connected anywhere, or inactive → StationOfflineError (409 `station_offline`); no answer in
 * time → StationTimeoutError (504); a CALLERROR → StationCallError (502). Each is in the log.
 */
export class StationCommands {
  private readonly effects: CommandEffects = {};

  constructor(private readonly deps: { db: Db; clock: Clock; log: Logger; stations: StationPort }) {}

  /** Registers what an answer to `action` changes (one effect per action; a second one chains). */
  onAnswer<A extends StationAction>(action: A, effect: CommandEffect<A>): void {
    const previous = this.effects[action] as CommandEffect<A> | undefined;
    const chained: CommandEffect<A> = previous
      ? async (...args) => {
          await previous(...args);
          await effect(...args);
        }
      : effect;
    (this.effects as Record<string, unknown>)[action] = chained;
  }

  /** The station behind an admin id; NotFoundError when there is none. */
  async station(stationId: string): Promise<CommandStation & { active: boolean }> {
    const row = await this.deps.db
      .selectFrom('charge_stations')
      .select(['id', 'ocpp_id', 'organization_id', 'active'])
      .where('id', '=', stationId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('chargestation', stationId);
    return { stationId: row.id, identity: row.ocpp_id, organizationId: row.organization_id, active: row.active };
  }

  /** Sends `action` to the station with id `stationId` and resolves with its answer. */
  async send<A extends StationAction>(
    stationId: string,
    action: A,
    payload: StationCalls[A]['req'],
    options: SendOptions,
  ): Promise<CommandResult<A>> {
    const station = await this.station(stationId);
    return this.sendTo(station, action, payload, options);
  }

  /** As send(), for a station already looked up. */
  async sendTo<A extends StationAction>(
    station: CommandStation & { active: boolean },
    action: A,
    payload: StationCalls[A]['req'],
    options: SendOptions,
  ): Promise<CommandResult<A>> {
    const { db, clock, log, stations } = this.deps;
    const createdAt = clock.now();
    const id = newId(createdAt);
    await db
      .insertInto('station_commands')
      .values({
        id,
        station_id: station.stationId,
        action,
        payload: JSON.stringify(options.logPayload ?? payload),
        status: 'pending',
        requested_by: options.requestedBy,
        reason: options.reason ?? null,
        created_at: createdAt,
      })
      .execute();
    const clog = log.child({ identity: station.identity, action, command: id });
    let answer: StationCalls[A]['conf'];
    try {
      // An inactive station may still hold a connection for a moment; it gets no commands.
      if (!station.active) throw new StationOfflineError(station.identity);
      // `logged`: this row is the call's entry; the port adds none of its own.
      answer = await stations.call(station.identity, action, payload, { logged: true, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    } catch (err) {
      const { status, error, thrown } = classifyFailure(err, station.identity, action);
      await this.complete(id, status, null, error).catch((e: unknown) => clog.error({ err: e }, 'could not record a command failure'));
      clog.info({ status, code: error.code }, 'command not answered');
      throw thrown;
    }
    const effect = this.effects[action] as CommandEffect<A> | undefined;
    let command: StationCommand;
    try {
      command = await db.transaction().execute(async (tx) => {
        const answeredAt = clock.now();
        if (effect) await effect(tx, station, payload, answer, answeredAt);
        return tx
          .updateTable('station_commands')
          .set({ status: 'answered', answer: JSON.stringify(answer ?? {}), answered_at: answeredAt })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
      });
    } catch (err) {
      // The station did answer: the log says so even when what it changes could not be written.
      clog.error({ err }, 'could not record the effect of a command answer');
      await this.complete(id, 'answered', answer ?? {}, { code: 'not_recorded', message: 'the answer could not be applied to the records' }).catch(
        () => {},
      );
      throw err;
    }
    clog.info({ answer: (answer as { status?: string } | undefined)?.status }, 'command answered');
    return { command, answer };
  }

  private async complete(id: string, status: CommandStatus, answer: unknown, error: { code: string; message: string } | null) {
    await this.deps.db
      .updateTable('station_commands')
      .set({
        status,
        answer: answer === null ? null : JSON.stringify(answer),
        error: error ? JSON.stringify(error) : null,
        answered_at: this.deps.clock.now(),
      })
      .where('id', '=', id)
      .execute();
  }

  async get(stationId: string, commandId: string): Promise<StationCommand> {
    const row = await this.deps.db
      .selectFrom('station_commands')
      .selectAll()
      .where('station_id', '=', stationId)
      .where('id', '=', commandId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('command', commandId);
    return row;
  }

  /** A station's command log, newest first. */
  async list(
    stationId: string,
    q: { limit: number; cursor?: string | undefined; action?: string | undefined; requested_by?: string | undefined },
  ): Promise<Page<StationCommand>> {
    await this.station(stationId);
    let query = this.deps.db
      .selectFrom('station_commands')
      .selectAll()
      .where('station_id', '=', stationId)
      .orderBy('seq', 'desc')
      .limit(q.limit + 1);
    const before = decodeSeqCursor(q.cursor);
    if (before !== undefined) query = query.where('seq', '<', before);
    if (q.action) query = query.where('action', '=', q.action);
    if (q.requested_by) query = query.where('requested_by', '=', q.requested_by);
    return toPage(await query.execute(), q.limit, (c) => c.seq);
  }
}

/** How a failed call is logged, and the error the caller sees. */
export function classifyFailure(
  err: unknown,
  identity: string,
  action: string,
): { status: CommandStatus; error: { code: string; message: string }; thrown: Error } {
  if (err instanceof StationOfflineError) return { status: 'offline', error: { code: err.code, message: err.message }, thrown: err };
  if (err instanceof StationTimeoutError) return { status: 'timeout', error: { code: err.code, message: err.message }, thrown: err };
  const rpc = err as { rpcErrorCode?: unknown; rpcErrorMessage?: unknown; message?: unknown };
  if (typeof rpc.rpcErrorCode === 'string') {
    const message = typeof rpc.message === 'string' && rpc.message ? rpc.message : String(rpc.rpcErrorMessage ?? '');
    const thrown = new StationCallError(identity, action, rpc.rpcErrorCode, message);
    return { status: 'call_error', error: { code: rpc.rpcErrorCode, message }, thrown };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 'failed', error: { code: 'failed', message }, thrown: err instanceof Error ? err : new Error(message) };
}
