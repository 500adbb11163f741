import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';
import type { ChargeStation, Connector, StationConfigAnswers } from '../../db/tables/charge-stations.ts';
import { ConflictError, NotFoundError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { hashPassword } from '../../shared/secrets.ts';
import type { Clock } from '../../shared/clock.ts';
import { decodeCursor, toPage, type Page } from '../../shared/pagination.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { getRate } from '../billing/rates.ts';
import { defaultOrganizationId, requireOrganization } from '../organizations/organizations.ts';
import { stopPendingAt } from '../sessions/stop-marks.ts';
import { identityKey } from './identity.ts';
import { recordReport } from '../operations/reports.ts';


/**
 * The batched station writes reach their rows through the primary key: the planner takes
 * json_to_recordset for 100 rows whatever it holds, and at that guess it prefers a hash join over
 * the whole charge_stations table (every heartbeat batch scanning every station) until the table
 * is very large. `v` is the statement's json_to_recordset CTE.
 */
const BY_KEY = sql`c.id = any(array(select id from v))`;
/** What the OCPP handshake needs to know about an identity. */
export interface HandshakeStation {
  id: string;
  /** the identity as registered (a station may connect as `cp-001` to reach `CP-001`) */
  ocpp_id: string;
  organization_id: string;
  active: boolean;
  password_hash: string | null;
  /** the new password of an AuthorizationKey rotation waiting for the station's answer */
  pending_password_hash: string | null;
  /** the lowest security profile it may connect with (null: none) */
  security_profile: number | null;
  /** a session on this station still waits for its RemoteStopTransaction */
  stops_pending: boolean;
}

/**
 * The stations behind some OCPP identities, and whether a stop must be sent to each once it is
 * connected: one query for many handshakes (a fleet reconnecting after a restart). Identities
 * match ignoring case; the map is keyed by `identityKey` (lower case).
 */
export async function findStationsForHandshake(db: Db, keys: readonly string[]): Promise<Map<string, HandshakeStation>> {
  if (!keys.length) return new Map();
  const rows = await db
    .selectFrom('charge_stations as c')
    .select(['c.ocpp_id', 'c.id', 'c.organization_id', 'c.active', 'c.password_hash', 'c.pending_password_hash', 'c.security_profile'])
    .select(stopPendingAt(sql.ref('c.id')).as('stops_pending'))
    .where(sql<string>`lower(c.ocpp_id)`, 'in', keys.map(identityKey))
    .execute();
  return new Map(rows.map((station) => [identityKey(station.ocpp_id), station]));
}

export interface BootInfo {
  chargePointVendor: string;
  chargePointModel: string;
  chargePointSerialNumber?: string | undefined;
  chargeBoxSerialNumber?: string | undefined;
  firmwareVersion?: string | undefined;
  iccid?: string | undefined;
  imsi?: string | undefined;
  meterType?: string | undefined;
  meterSerialNumber?: string | undefined;
}

/**
 * Several stations' boots in one statement (the last boot of a station in the list wins).
 * Returns each station's recorded configuration answers (what earlier boot passes and operators
 * learnt), read by the same statement: the boot pass that follows needs them, and a fleet
 * reconnecting at once must not cost one more query per station.
 */
export async function recordBoots(
  db: Db,
  boots: readonly { stationId: string; boot: BootInfo; at: Date }[],
): Promise<Map<string, StationConfigAnswers>> {
  const byStation = new Map(boots.map((b) => [b.stationId, b]));
  if (!byStation.size) return new Map();
  const rows = [...byStation.values()].map(({ stationId, boot, at }) => ({
    id: stationId,
    vendor: boot.chargePointVendor,
    model: boot.chargePointModel,
    serial_number: boot.chargePointSerialNumber ?? null,
    charge_box_serial_number: boot.chargeBoxSerialNumber ?? null,
    firmware_version: boot.firmwareVersion ?? null,
    iccid: boot.iccid ?? null,
    imsi: boot.imsi ?? null,
    meter_type: boot.meterType ?? null,
    meter_serial_number: boot.meterSerialNumber ?? null,
    at: at.toISOString(),
  }));
  const result = await sql<{ id: string; configuration: StationConfigAnswers | null }>`
    with v as (
      select * from json_to_recordset(${JSON.stringify(rows)}::json) as v(
        id text, vendor text, model text, serial_number text, charge_box_serial_number text, firmware_version text,
        iccid text, imsi text, meter_type text, meter_serial_number text, at timestamptz)
    )
    update charge_stations c set
      vendor = v.vendor, model = v.model, serial_number = v.serial_number,
      charge_box_serial_number = v.charge_box_serial_number, firmware_version = v.firmware_version,
      iccid = v.iccid, imsi = v.imsi, meter_type = v.meter_type, meter_serial_number = v.meter_serial_number,
      booted_at = v.at, last_heartbeat_at = v.at, updated_at = v.at
    from v
    where c.id = v.id and ${BY_KEY}
    returning c.id, c.configuration`.execute(db);
  return new Map(result.rows.map((r) => [r.id, r.configuration ?? {}]));
}

/** Several stations' heartbeats in one statement; last seen never moves backwards. */
export async function recordHeartbeats(db: Db, beats: readonly { stationId: string; at: Date }[]) {
  const latest = new Map<string, Date>();
  for (const { stationId, at } of beats) {
    const seen = latest.get(stationId);
    if (!seen || at > seen) latest.set(stationId, at);
  }
  if (!latest.size) return;
  const rows = [...latest].map(([id, at]) => ({ id, at: at.toISOString() }));
  await sql`
    with v as (select * from json_to_recordset(${JSON.stringify(rows)}::json) as v(id text, at timestamptz))
    update charge_stations c set last_heartbeat_at = greatest(c.last_heartbeat_at, v.at)
    from v
    where c.id = v.id and ${BY_KEY}`.execute(db);
}

export interface StatusReport {
  connectorId: number;
  status: string;
  errorCode: string;
  info?: string | undefined;
  vendorId?: string | undefined;
  vendorErrorCode?: string | undefined;
  /** when the station says the status began; defaults to now */
  timestamp?: Date | undefined;
}

/**
 * Stores a connector's status. A report older than the one stored (a queued status a station
 * sends late) does not overwrite the newer one. A report is never dated after it arrived, and a
 * stored one dated in the future (by a station clock ahead of ours) is overwritten by any report.
 */
export async function recordStatus(db: Db, stationId: string, report: StatusReport, now: Date) {
  const statusAt = report.timestamp && report.timestamp.getTime() < now.getTime() ? report.timestamp : now;
  await db
    .insertInto('connectors')
    .values({
      station_id: stationId,
      connector_id: report.connectorId,
      status: report.status,
      error_code: report.errorCode,
      info: report.info ?? null,
      vendor_id: report.vendorId ?? null,
      vendor_error_code: report.vendorErrorCode ?? null,
      status_at: statusAt,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .columns(['station_id', 'connector_id'])
        .doUpdateSet((eb) => ({
          status: eb.ref('excluded.status'),
          error_code: eb.ref('excluded.error_code'),
          info: eb.ref('excluded.info'),
          vendor_id: eb.ref('excluded.vendor_id'),
          vendor_error_code: eb.ref('excluded.vendor_error_code'),
          status_at: eb.ref('excluded.status_at'),
          updated_at: eb.ref('excluded.updated_at'),
        }))
        .where((eb) =>
          eb.or([
            eb('connectors.status_at', 'is', null),
            eb('connectors.status_at', '<=', eb.ref('excluded.status_at')),
            eb('connectors.status_at', '>', eb.ref('excluded.updated_at')),
          ]),
        ),
    )
    .execute();
}

/** A station's answer to one of our ChangeConfiguration calls. */
export interface ConfigAnswer {
  key: string;
  value: string;
  status: string;
  at: Date;
}

/** Several stations' ChangeConfiguration answers in one statement, merged into `configuration`. */
export async function recordConfigAnswersOf(db: Db, list: readonly { stationId: string; answers: ConfigAnswer[] }[]) {
  const merged = new Map<string, Record<string, { value: string; status: string; at: string }>>();
  for (const { stationId, answers } of list) {
    const entry = merged.get(stationId) ?? {};
    for (const a of answers) {
      // within one batch too, the newer answer wins (answers of one turn share a batch in any order)
      const held = entry[a.key];
      if (held && held.at > a.at.toISOString()) continue;
      entry[a.key] = { value: a.value, status: a.status, at: a.at.toISOString() };
    }
    merged.set(stationId, entry);
  }
  if (!merged.size) return;
  const rows = [...merged].map(([id, entry]) => ({ id, entry }));
  // Per key, the newer answer wins: a boot's answers written late (group commit) never overwrite
  // an operator's ChangeConfiguration answered after them.
  await sql`
    with v as (select * from json_to_recordset(${JSON.stringify(rows)}::json) as v(id text, entry jsonb))
    update charge_stations c set configuration = c.configuration || (
      select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) from jsonb_each(v.entry) e
      where (c.configuration -> e.key ->> 'at') is null
         or (c.configuration -> e.key ->> 'at')::timestamptz <= (e.value ->> 'at')::timestamptz)
    from v
    where c.id = v.id and ${BY_KEY}`.execute(db);
}

/** A FirmwareStatusNotification: the station's latest firmware status and its history. */
export async function recordFirmwareStatus(db: Db, stationId: string, status: string, at: Date) {
  await recordReport(db, stationId, { kind: 'firmware', status }, at);
}

/** A DiagnosticsStatusNotification: the station's latest diagnostics status and its history. */
export async function recordDiagnosticsStatus(db: Db, stationId: string, status: string, at: Date) {
  await recordReport(db, stationId, { kind: 'diagnostics', status }, at);
}

// ---- registry (admin) ---------------------------------------------------------------------

export interface StationWithConnectors extends ChargeStation {
  connectors: Connector[];
}

export interface CreateStationInput {
  ocpp_id: string;
  organization?: string | undefined;
  password?: string | undefined;
  active?: boolean | undefined;
  rate?: string | null | undefined;
  /** the station's maximum power (kW); null = the gateway default */
  max_power_kw?: number | null | undefined;
}

export async function createStation(
  db: Db,
  clock: Clock,
  input: CreateStationInput,
): Promise<StationWithConnectors> {
  const organizationId = input.organization
    ? (await requireOrganization(db, input.organization)).id
    : await defaultOrganizationId(db);
  if (input.rate) await getRate(db, input.rate);
  const now = clock.now();
  const id = newId(now);
  try {
    await db
      .insertInto('charge_stations')
      .values({
        id,
        ocpp_id: input.ocpp_id,
        organization_id: organizationId,
        password_hash: input.password ? await hashPassword(input.password) : null,
        active: input.active ?? true,
        rate_id: input.rate ?? null,
        max_power_w: input.max_power_kw ? input.max_power_kw * 1000 : null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  } catch (err) {
    if (isUniqueViolation(err)) {
      // Identities are unique across the installation, ignoring case (the index is on
      // lower(ocpp_id)); say only that this one cannot be used, not where it is used (a scoped
      // key must learn nothing of another organization).
      throw new ConflictError('ocpp_id_taken', 'this ocpp_id is not available; choose another', { field: 'ocpp_id' });
    }
    throw err;
  }
  return getStation(db, id);
}

export async function getStation(db: Db, id: string): Promise<StationWithConnectors> {
  const station = await db
    .selectFrom('charge_stations')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  if (!station) throw new NotFoundError('chargestation', id);
  const connectors = await db
    .selectFrom('connectors')
    .selectAll()
    .where('station_id', '=', id)
    .orderBy('connector_id')
    .execute();
  return { ...station, connectors };
}

export interface ListStationsQuery {
  limit: number;
  cursor?: string | undefined;
  organization?: string | undefined;
  active?: boolean | undefined;
  /** identities starting with this, ignoring case */
  q?: string | undefined;
}

/** A LIKE pattern matching values that start with `prefix` literally. */
function startsWith(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}

export async function listStations(
  db: Db,
  query: ListStationsQuery,
): Promise<Page<StationWithConnectors>> {
  let q = db.selectFrom('charge_stations').selectAll().orderBy('id').limit(query.limit + 1);
  const after = decodeCursor(query.cursor);
  if (after) q = q.where('id', '>', after);
  if (query.organization) q = q.where('organization_id', '=', query.organization);
  if (query.active !== undefined) q = q.where('active', '=', query.active);
  if (query.q) q = q.where((eb) => eb(eb.fn('lower', ['ocpp_id']), 'like', startsWith(query.q!.toLowerCase())));
  const { data: page, next_cursor } = toPage(await q.execute(), query.limit, (s) => s.id);
  const connectors = page.length
    ? await db
        .selectFrom('connectors')
        .selectAll()
        .where(
          'station_id',
          'in',
          page.map((s) => s.id),
        )
        .orderBy('connector_id')
        .execute()
    : [];
  const byStation = new Map<string, Connector[]>();
  for (const c of connectors) {
    const list = byStation.get(c.station_id) ?? [];
    list.push(c);
    byStation.set(c.station_id, list);
  }
  return {
    data: page.map((s) => ({ ...s, connectors: byStation.get(s.id) ?? [] })),
    next_cursor,
  };
}

export interface UpdateStationInput {
  organization?: string | undefined;
  /** a new password; null removes Basic auth */
  password?: string | null | undefined;
  active?: boolean | undefined;
  /** the station's rate; null removes it */
  rate?: string | null | undefined;
  /** the station's maximum power (kW); null = the gateway default */
  max_power_kw?: number | null | undefined;
}

export async function updateStation(
  db: Db,
  clock: Clock,
  id: string,
  input: UpdateStationInput,
): Promise<StationWithConnectors> {
  const set: Record<string, unknown> = { updated_at: clock.now() };
  if (input.organization !== undefined) {
    set.organization_id = (await requireOrganization(db, input.organization)).id;
  }
  if (input.password !== undefined) {
    set.password_hash = input.password === null ? null : await hashPassword(input.password);
  }
  if (input.active !== undefined) set.active = input.active;
  if (input.rate !== undefined) {
    if (input.rate !== null) await getRate(db, input.rate);
    set.rate_id = input.rate;
  }
  if (input.max_power_kw !== undefined) set.max_power_w = input.max_power_kw === null ? null : input.max_power_kw * 1000;
  const result = await db
    .updateTable('charge_stations')
    .set(set)
    .where('id', '=', id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new NotFoundError('chargestation', id);
  return getStation(db, id);
}

/** Sets or clears (null) a connector's rate override; the connector need not have reported yet. */
export async function setConnectorRate(
  db: Db,
  clock: Clock,
  stationId: string,
  connectorId: number,
  rateId: string | null,
): Promise<StationWithConnectors> {
  await getStation(db, stationId);
  if (rateId !== null) await getRate(db, rateId);
  const now = clock.now();
  await db
    .insertInto('connectors')
    .values({
      station_id: stationId,
      connector_id: connectorId,
      status: null,
      error_code: null,
      info: null,
      vendor_id: null,
      vendor_error_code: null,
      status_at: null,
      rate_id: rateId,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['station_id', 'connector_id']).doUpdateSet({ rate_id: rateId, updated_at: now }))
    .execute();
  return getStation(db, stationId);
}
