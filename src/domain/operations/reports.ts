import { sql } from 'kysely';
import type { Db, Tx } from '../../db/index.ts';
import type { ReportKind, StationReport, StoredChargingProfile } from '../../db/tables/commands.ts';
import type { StationConfigAnswers } from '../../db/tables/charge-stations.ts';
import { newId } from '../../shared/ids.ts';
import { decodeSeqCursor, toPage, type Page } from '../../shared/pagination.ts';
import { isInt32 } from '../../shared/storable.ts';
import { recordAlert } from '../sessions/alerts.ts';
import type { StationCommands } from './commands.ts';

/**
 * What a station's answers and reports tell the gateway, kept so an operator can see it: the
 * effects of answered commands (registered on StationCommands) and the status notifications a
 * station sends by itself (firmware, diagnostics, log uploads, security events).
 */
export function registerReportEffects(commands: StationCommands): void {
  commands.onAnswer('ChangeAvailability', async (tx, station, req, conf, at) => {
    if (conf.status === 'Rejected') return;
    await tx
      .insertInto('connectors')
      .values({
        station_id: station.stationId,
        connector_id: req.connectorId,
        status: null,
        error_code: null,
        info: null,
        vendor_id: null,
        vendor_error_code: null,
        status_at: null,
        availability: req.type,
        availability_status: conf.status,
        availability_at: at,
        updated_at: at,
      })
      .onConflict((oc) =>
        oc.columns(['station_id', 'connector_id']).doUpdateSet({ availability: req.type, availability_status: conf.status, availability_at: at }),
      )
      .execute();
  });

  commands.onAnswer('GetConfiguration', async (tx, station, _req, conf, at) => {
    const entry: StationConfigAnswers = {};
    for (const k of conf.configurationKey ?? []) {
      entry[k.key] = { value: k.value ?? null, status: 'Read', at: at.toISOString(), readonly: k.readonly };
    }
    for (const key of conf.unknownKey ?? []) entry[key] = { value: null, status: 'Unknown', at: at.toISOString() };
    await tx
      .updateTable('charge_stations')
      .set({ configuration: sql`configuration || ${JSON.stringify(entry)}::jsonb` as never, configuration_read_at: at })
      .where('id', '=', station.stationId)
      .execute();
  });

  commands.onAnswer('ChangeConfiguration', async (tx, station, req, conf, at) => {
    // A password (AuthorizationKey) is never kept in clear, here or anywhere.
    const value = /^AuthorizationKey$/i.test(req.key) ? null : req.value;
    const entry: StationConfigAnswers = { [req.key]: { value, status: conf.status, at: at.toISOString() } };
    await tx
      .updateTable('charge_stations')
      .set({ configuration: sql`configuration || ${JSON.stringify(entry)}::jsonb` as never })
      .where('id', '=', station.stationId)
      .execute();
  });

  const listVersion = (tx: Tx, stationId: string, version: number | null, at: Date) =>
    tx.updateTable('charge_stations').set({ local_list_version: version, local_list_version_at: at }).where('id', '=', stationId).execute();
  commands.onAnswer('GetLocalListVersion', async (tx, station, _req, conf, at) => {
    // A version beyond int32 is none the gateway sent: kept as unknown (the sync replaces the list).
    await listVersion(tx, station.stationId, isInt32(conf.listVersion) ? conf.listVersion : null, at);
  });
  commands.onAnswer('SendLocalList', async (tx, station, req, conf, at) => {
    if (conf.status === 'Accepted') await listVersion(tx, station.stationId, req.listVersion, at);
  });

  commands.onAnswer('GetDiagnostics', async (tx, station, _req, conf) => {
    await tx
      .updateTable('charge_stations')
      .set({ diagnostics_file_name: conf.fileName ?? null })
      .where('id', '=', station.stationId)
      .execute();
  });

  commands.onAnswer('SetChargingProfile', async (tx, station, req, conf, at) => {
    if (conf.status !== 'Accepted') return;
    const p = req.csChargingProfiles;
    // OCPP 1.6 3.13.2: a new profile replaces one with the same id, and one with the same
    // stack level and purpose on the same connector.
    await tx
      .deleteFrom('charging_profiles')
      .where('station_id', '=', station.stationId)
      .where((eb) =>
        eb.or([
          eb('charging_profile_id', '=', p.chargingProfileId),
          eb.and([
            eb('connector_id', '=', req.connectorId),
            eb('stack_level', '=', p.stackLevel),
            eb('purpose', '=', p.chargingProfilePurpose),
          ]),
        ]),
      )
      .execute();
    await tx
      .insertInto('charging_profiles')
      .values({
        station_id: station.stationId,
        charging_profile_id: p.chargingProfileId,
        connector_id: req.connectorId,
        stack_level: p.stackLevel,
        purpose: p.chargingProfilePurpose,
        transaction_id: p.transactionId ?? null,
        profile: JSON.stringify(p),
        set_at: at,
      })
      .execute();
  });

  commands.onAnswer('ClearChargingProfile', async (tx, station, req, conf) => {
    if (conf.status !== 'Accepted') return;
    let q = tx.deleteFrom('charging_profiles').where('station_id', '=', station.stationId);
    // With an id, the id alone selects (OCPP: the other fields are then ignored).
    if (req.id !== undefined) q = q.where('charging_profile_id', '=', req.id);
    else {
      if (req.connectorId !== undefined) q = q.where('connector_id', '=', req.connectorId);
      if (req.chargingProfilePurpose !== undefined) q = q.where('purpose', '=', req.chargingProfilePurpose);
      if (req.stackLevel !== undefined) q = q.where('stack_level', '=', req.stackLevel);
    }
    await q.execute();
  });
}

