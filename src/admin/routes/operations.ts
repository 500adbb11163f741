import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import { commonErrors, idParams, listQuery, pageOf } from '../schemas.ts';
import { anyCommandSchema, commandJson, commandRoute } from './command-route.ts';
import { authorizationStatus, chargingProfile, connector, dateTime, idTag, int32, outlet } from '../ocpp-schemas.ts';

/** An answer that is just a status. */
export const status = <T extends readonly [string, ...string[]]>(values: T) => z.object({ status: z.enum(values) });

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
        description:
          "Every call sent to the station, the operator's and the gateway's own (the stop at zero, the predictive stop, " +
          'the configuration pass after a boot, the local list sync…): its payload, the answer or what went wrong, who asked and why. ' +
          "An operator's operation is logged before it is sent (`pending` until answered); a call of the gateway's own once it has ended. " +
          'Entries are kept COMMAND_LOG_RETENTION_DAYS (default 90).',
        params: idParams,
        querystring: listQuery.extend({
          action: z.string().max(64).optional().describe('only this OCPP action'),
          requested_by: z.string().max(64).optional().describe('only calls this API key id asked for, or `gateway`'),
        }),
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
        list_version: int32().min(1),
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
        charging_profile_id: z.coerce.number().pipe(int32()).optional(),
        connector_id: z.coerce.number().int().min(0).max(100).optional(),
        purpose: z.enum(['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile']).optional(),
        stack_level: z.coerce.number().pipe(int32().min(0)).optional(),
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
  };
}
