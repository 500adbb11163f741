import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Logger } from '../logger.ts';

export interface Job {
  /** unique across the cluster: the key of its row in cluster_jobs */
  name: string;
  everyMs: number;
  run(): Promise<void>;
}

/**
 * Periodic work that must run once per period for the whole cluster, not once per node (the TIME
 * sweep, taking over stops whose node died, clearing dead nodes). Every node ticks every job on
 * its own timer; a tick runs the job only if it moves the job's `run_after` in cluster_jobs
 * forward, which one node at a time can do (the row update is the lock). A node that dies
 * mid-run leaves the job to whoever ticks after the next due time. The same table serves a
 * single node: there every tick wins.
 */
export class BackgroundJobs {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly deps: { db: Db; nodeId: string; log: Logger },
    private readonly jobs: readonly Job[],
  ) {}

  start(): void {
    for (const job of this.jobs) {
      if (job.everyMs <= 0) continue;
      const timer = setInterval(() => void this.tick(job), job.everyMs);
      timer.unref();
      this.timers.push(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled(this.running.values());
  }

  /** Runs the job now if it is due and this node gets it; resolves when it is done. */
  tick(job: Job): Promise<void> {
    const current = this.running.get(job.name);
    if (current) return current;
    const run = (async () => {
      try {
        if (this.stopped || !(await this.claim(job))) return;
        await job.run();
        this.deps.log.debug({ job: job.name }, 'background job ran');
      } catch (err) {
        this.deps.log.error({ err, job: job.name }, 'background job failed');
      } finally {
        this.running.delete(job.name);
      }
    })();
    this.running.set(job.name, run);
    return run;
  }

  /**
   * True when this node moved the job's due time forward, i.e. runs this period. The next due
   * time is a little short of a full period, so the node that ran it last wins its next tick
   * too and the period does not stretch.
   */
  private async claim(job: Job): Promise<boolean> {
    const nextS = (job.everyMs * 0.9) / 1000;
    const { rows } = await sql<{ name: string }>`
      insert into cluster_jobs (name, node_id, run_after, last_run_at)
      values (${job.name}, ${this.deps.nodeId}, now() + make_interval(secs => ${nextS}), now())
      on conflict (name) do update
        set node_id = excluded.node_id, run_after = excluded.run_after, last_run_at = excluded.last_run_at
        where cluster_jobs.run_after <= now()
      returning name`.execute(this.deps.db);
    return rows.length > 0;
  }
}
