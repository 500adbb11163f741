import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../../context.ts';
import { idParams, iso, isoDate, commonErrors, conflictErrors } from '../schemas.ts';
import { anyCommandSchema, commandErrors, commandJson, commandRoute, requester } from './command-route.ts';
import { int32 } from '../ocpp-schemas.ts';

/**
 * The OCPP 1.6 Security extension, per station: credentials (Basic-auth password rotation,
 * security profile) and the certificate, firmware and log operations. The certificates a
 * station asks to have signed (SignCertificate) need no route: the gateway answers them with the
 * operator's CA (SECURITY_CA_CERT_FILE / SECURITY_CA_KEY_FILE) and sends CertificateSigned itself.
 */
const status = <T extends readonly [string, ...string[]]>(values: T) => z.object({ status: z.enum(values) });
const dateTime = z.iso.datetime({ offset: true }).describe('RFC 3339 date-time');
const certificateType = z.enum(['CentralSystemRootCertificate', 'ManufacturerRootCertificate']);
const hex = (max: number) => z.string().regex(/^[0-9a-fA-F]+$/, 'hex digits').max(max);
const hashFields = {
  hashAlgorithm: z.enum(['SHA256', 'SHA384', 'SHA512']),
  issuerNameHash: hex(128),
  issuerKeyHash: hex(128),
  serialNumber: hex(40),
};
/** How OCPP names a certificate (an answer's field). */
const certificateHashData = z.object(hashFields).meta({ id: 'CertificateHashData' });
/** The same, as a query string (no shared component there). */
const certificateHashQuery = z.strictObject(hashFields);
const pem = (what: string, max: number) =>
  z.string().max(max).regex(/-----BEGIN CERTIFICATE-----/, `a PEM ${what}`).describe(`PEM (at most ${max} characters)`);

const securitySchema = z
  .object({
    security_profile: z
      .number()
      .int()
      .nullable()
      .describe('the lowest profile the station may connect with (1 Basic auth, 2 TLS + Basic auth, 3 TLS client certificate); null: none'),
    password_set: z.boolean(),
    rotation_pending: z.boolean().describe('an AuthorizationKey rotation is unanswered: the old and the new password both work'),
    password_rotated_at: isoDate.nullable(),
    signs_certificates: z.boolean().describe('a CA is configured: SignCertificate requests are answered and signed'),
  })
  .meta({ id: 'StationSecurity' });

