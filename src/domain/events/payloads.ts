import type { Session } from '../../db/tables/sessions.ts';
import type { TopUp } from '../../db/tables/wallets.ts';
import type { NewEvent } from './types.ts';

/** The part of a session every session event carries (the field names of GET /v1/sessions/:id). */
function sessionHead(s: Session) {
  return {
    _id: s.id,
    transaction_id: s.transaction_id,
    chargestation: s.station_id,
    connector_id: s.connector_id,
    user: s.user_id,
    token: s.token_id,
    wallet: s.wallet_id,
  };
}

function sessionEvent(type: NewEvent['type'], s: Session, data: Record<string, unknown>): NewEvent {
  return { type, orderingKey: `session:${s.id}`, stationId: s.station_id, walletId: s.wallet_id, data: { ...sessionHead(s), ...data } };
}

export function sessionStarted(s: Session): NewEvent {
  return sessionEvent('session.started', s, {
    status: s.status,
    meter_start: s.meter_start,
    started_at: s.start_timestamp.toISOString(),
    rate: s.rate_id,
  });
}

export function sessionStopped(
  s: Session,
  end: { at: Date; meterStop: number; stopReason: string; termination: string | null; endedBy: string },
  billed: { energyWh: number; cost: number },
): NewEvent {
  return sessionEvent('session.stopped', s, {
    started_at: s.start_timestamp.toISOString(),
    stopped_at: end.at.toISOString(),
    meter_start: s.meter_start,
    meter_stop: end.meterStop,
    energy_wh: billed.energyWh,
    cost: { amount: billed.cost, currency: s.currency },
    stop_reason: end.stopReason,
    termination: end.termination,
    ended_by: end.endedBy,
  });
}

export function sessionStopFailed(s: Pick<Session, 'id' | 'transaction_id' | 'station_id' | 'wallet_id'> & Partial<Session>, attempts: number): NewEvent {
  return {
    type: 'session.stop_failed',
    orderingKey: `session:${s.id}`,
    stationId: s.station_id,
    walletId: s.wallet_id,
    data: { _id: s.id, transaction_id: s.transaction_id, chargestation: s.station_id, wallet: s.wallet_id, attempts },
  };
}

export function walletToppedUp(t: TopUp, balance: number, userId: string): NewEvent {
  return {
    type: 'wallet.topped_up',
    orderingKey: `wallet:${t.wallet_id}`,
    walletId: t.wallet_id,
    data: {
      wallet: t.wallet_id,
      user: userId,
      top_up: t.id,
      type: t.type,
      amount: t.amount,
      wallet_amount: t.wallet_amount,
      currency: t.currency,
      balance,
      ...(t.type === 'auto' && t.idempotency_key ? { request_id: t.idempotency_key } : {}),
    },
  };
}

export function stationConnection(
  type: 'chargestation.connected' | 'chargestation.disconnected',
  station: { stationId: string; identity: string },
  node: string,
): NewEvent {
  return {
    type,
    orderingKey: `station:${station.stationId}`,
    stationId: station.stationId,
    data: { chargestation: station.stationId, ocpp_id: station.identity, node },
  };
}

export function alertCreated(a: {
  id: string;
  kind: string;
  station_id: string | null;
  session_id: string | null;
  transaction_id: number | null;
  message: string;
  details: unknown;
}): NewEvent {
  return {
    type: 'alert.created',
    orderingKey: a.session_id ? `session:${a.session_id}` : a.station_id ? `station:${a.station_id}` : `alert:${a.id}`,
    stationId: a.station_id,
    data: {
      _id: a.id,
      kind: a.kind,
      chargestation: a.station_id,
      session: a.session_id,
      transaction_id: a.transaction_id,
      message: a.message,
      details: a.details,
    },
  };
}
