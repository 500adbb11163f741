import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import type { GatewayMetrics } from '../../shared/metrics.ts';
import { newId } from '../../shared/ids.ts';
import { emitEvents } from './outbox.ts';
import { alertCreated } from './payloads.ts';
import { refusedDestination } from '../../shared/webhook-address.ts';

export interface DispatcherOptions {
  /** how often the outbox and the due deliveries are looked at */
  pollIntervalMs: number;
  /** deliveries in flight at once from this node */
  concurrency: number;
  /** a receiver that has not answered by then has failed this attempt */
  timeoutMs: number;
  /** attempts per delivery; after the last failed one the delivery is `failed` */
  maxAttempts: number;
  /** wait before the second attempt; doubled each time, up to retryMaxMs */
  retryBaseMs: number;
  retryMaxMs: number;
  /** failed attempts in a row after which an endpoint is disabled (and an alert raised); 0 = never */
  disableAfterFailures: number;
}

export type AttemptOutcome =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string; kind: 'http_error' | 'timeout' | 'network_error' };

interface Claimed {
  id: string;
  webhook_id: string;
  attempts: number;
  url: string;
  secret: string;
  event_id: string;
  type: string;
  data: unknown;
  created_at: Date;
}

/** A lease a little longer than an attempt can take: a node that died mid-attempt loses it soon. */
const LEASE_MARGIN_MS = 5_000;
const FAN_OUT_BATCH = 500;

const SQL_NEW_ID = (salt: ReturnType<typeof sql>) =>
  sql`lpad(to_hex(floor(extract(epoch from now()))::bigint), 8, '0') || substr(md5(random()::text || ${salt}), 1, 16)`;

