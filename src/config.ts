import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * The only place that reads the environment. Parsed once at start; a bad value stops the
 * process with a message that names the variable (see SPEC section 2).
 */

const port = z.coerce
  .number({ error: 'must be a port number' })
  .int('must be a whole number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

const seconds = (min: number) =>
  z.coerce
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(min, `must be at least ${min}`)
    .max(86_400, 'must be at most 86400 (one day)');

/** A whole number of something (calls, connections, failures) with a lower and optional upper bound. */
const whole = (min: number, max = Number.MAX_SAFE_INTEGER, minMessage = `must be at least ${min}`) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(min, minMessage)
    .max(max, `must be at most ${max}`);

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;

/** A node id for a process started without NODE_ID: the host name and a random suffix. */
function generatedNodeId(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9_.-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 30);
  return `${host || 'gateway'}-${randomBytes(3).toString('hex')}`;
}

const schema = z
  .object({
    DATABASE_URL: optionalText.refine(
      (v) => v === undefined || /^postgres(ql)?:\/\//.test(v),
      'must start with postgres:// or postgresql://',
    ),
    DATA_DIR: z.string().min(1).default('./data'),
    HOST: z.string().min(1).default('0.0.0.0'),
    OCPP_PORT: port.default(9000),
    ADMIN_PORT: port.default(8080),
    ADMIN_API_KEY: optionalText.refine(
      (v) => v === undefined || v.length >= 16,
      'must be at least 16 characters',
    ),
    HEARTBEAT_INTERVAL_S: seconds(1).default(300),
    METER_VALUE_SAMPLE_INTERVAL_S: seconds(0).default(30),
    TLS_CERT_FILE: optionalText,
    TLS_KEY_FILE: optionalText,
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: 'must be one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
    WS_PING_INTERVAL_S: seconds(0).default(30),
    OCPP_CALL_TIMEOUT_S: seconds(1).default(30),
    BILLING_SWEEP_INTERVAL_S: seconds(0).default(15),
    DB_POOL_SIZE: whole(2, 500).default(20),
    AUTH_FAILURES_PER_SOURCE: whole(1).default(100),
    AUTH_FAILURES_PER_IDENTITY: whole(1).default(10),
    DATABASE_LISTEN_URL: optionalText.refine(
      (v) => v === undefined || /^postgres(ql)?:\/\//.test(v),
      'must start with postgres:// or postgresql://',
    ),
    NODE_ID: optionalText.refine(
      (v) => v === undefined || NODE_ID_PATTERN.test(v),
      'must be 1-40 letters, digits, dots, dashes or underscores, starting with a letter or digit',
    ),
    CLUSTER_LEASE_S: seconds(2).max(300, 'must be at most 300').default(10),
    MAX_STATION_POWER_KW: whole(0, 100_000, 'must be 0 (no check) or more').default(400),
    OCPP_MAX_START_AGE_H: whole(1, 24 * 365).default(72),
    TIME_BILLING_SILENCE_CAP_S: seconds(60).default(900),
    OCPP_MAX_BAD_MESSAGES: whole(0, undefined, 'must be 0 (never) or more').default(20),
    OCPP_MAX_CONNECTIONS: whole(1).default(10_000),
    OCPP_HANDSHAKE_TIMEOUT_S: seconds(1).default(20),
    OCPP_MAX_QUEUED_CALLS: whole(0, 10_000).default(10),
    OCPP_MAX_REFUSED_CALLS: whole(0, undefined, 'must be 0 (never) or more').default(100),
    OCPP_MAX_CONNECTOR_ID: whole(1, 10_000).default(32),
    OCPP_REFUSED_STARTS_PER_MINUTE: whole(0, undefined, 'must be 0 (no limit) or more').default(10),
    WEBHOOK_POLL_INTERVAL_MS: whole(10, 60_000).default(1000),
    WEBHOOK_TIMEOUT_S: seconds(1).max(300, 'must be at most 300').default(10),
    WEBHOOK_CONCURRENCY: whole(1, 1000).default(16),
    WEBHOOK_MAX_ATTEMPTS: whole(1, 100).default(10),
    WEBHOOK_RETRY_BASE_MS: whole(10, 86_400_000).default(5000),
    WEBHOOK_RETRY_MAX_MS: whole(10, 86_400_000).default(3_600_000),
    WEBHOOK_DISABLE_AFTER_FAILURES: whole(0, undefined, 'must be 0 (never) or more').default(50),
    EVENT_RETENTION_DAYS: whole(1, 3650).default(30),
    COMMAND_LOG_RETENTION_DAYS: whole(1, 3650).default(90),
    OCPP_OFFLINE_AUTHORIZATION: z
      .enum(['cache', 'none', 'unmanaged'], { error: 'must be cache, none or unmanaged' })
      .default('cache'),
    OCPP_AUTH_EXPIRY_S: seconds(0).default(900),
    PREDICTIVE_STOP: z
      .enum(['on', 'off', 'true', 'false', '1', '0'], { error: 'must be on or off' })
      .default('on')
      .transform((v) => v === 'on' || v === 'true' || v === '1'),
    PREDICTIVE_STOP_DELAY_S: z.coerce
      .number({ error: 'must be a number of seconds' })
      .min(0, 'must be at least 0')
      .max(120, 'must be at most 120')
      .default(3),
    PREDICTIVE_STOP_MARGIN_CENTS: whole(0, 10_000).default(1),
    PREDICTIVE_LOW_SAMPLE_INTERVAL_S: seconds(0).default(10),
    PREDICTIVE_LANDING_POWER_KW: z.coerce
      .number({ error: 'must be a number of kW' })
      .min(0, 'must be at least 0')
      .max(1_000, 'must be at most 1000')
      .default(11),
    TLS_CLIENT_CA_FILE: optionalText,
    SECURITY_CA_CERT_FILE: optionalText,
    SECURITY_CA_KEY_FILE: optionalText,
    LOCAL_AUTH_LIST_SYNC: z.enum(['off', 'on'], { error: 'must be off or on' }).default('off'),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
      const missing = env.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE';
      ctx.addIssue({
        code: 'custom',
        path: [missing],
        message: 'TLS_CERT_FILE and TLS_KEY_FILE must be set together',
      });
    }
    if (Boolean(env.SECURITY_CA_CERT_FILE) !== Boolean(env.SECURITY_CA_KEY_FILE)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.SECURITY_CA_CERT_FILE ? 'SECURITY_CA_KEY_FILE' : 'SECURITY_CA_CERT_FILE'],
        message: 'SECURITY_CA_CERT_FILE and SECURITY_CA_KEY_FILE must be set together',
      });
    }
  });

