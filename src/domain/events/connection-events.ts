import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import { emitEvents } from './outbox.ts';
import { stationConnection } from './payloads.ts';
import type { NewEvent } from './types.ts';

/**
 * chargestation.connected / .disconnected. A connection is not a database change, so these
 * events are their own write: group-committed (a fleet reconnecting after a restart is a few
 * statements, not one per station), in the order the connections came and went, never waited
 * for by the station's handshake.
 */
export class ConnectionEvents {
  private readonly writes: GroupCommit<NewEvent>;

  constructor(private readonly deps: { db: Db; clock: Clock; log: Logger; nodeId: string }) {
    this.writes = new GroupCommit((events) => emitEvents(deps.db, events, deps.clock.now()), { maxBatch: 500 });
  }

  connected(station: { stationId: string; identity: string }): void {
    this.write(stationConnection('chargestation.connected', station, this.deps.nodeId));
  }

  disconnected(station: { stationId: string; identity: string }): void {
    this.write(stationConnection('chargestation.disconnected', station, this.deps.nodeId));
  }

  drain(): Promise<void> {
    return this.writes.drain();
  }

  private write(event: NewEvent): void {
    this.writes.submit(event).catch((err: unknown) => this.deps.log.warn({ err, type: event.type }, 'could not record a station connection event'));
  }
}
