import type { Db } from '../../db/index.ts';
import { isDataException } from '../../db/errors.ts';
import type { StationConfigAnswers } from '../../db/tables/charge-stations.ts';
import { GroupCommit } from '../../shared/group-commit.ts';
import { recordBoots, recordConfigAnswersOf, recordHeartbeats, type BootInfo, type ConfigAnswer } from './stations.ts';

/**
 * The station records every connection writes (boot, heartbeat, configuration answers),
 * group-committed: a fleet reconnecting after a restart, or 10,000 stations heartbeating, cost
 * one statement per batch instead of one per station. Each call resolves once its row is
 * written, so a BootNotification is still answered only after its boot is stored.
 */
export class StationWrites {
  private readonly boots: GroupCommit<{ stationId: string; boot: BootInfo; at: Date }, StationConfigAnswers>;
  private readonly beats: GroupCommit<{ stationId: string; at: Date }>;
  private readonly config: GroupCommit<{ stationId: string; answers: ConfigAnswer[] }>;

  constructor(db: Db) {
    // A value the database refuses as data fails only its own station's write: the batch is
    // written again station by station (inbound text is made storable before it gets here; this
    // is the net under it).
    const isolateFailures = isDataException;
    this.boots = new GroupCommit(
      async (items) => {
        const recorded = await recordBoots(db, items);
        return items.map((i) => recorded.get(i.stationId) ?? {});
      },
      { isolateFailures },
    );
    this.beats = new GroupCommit((items) => recordHeartbeats(db, items), { isolateFailures });
    this.config = new GroupCommit((items) => recordConfigAnswersOf(db, items), { isolateFailures });
  }

  /** Resolves, once the boot is stored, with the station's recorded configuration answers. */
  boot(stationId: string, boot: BootInfo, at: Date): Promise<StationConfigAnswers> {
    return this.boots.submit({ stationId, boot, at });
  }

  heartbeat(stationId: string, at: Date): Promise<void> {
    return this.beats.submit({ stationId, at });
  }

  configAnswers(stationId: string, answers: ConfigAnswer[]): Promise<void> {
    return this.config.submit({ stationId, answers });
  }

  /** Waits for the writes in progress (graceful stop). */
  async drain(): Promise<void> {
    await Promise.all([this.boots.drain(), this.beats.drain(), this.config.drain()]);
  }
}