export interface Config {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly host: string;
  readonly ocppPort: number;
  readonly adminPort: number;
  readonly adminApiKey: string | undefined;
  readonly heartbeatIntervalS: number;
  readonly meterValueSampleIntervalS: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly wsPingIntervalS: number;
  readonly ocppCallTimeoutS: number;
  /** how often TIME cost is billed for sessions that send no MeterValues; 0 = never */
  readonly billingSweepIntervalS: number;
  /** consecutive malformed frames after which a station is disconnected; 0 = never */
  readonly ocppMaxBadMessages: number;
  /** PostgreSQL connections per gateway process */
  readonly dbPoolSize: number;
  /** failed logins per minute (OCPP handshakes and admin keys) before a source gets 429 */
  readonly authFailuresPerSource: number;
  /** failed station logins per minute for one identity from one address before that pair backs off */
  readonly authFailuresPerIdentity: number;
  /** the most power a station without its own maximum delivers (W); null = readings not checked */
  readonly maxStationPowerW: number | null;
  /** a StartTransaction stamped earlier than this before it arrives is billed from then (OCPP_MAX_START_AGE_H) */
  readonly maxStartAgeMs: number;
  /** TIME accrues for a gone station's sessions only this long after its last sign of life */
  readonly timeBillingSilenceCapS: number;
  /** sockets open on the OCPP port (handshaking or connected); more are refused with 503 */
  readonly ocppMaxConnections: number;
  /** from TCP accept to a completed WebSocket upgrade; slower sockets are closed */
  readonly ocppHandshakeTimeoutS: number;
  /** calls from one station waiting behind the one being handled; more get a CALLERROR */
  readonly ocppMaxQueuedCalls: number;
  /** refused calls (queue full) before a flooding station is disconnected; 0 = never */
  readonly ocppMaxRefusedCalls: number;
  /** highest connectorId a station may report */
  readonly ocppMaxConnectorId: number;
  /** StartTransactions per station per minute that may be refused before further starts wait; 0 = no limit */
  readonly ocppRefusedStartsPerMinute: number;
  /**
   * the cluster's listening connection (LISTEN, the node lock), when DATABASE_URL goes through a
   * pooler that cannot keep them (PgBouncer in transaction mode); default DATABASE_URL
   */
  readonly databaseListenUrl: string | undefined;
  /** this process's name in the cluster (PostgreSQL): presence, calls, logs */
  readonly nodeId: string;
  /** a node that has not renewed its lease for this long is dead to the others */
  readonly clusterLeaseS: number;
  /** webhook delivery (src/domain/events/dispatcher.ts) */
  readonly webhooks: {
    /** how often the outbox and due deliveries are looked at */
    readonly pollIntervalMs: number;
    /** an attempt without an answer by then has failed */
    readonly timeoutMs: number;
    /** attempts in flight at once per process */
    readonly concurrency: number;
    /** attempts per delivery before it is given up (`failed`) */
    readonly maxAttempts: number;
    /** wait before the second attempt, doubled for each further one, capped */
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    /** failed attempts in a row that disable an endpoint (with an alert); 0 = never */
    readonly disableAfterFailures: number;
  };
  /** events (and their deliveries) older than this are deleted once nothing is pending */
  readonly eventRetentionDays: number;
  /** entries of the stations' command log older than this are deleted */
  readonly commandLogRetentionDays: number;
  /**
   * how stations may authorize offline (docs/interop.md): `cache` (their authorization cache,
   * entries expiring after authExpiryS), `none` (no offline starts), `unmanaged` (keys untouched)
   */
  readonly offlineAuthorization: 'cache' | 'none' | 'unmanaged';
  /** expiryDate given to a wallet token's idTagInfo, seconds from now; 0 = only the token's own */
  readonly authExpiryS: number;
  /** the predictive stop (issue 17): stop ahead of each wallet's zero crossing, timed to end at zero */
  readonly predictiveStop: {
    readonly enabled: boolean;
    /** a station's stop delay until one of its stops has been measured, s */
    readonly defaultDelayS: number;
    /** the balance a predictive stop aims to leave, cents */
    readonly marginCents: number;
    /** MeterValueSampleInterval while a wallet is low, for stations that refuse TriggerMessage; 0 = never changed */
    readonly lowSampleIntervalS: number;
    /** the power limit (W) of the soft landing before a predicted stop (SetChargingProfile TxProfile); 0 = no landing */
    readonly landingPowerW: number;
  };
  /**
   * CA certificate(s) (PEM) station client certificates must chain to (security profile 3);
   * default: the signing CA. Without either, the TLS port asks for no client certificate.
   */
  readonly tlsClientCaFile: string | undefined;
  /** the CA that signs stations' certificate requests (SignCertificate → CertificateSigned) */
  readonly securityCa: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** keep every station's local authorization list in sync with the wallets (docs/interop.md) */
  readonly localListSync: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({
        variable: String(i.path[0] ?? '(environment)'),
        message: i.message,
      })),
    );
  }
  const e = parsed.data;
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    host: e.HOST,
    ocppPort: e.OCPP_PORT,
    adminPort: e.ADMIN_PORT,
    adminApiKey: e.ADMIN_API_KEY,
    heartbeatIntervalS: e.HEARTBEAT_INTERVAL_S,
    meterValueSampleIntervalS: e.METER_VALUE_SAMPLE_INTERVAL_S,
    tls:
      e.TLS_CERT_FILE && e.TLS_KEY_FILE
        ? Object.freeze({ certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE })
        : undefined,
    logLevel: e.LOG_LEVEL,
    wsPingIntervalS: e.WS_PING_INTERVAL_S,
    ocppCallTimeoutS: e.OCPP_CALL_TIMEOUT_S,
    billingSweepIntervalS: e.BILLING_SWEEP_INTERVAL_S,
    ocppMaxBadMessages: e.OCPP_MAX_BAD_MESSAGES,
    dbPoolSize: e.DB_POOL_SIZE,
    authFailuresPerSource: e.AUTH_FAILURES_PER_SOURCE,
    authFailuresPerIdentity: e.AUTH_FAILURES_PER_IDENTITY,
    maxStationPowerW: e.MAX_STATION_POWER_KW === 0 ? null : e.MAX_STATION_POWER_KW * 1000,
    maxStartAgeMs: e.OCPP_MAX_START_AGE_H * 3_600_000,
    timeBillingSilenceCapS: e.TIME_BILLING_SILENCE_CAP_S,
    ocppMaxConnections: e.OCPP_MAX_CONNECTIONS,
    ocppHandshakeTimeoutS: e.OCPP_HANDSHAKE_TIMEOUT_S,
    ocppMaxQueuedCalls: e.OCPP_MAX_QUEUED_CALLS,
    ocppMaxRefusedCalls: e.OCPP_MAX_REFUSED_CALLS,
    ocppMaxConnectorId: e.OCPP_MAX_CONNECTOR_ID,
    ocppRefusedStartsPerMinute: e.OCPP_REFUSED_STARTS_PER_MINUTE,
    databaseListenUrl: e.DATABASE_LISTEN_URL,
    nodeId: e.NODE_ID ?? generatedNodeId(),
    clusterLeaseS: e.CLUSTER_LEASE_S,
    webhooks: Object.freeze({
      pollIntervalMs: e.WEBHOOK_POLL_INTERVAL_MS,
      timeoutMs: e.WEBHOOK_TIMEOUT_S * 1000,
      concurrency: e.WEBHOOK_CONCURRENCY,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: e.WEBHOOK_RETRY_MAX_MS,
      disableAfterFailures: e.WEBHOOK_DISABLE_AFTER_FAILURES,
    }),
    eventRetentionDays: e.EVENT_RETENTION_DAYS,
    commandLogRetentionDays: e.COMMAND_LOG_RETENTION_DAYS,
    offlineAuthorization: e.OCPP_OFFLINE_AUTHORIZATION,
    authExpiryS: e.OCPP_AUTH_EXPIRY_S,
    predictiveStop: Object.freeze({
      enabled: e.PREDICTIVE_STOP,
      defaultDelayS: e.PREDICTIVE_STOP_DELAY_S,
      marginCents: e.PREDICTIVE_STOP_MARGIN_CENTS,
      lowSampleIntervalS: e.PREDICTIVE_LOW_SAMPLE_INTERVAL_S,
      landingPowerW: Math.round(e.PREDICTIVE_LANDING_POWER_KW * 1000),
    }),
    tlsClientCaFile: e.TLS_CLIENT_CA_FILE ?? e.SECURITY_CA_CERT_FILE,
    securityCa:
      e.SECURITY_CA_CERT_FILE && e.SECURITY_CA_KEY_FILE
        ? Object.freeze({ certFile: e.SECURITY_CA_CERT_FILE, keyFile: e.SECURITY_CA_KEY_FILE })
        : undefined,
    localListSync: e.LOCAL_AUTH_LIST_SYNC === 'on',
  });
}