export function securityRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['chargestation security'];

    app.get('/chargestations/:id/security', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: { tags, summary: "A station's Security extension state", params: idParams, response: { 200: securitySchema, ...commonErrors } },
      handler: async (req) => {
        await deps.commands.station(req.params.id);
        const s = await deps.security.state(req.params.id);
        return { ...s, password_rotated_at: iso(s.password_rotated_at), signs_certificates: deps.security.signs };
      },
    });

    app.post('/chargestations/:id/authorization_key', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags,
        summary: "Rotate the station's Basic-auth password (ChangeConfiguration AuthorizationKey)",
        description:
          'The gateway generates a 20-byte key, sends it as 40 hex digits and keeps only its hash; neither the key nor its hex ' +
          'is returned, logged or kept in the command log. Accepted: the old password stops working and the station reconnects ' +
          'with the new one. Rejected / NotSupported / a CALLERROR: the old password keeps working. No answer (504): both work ' +
          'until the next rotation.',
        params: idParams,
        response: { 200: anyCommandSchema, ...commandErrors },
      },
      handler: async (req) => commandJson(await deps.security.rotateAuthorizationKey(req.params.id, requester(req))),
    });

    app.put('/chargestations/:id/security_profile', {
      config: { tenancy: { params: { id: 'chargestation' } } },
      schema: {
        tags,
        summary: 'Set the lowest security profile the station may connect with',
        description:
          'notify (default true): the station is sent ChangeConfiguration SecurityProfile (upwards only) and the profile is ' +
          'recorded once it is Accepted; from then on a connection below it is refused (403). notify=false only records it ' +
          '(0 clears it). 409: profile 1 or 2 without a password, 2 or 3 without TLS, 3 without a client CA.',
        params: idParams,
        body: z.strictObject({ security_profile: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]), notify: z.boolean().default(true) }),
        response: {
          200: z.object({ security_profile: z.number().int().nullable(), command: anyCommandSchema.nullable() }),
          ...commandErrors,
          ...conflictErrors,
        },
      },
      handler: async (req) => {
        await deps.commands.station(req.params.id);
        const r = await deps.security.setSecurityProfile(req.params.id, req.body.security_profile, { notify: req.body.notify, requestedBy: requester(req) });
        return { security_profile: r.security_profile, command: r.command ? commandJson(r.command) : null };
      },
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/certificates',
      action: 'InstallCertificate',
      summary: 'Install a root certificate on the station (InstallCertificate)',
      body: z.strictObject({ certificate_type: certificateType, certificate: pem('certificate', 5500) }),
      answer: status(['Accepted', 'Failed', 'Rejected']),
      payload: ({ body }) => ({ certificateType: body.certificate_type, certificate: body.certificate }),
    });

    commandRoute(app, deps, {
      method: 'GET',
      url: '/chargestations/:id/certificates',
      action: 'GetInstalledCertificateIds',
      summary: 'List the root certificates installed on the station (GetInstalledCertificateIds)',
      querystring: z.strictObject({ certificate_type: certificateType }),
      answer: z.object({ status: z.enum(['Accepted', 'NotFound']), certificateHashData: z.array(certificateHashData).optional() }),
      payload: ({ query }) => ({ certificateType: query.certificate_type }),
    });

    commandRoute(app, deps, {
      method: 'DELETE',
      url: '/chargestations/:id/certificates',
      action: 'DeleteCertificate',
      summary: 'Delete a certificate from the station (DeleteCertificate)',
      description: 'The certificate as GetInstalledCertificateIds names it (its hash data).',
      querystring: certificateHashQuery,
      answer: status(['Accepted', 'Failed', 'NotFound']),
      payload: ({ query }) => ({ certificateHashData: query }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/extended_trigger',
      action: 'ExtendedTriggerMessage',
      summary: 'Ask the station to send a message now (ExtendedTriggerMessage)',
      description: 'SignChargePointCertificate: the station makes a new key and sends SignCertificate, which the gateway signs.',
      body: z.strictObject({
        requested_message: z.enum([
          'BootNotification',
          'LogStatusNotification',
          'FirmwareStatusNotification',
          'Heartbeat',
          'MeterValues',
          'SignChargePointCertificate',
          'StatusNotification',
        ]),
        connector_id: z.number().int().min(0).max(100).optional(),
      }),
      answer: status(['Accepted', 'Rejected', 'NotImplemented']),
      payload: ({ body }) => ({ requestedMessage: body.requested_message, ...(body.connector_id !== undefined ? { connectorId: body.connector_id } : {}) }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/signed_firmware',
      action: 'SignedUpdateFirmware',
      summary: 'Install signed firmware (SignedUpdateFirmware)',
      description: 'Progress arrives as SignedFirmwareStatusNotification (kept with the station\'s reports, `request_id`).',
      body: z.strictObject({
        request_id: int32().min(0),
        location: z.string().min(1).max(512),
        retrieve_date_time: dateTime,
        install_date_time: dateTime.optional(),
        signing_certificate: pem('certificate', 5500),
        signature: z.string().min(1).max(800).describe('base64'),
        retries: z.number().int().min(0).max(100).optional(),
        retry_interval: z.number().int().min(0).max(86_400).optional(),
      }),
      answer: status(['Accepted', 'Rejected', 'AcceptedCanceled', 'InvalidCertificate', 'RevokedCertificate']),
      payload: ({ body }) => ({
        requestId: body.request_id,
        ...(body.retries !== undefined ? { retries: body.retries } : {}),
        ...(body.retry_interval !== undefined ? { retryInterval: body.retry_interval } : {}),
        firmware: {
          location: body.location,
          retrieveDateTime: body.retrieve_date_time,
          ...(body.install_date_time ? { installDateTime: body.install_date_time } : {}),
          signingCertificate: body.signing_certificate,
          signature: body.signature,
        },
      }),
    });

    commandRoute(app, deps, {
      method: 'POST',
      url: '/chargestations/:id/log',
      action: 'GetLog',
      summary: 'Have the station upload a log (GetLog)',
      description: 'Progress arrives as LogStatusNotification (the station\'s `log_status`, and its reports).',
      body: z.strictObject({
        log_type: z.enum(['DiagnosticsLog', 'SecurityLog']),
        request_id: int32().min(0),
        remote_location: z.string().min(1).max(512),
        oldest_timestamp: dateTime.optional(),
        latest_timestamp: dateTime.optional(),
        retries: z.number().int().min(0).max(100).optional(),
        retry_interval: z.number().int().min(0).max(86_400).optional(),
      }),
      answer: z.object({ status: z.enum(['Accepted', 'Rejected', 'AcceptedCanceled']), filename: z.string().optional() }),
      payload: ({ body }) => ({
        logType: body.log_type,
        requestId: body.request_id,
        ...(body.retries !== undefined ? { retries: body.retries } : {}),
        ...(body.retry_interval !== undefined ? { retryInterval: body.retry_interval } : {}),
        log: {
          remoteLocation: body.remote_location,
          ...(body.oldest_timestamp ? { oldestTimestamp: body.oldest_timestamp } : {}),
          ...(body.latest_timestamp ? { latestTimestamp: body.latest_timestamp } : {}),
        },
      }),
    });
  };
}
