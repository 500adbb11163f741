import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { endpointOf, WebhookDispatcher } from '../../src/domain/events/dispatcher.ts';

describe('webhook configuration', () => {
  it('has defaults and reads every key', () => {
    expect(loadConfig({}).webhooks).toEqual({
      pollIntervalMs: 1000,
      timeoutMs: 10_000,
      concurrency: 16,
      maxAttempts: 10,
      retryBaseMs: 5000,
      retryMaxMs: 3_600_000,
      disableAfterFailures: 50,
    });
    const c = loadConfig({
      WEBHOOK_POLL_INTERVAL_MS: '50',
      WEBHOOK_TIMEOUT_S: '3',
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_MAX_ATTEMPTS: '2',
      WEBHOOK_RETRY_BASE_MS: '100',
      WEBHOOK_RETRY_MAX_MS: '1000',
      WEBHOOK_DISABLE_AFTER_FAILURES: '0',
      EVENT_RETENTION_DAYS: '7',
    });
    expect(c.webhooks).toEqual({ pollIntervalMs: 50, timeoutMs: 3000, concurrency: 4, maxAttempts: 2, retryBaseMs: 100, retryMaxMs: 1000, disableAfterFailures: 0 });
    expect(c.eventRetentionDays).toBe(7);
  });

  it('names the variable of a bad value', () => {
    for (const [variable, value] of [
      ['WEBHOOK_TIMEOUT_S', '0'],
      ['WEBHOOK_CONCURRENCY', 'many'],
      ['WEBHOOK_MAX_ATTEMPTS', '0'],
      ['WEBHOOK_POLL_INTERVAL_MS', '1'],
      ['EVENT_RETENTION_DAYS', '-1'],
    ] as const) {
      try {
        loadConfig({ [variable]: value });
        expect.fail(`${variable}=${value} was accepted`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems.map((p) => p.variable)).toEqual([variable]);
      }
    }
  });
});

describe('webhook retries', () => {
  it('wait exponentially longer, within ±20 %, up to the cap', () => {
    const d = new WebhookDispatcher({} as never, {
      pollIntervalMs: 1000, concurrency: 1, timeoutMs: 1000, maxAttempts: 10, retryBaseMs: 1000, retryMaxMs: 10_000, disableAfterFailures: 0,
    });
    for (const [failed, base] of [[1, 1000], [2, 2000], [3, 4000], [4, 8000], [5, 10_000], [9, 10_000]] as const) {
      for (let i = 0; i < 20; i++) {
        const wait = d.backoffMs(failed);
        expect(wait).toBeGreaterThanOrEqual(base * 0.8);
        expect(wait).toBeLessThanOrEqual(base * 1.2);
      }
    }
  });

  it('shows an endpoint without its query string or credentials', () => {
    expect(endpointOf('https://user:pw@example.com:8443/hooks/in?token=abc#x')).toBe('https://example.com:8443/hooks/in');
    expect(endpointOf('not a url')).toBe('(invalid url)');
  });
});
