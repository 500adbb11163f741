/**
 * What the gateway counts, as a port: the domain and the adapters report through it, and
 * src/metrics.ts turns it into Prometheus metrics (one registry per app instance). Every method
 * is a counter or histogram update in memory: nothing here touches the database or waits.
 */
export interface GatewayMetrics {
  /**
   * an OCPP call from a station was answered (`ok`) or refused with a CALLERROR (its code);
   * without `seconds` (refused before any handler ran) it is counted but not timed
   */
  ocppMessage(action: string, result: string, seconds?: number): void;
  /** committed ledger debits: how many entries, how many cents in all */
  debited(cents: number, entries: number): void;
  /** a RemoteStopTransaction attempt ended with this outcome */
  remoteStop(outcome: string): void;
  /** a webhook delivery attempt ended with this outcome */
  webhookAttempt(outcome: string, seconds: number): void;
  /** a MeterValues batch was written (group commit): how many readings, how long its transaction took */
  meterBatch(readings: number, seconds: number): void;
  /** StopTransaction settlements were written together (group commit): how many, how long their statement took */
  settlementBatch(settlements: number, seconds: number): void;
}
