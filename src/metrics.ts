import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GatewayMetrics } from './shared/metrics.ts';

/** What gauges read at scrape time (and only then). */
export interface MetricSources {
  /** stations connected to this process */
  stationsConnected(): number;
  /** sessions drawing energy (active, stopping, stop_failed), cluster-wide */
  sessionsActive(): Promise<number>;
  /** webhook deliveries waiting to be sent, cluster-wide */
  webhookQueueDepth(): Promise<number>;
  /** database connections: in use, idle, requests waiting for one (PostgreSQL pool; undefined on PGlite) */
  dbPool(): { total: number; idle: number; waiting: number } | undefined;
}

/** Buckets for a group commit's time to write and commit (MeterValues batches, settlements). */
const COMMIT_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Prometheus metrics of one gateway process, in a registry of its own (tests run several
 * gateways in one process, so nothing goes to prom-client's global registry). Counters are
 * moved by the code as things happen; gauges are read when Prometheus scrapes.
 */
export class PrometheusMetrics implements GatewayMetrics {
  readonly registry = new Registry();
  private readonly ocppMessages: Counter<'action' | 'result'>;
  private readonly ocppDuration: Histogram<'action'>;
  private readonly debits: Counter;
  private readonly debitedCents: Counter;
  private readonly remoteStops: Counter<'outcome'>;
  private readonly webhookDeliveries: Counter<'outcome'>;
  private readonly webhookDuration: Histogram;
  private readonly meterBatchSize: Histogram;
  private readonly meterBatchDuration: Histogram;
  private readonly settlementBatchSize: Histogram;
  private readonly settlementBatchDuration: Histogram;

  constructor(sources: MetricSources, labels: { node: string }) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'gateway_' });
    this.ocppMessages = new Counter({
      name: 'gateway_ocpp_messages_total',
      help: 'OCPP calls from stations, by action and result (ok, or the CALLERROR code)',
      labelNames: ['action', 'result'],
      registers,
    });
    this.ocppDuration = new Histogram({
      name: 'gateway_ocpp_message_duration_seconds',
      help: 'Time from an OCPP call being read to its answer, by action',
      labelNames: ['action'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.debits = new Counter({
      name: 'gateway_wallet_debits_total',
      help: 'Debit entries written to the wallet ledger (metered energy and time, start fees, settlement), counted at commit',
      registers,
    });
    this.debitedCents = new Counter({
      name: 'gateway_wallet_debited_cents_total',
      help: 'Cents debited from wallets: the sum of the ledger debit entries written, counted at commit',
      registers,
    });
    this.remoteStops = new Counter({
      name: 'gateway_remote_stops_total',
      help: 'RemoteStopTransaction attempts, by outcome (Accepted, Rejected, offline, timeout, error)',
      labelNames: ['outcome'],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'gateway_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by outcome (delivered, http_error, timeout, network_error)',
      labelNames: ['outcome'],
      registers,
    });
    this.webhookDuration = new Histogram({
      name: 'gateway_webhook_delivery_duration_seconds',
      help: 'Time a webhook receiver took to answer (or to fail)',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.meterBatchSize = new Histogram({
      name: 'gateway_meter_batch_size',
      help: 'MeterValues billed by one transaction (readings that arrive in one event-loop turn, or while a batch is written, share the next one)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 200, 400],
      registers,
    });
    this.meterBatchDuration = new Histogram({
      name: 'gateway_meter_batch_duration_seconds',
      help: 'Time a MeterValues batch took to write and commit (its readings are answered after it)',
      buckets: COMMIT_SECONDS,
      registers,
    });
    this.settlementBatchSize = new Histogram({
      name: 'gateway_settlement_batch_size',
      help: 'StopTransactions settled by one statement (those that arrive in one event-loop turn, or while one is written, share the next)',
      buckets: [1, 2, 5, 10, 25, 50, 100],
      registers,
    });
    this.settlementBatchDuration = new Histogram({
      name: 'gateway_settlement_batch_duration_seconds',
      help: 'Time a settlement statement took to write and commit (its StopTransactions are answered after it)',
      buckets: COMMIT_SECONDS,
      registers,
    });
    new Gauge({
      name: 'gateway_stations_connected',
      help: 'Charge stations connected to this process',
      registers,
      collect() {
        this.set(sources.stationsConnected());
      },
    });
    new Gauge({
      name: 'gateway_sessions_active',
      help: 'Sessions drawing energy (active, stopping, stop_failed), whole cluster',
      registers,
      async collect() {
        this.set(await sources.sessionsActive());
      },
    });
    new Gauge({
      name: 'gateway_webhook_queue_depth',
      help: 'Webhook deliveries waiting to be sent, whole cluster',
      registers,
      async collect() {
        this.set(await sources.webhookQueueDepth());
      },
    });
    new Gauge({
      name: 'gateway_db_pool_connections',
      help: 'PostgreSQL pool connections of this process, by state (in_use, idle, waiting = requests queued for one)',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = sources.dbPool();
        if (!pool) return;
        this.set({ state: 'in_use' }, pool.total - pool.idle);
        this.set({ state: 'idle' }, pool.idle);
        this.set({ state: 'waiting' }, pool.waiting);
      },
    });
  }

  ocppMessage(action: string, result: string, seconds?: number): void {
    this.ocppMessages.inc({ action, result });
    if (seconds !== undefined) this.ocppDuration.observe({ action }, seconds);
  }

  debited(cents: number, entries: number): void {
    this.debits.inc(entries);
    this.debitedCents.inc(cents);
  }

  remoteStop(outcome: string): void {
    this.remoteStops.inc({ outcome });
  }

  webhookAttempt(outcome: string, seconds: number): void {
    this.webhookDeliveries.inc({ outcome });
    this.webhookDuration.observe(seconds);
  }

  meterBatch(readings: number, seconds: number): void {
    this.meterBatchSize.observe(readings);
    this.meterBatchDuration.observe(seconds);
  }

  settlementBatch(settlements: number, seconds: number): void {
    this.settlementBatchSize.observe(settlements);
    this.settlementBatchDuration.observe(seconds);
  }

  /** The text Prometheus scrapes. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
