import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  createStation,
  getStation,
  listStations,
  setConnectorRate,
  updateStation,
  type StationWithConnectors,
} from '../../domain/chargers/stations.ts';
import type { AppContext } from '../../context.ts';
import { IDENTITY_PATTERN, IDENTITY_RULE } from '../../domain/chargers/identity.ts';
import type { StationLocation } from '../../domain/chargers/station-port.ts';
import { capabilitiesOf } from '../../domain/chargers/capabilities.ts';
import type { StationCapabilitiesRow } from '../../db/tables/charge-stations.ts';
import { commonErrors, errorSchema, idParams, iso, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';

const password = z
  .string()
  .min(8, 'must be at least 8 characters')
  .max(128, 'must be at most 128 characters');

const maxPowerKw = z
  .number()
  .int('must be a whole number of kW')
  .min(1)
  .max(100_000)
  .nullable()
  .describe(
    'the most power the station can deliver (kW); a reading implying more energy than this since the start is not billed ' +
      'and holds the session for the operator. null: the gateway default (MAX_STATION_POWER_KW)',
  );

const createBody = z.strictObject({
  ocpp_id: z
    .string()
    .regex(IDENTITY_PATTERN, `must be an OCPP identity: ${IDENTITY_RULE}`)
    .describe('the charge point identity, the last segment of its connection URL; matched ignoring case'),
  organization: z.string().optional(),
  password: password.optional().describe('HTTP Basic auth password the station must present (write-only)'),
  active: z.boolean().optional(),
  rate: objectId.nullable().optional().describe('the rate sessions on this station are billed with'),
  max_power_kw: maxPowerKw.optional(),
});

const updateBody = z.strictObject({
  organization: z.string().optional(),
  password: password.nullable().optional().describe('a new password; null removes Basic auth'),
  active: z.boolean().optional(),
  rate: objectId.nullable().optional().describe('null removes the rate'),
  max_power_kw: maxPowerKw.optional(),
});

const connectorSchema = z.object({
  connector_id: z.number().int(),
  status: z.string().nullable(),
  error_code: z.string().nullable(),
  info: z.string().nullable().describe("the station's free-text note on the status"),
  vendor_id: z.string().nullable().describe('who defined vendor_error_code'),
  vendor_error_code: z.string().nullable(),
  status_at: isoDate.nullable(),
  rate: z.string().nullable(),
  availability: z
    .enum(['Operative', 'Inoperative'])
    .nullable()
    .describe('what an operator last set (ChangeAvailability); connector 0 is the whole station'),
  availability_status: z.string().nullable().describe('Accepted, or Scheduled: applied when the running transaction ends'),
});

export const stationSchema = z
  .object({
    _id: z.string(),
    ocpp_id: z.string(),
    organization: z.string(),
    active: z.boolean(),
    password_set: z.boolean(),
    rate: z.string().nullable(),
    max_power_kw: z.number().nullable().describe('null: the gateway default'),
    online: z.boolean(),
    node: z.string().nullable().describe('the gateway node holding the connection (NODE_ID); null when offline'),
    lastHeartbeat: isoDate.nullable(),
    boot: z.object({
      vendor: z.string().nullable(),
      model: z.string().nullable(),
      serial_number: z.string().nullable(),
      charge_box_serial_number: z.string().nullable(),
      firmware_version: z.string().nullable(),
      iccid: z.string().nullable(),
      imsi: z.string().nullable(),
      meter_type: z.string().nullable(),
      meter_serial_number: z.string().nullable(),
      booted_at: isoDate.nullable(),
    }),
    configuration: z
      .record(
        z.string(),
        z.object({ value: z.string().nullable(), status: z.string(), at: z.string(), readonly: z.boolean().optional() }),
      )
      .describe(
        'each key as last known: set by the gateway (status: the answer to ChangeConfiguration) or read ' +
          '(status Read; Unknown for a key the station does not know)',
      ),
    configuration_read_at: isoDate.nullable().describe('when GetConfiguration was last answered'),
    firmware_status: z.string().nullable().describe('the last FirmwareStatusNotification'),
    firmware_status_at: isoDate.nullable(),
    diagnostics_status: z.string().nullable().describe('the last DiagnosticsStatusNotification'),
    diagnostics_status_at: isoDate.nullable(),
    diagnostics_file_name: z.string().nullable().describe('the file the last GetDiagnostics announced'),
    log_status: z.string().nullable().describe('the last LogStatusNotification (Security extension)'),
    local_list_version: z.number().int().nullable().describe('the local authorization list version last learnt'),
    connectors: z.array(connectorSchema),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'ChargeStation' });

/** What the gateway has learnt of a charger by talking to it (GET /v1/chargestations/:id). */
export const capabilitiesSchema = z
  .object({
    trigger_meter_values: z.boolean().nullable().describe('answers TriggerMessage MeterValues with Accepted; null: not tried yet'),
    sample_interval_change: z.boolean().nullable().describe('accepted a shorter MeterValueSampleInterval (predictive stop); null: not tried yet'),
    smart_charging: z
      .boolean()
      .nullable()
      .describe('supports Smart Charging (from SupportedFeatureProfiles, or NotSupported answered to SetChargingProfile); null: unknown'),
    stop_delay_s: z
      .object({
        energy: z.number().nullable().describe('energy still delivered after RemoteStopTransaction, as seconds at the power of the time'),
        time: z.number().nullable().describe('RemoteStopTransaction to the StopTransaction timestamp'),
      })
      .describe('the measured stop delay (the predictive stop sends each stop this much ahead); null: not measured yet'),
    updated_at: isoDate.nullable().describe('when something was last learnt; null: nothing yet'),
  })
  .meta({ id: 'ChargeStationCapabilities' });

export const stationDetailSchema = stationSchema
  .extend({ capabilities: capabilitiesSchema })
  .meta({ id: 'ChargeStationDetail' });

function capabilitiesJson(k: StationCapabilitiesRow | undefined): z.infer<typeof capabilitiesSchema> {
  return {
    trigger_meter_values: k?.trigger_meter_values ?? null,
    sample_interval_change: k?.sample_interval_change ?? null,
    smart_charging: k?.smart_charging ?? null,
    stop_delay_s: { energy: k?.stop_delay_energy_s ?? null, time: k?.stop_delay_time_s ?? null },
    updated_at: iso(k?.updated_at ?? null),
  };
}

/** `location`: where the station is connected, undefined when it is offline. */
export function stationJson(s: StationWithConnectors, location: StationLocation | undefined): z.infer<typeof stationSchema> {
  return {
    _id: s.id,
    ocpp_id: s.ocpp_id,
    organization: s.organization_id,
    active: s.active,
    password_set: s.password_hash !== null,
    rate: s.rate_id,
    max_power_kw: s.max_power_w === null ? null : s.max_power_w / 1000,
    online: location !== undefined,
    node: location?.node ?? null,
    lastHeartbeat: iso(s.last_heartbeat_at),
    boot: {
      vendor: s.vendor,
      model: s.model,
      serial_number: s.serial_number,
      charge_box_serial_number: s.charge_box_serial_number,
      firmware_version: s.firmware_version,
      iccid: s.iccid,
      imsi: s.imsi,
      meter_type: s.meter_type,
      meter_serial_number: s.meter_serial_number,
      booted_at: iso(s.booted_at),
    },
    configuration: s.configuration,
    configuration_read_at: iso(s.configuration_read_at),
    firmware_status: s.firmware_status,
    firmware_status_at: iso(s.firmware_status_at),
    diagnostics_status: s.diagnostics_status,
    diagnostics_status_at: iso(s.diagnostics_status_at),
    diagnostics_file_name: s.diagnostics_file_name,
    log_status: s.log_status,
    local_list_version: s.local_list_version,
    connectors: s.connectors.map((c) => ({
      connector_id: c.connector_id,
      status: c.status,
      error_code: c.error_code,
      info: c.info,
      vendor_id: c.vendor_id,
      vendor_error_code: c.vendor_error_code,
      status_at: iso(c.status_at),
      rate: c.rate_id,
      availability: c.availability as 'Operative' | 'Inoperative' | null,
      availability_status: c.availability_status,
    })),
    createdAt: s.created_at.toISOString(),
    updatedAt: s.updated_at.toISOString(),
  };
}

export function chargeStationRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    // Presence is cluster-wide: one look-up for a whole page.
    const jsonAll = async (list: StationWithConnectors[]) => {
      const where = await deps.stations.locate(list.map((s) => s.ocpp_id));
      return list.map((s) => stationJson(s, where.get(s.ocpp_id)));
    };
    const json = async (s: StationWithConnectors) => (await jsonAll([s]))[0]!;
    const tags = ['chargestations'];

    app.post('/chargestations', {

      config: { tenancy: { body: { organization: 'organization' } } },
      schema: {
        tags,
        summary: 'Register a charge station',
        body: createBody,
        response: { 201: stationSchema, ...commonErrors, 409: errorSchema },
      },
      handler: async (req, reply) => {
        const organization = req.tenant.organizationFor(req.body.organization);
        const station = await createStation(deps.db, deps.clock, { ...req.body, organization });
        deps.log.info({ identity: station.ocpp_id, id: station.id }, 'charge station registered');
        return reply.status(201).send(await json(station));
      },
    });

    app.get('/chargestations', {

      config: { tenancy: 'filtered' },
      schema: {
        tags,
        summary: 'List charge stations',
        querystring: listQuery.extend({
          organization: z.string().optional(),
          active: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
          q: z.string().min(1).max(48).optional().describe('only stations whose ocpp_id starts with this (ignoring case)'),
        }),
        response: { 200: pageOf(stationSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await listStations(deps.db, {
          ...req.query,
          organization: req.tenant.filter(req.query.organization),
        });
        return { data: await jsonAll(page.data), next_cursor: page.next_cursor };
      },
    });

    app.get('/chargestations/:id', {

      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags,
        summary: 'Get a charge station',
        description: 'The station as listed, with `capabilities`: what the gateway has learnt of it by talking to it (kept across restarts).',
        params: idParams,
        response: { 200: stationDetailSchema, ...commonErrors },
      },
      handler: async (req) => {
        const [station, learnt] = await Promise.all([getStation(deps.db, req.params.id), capabilitiesOf(deps.db, req.params.id)]);
        return { ...(await json(station)), capabilities: capabilitiesJson(learnt) };
      },
    });

    app.patch('/chargestations/:id', {

      config: { tenancy: { params: { id: 'chargestation' }, body: { organization: 'organization' } } },
      schema: {
        tags,
        summary: 'Update a charge station',
        params: idParams,
        body: updateBody,
        response: { 200: stationSchema, ...commonErrors },
      },
      handler: async (req) => {
        const station = await updateStation(deps.db, deps.clock, req.params.id, req.body);
        if (!station.active || req.body.password !== undefined) {
          // A deactivated station, or one whose password changed, must authenticate again.
          await deps.stations.disconnect(station.ocpp_id, 'station updated by operator');
          return stationJson(station, undefined);
        }
        return json(station);
      },
    });

    app.patch('/chargestations/:id/connectors/:connector_id', {

      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags,
        summary: "Override a connector's rate",
        description: 'Sessions on this connector use this rate instead of the station rate; null removes the override.',
        params: idParams.extend({ connector_id: z.coerce.number().int().min(1).max(100) }),
        body: z.strictObject({ rate: objectId.nullable() }),
        response: { 200: stationSchema, ...commonErrors },
      },
      handler: async (req) => {
        return json(await setConnectorRate(deps.db, deps.clock, req.params.id, req.params.connector_id, req.body.rate));
      },
    });

    app.delete('/chargestations/:id', {

      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags,
        summary: 'Deactivate a charge station',
        description:
          'Stations are never deleted (sessions and the ledger refer to them): this sets active=false and closes its connection.',
        params: idParams,
        response: { 200: stationSchema, ...commonErrors },
      },
      handler: async (req) => {
        const station = await updateStation(deps.db, deps.clock, req.params.id, { active: false });
        await deps.stations.disconnect(station.ocpp_id, 'station deactivated');
        deps.log.info({ identity: station.ocpp_id, id: station.id }, 'charge station deactivated');
        return stationJson(station, undefined);
      },
    });
  };
}
