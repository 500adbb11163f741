import { sql } from 'kysely';
import type { Db, Tx } from '../../db/index.ts';
import type { StationCapabilitiesRow } from '../../db/tables/charge-stations.ts';
import type { Logger } from '../../logger.ts';
import { BatchLoader, GroupCommit } from '../../shared/group-commit.ts';
import type { StationCommands } from '../operations/commands.ts';

/** What the gateway learns about a charger by talking to it; absent = not learnt (or unchanged). */
export interface LearntCapabilities {
  /** answers TriggerMessage MeterValues with Accepted */
  triggerMeterValues?: boolean;
  /** accepts a shorter MeterValueSampleInterval */
  sampleIntervalChange?: boolean;
  /** supports Smart Charging (SetChargingProfile) */
  smartCharging?: boolean;
  /** measured RemoteStopTransaction → stopped delay, s: energy still delivered, and time to its StopTransaction */
  stopDelayEnergyS?: number;
  stopDelayTimeS?: number;
}

/**
 * Where what is learnt about chargers is kept (per station, across restarts, shared by a
 * cluster's nodes). The domain names the station by identity. `load` is read once per station
 * and process; `learnt` returns at once: the write happens in the background and a failure is a
 * log line, so learning never slows a stop or a reading.
 */
export interface CapabilityStore {
  load(identity: string): Promise<LearntCapabilities | undefined>;
  learnt(identity: string, what: LearntCapabilities): void;
}

const COLUMNS = {
  triggerMeterValues: 'trigger_meter_values',
  sampleIntervalChange: 'sample_interval_change',
  smartCharging: 'smart_charging',
  stopDelayEnergyS: 'stop_delay_energy_s',
  stopDelayTimeS: 'stop_delay_time_s',
} as const;

/** The station_capabilities table behind CapabilityStore: loads coalesced, writes batched. */
export class StationCapabilities implements CapabilityStore {
  private readonly loads: BatchLoader<string, LearntCapabilities>;
  private readonly writes: GroupCommit<{ identity: string; what: LearntCapabilities }>;

  constructor(private readonly deps: { db: Db; log: Logger }) {
    this.loads = new BatchLoader((identities) => this.read(identities), 500);
    this.writes = new GroupCommit((items) => this.write(items), { maxBatch: 500 });
  }

  load(identity: string): Promise<LearntCapabilities | undefined> {
    return this.loads.get(identity.toLowerCase());
  }

  learnt(identity: string, what: LearntCapabilities): void {
    if (!Object.values(what).some((v) => v !== undefined)) return;
    this.writes.submit({ identity, what }).catch((err: unknown) => {
      this.deps.log.warn({ err, identity }, 'could not keep what was learnt about a station');
    });
  }

  drain(): Promise<void> {
    return this.writes.drain();
  }

  private async read(identities: string[]): Promise<Map<string, LearntCapabilities>> {
    const rows = await this.deps.db
      .selectFrom('station_capabilities as k')
      .innerJoin('charge_stations as c', 'c.id', 'k.station_id')
      .selectAll('k')
      .select(sql<string>`lower(c.ocpp_id)`.as('key'))
      .where(sql<string>`lower(c.ocpp_id)`, 'in', identities)
      .execute();
    return new Map(rows.map((r) => [r.key, fromRow(r)]));
  }

  /** Several changes of one station in a batch merge, the later winning; one statement per station. */
  private async write(items: { identity: string; what: LearntCapabilities }[]): Promise<void> {
    const merged = new Map<string, LearntCapabilities>();
    for (const { identity, what } of items) {
      const key = identity.toLowerCase();
      merged.set(key, { ...merged.get(key), ...defined(what) });
    }
    for (const [identity, what] of merged) {
      await upsertCapabilities(this.deps.db, sql`(select id from charge_stations where lower(ocpp_id) = ${identity})`, what);
    }
  }
}

/**
 * Merges what was learnt into the station's row (creating it): a value given replaces the one
 * kept, one not given keeps it. `station`: the station id, or a subquery giving it. Runs on the
 * pool or in the caller's transaction (an operator command's effects).
 */
export async function upsertCapabilities(db: Db | Tx, station: string | ReturnType<typeof sql>, what: LearntCapabilities): Promise<void> {
  const given = defined(what);
  const keys = Object.keys(given) as (keyof LearntCapabilities)[];
  if (!keys.length) return;
  const cols = keys.map((k) => sql.ref(COLUMNS[k]));
  const vals = keys.map((k) => sql.val(given[k]));
  const sets = keys.map((k) => sql`${sql.ref(COLUMNS[k])} = excluded.${sql.ref(COLUMNS[k])}`);
  const stationId = typeof station === 'string' ? sql.val(station) : station;
  await sql`
    insert into station_capabilities (station_id, ${sql.join(cols)}, updated_at)
    select s.id, ${sql.join(vals)}, now() from (select ${stationId} as id) s where s.id is not null
    on conflict (station_id) do update set ${sql.join(sets)}, updated_at = now()`.execute(db);
}

/** A station's learnt capabilities, for the admin API; undefined when nothing was learnt. */
export async function capabilitiesOf(db: Db, stationId: string): Promise<StationCapabilitiesRow | undefined> {
  return db.selectFrom('station_capabilities').selectAll().where('station_id', '=', stationId).executeTakeFirst();
}

function fromRow(r: StationCapabilitiesRow): LearntCapabilities {
  return defined({
    triggerMeterValues: r.trigger_meter_values ?? undefined,
    sampleIntervalChange: r.sample_interval_change ?? undefined,
    smartCharging: r.smart_charging ?? undefined,
    stopDelayEnergyS: r.stop_delay_energy_s ?? undefined,
    stopDelayTimeS: r.stop_delay_time_s ?? undefined,
  });
}

function defined(what: LearntCapabilities): LearntCapabilities {
  return Object.fromEntries(Object.entries(what).filter(([, v]) => v !== undefined)) as LearntCapabilities;
}

/** What SupportedFeatureProfiles (a CSL) says of Smart Charging; undefined when the value is missing. */
export function smartChargingFromProfiles(value: string | null | undefined): boolean | undefined {
  if (value === null || value === undefined) return undefined;
  return value.split(',').some((p) => p.trim().toLowerCase() === 'smartcharging');
}

/**
 * What operator commands' answers teach: SetChargingProfile answered NotSupported means no Smart
 * Charging (Accepted or Rejected: the feature is there); a GetConfiguration showing
 * SupportedFeatureProfiles says it either way. Kept in the transaction that logs the answer.
 */
export function registerCapabilityEffects(commands: StationCommands): void {
  commands.onAnswer('SetChargingProfile', async (tx, station, _req, conf) => {
    await upsertCapabilities(tx, station.stationId, { smartCharging: conf.status !== 'NotSupported' });
  });
  commands.onAnswer('GetConfiguration', async (tx, station, _req, conf) => {
    const profiles = conf.configurationKey?.find((k) => k.key === 'SupportedFeatureProfiles');
    const smartCharging = smartChargingFromProfiles(profiles?.value);
    if (smartCharging !== undefined) await upsertCapabilities(tx, station.stationId, { smartCharging });
  });
}
