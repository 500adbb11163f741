import type { LiveEvent } from '../shared/events.ts';

/**
 * The live events the domain publishes, built in one place so each publishing site stays one
 * line. Each is published after the change it describes has committed.
 */

interface SessionRef {
  id: string;
  station_id: string;
  wallet_id: string | null;
}

/** A session started, stopped, was marked for a stop or had a stop attempt: read it again. */
export function sessionChanged(s: SessionRef): LiveEvent {
  return { type: 'session', id: s.id, station: s.station_id, wallet: s.wallet_id, refresh: true };
}

/** A MeterValues debit committed: the session's running figures and its wallet's balance after it. */
export function sessionBilled(
  s: SessionRef & { meter_start: number; debited: number },
  plan: { meterLast: number; cost: number; delta: number },
  balanceAfter: number | undefined,
  readings: readonly { powerW?: number | undefined }[],
): LiveEvent {
  let powerW: number | undefined;
  for (const r of readings) if (r.powerW !== undefined) powerW = r.powerW;
  return {
    type: 'session',
    id: s.id,
    station: s.station_id,
    wallet: s.wallet_id,
    data: {
      meter_last: plan.meterLast,
      energy_wh: plan.meterLast - s.meter_start,
      cost: plan.cost,
      debited: s.debited + (s.wallet_id ? plan.delta : 0),
      ...(powerW !== undefined ? { power_w: powerW } : {}),
      ...(balanceAfter !== undefined ? { balance: balanceAfter } : {}),
      /** ms since the epoch (a string is built only if someone reads it) */
      at: Date.now(),
    },
  };
}

/**
 * A station connected or disconnected (`online`), booted or reported a connector status (read it
 * again), or sent a heartbeat (`lastHeartbeat` only: no state change).
 */
export function stationChanged(stationId: string, data?: { online?: boolean; lastHeartbeat?: string }): LiveEvent {
  return { type: 'station', id: stationId, station: stationId, ...(data ? { data } : {}), refresh: !data || 'online' in data };
}

/** A wallet's balance changed outside billing (a top-up): read it again. */
export function walletChanged(walletId: string): LiveEvent {
  return { type: 'wallet', id: walletId, wallet: walletId, refresh: true };
}

/** An alert was recorded for a station (and maybe a session). */
export function alertRaised(a: { stationId?: string | undefined; sessionId?: string | undefined; kind: string }): LiveEvent {
  return {
    type: 'alert',
    id: a.sessionId ?? a.stationId ?? 'gateway',
    station: a.stationId ?? null,
    data: { kind: a.kind, session: a.sessionId ?? null },
    refresh: true,
  };
}
