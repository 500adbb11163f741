import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

function problems(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has the SPEC defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      databaseUrl: undefined,
      dataDir: './data',
      ocppPort: 9000,
      adminPort: 8080,
      adminApiKey: undefined,
      heartbeatIntervalS: 300,
      meterValueSampleIntervalS: 30,
      tls: undefined,
      logLevel: 'info',
      wsPingIntervalS: 30,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u@h:5432/db',
      DATA_DIR: '/var/lib/gw',
      OCPP_PORT: '9100',
      ADMIN_PORT: '8181',
      ADMIN_API_KEY: 'k'.repeat(20),
      HEARTBEAT_INTERVAL_S: '60',
      METER_VALUE_SAMPLE_INTERVAL_S: '10',
      TLS_CERT_FILE: '/c.pem',
      TLS_KEY_FILE: '/k.pem',
      LOG_LEVEL: 'debug',
      WS_PING_INTERVAL_S: '0',
    });
    expect(c).toMatchObject({
      databaseUrl: 'postgres://u@h:5432/db',
      dataDir: '/var/lib/gw',
      ocppPort: 9100,
      adminPort: 8181,
      adminApiKey: 'k'.repeat(20),
      heartbeatIntervalS: 60,
      meterValueSampleIntervalS: 10,
      tls: { certFile: '/c.pem', keyFile: '/k.pem' },
      logLevel: 'debug',
      wsPingIntervalS: 0,
    });
  });

  it('reads the OCPP port limits, with their defaults', () => {
    expect(loadConfig({})).toMatchObject({
      ocppMaxConnections: 10_000,
      ocppHandshakeTimeoutS: 20,
      ocppMaxQueuedCalls: 10,
      ocppMaxRefusedCalls: 100,
      ocppMaxConnectorId: 32,
      ocppRefusedStartsPerMinute: 10,
    });
    expect(
      loadConfig({
        OCPP_MAX_CONNECTIONS: '500',
        OCPP_HANDSHAKE_TIMEOUT_S: '5',
        OCPP_MAX_QUEUED_CALLS: '0',
        OCPP_MAX_REFUSED_CALLS: '0',
        OCPP_MAX_CONNECTOR_ID: '4',
        OCPP_REFUSED_STARTS_PER_MINUTE: '0',
        OCPP_MAX_START_AGE_H: '24',
      }),
    ).toMatchObject({
      ocppMaxConnections: 500,
      ocppHandshakeTimeoutS: 5,
      ocppMaxQueuedCalls: 0,
      ocppMaxRefusedCalls: 0,
      ocppMaxConnectorId: 4,
      ocppRefusedStartsPerMinute: 0,
      maxStartAgeMs: 24 * 3_600_000,
    });
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', ADMIN_API_KEY: ' ' })).toMatchObject({
      databaseUrl: undefined,
      adminApiKey: undefined,
    });
  });

  it.each([
    [{ OCPP_PORT: 'abc' }, 'OCPP_PORT'],
    [{ OCPP_PORT: '70000' }, 'OCPP_PORT'],
    [{ ADMIN_PORT: '-1' }, 'ADMIN_PORT'],
    [{ ADMIN_PORT: '80.5' }, 'ADMIN_PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ HEARTBEAT_INTERVAL_S: '0' }, 'HEARTBEAT_INTERVAL_S'],
    [{ METER_VALUE_SAMPLE_INTERVAL_S: 'soon' }, 'METER_VALUE_SAMPLE_INTERVAL_S'],
    [{ WS_PING_INTERVAL_S: '-5' }, 'WS_PING_INTERVAL_S'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY'],
    [{ TLS_CERT_FILE: '/c.pem' }, 'TLS_KEY_FILE'],
    [{ TLS_KEY_FILE: '/k.pem' }, 'TLS_CERT_FILE'],
    [{ OCPP_MAX_CONNECTIONS: '0' }, 'OCPP_MAX_CONNECTIONS'],
    [{ OCPP_HANDSHAKE_TIMEOUT_S: '0' }, 'OCPP_HANDSHAKE_TIMEOUT_S'],
    [{ OCPP_MAX_QUEUED_CALLS: '-1' }, 'OCPP_MAX_QUEUED_CALLS'],
    [{ OCPP_MAX_REFUSED_CALLS: '1.5' }, 'OCPP_MAX_REFUSED_CALLS'],
    [{ OCPP_MAX_CONNECTOR_ID: '0' }, 'OCPP_MAX_CONNECTOR_ID'],
    [{ OCPP_REFUSED_STARTS_PER_MINUTE: 'many' }, 'OCPP_REFUSED_STARTS_PER_MINUTE'],
    [{ OCPP_MAX_START_AGE_H: '0' }, 'OCPP_MAX_START_AGE_H'],
  ])('%j is refused with a message naming %s', (env, variable) => {
    const found = problems(env);
    expect(found.map((p) => p.variable)).toContain(variable);
    expect(new ConfigError(found).message).toContain(variable);
  });

  it('reports every bad variable at once', () => {
    const found = problems({ OCPP_PORT: 'x', LOG_LEVEL: 'y' });
    expect(found.map((p) => p.variable).sort()).toEqual(['LOG_LEVEL', 'OCPP_PORT']);
  });
});

