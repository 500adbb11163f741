import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';

/**
 * Deletes events older than `days` that have been fanned out and have no delivery still
 * pending, with their deliveries and attempts (ON DELETE CASCADE). In chunks, so a first run
 * over a large backlog does not hold locks for long. Run once per hour, cluster-wide.
 */
export async function deleteOldEvents(db: Db, days: number): Promise<void> {
  for (;;) {
    const { rows } = await sql<{ seq: number }>`
      delete from outbox_events where seq in (
        select e.seq from outbox_events e
        where e.created_at < now() - ${days} * interval '1 day' and e.fanned_out_at is not null
          and not exists (select 1 from webhook_deliveries d where d.event_seq = e.seq and d.status = 'pending')
        order by e.seq
        limit 5000
      )
      returning seq`.execute(db);
    if (rows.length < 5000) return;
  }
}
