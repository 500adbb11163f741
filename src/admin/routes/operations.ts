import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import type { ReportKind, Reservation, StationReport, StoredChargingProfile } from '../../db/tables/commands.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { chargingProfilesOf, listReports } from '../../domain/operations/reports.ts';
import { reservationStatus } from '../../domain/operations/reservations.ts';
import { commonErrors, idParams, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';
import { anyCommandSchema, commandErrors, commandJson, commandRoute, commandSchema, requester } from './command-route.ts';

const status = <T extends readonly [string, ...string[]]>(values: T) => z.object({ status: z.enum(values) });

/** connectorId 0 is the station as a whole where OCPP allows it. */
const connector = z.number().int().min(0).max(100);
const outlet = z.number().int().min(1).max(100);
const dateTime = z.iso.datetime({ offset: true }).describe('RFC 3339 date-time');
const idTag = z.string().min(1).max(20);

const authorizationStatus = z.enum(['Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx']);

/** OCPP 1.6 ChargingSchedule, in OCPP's own field names. */
const chargingSchedule = z.strictObject({
  duration: z.number().int().min(0).optional(),
  startSchedule: dateTime.optional(),
  chargingRateUnit: z.enum(['A', 'W']),
  chargingSchedulePeriod: z
    .array(
      z.strictObject({
        startPeriod: z.number().int().min(0),
        limit: z.number().min(0).multipleOf(0.1),
        numberPhases: z.number().int().min(1).max(3).optional(),
      }),
    )
    .min(1),
  minChargingRate: z.number().min(0).multipleOf(0.1).optional(),
});

/** OCPP 1.6 ChargingProfile (csChargingProfiles), in OCPP's own field names. */
const chargingProfile = z
  .strictObject({
    chargingProfileId: z.number().int().min(1),
    transactionId: z.number().int().optional(),
    stackLevel: z.number().int().min(0),
    chargingProfilePurpose: z.enum(['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile']),
    chargingProfileKind: z.enum(['Absolute', 'Recurring', 'Relative']),
    recurrencyKind: z.enum(['Daily', 'Weekly']).optional(),
    validFrom: dateTime.optional(),
    validTo: dateTime.optional(),
    chargingSchedule,
  })
  .meta({ id: 'ChargingProfile' });

const reservationSchema = z
  .object({
    _id: z.string(),
    reservation_id: z.number().int().describe('the OCPP reservationId'),
    chargestation: z.string(),
    connector_id: z.number().int().describe('0: any connector of the station'),
    id_tag: z.string(),
    parent_id_tag: z.string().nullable(),
    user: z.string().nullable(),
    expires_at: isoDate,
    status: z
      .enum(['requested', 'reserved', 'refused', 'failed', 'cancelled', 'used', 'expired'])
      .describe('requested: sent, no answer yet; refused: see station_status; used: a StartTransaction carried its id'),
    station_status: z.string().nullable().describe("the station's answer to ReserveNow"),
    session: z.string().nullable(),
    transaction_id: z.number().int().nullable(),
    requested_by: z.string(),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Reservation' });

const profileInForce = z
  .object({
    charging_profile_id: z.number().int(),
    connector_id: z.number().int(),
    stack_level: z.number().int(),
    purpose: z.string(),
    transaction_id: z.number().int().nullable(),
    profile: z.unknown().describe('the profile as sent (OCPP ChargingProfile)'),
    set_at: isoDate,
  })
  .meta({ id: 'ChargingProfileInForce' });

const reportSchema = z
  .object({
    status: z.string().describe("the reported status (a security event's type)"),
    request_id: z.number().int().nullable(),
    details: z.record(z.string(), z.unknown()),
    reported_at: isoDate,
    received_at: isoDate,
  })
  .meta({ id: 'StationReport' });

function reservationJson(r: Reservation, now: Date): z.infer<typeof reservationSchema> {
  return {
    _id: r.id,
    reservation_id: r.reservation_id,
    chargestation: r.station_id,
    connector_id: r.connector_id,
    id_tag: r.id_tag,
    parent_id_tag: r.parent_id_tag,
    user: r.user_id,
    expires_at: r.expires_at.toISOString(),
    status: reservationStatus(r, now),
    station_status: r.station_status,
    session: r.session_id,
    transaction_id: r.transaction_id,
    requested_by: r.requested_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

function profileJson(p: StoredChargingProfile): z.infer<typeof profileInForce> {
  return {
    charging_profile_id: p.charging_profile_id,
    connector_id: p.connector_id,
    stack_level: p.stack_level,
    purpose: p.purpose,
    transaction_id: p.transaction_id,
    profile: p.profile,
    set_at: p.set_at.toISOString(),
  };
}

function reportJson(r: StationReport): z.infer<typeof reportSchema> {
  return {
    status: r.status,
    request_id: r.request_id,
    details: r.details,
    reported_at: r.reported_at.toISOString(),
    received_at: r.created_at.toISOString(),
  };
}

/**
 * The operations an operator runs on a charge station (OCPP 1.6 CSMS→charger calls), one typed
 * route each, and the command log they write.
 */
export function operationRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/chargestations/:id/commands', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ['chargestation operations'],
        summary: "A station's command log, newest first",
        description: 'Every call sent to the station through this API: its payload, the answer or what went wrong, who asked.',
        params: idParams,
        querystring: listQuery.extend({ action: z.string().max(64).optional().describe('only this OCPP action') }),
        response: { 200: pageOf(anyCommandSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await deps.commands.list(req.params.id, req.query);
        return { data: page.data.map(commandJson), next_cursor: page.next_cursor };
      },
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/reset',
      action: 'Reset',
      summary: 'Reset a station (Reset)',
      description: 'Soft: the station stops its transactions and restarts its software; Hard: it reboots.',
      body: z.strictObject({ type: z.enum(['Hard', 'Soft']).default('Soft') }),
      answer: status(['Accepted', 'Rejected']),
      payload: ({ body }) => ({ type: body.type }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/unlock',
      action: 'UnlockConnector',
      summary: 'Unlock a connector (UnlockConnector)',
      description: 'Releases a stuck cable; a transaction running there is stopped by the station.',
      body: z.strictObject({ connector_id: z.number().int().min(1).max(100) }),
      answer: status(['Unlocked', 'UnlockFailed', 'NotSupported']),
      payload: ({ body }) => ({ connectorId: body.connector_id }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/availability',
      action: 'ChangeAvailability',
      summary: 'Take a connector (or the station) out of service or back (ChangeAvailability)',
      description: 'connector_id 0: the whole station. Scheduled: the station applies it when the running transaction ends.',
      body: z.strictObject({ connector_id: connector.default(0), type: z.enum(['Operative', 'Inoperative']) }),
      answer: status(['Accepted', 'Rejected', 'Scheduled']),
      payload: ({ body }) => ({ connectorId: body.connector_id, type: body.type }),
    });

    commandRoute(app, deps, {
      method: 'GET',
      url: '/chargestations/:id/configuration',
      action: 'GetConfiguration',
      summary: "Read the station's configuration (GetConfiguration)",
      description: 'All keys, or those named in `key` (comma-separated). What it answers is kept in the station\'s `configuration`.',
      querystring: z.strictObject({
        key: z
          .string()
          .max(2000)
          .optional()
          .transform((v) => (v ? v.split(',').map((k) => k.trim()).filter(Boolean) : undefined))
          .pipe(z.array(z.string().min(1).max(50)).optional()),
      }),
      answer: z.object({
        configurationKey: z.array(z.object({ key: z.string(), readonly: z.boolean(), value: z.string().optional() })).optional(),
        unknownKey: z.array(z.string()).optional(),
      }),
      payload: ({ query }) => (query.key ? { key: query.key } : {}),
    });

    commandRoute(app, deps, {
      method: 'PATCH',
      url: '/chargestations/:id/configuration',
      action: 'ChangeConfiguration',
      summary: 'Change a configuration key (ChangeConfiguration)',
      description: 'RebootRequired: the value applies after a Reset. The answer is kept in the station\'s `configuration`.',
      body: z.strictObject({
        key: z
          .string()
          .min(1)
          .max(50)
          // A password sent here would be logged and not known to the handshake; a profile not recorded.
          .refine((k) => !/^(AuthorizationKey|SecurityProfile)$/i.test(k), 'use POST …/authorization_key or PUT …/security_profile'),
        value: z.string().max(500),
      }),
      answer: status(['Accepted', 'Rejected', 'RebootRequired', 'NotSupported']),
      payload: ({ body }) => ({ key: body.key, value: body.value }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/clear_cache',
      action: 'ClearCache',
      summary: "Empty the station's authorization cache (ClearCache)",
      answer: status(['Accepted', 'Rejected']),
      payload: () => ({}),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/trigger',
      action: 'TriggerMessage',
      summary: 'Ask the station to send a message now (TriggerMessage)',
      body: z.strictObject({
        message: z.enum([
          'BootNotification',
          'DiagnosticsStatusNotification',
          'FirmwareStatusNotification',
          'Heartbeat',
          'MeterValues',
          'StatusNotification',
        ]),
        connector_id: outlet.optional(),
      }),
      answer: status(['Accepted', 'Rejected', 'NotImplemented']),
      payload: ({ body }) => ({
        requestedMessage: body.message,
        ...(body.connector_id !== undefined ? { connectorId: body.connector_id } : {}),
      }),
    });

    commandRoute(app, deps, {
      method: 'GET',
      url: '/chargestations/:id/local_list',
      action: 'GetLocalListVersion',
      summary: "Read the version of the station's local authorization list (GetLocalListVersion)",
      description: '0: the list is empty; -1: the station does not support local lists. Kept as the station\'s `local_list_version`.',
      answer: z.object({ listVersion: z.number().int() }),
      payload: () => ({}),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/local_list',
      action: 'SendLocalList',
      summary: 'Send a local authorization list (SendLocalList)',
      description:
        'Full replaces the list; Differential adds or updates entries (an entry without `idTagInfo` removes its idTag). ' +
        'Entries are in OCPP form. Accepted: the version is kept as the station\'s `local_list_version`.',
      body: z.strictObject({
        list_version: z.number().int().min(1),
        update_type: z.enum(['Full', 'Differential']),
        entries: z
          .array(
            z.strictObject({
              idTag,
              idTagInfo: z
                .strictObject({ status: authorizationStatus, expiryDate: dateTime.optional(), parentIdTag: idTag.optional() })
                .optional(),
            }),
          )
          .max(10_000)
          .default([]),
      }),
      answer: status(['Accepted', 'Failed', 'NotSupported', 'VersionMismatch']),
      payload: ({ body }) => ({
        listVersion: body.list_version,
        updateType: body.update_type,
        localAuthorizationList: body.entries,
      }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/firmware',
      action: 'UpdateFirmware',
      summary: 'Start a firmware update (UpdateFirmware)',
      description:
        'The station downloads the firmware from `location` at `retrieve_at` (default: now) and reports its progress with ' +
        'FirmwareStatusNotification: see GET …/firmware.',
      body: z.strictObject({
        location: z.url().max(2000),
        retrieve_at: dateTime.optional(),
        retries: z.number().int().min(0).max(100).optional(),
        retry_interval_s: z.number().int().min(0).max(86_400).optional(),
      }),
      answer: z.object({}),
      payload: ({ body }) => ({
        location: body.location,
        retrieveDate: body.retrieve_at ?? deps.clock.now().toISOString(),
        ...(body.retries !== undefined ? { retries: body.retries } : {}),
        ...(body.retry_interval_s !== undefined ? { retryInterval: body.retry_interval_s } : {}),
      }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/diagnostics',
      action: 'GetDiagnostics',
      summary: 'Have the station upload its diagnostics (GetDiagnostics)',
      description:
        'The station uploads a file to `location` and reports with DiagnosticsStatusNotification (GET …/diagnostics). ' +
        'No fileName in the answer: it has nothing to upload.',
      body: z.strictObject({
        location: z.url().max(2000),
        start_time: dateTime.optional(),
        stop_time: dateTime.optional(),
        retries: z.number().int().min(0).max(100).optional(),
        retry_interval_s: z.number().int().min(0).max(86_400).optional(),
      }),
      answer: z.object({ fileName: z.string().optional() }),
      payload: ({ body }) => ({
        location: body.location,
        ...(body.start_time ? { startTime: body.start_time } : {}),
        ...(body.stop_time ? { stopTime: body.stop_time } : {}),
        ...(body.retries !== undefined ? { retries: body.retries } : {}),
        ...(body.retry_interval_s !== undefined ? { retryInterval: body.retry_interval_s } : {}),
      }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/charging_profiles',
      action: 'SetChargingProfile',
      summary: 'Install a charging profile (SetChargingProfile)',
      description:
        'connector_id 0 with ChargePointMaxProfile caps the whole station, or installs a TxDefaultProfile on every connector. ' +
        'Accepted profiles are listed by GET …/charging_profiles until cleared (a TxProfile until its transaction stops).',
      body: z.strictObject({ connector_id: connector, charging_profile: chargingProfile }),
      answer: status(['Accepted', 'Rejected', 'NotSupported']),
      payload: ({ body }) => ({ connectorId: body.connector_id, csChargingProfiles: body.charging_profile }),
    });

    commandRoute(app, deps, {
      method: 'DELETE',
      url: '/chargestations/:id/charging_profiles',
      action: 'ClearChargingProfile',
      summary: 'Clear charging profiles (ClearChargingProfile)',
      description: 'By `charging_profile_id`, or every profile matching the other filters; no filter clears them all.',
      querystring: z.strictObject({
        charging_profile_id: z.coerce.number().int().optional(),
        connector_id: z.coerce.number().int().min(0).max(100).optional(),
        purpose: z.enum(['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile']).optional(),
        stack_level: z.coerce.number().int().min(0).optional(),
      }),
      answer: status(['Accepted', 'Unknown']),
      payload: ({ query }) => ({
        ...(query.charging_profile_id !== undefined ? { id: query.charging_profile_id } : {}),
        ...(query.connector_id !== undefined ? { connectorId: query.connector_id } : {}),
        ...(query.purpose !== undefined ? { chargingProfilePurpose: query.purpose } : {}),
        ...(query.stack_level !== undefined ? { stackLevel: query.stack_level } : {}),
      }),
    });

    commandRoute(app, deps, {
      method: 'GET',
      url: '/chargestations/:id/composite_schedule',
      action: 'GetCompositeSchedule',
      summary: 'The schedule a connector will follow (GetCompositeSchedule)',
      querystring: z.strictObject({
        connector_id: z.coerce.number().int().min(0).max(100),
        duration_s: z.coerce.number().int().min(1).max(7 * 86_400),
        charging_rate_unit: z.enum(['A', 'W']).optional(),
      }),
      answer: z.object({
        status: z.enum(['Accepted', 'Rejected']),
        connectorId: z.number().int().optional(),
        scheduleStart: z.string().optional(),
        chargingSchedule: z.unknown().optional(),
      }),
      payload: ({ query }) => ({
        connectorId: query.connector_id,
        duration: query.duration_s,
        ...(query.charging_rate_unit ? { chargingRateUnit: query.charging_rate_unit } : {}),
      }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/data_transfer',
      action: 'DataTransfer',
      summary: 'Send a vendor-specific message (DataTransfer)',
      body: z.strictObject({
        vendor_id: z.string().min(1).max(255),
        message_id: z.string().max(50).optional(),
        data: z.string().max(100_000).optional(),
      }),
      answer: z.object({ status: z.enum(['Accepted', 'Rejected', 'UnknownMessageId', 'UnknownVendorId']), data: z.string().optional() }),
      payload: ({ body }) => ({
        vendorId: body.vendor_id,
        ...(body.message_id !== undefined ? { messageId: body.message_id } : {}),
        ...(body.data !== undefined ? { data: body.data } : {}),
      }),
    });

    // ---- reservations -----------------------------------------------------------------------

    const ops = ['chargestation operations'];
    const reservationParams = idParams.extend({ reservation_id: z.coerce.number().int().min(0) });

    app.post('/chargestations/:id/reservations', {
      config: { tenancy: { params: { id: 'chargestation' }, body: { user: 'user' } } },
      schema: {
        tags: ops,
        summary: 'Reserve a connector for a driver (ReserveNow)',
        description:
          "The driver (`user`: their active token; or a token's `id_tag`) must be allowed to start here: a wallet below " +
          'the organization minimum is 409 insufficient_balance and nothing is sent. connector_id 0: any connector. ' +
          "Answers 201 with the reservation (reserved, or refused with the station's status) and the command.",
        params: idParams,
        body: z
          .strictObject({
            connector_id: connector,
            user: objectId.optional(),
            id_tag: idTag.optional(),
            parent_id_tag: idTag.optional(),
            expires_at: dateTime,
          })
          .refine((b) => (b.user === undefined) !== (b.id_tag === undefined), { message: 'give exactly one of user and id_tag' }),
        response: {
          201: z.object({ reservation: reservationSchema, command: commandSchema(status(['Accepted', 'Faulted', 'Occupied', 'Rejected', 'Unavailable'])) }),
          ...commandErrors,
        },
      },
      handler: async (req, reply) => {
        const station = await deps.commands.station(req.params.id);
        // A scoped key reserves only for its own organization's drivers.
        if (req.body.id_tag !== undefined && req.tenant.scoped) {
          const owner = await deps.reservations.organizationOfIdTag(req.body.id_tag);
          if (owner !== req.tenant.organizationId) throw new NotFoundError('token', req.body.id_tag);
        }
        const now = deps.clock.now();
        const { reservation, result } = await deps.reservations.reserve(
          station,
          {
            connectorId: req.body.connector_id,
            user: req.body.user,
            idTag: req.body.id_tag,
            parentIdTag: req.body.parent_id_tag,
            expiresAt: new Date(req.body.expires_at),
          },
          requester(req),
          now,
        );
        return reply.status(201).send({ reservation: reservationJson(reservation, now), command: commandJson(result.command) as never });
      },
    });

    app.get('/chargestations/:id/reservations', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ops,
        summary: "A station's reservations, newest first",
        params: idParams,
        querystring: listQuery,
        response: { 200: pageOf(reservationSchema), ...commonErrors },
      },
      handler: async (req) => {
        await deps.commands.station(req.params.id);
        const page = await deps.reservations.list(req.params.id, req.query);
        const now = deps.clock.now();
        return { data: page.data.map((r) => reservationJson(r, now)), next_cursor: page.next_cursor };
      },
    });

    app.get('/chargestations/:id/reservations/:reservation_id', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: { tags: ops, summary: 'A reservation', params: reservationParams, response: { 200: reservationSchema, ...commonErrors } },
      handler: async (req) => reservationJson(await deps.reservations.get(req.params.id, req.params.reservation_id), deps.clock.now()),
    });

    app.delete('/chargestations/:id/reservations/:reservation_id', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ops,
        summary: 'Cancel a reservation (CancelReservation)',
        description: "Answers with the command, the station's answer in it; Accepted: the reservation is cancelled.",
        params: reservationParams,
        response: { 200: commandSchema(status(['Accepted', 'Rejected'])), ...commandErrors },
      },
      handler: async (req) => {
        const station = await deps.commands.station(req.params.id);
        const { command } = await deps.reservations.cancel(station, req.params.reservation_id, requester(req));
        return commandJson(command) as never;
      },
    });

    // ---- what the station reported ----------------------------------------------------------

    app.get('/chargestations/:id/charging_profiles', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags: ops,
        summary: 'The charging profiles in force on a station',
        description: 'Those it accepted and has not cleared (a TxProfile until its transaction stops).',
        params: idParams,
        response: { 200: z.object({ data: z.array(profileInForce) }), ...commonErrors },
      },
      handler: async (req) => {
        await deps.commands.station(req.params.id);
        return { data: (await chargingProfilesOf(deps.db, req.params.id)).map(profileJson) };
      },
    });

    const reports: [string, ReportKind, string][] = [
      ['firmware', 'firmware', 'FirmwareStatusNotification progress, newest first'],
      ['diagnostics', 'diagnostics', 'DiagnosticsStatusNotification progress, newest first'],
      ['log', 'log', 'LogStatusNotification progress (Security extension), newest first'],
      ['security_events', 'security_event', 'SecurityEventNotifications, newest first (`status` is the event type)'],
    ];
    for (const [path, kind, summary] of reports) {
      app.get(`/chargestations/:id/${path}`, {
        config: { tenancy: { params: { id: 'chargestation' } } },
        schema: {
          tags: ops,
          summary,
          params: idParams,
          querystring: listQuery,
          response: { 200: pageOf(reportSchema), ...commonErrors },
        },
        handler: async (req) => {
          await deps.commands.station(req.params.id);
          const page = await listReports(deps.db, req.params.id, { kind, ...req.query });
          return { data: page.data.map(reportJson), next_cursor: page.next_cursor };
        },
      });
    }
  };
}
