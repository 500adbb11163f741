import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { OPEN_STATUSES } from './sessions/billing.ts';

export interface Overview {
  stations: { total: number; online: number; offline: number };
  sessions: { active: number; stopping: number; stop_failed: number };
  since: { from: string; sessions: number; energy_wh: number; debited: { currency: string; amount: number }[] };
  alerts: { open: number };
}

/**
 * The figures of the console's overview, for one organization or all: stations (active ones,
 * online where `locate` finds them, cluster-wide), running sessions by status, what the sessions started since `from`
 * delivered and cost (per currency, refused starts left out), and alerts not acknowledged yet.
 * A session counts for the organization of its station and for that of its driver.
 */
export async function overviewFigures(
  db: Db,
  q: { organization?: string | undefined; from: Date; locate: (identities: string[]) => Promise<Map<string, unknown>> },
): Promise<Overview> {
  const org = q.organization;
  let stations = db.selectFrom('charge_stations').select('ocpp_id').where('active', '=', true);
  if (org) stations = stations.where('organization_id', '=', org);
  let running = db
    .selectFrom('sessions as s')
    .select(['s.status', sql<number>`count(*)::int`.as('n')])
    .where('s.status', 'in', [...OPEN_STATUSES])
    .groupBy('s.status');
  let recent = db
    .selectFrom('sessions as s')
    .select([
      's.currency',
      sql<number>`count(*)::int`.as('n'),
      sql<number>`coalesce(sum(s.meter_last - s.meter_start), 0)::bigint`.as('energy'),
      sql<number>`coalesce(sum(s.debited), 0)::bigint`.as('debited'),
    ])
    .where('s.start_timestamp', '>=', q.from)
    .where('s.status', '<>', 'rejected')
    .groupBy('s.currency');
  let alerts = db.selectFrom('alerts').select(sql<number>`count(*)::int`.as('n')).where('acknowledged_at', 'is', null);
  if (org) {
    const orgStations = db.selectFrom('charge_stations').select('id').where('organization_id', '=', org);
    const orgUsers = db.selectFrom('users').select('id').where('organization_id', '=', org);
    running = running.where((eb) => eb.or([eb('s.station_id', 'in', orgStations), eb('s.user_id', 'in', orgUsers)]));
    recent = recent.where((eb) => eb.or([eb('s.station_id', 'in', orgStations), eb('s.user_id', 'in', orgUsers)]));
    alerts = alerts.where('station_id', 'in', orgStations);
  }
  const [registered, byStatus, byCurrency, openAlerts] = await Promise.all([
    stations.execute(),
    running.execute(),
    recent.execute(),
    alerts.executeTakeFirstOrThrow(),
  ]);
  const where = await q.locate(registered.map((s) => s.ocpp_id));
  const online = registered.filter((s) => where.has(s.ocpp_id)).length;
  const count = (status: string) => byStatus.find((r) => r.status === status)?.n ?? 0;
  return {
    stations: { total: registered.length, online, offline: registered.length - online },
    sessions: { active: count('active'), stopping: count('stopping'), stop_failed: count('stop_failed') },
    since: {
      from: q.from.toISOString(),
      sessions: byCurrency.reduce((n, r) => n + r.n, 0),
      energy_wh: byCurrency.reduce((n, r) => n + Number(r.energy), 0),
      debited: byCurrency.map((r) => ({ currency: r.currency, amount: Number(r.debited) })),
    },
    alerts: { open: openAlerts.n },
  };
}