/**
 * Delivers the outbox to webhooks, at least once, from every node of a cluster without two
 * nodes sending the same delivery:
 *
 * 1. fan-out: events not yet fanned out are taken (FOR UPDATE SKIP LOCKED, so nodes split them)
 *    and one delivery is created per active endpoint that wants the event;
 * 2. claim: due deliveries are leased (FOR UPDATE SKIP LOCKED, then `locked_until`), only the
 *    oldest pending delivery of each (endpoint, ordering key), so deliveries of one wallet or
 *    session reach an endpoint in order;
 * 3. send, signed the Standard Webhooks way; every attempt is recorded; a failure is retried
 *    with exponential backoff; an endpoint failing too often in a row is disabled with an alert.
 *
 * A node that dies mid-attempt leaves a lease that expires; the delivery is sent again (the
 * receiver deduplicates by `webhook-id`). Nothing of this runs on the MeterValues path: billing
 * only inserts outbox rows when a line is crossed.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private ticking: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(
    private readonly deps: { db: Db; clock: Clock; log: Logger; nodeId: string; metrics?: Pick<GatewayMetrics, 'webhookAttempt'> | undefined },
    private readonly options: DispatcherOptions,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    // A process with this node id that ended without finishing its attempts (a crash) leaves
    // leases nobody else holds: only one live process has a node id, so they are ours to drop.
    await this.releaseLeases();
    this.timer = setInterval(() => this.kick(), this.options.pollIntervalMs);
    this.timer.unref();
    this.kick();
  }

  /**
   * Stops polling and abandons attempts in flight: their leases are handed back, so another
   * node (or this one, restarted) sends them again at once.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await this.ticking;
    await Promise.allSettled([...this.inFlight]);
    await this.releaseLeases().catch((err: unknown) => this.deps.log.warn({ err }, 'could not hand back webhook leases; they lapse'));
  }

  private async releaseLeases(): Promise<void> {
    await this.deps.db
      .updateTable('webhook_deliveries')
      .set({ locked_until: null, locked_by: null })
      .where('locked_by', '=', this.deps.nodeId)
      .where('status', '=', 'pending')
      .execute();
  }

  /** Look for work now (after an attempt ends, the next delivery of its key may be due). */
  kick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick().finally(() => {
      this.ticking = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Deliveries waiting to be sent, all endpoints (a gauge, read at scrape time). */
  async queueDepth(): Promise<number> {
    const row = await this.deps.db
      .selectFrom('webhook_deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'pending')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async tick(): Promise<void> {
    try {
      while ((await this.fanOut()) === FAN_OUT_BATCH && !this.stopped);
      const room = this.options.concurrency - this.inFlight.size;
      if (room <= 0 || this.stopped) return;
      const claimed = await this.claim(room);
      for (const c of claimed) {
        const p = this.deliver(c).finally(() => {
          this.inFlight.delete(p);
          this.kick();
        });
        this.inFlight.add(p);
      }
    } catch (err) {
      if (!this.stopped) this.deps.log.error({ err }, 'webhook dispatch failed');
    }
  }

  /** Creates the deliveries of events not fanned out yet; returns how many events it took. */
  async fanOut(): Promise<number> {
    const { rows } = await sql<{ seq: number }>`
      with batch as (
        select seq, type, organizations, ordering_key from outbox_events
        where fanned_out_at is null
        order by seq
        limit ${FAN_OUT_BATCH}
        for update skip locked
      ),
      deliveries as (
        insert into webhook_deliveries (id, webhook_id, event_seq, ordering_key, next_attempt_at, created_at, updated_at)
        select ${SQL_NEW_ID(sql`w.id || b.seq::text`)}, w.id, b.seq, b.ordering_key, now(), now(), now()
        from batch b
        join webhooks w on w.active
          and (w.organization_id is null or w.organization_id = any(b.organizations))
          and ('*' = any(w.events) or b.type = any(w.events))
        order by b.seq, w.id
      )
      update outbox_events e set fanned_out_at = now() from batch b where e.seq = b.seq
      returning e.seq`.execute(this.deps.db);
    return rows.length;
  }

  private async claim(limit: number): Promise<Claimed[]> {
    const leaseMs = this.options.timeoutMs + LEASE_MARGIN_MS;
    const { rows } = await sql<Claimed>`
      with due as (
        select d.id from webhook_deliveries d
        join webhooks w on w.id = d.webhook_id
        where d.status = 'pending' and w.active and d.next_attempt_at <= now()
          and (d.locked_until is null or d.locked_until < now())
          and not exists (
            select 1 from webhook_deliveries p
            where p.webhook_id = d.webhook_id and p.ordering_key = d.ordering_key
              and p.status = 'pending' and p.event_seq < d.event_seq
          )
        order by d.next_attempt_at, d.event_seq
        limit ${limit}
        for update of d skip locked
      )
      update webhook_deliveries d
        set locked_until = now() + ${leaseMs} * interval '1 millisecond', locked_by = ${this.deps.nodeId}
      from due, webhooks w, outbox_events e
      where d.id = due.id and w.id = d.webhook_id and e.seq = d.event_seq
      returning d.id, d.webhook_id, d.attempts, w.url, w.secret, e.id as event_id, e.type, e.data, e.created_at`.execute(
      this.deps.db,
    );
    return rows.map((r) => ({ ...r, created_at: new Date(r.created_at) }));
  }

  private async deliver(c: Claimed): Promise<void> {
    const started = performance.now();
    const outcome = await this.send(c);
    if (this.abort.signal.aborted) return; // stopping: the lease lapses, the delivery is sent again
    const seconds = (performance.now() - started) / 1000;
    this.deps.metrics?.webhookAttempt(outcome.ok ? 'delivered' : outcome.kind, seconds);
    try {
      await this.record(c, outcome, Math.round(seconds * 1000));
    } catch (err) {
      this.deps.log.error({ err, delivery: c.id }, 'could not record a webhook attempt; it will be sent again');
    }
  }

  private async send(c: Claimed): Promise<AttemptOutcome> {
    // A name pointed at a link-local address after the endpoint was created is not called.
    const refused = await refusedDestination(c.url);
    if (refused) return { ok: false, statusCode: null, error: refused, kind: 'network_error' };
    const body = JSON.stringify({ type: c.type, timestamp: c.created_at.toISOString(), data: c.data });
    const now = new Date();
    let signature: string;
    try {
      signature = new Webhook(c.secret).sign(c.event_id, now, body);
    } catch (err) {
      return { ok: false, statusCode: null, error: `cannot sign: ${(err as Error).message}`, kind: 'network_error' };
    }
    // One controller per attempt, aborted by its own timer or by stop(). Not AbortSignal.any with
    // the dispatcher's long-lived signal: on Node 20 every composite stays referenced from that
    // signal (nodejs/node#55351), so each delivery would leak and the set would only grow.
    const attempt = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attempt.abort();
    }, this.options.timeoutMs);
    const onStop = () => attempt.abort();
    // An attempt that starts once stop() has begun (its claim was in flight) ends at once.
    if (this.abort.signal.aborted) attempt.abort();
    else this.abort.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await fetch(c.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: attempt.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'prepaid-ocpp-gateway-webhooks/1',
          'webhook-id': c.event_id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': signature,
        },
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true, statusCode: res.status };
      return { ok: false, statusCode: res.status, error: `HTTP ${res.status}`, kind: 'http_error' };
    } catch (err) {
      if (timedOut) {
        return { ok: false, statusCode: null, error: `no answer within ${this.options.timeoutMs} ms`, kind: 'timeout' };
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { ok: false, statusCode: null, error: (cause?.code ?? cause?.message ?? (err as Error).message).slice(0, 500), kind: 'network_error' };
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  /** Wait before attempt `n + 1` after `n` failed ones: exponential, capped, ±20 % jitter. */
  backoffMs(failedAttempts: number): number {
    const base = Math.min(this.options.retryBaseMs * 2 ** Math.max(0, failedAttempts - 1), this.options.retryMaxMs);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private async record(c: Claimed, outcome: AttemptOutcome, durationMs: number): Promise<void> {
    const { db, clock, nodeId } = this.deps;
    const now = clock.now();
    const attempts = c.attempts + 1;
    await db.transaction().execute(async (tx) => {
      await tx
        .insertInto('webhook_attempts')
        .values({ delivery_id: c.id, at: now, status_code: outcome.statusCode, error: outcome.ok ? null : outcome.error, duration_ms: durationMs, node_id: nodeId })
        .execute();
      if (outcome.ok) {
        await tx
          .updateTable('webhook_deliveries')
          .set({ status: 'delivered', attempts, delivered_at: now, last_status_code: outcome.statusCode, last_error: null, next_attempt_at: null, locked_until: null, locked_by: null, updated_at: now })
          .where('id', '=', c.id)
          .execute();
        await tx.updateTable('webhooks').set({ consecutive_failures: 0 }).where('id', '=', c.webhook_id).where('consecutive_failures', '<>', 0).execute();
        return;
      }
      const giveUp = attempts >= this.options.maxAttempts;
      await tx
        .updateTable('webhook_deliveries')
        .set({
          status: giveUp ? 'failed' : 'pending',
          attempts,
          last_status_code: outcome.statusCode,
          last_error: outcome.error,
          next_attempt_at: giveUp ? null : sql<Date>`now() + ${this.backoffMs(attempts)} * interval '1 millisecond'`,
          locked_until: null,
          locked_by: null,
          updated_at: now,
        })
        .where('id', '=', c.id)
        .execute();
      const hook = await tx
        .updateTable('webhooks')
        .set((eb) => ({ consecutive_failures: eb('consecutive_failures', '+', 1) }))
        .where('id', '=', c.webhook_id)
        .returning(['id', 'url', 'active', 'consecutive_failures'])
        .executeTakeFirst();
      const limit = this.options.disableAfterFailures;
      if (hook?.active && limit > 0 && hook.consecutive_failures >= limit) {
        const reason = `${hook.consecutive_failures} failed attempts in a row (last: ${outcome.error})`;
        await tx.updateTable('webhooks').set({ active: false, disabled_at: now, disabled_reason: reason, updated_at: now }).where('id', '=', hook.id).execute();
        // An alert like any other (alerts + alert.created in this transaction), about no station.
        const alert = {
          id: newId(now),
          kind: 'webhook_disabled',
          station_id: null,
          session_id: null,
          transaction_id: null,
          message: `webhook ${hook.id} (${endpointOf(hook.url)}) disabled after ${reason}`,
          details: { webhook: hook.id, endpoint: endpointOf(hook.url), consecutive_failures: hook.consecutive_failures, last_error: outcome.error },
        };
        await tx.insertInto('alerts').values({ ...alert, details: JSON.stringify(alert.details), created_at: now, last_seen_at: now }).execute();
        await emitEvents(tx, [alertCreated(alert)], now);
        this.deps.log.warn({ webhook: hook.id, failures: hook.consecutive_failures }, 'webhook endpoint disabled after repeated failures');
      }
    });
  }
}

/** An endpoint as alerts and logs show it: without a query string or credentials, which may hold tokens. */
export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return u.origin + u.pathname;
  } catch {
    return '(invalid url)';
  }
}
