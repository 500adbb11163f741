import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';
import type { Clock } from '../shared/clock.ts';
import { overdueStops } from '../domain/sessions/stop-marks.ts';
import { STOP_CALL_TIMEOUT_MS, type RemoteStopper } from '../domain/sessions/stopper.ts';
import { FORWARD_MARGIN_MS } from './call-forwarder.ts';
import type { Job } from './jobs.ts';

/**
 * Stop retries survive the node that made them. Each attempt writes when the next one is due
 * (sessions.stop_retry_at); a stopping session whose next attempt is overdue by more than an
 * attempt can take (the stop call's timeout, the forwarding margin) plus a node lease has lost
 * the node that was retrying it, and this node takes its retries over. (A station that
 * reconnects is sent its pending stops by the node it reaches, without waiting for this.)
 */
export function stopTakeoverJob(deps: { db: Db; clock: Clock; log: Logger; stopper: RemoteStopper; leaseS: number }): Job {
  const graceMs = STOP_CALL_TIMEOUT_MS + FORWARD_MARGIN_MS + deps.leaseS * 1000;
  return {
    name: 'stop_takeover',
    everyMs: Math.max(1_000, (deps.leaseS * 1000) / 2),
    async run() {
      const overdue = await overdueStops(deps.db, new Date(deps.clock.now().getTime() - graceMs));
      if (!overdue.length) return;
      deps.log.warn({ sessions: overdue.length }, 'taking over RemoteStopTransaction retries nobody is making');
      for (const target of overdue) void deps.stopper.stopMarked(target);
    },
  };
}