/** The charging profiles a station accepted and has not cleared, by connector and stack level. */
export async function chargingProfilesOf(db: Db, stationId: string): Promise<StoredChargingProfile[]> {
  return db
    .selectFrom('charging_profiles')
    .selectAll()
    .where('station_id', '=', stationId)
    .orderBy('connector_id')
    .orderBy('purpose')
    .orderBy('stack_level', 'desc')
    .execute();
}

/** A TxProfile lives as long as its transaction (OCPP 1.6 3.13.4): gone when it stops. */
export async function dropTransactionProfiles(db: Db, stationId: string, transactionId: number): Promise<void> {
  await db
    .deleteFrom('charging_profiles')
    .where('station_id', '=', stationId)
    .where('purpose', '=', 'TxProfile')
    .where('transaction_id', '=', transactionId)
    .execute();
}

export interface StatusReportInput {
  kind: ReportKind;
  status: string;
  requestId?: number | undefined;
  details?: Record<string, unknown>;
  /** the station's time; default: now */
  reportedAt?: Date | undefined;
}

/**
 * Security events an operator need not be told of one by one: what every station reports in
 * ordinary life (a start, a reboot, a firmware update, a clock set). Every other type (failed
 * authentications, invalid certificates or firmware signatures, tamper detection, a cleared
 * security log, memory exhaustion, replay attacks, vendor-specific types) raises an alert.
 */
export const ROUTINE_SECURITY_EVENTS: ReadonlySet<string> = new Set([
  'StartupOfTheDevice',
  'ResetOrReboot',
  'FirmwareUpdated',
  'SettingSystemTime',
]);

/**
 * A status notification (or security event) from a station: kept in its history; the latest
 * firmware, diagnostics and log status also on the station itself.
 */
export async function recordReport(db: Db, stationId: string, report: StatusReportInput, now: Date): Promise<{ alerted: boolean }> {
  const reportedAt = report.reportedAt ?? now;
  const alerted = report.kind === 'security_event' && !ROUTINE_SECURITY_EVENTS.has(report.status);
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto('station_reports')
      .values({
        id: newId(now),
        station_id: stationId,
        kind: report.kind,
        status: report.status,
        request_id: report.requestId ?? null,
        details: JSON.stringify(report.details ?? {}),
        reported_at: reportedAt,
        created_at: now,
      })
      .execute();
    if (report.kind === 'firmware') {
      await tx.updateTable('charge_stations').set({ firmware_status: report.status, firmware_status_at: now }).where('id', '=', stationId).execute();
    } else if (report.kind === 'diagnostics') {
      await tx
        .updateTable('charge_stations')
        .set({ diagnostics_status: report.status, diagnostics_status_at: now })
        .where('id', '=', stationId)
        .execute();
    } else if (report.kind === 'log') {
      await tx.updateTable('charge_stations').set({ log_status: report.status, log_status_at: now }).where('id', '=', stationId).execute();
    }
  });
  if (alerted) {
    const techInfo = report.details?.techInfo;
    await recordAlert(
      db,
      {
        kind: 'security_event',
        stationId,
        message: `security event ${report.status}${typeof techInfo === 'string' && techInfo ? `: ${techInfo}` : ''}`,
        details: { type: report.status, ...(report.details ?? {}), reported_at: reportedAt.toISOString() },
      },
      now,
    );
  }
  return { alerted };
}

/** A station's reports of one kind, newest first. */
export async function listReports(
  db: Db,
  stationId: string,
  q: { kind: ReportKind; limit: number; cursor?: string | undefined },
): Promise<Page<StationReport>> {
  let query = db
    .selectFrom('station_reports')
    .selectAll()
    .where('station_id', '=', stationId)
    .where('kind', '=', q.kind)
    .orderBy('seq', 'desc')
    .limit(q.limit + 1);
  const before = decodeSeqCursor(q.cursor);
  if (before !== undefined) query = query.where('seq', '<', before);
  return toPage(await query.execute(), q.limit, (r) => r.seq);
}