describe('cluster settings', () => {
  it('generates a node id per process unless NODE_ID names one; the lease defaults to 10 s', () => {
    const a = loadConfig({});
    const b = loadConfig({});
    expect(a.nodeId).toMatch(/^[a-z0-9][a-z0-9_.-]*-[0-9a-f]{6}$/);
    expect(a.nodeId).not.toBe(b.nodeId);
    expect(a.clusterLeaseS).toBe(10);
    expect(loadConfig({ NODE_ID: 'gw-1.eu', CLUSTER_LEASE_S: '5' })).toMatchObject({ nodeId: 'gw-1.eu', clusterLeaseS: 5 });
    expect(loadConfig({ DATABASE_LISTEN_URL: 'postgres://direct:5432/gw' }).databaseListenUrl).toBe('postgres://direct:5432/gw');
    expect(problems({ DATABASE_LISTEN_URL: 'mysql://x' })[0]!.variable).toBe('DATABASE_LISTEN_URL');
  });

  it('refuses node ids that cannot name a notification channel, and leases out of range', () => {
    expect(problems({ NODE_ID: 'has space', CLUSTER_LEASE_S: '1' }).map((p) => p.variable).sort()).toEqual(['CLUSTER_LEASE_S', 'NODE_ID']);
    expect(problems({ NODE_ID: 'x'.repeat(41) })[0]!.variable).toBe('NODE_ID');
    expect(problems({ NODE_ID: '"quoted"' })[0]!.variable).toBe('NODE_ID');
    expect(problems({ CLUSTER_LEASE_S: '301' })[0]!.variable).toBe('CLUSTER_LEASE_S');
  });
});

describe('predictive stop settings', () => {
  it('on by default, 3 s default stop delay, 1 cent margin, 10 s low sample interval, 11 kW landing', () => {
    expect(loadConfig({}).predictiveStop).toEqual({ enabled: true, defaultDelayS: 3, marginCents: 1, lowSampleIntervalS: 10, landingPowerW: 11_000 });
    expect(
      loadConfig({
        PREDICTIVE_STOP: 'off',
        PREDICTIVE_STOP_DELAY_S: '0.5',
        PREDICTIVE_STOP_MARGIN_CENTS: '0',
        PREDICTIVE_LOW_SAMPLE_INTERVAL_S: '0',
        PREDICTIVE_LANDING_POWER_KW: '3.7',
      }).predictiveStop,
    ).toEqual({ enabled: false, defaultDelayS: 0.5, marginCents: 0, lowSampleIntervalS: 0, landingPowerW: 3_700 });
    expect(loadConfig({ PREDICTIVE_LANDING_POWER_KW: '0' }).predictiveStop.landingPowerW).toBe(0);
  });

  it('names the variable of a bad value', () => {
    expect(problems({ PREDICTIVE_STOP: 'maybe' })[0]!.variable).toBe('PREDICTIVE_STOP');
    expect(problems({ PREDICTIVE_STOP_DELAY_S: '-1' })[0]!.variable).toBe('PREDICTIVE_STOP_DELAY_S');
    expect(problems({ PREDICTIVE_STOP_MARGIN_CENTS: '1.5' })[0]!.variable).toBe('PREDICTIVE_STOP_MARGIN_CENTS');
    expect(problems({ PREDICTIVE_LANDING_POWER_KW: '-1' })[0]!.variable).toBe('PREDICTIVE_LANDING_POWER_KW');
    expect(problems({ PREDICTIVE_LANDING_POWER_KW: 'lots' })[0]!.variable).toBe('PREDICTIVE_LANDING_POWER_KW');
  });
});
