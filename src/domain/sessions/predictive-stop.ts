/**
 * The predictive stop (issue 17): stop at zero, not after it.
 *
 * The stop at `<= 0` (RemoteStopper) comes only when a reading's debit crosses zero, so a wallet
 * ends below zero by up to a sample interval of energy plus the station's stop delay. This
 * follows every session a wallet funds — its power from the slope of its register by the
 * station's own timestamps, its rate — predicts when the balance reaches zero and sends each
 * RemoteStopTransaction early by that station's stop delay, so the charger has stopped at the
 * crossing. The stop at `<= 0` stays the backstop.
 *
 * Cost on the MeterValues path: after a batch has committed, an in-memory update per reading and
 * a sum over the wallet's sessions (usually one); no query, no timer for a wallet far from zero.
 * A wallet within about two readings of zero is *low*: it gets one timer, its stations are asked
 * for a reading just before the stop (TriggerMessage MeterValues; a station that does not do
 * that gets a shorter MeterValueSampleInterval until no wallet on it is low), and the database
 * is read once when it becomes low and once right before each stop (a top-up meanwhile cancels
 * the stop; sessions of the wallet on other nodes are counted).
 *
 * The soft landing: a stop timed by a station's stop delay is only as good as that delay, and a
 * station's first stop has to be timed by a guess (PREDICTIVE_STOP_DELAY_S). At 350 kW a second's
 * error is worth ten cents. So a session drawing well above the landing power gets, shortly
 * before its stop, a TxProfile (SetChargingProfile) that limits it to the landing power: the
 * last cents are spent slowly and the stop's timing error costs little. A station that refuses
 * the profile is remembered and just gets the timed stop; a top-up that lifts the wallet out of
 * reach of zero clears the profile again (ClearChargingProfile).
 */
import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../shared/clock.ts';
import { StationCallError, StationOfflineError, StationTimeoutError } from '../../shared/errors.ts';
import type { StationPort } from '../chargers/station-port.ts';
import type { CapabilityStore } from '../chargers/capabilities.ts';
import type { MeterObservation, MeterObserver } from './meter-batcher.ts';
import type { BillingRow } from './billing.ts';
import { OPEN_STATUSES } from './billing.ts';
import { markStopping, type StopTarget } from './stop-marks.ts';
import type { RemoteStopper } from './stopper.ts';
import {
  blend,
  crossingMs,
  leadS,
  measuredDelay,
  PowerMeter,
  rateSlopes,
  StationClock,
  type RateSlopes,
  type SpendingSession,
  type StopDelay,
} from './prediction.ts';

export interface PredictiveStopOptions {
  enabled: boolean;
  /** a station's stop delay until one of its stops has been measured, s */
  defaultDelayS: number;
  /** the balance a stop aims to leave, cents */
  marginCents: number;
  /** MeterValueSampleInterval while a wallet is low, for stations that refuse TriggerMessage; 0 = never */
  lowSampleIntervalS: number;
  /** the interval the gateway sets at boot, restored afterwards (0: the interval is never changed) */
  normalSampleIntervalS: number;
  /** TriggerMessage / ChangeConfiguration answer timeout */
  callTimeoutMs?: number;
  /** the power (W) a session is limited to ahead of its predicted stop; 0 or absent = no landing */
  landingPowerW?: number;
}

/** Longest stop delay believed when measured, s. */
const MAX_DELAY_S = 60;
/**
 * A stop that has not ended the session this long after it was accepted is sent again (× delay,
 * at least 10 s: a busy gateway may take seconds to get to the StopTransaction, and a stop sent
 * again is harmless but not free).
 */
const IGNORED_STOP_FACTOR = 3;
const IGNORED_STOP_MIN_MS = 10_000;
const IGNORED_STOP_RESENDS = 3;
/**
 * The landing's TxProfile: one id per connector, out of the range operators number their own
 * profiles in (a new landing replaces the previous one), and a middling stack level (a TxProfile
 * an operator sets above it for the same transaction still wins).
 */
export const LANDING_PROFILE_ID_BASE = 1_917_000_000;
export const LANDING_STACK_LEVEL = 5;
/** Only a session drawing this many times the landing power is landed. */
const LANDING_MIN_RATIO = 2;
/**
 * …and to no less than this share of its power: the money left when the limit takes effect is
 * spent at most this many times slower (a landing from 350 kW to 11 kW would make the last
 * minute last half an hour; to 44 kW it costs a second of stop-delay error 1.2 c at 100 c/kWh).
 */
const LANDING_MAX_SLOWDOWN = 8;
/**
 * A reading counts as a check of the limit once the unlimited power's excess (half of it) would
 * have moved the register by twice this many Wh (whole-Wh registers) since the limit took effect.
 */
const LANDING_CHECK_MIN_WH = 5;
/** A power this far above the limit after it took effect is reported (a station that ignores it, or keeps to it only in part). */
const LANDING_IGNORED_RATIO = 1.5;
/** A landing no reading has checked this long after the check was due is not believed (the reading may never come). */
const LANDING_CHECK_WAIT_MS = 3_000;
/** A station that did not answer a TriggerMessage is asked again after this long (it may have been busy, or offline). */
const UNANSWERED_RETRY_MS = 3_600_000;

/**
 * Seconds after a landing took effect by which an ignored limit shows in the register: the
 * unlimited power's excess over the tolerance share, worth twice the minimum, at least 0.2 s.
 */
/** A call's failure as a status: `unanswered` (offline, timed out), the CALLERROR's code, or `error`. */
function unansweredOr(err: unknown): string {
  if (err instanceof StationOfflineError || err instanceof StationTimeoutError) return 'unanswered';
  return err instanceof StationCallError ? err.ocppErrorCode : 'error';
}

function landingCheckS(l: { fromW: number; limitW: number }): number {
  const excessW = 0.5 * Math.max(1, l.fromW - l.limitW);
  return Math.max(0.2, (2 * LANDING_CHECK_MIN_WH * 3600) / excessW);
}

interface Landing {
  limitW: number;
  /** the measured power when it was sent */
  fromW: number;
  /** the register by the model when it was sent, Wh */
  atWh: number;
  sentMs: number;
  /** our time from which the limit is believed in force: sent + twice the station's stop delay (it ramps as it stops; a guessed delay may be short) */
  effectiveMs: number;
  /** the station accepted the profile */
  accepted: boolean;
  /** no reading checked it in time: the measured power is believed again */
  ignored: boolean;
  /** a reading long enough after it took effect measured the power since */
  checked: boolean;
  /** the mean power since it took effect, by the latest such reading (a station may keep to it only in part) */
  observedW: number | undefined;
  warned: boolean;
}

interface StopSent {
  sentMs: number;
  whAtSend: number;
  powerW: number | undefined;
  resends: number;
  watchdog?: NodeJS.Timeout | undefined;
}

interface Track {
  sessionId: string;
  transactionId: number;
  walletId: string;
  identity: string;
  connectorId: number;
  slopes: RateSlopes;
  meter: PowerMeter;
  /** the most power the station can deliver (W), when known: a steeper slope is not believed */
  maxPowerW: number | null;
  /** cost and debited as of the latest reading */
  cost: number;
  debited: number;
  /** our time of the latest reading */
  atMs: number;
  /** the soft landing: a lower power limit ahead of the stop */
  landing: Landing | undefined;
  /** the predictive stop was sent (markStopping done); set before the call leaves */
  predicted: boolean;
  stop: StopSent | undefined;
  /** when we last asked its station for a reading */
  triggeredMs: number | undefined;
  /** a session of this wallet on another node, known only from the database */
  remote: boolean;
}

interface WalletState {
  id: string;
  balance: number | undefined;
  sessions: Set<string>;
  timer: NodeJS.Timeout | undefined;
  timerAtMs: number | undefined;
  low: boolean;
  acting: boolean;
  /** a read of the database is under way / was done since it became low */
  syncing: Promise<void> | undefined;
  synced: boolean;
}

type Support = 'unknown' | 'yes' | 'no';

interface StationState {
  clock: StationClock;
  delay: Partial<StopDelay>;
  trigger: Support;
  interval: Support;
  /** whether it takes a TxProfile power limit (SetChargingProfile) */
  smart: Support;
  /** `trigger` is 'no' because a TriggerMessage went unanswered: asked again from then on */
  triggerRetryMs?: number | undefined;
  /** its MeterValueSampleInterval is shortened now */
  shortened: boolean;
  lowWallets: Set<string>;
}

/** What the prediction of a wallet decided at one moment. */
interface Plan {
  crossingMs: number | undefined;
  low: boolean;
  /** per session not yet stopped: when its stop must leave, and when its station should be asked for a reading */
  actions: { track: Track; stopAtMs: number; triggerAtMs: number | undefined; landAtMs: number | undefined; checkByMs: number | undefined }[];
}

export class PredictiveStops implements MeterObserver {
  private readonly tracks = new Map<string, Track>();
  private readonly byTransaction = new Map<number, string>();
  private readonly wallets = new Map<string, WalletState>();
  private readonly stations = new Map<string, StationState>();
  /** how late a stop leaves after its timer was due (timer, database read, mark): sent that much earlier */
  private actLatencyMs = 20;
  private closed = false;
  /** figures for tests and the bench */
  readonly stats = { stopsSent: 0, triggers: 0, intervalChanges: 0, cancelled: 0, resent: 0, landings: 0, landingsCleared: 0 };

  constructor(
    private readonly deps: {
      db: Db;
      clock: Clock;
      log: Logger;
      stations: StationPort;
      stopper: RemoteStopper;
      /** told of each session it marked stopping (the batcher's memory of the row) */
      onMarked?: ((transactionId: number) => void) | undefined;
      /** keeps what is learnt of each station (trigger, interval, stop delay) across restarts */
      capabilities?: CapabilityStore | undefined;
    },
    private readonly options: PredictiveStopOptions,
  ) {
    deps.stopper.onAccepted = (target, sentAt) => this.stopAccepted(target, sentAt);
  }

  // ---- what the rest of the domain tells it -------------------------------------------------

  /** After a MeterValues batch committed: O(1) per reading, then one sum per wallet touched. */
  observe(observations: MeterObservation[]): void {
    if (!this.options.enabled || this.closed) return;
    const touched = new Set<WalletState>();
    for (const o of observations) {
      const row = o.row;
      if (!row.wallet_id || !row.rate_snapshot || !(OPEN_STATUSES as readonly string[]).includes(row.status)) {
        this.drop(row.id);
        continue;
      }
      const station = this.station(o.identity);
      let track = this.tracks.get(row.id);
      // A session stopping for another reason still spends until it stops; a new one must be running.
      if (!track && row.status !== 'active') continue;
      track ??= this.adopt(row, o.identity, station);
      for (const r of o.readings) {
        if (r.wh === undefined) continue;
        if (r.stationMs !== undefined) station.clock.observe(r.stationMs, r.receivedMs);
      }
      for (const r of o.readings.slice().sort((a, b) => (a.stationMs ?? a.receivedMs) - (b.stationMs ?? b.receivedMs))) {
        if (r.wh === undefined) continue;
        track.meter.observe({ wh: r.wh, stationMs: r.stationMs, receivedMs: r.receivedMs }, r.powerW);
      }
      const latest = track.meter.latest;
      track.atMs = Math.max(track.atMs, station.clock.toGateway(latest.stationMs, latest.receivedMs));
      this.checkLanding(track);
      track.cost = row.cost;
      track.debited = row.debited;
      const wallet = this.wallet(row.wallet_id);
      wallet.sessions.add(track.sessionId);
      // Debits only, in one statement: the lowest balance is the wallet's after the batch.
      if (o.balanceAfter !== undefined) {
        wallet.balance = touched.has(wallet) && wallet.balance !== undefined ? Math.min(wallet.balance, o.balanceAfter) : o.balanceAfter;
      }
      touched.add(wallet);
    }
    for (const w of touched) this.evaluate(w);
  }

  /** A StartTransaction arrived: a prompt message, so a good sample of the station's clock. */
  started(identity: string, stationTime: Date, received: Date): void {
    if (!this.options.enabled) return;
    this.station(identity).clock.observe(stationTime.getTime(), received.getTime());
  }

  /** A StopTransaction arrived: learn the station's stop delay if we know when it was asked. */
  stopped(identity: string, input: { transactionId: number; meterStop: number; timestamp: Date }, received: Date): void {
    const id = this.byTransaction.get(input.transactionId);
    const track = id ? this.tracks.get(id) : undefined;
    // A stop that had to be repeated measures the charger's stubbornness, not its delay.
    if (!track || !track.stop || track.stop.resends > 0) return;
    const station = this.station(identity);
    station.clock.observe(input.timestamp.getTime(), received.getTime());
    const m = measuredDelay(
      {
        sentMs: track.stop.sentMs,
        whAtSend: track.stop.whAtSend,
        powerW: track.stop.powerW,
        stoppedMs: station.clock.toGateway(input.timestamp.getTime(), received.getTime()),
        meterStop: input.meterStop,
      },
      MAX_DELAY_S,
    );
    station.delay = { energyS: blend(station.delay.energyS, m.energyS), timeS: blend(station.delay.timeS, m.timeS) };
    this.deps.capabilities?.learnt(identity, { stopDelayEnergyS: station.delay.energyS, stopDelayTimeS: station.delay.timeS });
    this.deps.log.debug({ identity, measured: m, learnt: station.delay }, 'stop delay measured');
  }

  /** The session ended (or the batcher let go of it): forget it. */
  forget(transactionId: number): void {
    const id = this.byTransaction.get(transactionId);
    if (id) this.drop(id);
  }

  close(): void {
    this.closed = true;
    for (const w of this.wallets.values()) if (w.timer) clearTimeout(w.timer);
    for (const t of this.tracks.values()) if (t.stop?.watchdog) clearTimeout(t.stop.watchdog);
  }

  /** For tests and the console: what the prediction of a wallet says now. */
  inspect(walletId: string): { balance: number | undefined; low: boolean; crossingAt: Date | undefined; sessions: number } | undefined {
    const w = this.wallets.get(walletId);
    if (!w) return undefined;
    const plan = this.plan(w, this.deps.clock.now().getTime());
    return {
      balance: w.balance,
      low: w.low,
      crossingAt: plan.crossingMs !== undefined && Number.isFinite(plan.crossingMs) ? new Date(plan.crossingMs) : undefined,
      sessions: w.sessions.size,
    };
  }

  /** What the gateway has learnt of a station: its stop delay, whether it answers TriggerMessage / ChangeConfiguration. */
  stationInfo(
    identity: string,
  ): { delay: Partial<StopDelay>; trigger: Support; interval: Support; smartCharging: Support; clockOffsetMs: number | undefined } | undefined {
    const s = this.stations.get(identity);
    return s && { delay: { ...s.delay }, trigger: s.trigger, interval: s.interval, smartCharging: s.smart, clockOffsetMs: s.clock.offsetMs };
  }

  // ---- the prediction -----------------------------------------------------------------------

  private adopt(row: BillingRow, identity: string, station: StationState, remote = false): Track {
    // the station's own stamp of the start: its readings are on the same clock
    const startMs = row.station_start_timestamp.getTime();
    const track: Track = {
      sessionId: row.id,
      transactionId: row.transaction_id,
      walletId: row.wallet_id!,
      identity,
      connectorId: row.connector_id,
      slopes: rateSlopes(row.rate_snapshot!.price_components),
      maxPowerW: row.max_power_w,
      // The slope starts from the start register, at the start's own stamp.
      meter: new PowerMeter({ wh: row.meter_start, stationMs: startMs, receivedMs: station.clock.toGateway(startMs, startMs) }),
      cost: row.cost,
      debited: row.debited,
      atMs: station.clock.toGateway(startMs, this.deps.clock.now().getTime()),
      landing: undefined,
      predicted: false,
      stop: undefined,
      triggeredMs: undefined,
      remote,
    };
    this.tracks.set(row.id, track);
    this.byTransaction.set(row.transaction_id, row.id);
    return track;
  }

  private drop(sessionId: string): void {
    const track = this.tracks.get(sessionId);
    if (!track) return;
    if (track.stop?.watchdog) clearTimeout(track.stop.watchdog);
    this.tracks.delete(sessionId);
    this.byTransaction.delete(track.transactionId);
    const wallet = this.wallets.get(track.walletId);
    if (!wallet) return;
    wallet.sessions.delete(sessionId);
    // Sessions known only from the database (another node's) are followed only while one here runs.
    if (![...wallet.sessions].some((id) => this.tracks.get(id)?.remote === false)) {
      for (const id of wallet.sessions) {
        const t = this.tracks.get(id);
        if (t) {
          this.tracks.delete(id);
          this.byTransaction.delete(t.transactionId);
        }
      }
      wallet.sessions.clear();
    }
    if (!wallet.sessions.size) {
      this.disarm(wallet);
      this.wallets.delete(wallet.id);
    } else {
      this.release(wallet, track.identity);
      this.evaluate(wallet);
    }
  }

  private station(identity: string): StationState {
    let s = this.stations.get(identity);
    if (!s) {
      s = { clock: new StationClock(), delay: {}, trigger: 'unknown', interval: 'unknown', smart: 'unknown', shortened: false, lowWallets: new Set() };
      this.stations.set(identity, s);
      this.recall(identity, s);
    }
    return s;
  }

  /** What was learnt of the station before (another process, before a restart) fills what this one has not learnt yet. */
  private recall(identity: string, s: StationState): void {
    this.deps.capabilities?.load(identity).then(
      (k) => {
        if (!k) return;
        if (s.trigger === 'unknown' && k.triggerMeterValues !== undefined) s.trigger = k.triggerMeterValues ? 'yes' : 'no';
        if (s.interval === 'unknown' && k.sampleIntervalChange !== undefined) s.interval = k.sampleIntervalChange ? 'yes' : 'no';
        if (s.smart === 'unknown' && k.smartCharging !== undefined) s.smart = k.smartCharging ? 'yes' : 'no';
        s.delay = { energyS: s.delay.energyS ?? k.stopDelayEnergyS, timeS: s.delay.timeS ?? k.stopDelayTimeS };
      },
      (err: unknown) => this.deps.log.warn({ err, identity }, 'could not load what was learnt of a station'),
    );
  }

  private learnt(identity: string, s: StationState, support: { trigger?: Support; interval?: Support; smart?: Support }): void {
    const changed =
      (support.trigger && support.trigger !== s.trigger) ||
      (support.interval && support.interval !== s.interval) ||
      (support.smart && support.smart !== s.smart);
    if (support.trigger) s.trigger = support.trigger;
    if (support.interval) s.interval = support.interval;
    if (support.smart) s.smart = support.smart;
    if (!changed) return;
    this.deps.capabilities?.learnt(identity, {
      ...(support.trigger ? { triggerMeterValues: support.trigger === 'yes' } : {}),
      ...(support.interval ? { sampleIntervalChange: support.interval === 'yes' } : {}),
      ...(support.smart ? { smartCharging: support.smart === 'yes' } : {}),
    });
  }

  private wallet(id: string): WalletState {
    let w = this.wallets.get(id);
    if (!w) {
      w = { id, balance: undefined, sessions: new Set(), timer: undefined, timerAtMs: undefined, low: false, acting: false, syncing: undefined, synced: false };
      this.wallets.set(id, w);
    }
    return w;
  }

  private delayOf(track: Track): StopDelay {
    const d = this.station(track.identity).delay;
    const fallback = this.options.defaultDelayS;
    return { energyS: d.energyS ?? fallback, timeS: d.timeS ?? fallback };
  }

  private intervalMsOf(track: Track): number {
    return track.meter.intervalMs ?? (this.options.normalSampleIntervalS || 60) * 1000;
  }

  /**
   * True when the wallet's crossing is surely beyond the horizon plan() would use (its sessions'
   * reading after next, plus their longest lead): no stop to plan yet.
   */
  private far(w: WalletState, nowMs: number): boolean {
    if (w.balance === undefined) return true;
    let rate = 0;
    let level = w.balance - this.options.marginCents;
    let reach = 0;
    for (const id of w.sessions) {
      const t = this.tracks.get(id);
      if (!t) continue;
      const s = this.spend(t);
      const perS = s.energy + s.time;
      rate += perS;
      level += perS * (t.atMs / 1000) - s.pending;
      if (t.predicted) continue;
      reach = Math.max(reach, Math.max(t.atMs, nowMs) + 2 * this.intervalMsOf(t) + this.reachLeadMs(t));
    }
    if (!(rate > 0)) return level > 0;
    return (level / rate) * 1000 > reach;
  }

  /** Pure over the in-memory state: the wallet's crossing, whether it is low, and what to do when. */
  private plan(w: WalletState, nowMs: number, unlimited = false): Plan {
    const actions: Plan['actions'] = [];
    if (w.balance === undefined) return { crossingMs: undefined, low: false, actions };
    const spending: SpendingSession[] = [];
    const rates = new Map<Track, { energy: number; time: number }>();
    for (const id of w.sessions) {
      const t = this.tracks.get(id);
      if (!t) continue;
      const s = this.spend(t, unlimited);
      rates.set(t, s);
      spending.push({ pendingCents: s.pending, centsPerS: s.energy + s.time, sinceMs: t.atMs });
    }
    const crossing = crossingMs(w.balance, spending, this.options.marginCents);
    if (crossing === undefined) return { crossingMs: undefined, low: false, actions };
    let horizon = -Infinity;
    for (const [t, r] of rates) {
      if (t.predicted) continue;
      const interval = this.intervalMsOf(t);
      const lead = leadS(this.delayOf(t), r.energy, r.time) * 1000;
      // Low: the crossing comes before the reading after next (plus the stop delay): there may
      // be no reading left to act on in time.
      horizon = Math.max(horizon, Math.max(t.atMs, nowMs) + 2 * interval + Math.max(lead + 1_000, this.reachLeadMs(t)));
      const stopAtMs = crossing - lead - this.actLatencyMs;
      // A fresh reading just before the stop corrects the prediction (power drifts, DC tapers).
      const triggerLead = Math.min(5_000, Math.max(300, interval / 4));
      const triggerAtMs = stopAtMs - triggerLead;
      const asked = t.triggeredMs !== undefined && t.triggeredMs >= triggerAtMs - triggerLead;
      let triggerAt = asked || t.remote ? undefined : triggerAtMs;
      // A landing is checked by a reading just after it should have taken effect (a station may accept and ignore it).
      const l = t.landing;
      let checkByMs: number | undefined;
      if (l?.accepted && !l.ignored && !l.checked && !t.remote) {
        const dueMs = l.effectiveMs + landingCheckS(l) * 1000 + 200;
        if (!(t.triggeredMs !== undefined && t.triggeredMs >= l.effectiveMs)) triggerAt = Math.min(triggerAt ?? Infinity, dueMs);
        checkByMs = dueMs + LANDING_CHECK_WAIT_MS;
      }
      // The landing leaves time for the limit to take effect and for a reading at the lower power.
      let landAtMs: number | undefined;
      const at = crossing - this.landingLeadMs(t) - this.actLatencyMs;
      if (this.landable(t)) {
        if (stopAtMs - Math.max(at, nowMs) >= this.rampMs(t)) landAtMs = at;
      } else if (this.landable(t, false) && t.triggeredMs === undefined) {
        // Only a station that answers TriggerMessage is landed (the limit is checked by a reading):
        // one not asked yet is asked first.
        triggerAt = Math.min(triggerAt ?? Infinity, at - triggerLead);
      }
      actions.push({ track: t, stopAtMs, triggerAtMs: triggerAt, landAtMs, checkByMs });
    }
    return { crossingMs: crossing, low: crossing <= horizon, actions };
  }

  /** Re-plans a wallet after something changed; arms or disarms it, (re)sets its one timer. */
  private evaluate(w: WalletState): void {
    if (this.closed) return;
    const now = this.deps.clock.now().getTime();
    // The common case, on every reading: a wallet far from zero. Decided without allocating.
    if (!w.low && this.far(w, now)) return;
    const plan = this.plan(w, now);
    // A landing moves the crossing later by design: only a wallet out of reach at full power is let go.
    const low = plan.low || (w.low && this.landed(w) && this.plan(w, now, true).low);
    if (!low) {
      if (w.low) this.disarm(w);
      return;
    }
    if (!w.low) this.arm(w, plan);
    let next = Infinity;
    for (const a of plan.actions) next = Math.min(next, a.stopAtMs, a.triggerAtMs ?? Infinity, a.landAtMs ?? Infinity, a.checkByMs ?? Infinity);
    if (!Number.isFinite(next)) return;
    if (this.deps.log.isLevelEnabled('debug')) {
      const actions = plan.actions.map((a) => ({
        stopAt: a.stopAtMs,
        triggerAt: a.triggerAtMs,
        landAt: a.landAtMs,
        powerW: this.powerOf(a.track),
        at: a.track.atMs,
      }));
      this.deps.log.debug({ walletId: w.id, now, balance: w.balance, crossing: plan.crossingMs, actions }, 'low wallet planned');
    }
    this.schedule(w, next, now);
  }

  private schedule(w: WalletState, atMs: number, nowMs: number): void {
    if (w.timer && w.timerAtMs !== undefined && Math.abs(w.timerAtMs - atMs) < 2) return;
    if (w.timer) clearTimeout(w.timer);
    w.timerAtMs = atMs;
    w.timer = setTimeout(() => {
      w.timer = undefined;
      w.timerAtMs = undefined;
      void this.act(w, atMs);
    }, Math.max(0, atMs - nowMs));
    w.timer.unref?.();
  }

  /** The wallet is now within reach of zero: read it once, and get readings sooner where triggers fail. */
  private arm(w: WalletState, plan: Plan): void {
    w.low = true;
    this.deps.log.debug({ walletId: w.id, crossingAt: plan.crossingMs }, 'wallet low: predictive stop armed');
    if (!w.synced) {
      this.sync(w).then(
        () => this.evaluate(w),
        (err: unknown) => this.deps.log.warn({ err, walletId: w.id }, 'could not read a low wallet; predicting from memory'),
      );
    }
    for (const id of w.sessions) {
      const t = this.tracks.get(id);
      if (!t || t.remote) continue;
      const station = this.station(t.identity);
      station.lowWallets.add(w.id);
      if (station.trigger === 'no') void this.shorten(t.identity);
    }
  }

  private disarm(w: WalletState): void {
    for (const id of w.sessions) {
      const t = this.tracks.get(id);
      if (t?.landing && !t.predicted) void this.unland(t);
    }
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
    w.timerAtMs = undefined;
    w.low = false;
    w.synced = false;
    for (const [identity, s] of this.stations) if (s.lowWallets.has(w.id)) this.release(w, identity);
  }

  /** The wallet no longer needs quick readings from this station. */
  private release(w: WalletState, identity: string): void {
    const s = this.stations.get(identity);
    if (!s || !s.lowWallets.delete(w.id) || s.lowWallets.size || !s.shortened) return;
    void this.restore(identity);
  }

  /** The timer: ask for readings, or send the stops that are due (after a last look at the database). */
  private async act(w: WalletState, dueMs: number): Promise<void> {
    if (this.closed || w.acting) return;
    w.acting = true;
    try {
      let now = this.deps.clock.now().getTime();
      let plan = this.plan(w, now);
      const stopsDue = plan.actions.some((a) => a.stopAtMs <= now + 5);
      if (stopsDue) {
        // The last look: a top-up meanwhile cancels the stop; other nodes' sessions count.
        const before = plan.crossingMs;
        await this.sync(w);
        now = this.deps.clock.now().getTime();
        plan = this.plan(w, now);
        const stillLow = plan.low || (this.landed(w) && this.plan(w, now, true).low);
        if (!stillLow || (before !== undefined && plan.crossingMs !== undefined && plan.crossingMs - before > 1_000)) {
          this.stats.cancelled++;
          this.deps.log.info({ walletId: w.id, balance: w.balance }, 'predicted stop put off: the balance moved (a top-up?)');
        }
      }
      if (this.expireLandings(plan, now)) plan = this.plan(w, now);
      for (const a of plan.actions) {
        if (a.stopAtMs <= now + 5 && plan.low) {
          this.actLatencyMs = Math.min(500, this.actLatencyMs * 0.8 + Math.max(0, now - dueMs) * 0.2);
          await this.stop(a.track);
        } else if (a.landAtMs !== undefined && a.landAtMs <= now + 5) {
          void this.land(a.track);
        } else if (a.triggerAtMs !== undefined && a.triggerAtMs <= now + 5) {
          void this.trigger(a.track);
        }
      }
    } catch (err) {
      this.deps.log.error({ err, walletId: w.id }, 'predictive stop failed; the stop at zero remains');
    } finally {
      w.acting = false;
      if (this.wallets.get(w.id) === w) this.evaluate(w);
    }
  }

  /** Reads the wallet's balance and open sessions in one statement (one snapshot). */
  private sync(w: WalletState): Promise<void> {
    w.syncing ??= (async () => {
      try {
        const rows = await this.deps.db
          .selectFrom('wallets as w')
          .leftJoin('sessions as s', (j) => j.onRef('s.wallet_id', '=', 'w.id').on('s.status', 'in', [...OPEN_STATUSES]))
          .leftJoin('charge_stations as c', 'c.id', 's.station_id')
          .select([
            'w.balance',
            's.id', 's.transaction_id', 's.station_id', 's.connector_id', 's.wallet_id', 's.status', 's.meter_start', 's.meter_last',
            's.start_timestamp', 's.billed_until', 's.cost', 's.debited', 's.rate_snapshot', 's.max_power_w', 's.last_reading_at',
            's.stop_timestamp', 's.ended_by', 's.station_start_timestamp', 's.power_w', 's.updated_at', 'c.ocpp_id',
          ])
          .where('w.id', '=', w.id)
          .execute();
        if (!rows.length) return;
        w.balance = Number(rows[0]!.balance);
        const open = new Set<string>();
        for (const r of rows) {
          if (!r.id || !r.ocpp_id || r.status === null) continue;
          open.add(r.id);
          let t = this.tracks.get(r.id);
          const station = this.station(r.ocpp_id);
          if (!t) {
            if (!r.rate_snapshot || r.status !== 'active') continue;
            // Known only from the database: another node holds its station, or this node restarted.
            t = this.adopt(r as unknown as BillingRow, r.ocpp_id, station, true);
            w.sessions.add(t.sessionId);
          }
          // debited and balance are one snapshot. The cost stays the one of our latest reading:
          // a debit we have not seen (a sweep, a batch still settling) then counts as pending < 0
          // against the spending extrapolated since that reading, which it is part of.
          t.debited = Number(r.debited);
          const meterLast = Number(r.meter_last);
          if (meterLast > t.meter.latest.wh || t.remote) {
            const at = (r.last_reading_at ?? r.billed_until)!.getTime();
            const nowMs = this.deps.clock.now().getTime();
            // When the reading reached the gateway: no later than the row's last write (the
            // billing of it, or something after). Placing it at "now" would make every read restart
            // the session's spending from here and put its stop off again and again. For a station
            // held by another node that write is also this node's only sample of its clock.
            const received = Math.min(nowMs, r.updated_at?.getTime() ?? nowMs);
            if (t.remote) station.clock.observe(at, received);
            t.meter.observe({ wh: meterLast, stationMs: at, receivedMs: received }, r.power_w ?? undefined);
            t.atMs = Math.max(t.atMs, station.clock.toGateway(at, received));
            t.cost = Number(r.cost);
          }
        }
        for (const id of [...w.sessions]) if (!open.has(id)) this.drop(id);
        w.synced = true;
      } finally {
        w.syncing = undefined;
      }
    })();
    return w.syncing;
  }

  /** How long the station takes to act on a call that cuts its power: its stop delay, ms. */
  private rampMs(t: Track): number {
    const d = this.delayOf(t);
    return Math.max(d.energyS, d.timeS) * 1000;
  }

  /** How far ahead of the crossing (at the power now) a landing leaves: the ramp, then as long again at the lower power, and a second. */
  private landingLeadMs(t: Track): number {
    return 2 * this.rampMs(t) + 1_000;
  }

  /** How far ahead of its crossing a session needs the wallet low: to stop it, or to land it first. */
  private reachLeadMs(t: Track): number {
    const stop = this.rampMs(t) + 1_000;
    return this.landable(t, false) ? Math.max(stop, this.landingLeadMs(t) + 1_000) : stop;
  }

  /**
   * A session of this node drawing well above the landing power, on a station not known to refuse
   * a limit and known to answer TriggerMessage (unless `checkable` is false), not landed yet.
   */
  private landable(t: Track, checkable = true): boolean {
    const limitW = this.options.landingPowerW ?? 0;
    if (!(limitW > 0) || t.remote || t.predicted || t.landing || !(t.slopes.centsPerWh > 0)) return false;
    const station = this.station(t.identity);
    if (station.smart === 'no' || station.trigger === 'no' || (checkable && station.trigger !== 'yes')) return false;
    return this.measuredPowerOf(t) > LANDING_MIN_RATIO * limitW;
  }

  /** Landings whose check reading has not come in time are not believed any longer. True when one changed. */
  private expireLandings(plan: Plan, nowMs: number): boolean {
    let changed = false;
    for (const a of plan.actions) {
      const l = a.track.landing;
      if (a.checkByMs === undefined || a.checkByMs > nowMs + 5 || !l) continue;
      l.ignored = true;
      changed = true;
      this.deps.log.info({ transactionId: a.track.transactionId, identity: a.track.identity }, 'no reading checked the landing limit: timing the stop at the measured power');
    }
    return changed;
  }

  /**
   * What the station draws under the limit (many simple chargers answer Accepted to anything, some
   * keep to a limit only in part): the mean power since the limit should have taken effect, by
   * every reading long enough after it. The limited model then runs at that power, never below
   * the limit: a station that ignores the limit is timed at its measured power again.
   */
  private checkLanding(t: Track): void {
    const l = t.landing;
    if (!l?.accepted || l.ignored || t.atMs <= l.effectiveMs) return;
    const afterS = (t.atMs - l.effectiveMs) / 1000;
    // too soon after it for a whole-Wh register to tell
    if (afterS < landingCheckS(l)) return;
    // the register when the limit took effect, if the station drew its full power until then (a
    // station that ramped down sooner only makes this reading look lower: the limit then stands)
    const whAtEffect = l.atWh + (l.fromW * Math.max(0, l.effectiveMs - l.sentMs)) / 3_600_000;
    l.observedW = Math.max(0, ((t.meter.latest.wh - whAtEffect) * 3600) / afterS);
    l.checked = true;
    if (l.warned || l.observedW <= LANDING_IGNORED_RATIO * l.limitW) return;
    l.warned = true;
    this.deps.log.warn(
      { transactionId: t.transactionId, identity: t.identity, limitW: l.limitW, observedW: Math.round(l.observedW) },
      'station accepted the landing limit but did not lower its power to it: timing the stop at its measured power',
    );
  }

  /** The soft landing: limit the session to the landing power (TxProfile) ahead of its stop. */
  private async land(track: Track): Promise<void> {
    if (!this.landable(track)) return;
    const fromW = this.measuredPowerOf(track);
    const limitW = Math.max(this.options.landingPowerW!, Math.round(fromW / LANDING_MAX_SLOWDOWN));
    const station = this.station(track.identity);
    const sentMs = this.deps.clock.now().getTime();
    const landing: Landing = { limitW, fromW, atWh: this.registerAt(track, sentMs), sentMs, effectiveMs: sentMs + 2 * this.rampMs(track), accepted: false, ignored: false, checked: false, observedW: undefined, warned: false };
    track.landing = landing;
    let status: string;
    try {
      const conf = await this.deps.stations.call(
        track.identity,
        'SetChargingProfile',
        {
          connectorId: track.connectorId,
          csChargingProfiles: {
            chargingProfileId: LANDING_PROFILE_ID_BASE + track.connectorId,
            transactionId: track.transactionId,
            stackLevel: LANDING_STACK_LEVEL,
            chargingProfilePurpose: 'TxProfile',
            // one period from the transaction's own start point: in force at once, whatever the station's clock says
            chargingProfileKind: 'Relative',
            chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: limitW }] },
          },
        },
        { timeoutMs: this.options.callTimeoutMs ?? 10_000, reason: 'predictive_landing' },
      );
      status = conf.status;
    } catch (err) {
      status = unansweredOr(err);
    }
    const current = !this.closed && this.tracks.get(track.sessionId) === track && track.landing === landing;
    // Taken (or maybe taken) but no longer wanted (a top-up meanwhile), or unanswered: lifted again.
    if ((status === 'Accepted' && !current && !this.closed) || status === 'unanswered') void this.clearLanding(track);
    if (!current) return;
    if (status !== 'Accepted') {
      // NotSupported / NotImplemented: no smart charging, for good. Rejected: not this limit (in W),
      // in this process. Unanswered or failed: nothing learnt.
      if (status === 'NotSupported' || status === 'NotImplemented') this.learnt(track.identity, station, { smart: 'no' });
      else if (status === 'Rejected') station.smart = 'no';
      this.deps.log.info({ identity: track.identity, status }, 'station did not take the landing limit: the stop is timed at full power');
      return;
    }
    this.learnt(track.identity, station, { smart: 'yes' });
    landing.accepted = true;
    // the station acts on it once it has answered, not before
    landing.effectiveMs = Math.max(landing.effectiveMs, this.deps.clock.now().getTime() + this.rampMs(track));
    this.stats.landings++;
    this.deps.log.info(
      { transactionId: track.transactionId, identity: track.identity, limitW, powerW: Math.round(this.measuredPowerOf(track)) },
      'soft landing: session limited ahead of its predicted stop',
    );
    const w = this.wallets.get(track.walletId);
    if (w) this.evaluate(w);
  }

  /** The wallet is out of reach of zero again (a top-up): the session gets its power back. */
  private async unland(track: Track): Promise<void> {
    const landing = track.landing;
    track.landing = undefined;
    // one still waiting for its answer is lifted by land() if it is taken
    if (!landing?.accepted) return;
    await this.clearLanding(track);
  }

  private async clearLanding(track: Track): Promise<void> {
    this.stats.landingsCleared++;
    try {
      const conf = await this.deps.stations.call(
        track.identity,
        'ClearChargingProfile',
        { id: LANDING_PROFILE_ID_BASE + track.connectorId },
        { timeoutMs: this.options.callTimeoutMs ?? 10_000, reason: 'predictive_landing_lifted' },
      );
      this.deps.log.info({ transactionId: track.transactionId, identity: track.identity, status: conf.status }, 'soft landing lifted');
    } catch (err) {
      this.deps.log.info({ err, identity: track.identity }, 'could not lift the landing limit; it ends with the transaction');
    }
  }

  // ---- talking to stations ------------------------------------------------------------------

  private async stop(track: Track): Promise<void> {
    if (track.predicted) return;
    track.predicted = true;
    const now = this.deps.clock.now();
    const [target] = await markStopping(this.deps.db, { sessionIds: [track.sessionId] }, 'insufficient_balance', now, {
      stoppedBy: 'prediction',
    });
    if (!target) return; // stopped meanwhile (by the station, an operator, the stop at zero)
    this.deps.onMarked?.(track.transactionId);
    const power = this.powerOf(track);
    const sentMs = this.deps.clock.now().getTime();
    track.stop = { sentMs, whAtSend: this.registerAt(track, sentMs), powerW: power, resends: 0 };
    this.stats.stopsSent++;
    this.deps.log.info(
      { transactionId: track.transactionId, identity: track.identity, powerW: power && Math.round(power), delay: this.delayOf(track) },
      'predictive stop: RemoteStopTransaction timed to end at zero',
    );
    await this.deps.stopper.stopMarked(target);
  }

  /** The measured power, within what the station can deliver. */
  private measuredPowerOf(track: Track): number {
    const p = track.meter.powerW ?? 0;
    return track.maxPowerW !== null ? Math.min(p, track.maxPowerW) : p;
  }

  /**
   * The power from the latest reading on: the measured one, within a landing limit the station
   * took; `unlimited`: the power it would draw without the limit (what it drew before it).
   */
  private powerOf(track: Track, unlimited = false): number {
    const p = this.measuredPowerOf(track);
    const l = track.landing;
    if (!l?.accepted || l.ignored) return p;
    return unlimited ? Math.max(p, l.fromW) : Math.min(p, Math.max(l.limitW, l.observedW ?? l.limitW));
  }

  /** Some session of the wallet runs under a landing limit. */
  private landed(w: WalletState): boolean {
    for (const id of w.sessions) if (this.tracks.get(id)?.landing?.accepted) return true;
    return false;
  }

  /**
   * What a session spends from its latest reading on, in cents per second of energy and of time,
   * and the cents incurred but not debited before that rate holds: its pending cost, plus — when
   * a landing limit takes effect only after the latest reading — the energy it still draws at its
   * measured power until then.
   */
  private spend(t: Track, unlimited = false): { energy: number; time: number; pending: number } {
    const power = this.powerOf(t, unlimited);
    let pending = t.cost - t.debited;
    const l = t.landing;
    if (!unlimited && l?.accepted && !l.ignored && l.effectiveMs > t.atMs) {
      pending += (t.slopes.centsPerWh * (this.measuredPowerOf(t) - power) * (l.effectiveMs - t.atMs)) / 3_600_000;
    }
    return { energy: (t.slopes.centsPerWh * power) / 3600, time: t.slopes.centsPerS, pending };
  }

  /** The register now by the model: the latest reading, extrapolated at the measured power. */
  private registerAt(track: Track, atMs: number): number {
    return track.meter.latest.wh + (this.powerOf(track) * Math.max(0, atMs - track.atMs)) / 3_600_000;
  }

  /** Any accepted stop: when it left (for learning the delay), and a watch on chargers that ignore it. */
  private stopAccepted(target: StopTarget, sentAt: Date): void {
    const track = this.tracks.get(target.sessionId);
    if (!track) return;
    const sentMs = sentAt.getTime();
    if (!track.stop) {
      track.stop = { sentMs, whAtSend: this.registerAt(track, sentMs), powerW: this.powerOf(track), resends: 0 };
    } else if (track.stop.resends === 0) {
      track.stop.sentMs = sentMs;
      track.stop.whAtSend = this.registerAt(track, sentMs);
    }
    if (!track.predicted || track.stop.watchdog) return;
    this.watch(track);
  }

  /** A charger that answers Accepted and keeps charging is asked again (the stop at zero does not repeat itself). */
  private watch(track: Track): void {
    const stop = track.stop!;
    const waitMs = Math.max(IGNORED_STOP_MIN_MS, IGNORED_STOP_FACTOR * this.delayOf(track).timeS * 1000) * 2 ** stop.resends;
    stop.watchdog = setTimeout(() => {
      stop.watchdog = undefined;
      if (this.closed || this.tracks.get(track.sessionId) !== track || stop.resends >= IGNORED_STOP_RESENDS) return;
      stop.resends++;
      this.stats.resent++;
      this.deps.log.warn({ transactionId: track.transactionId, identity: track.identity, resends: stop.resends }, 'station accepted the stop but has not stopped: asking again');
      this.watch(track);
      void this.deps.stopper.stopSession(track.sessionId, 'insufficient_balance').catch((err: unknown) =>
        this.deps.log.warn({ err }, 'could not send a stop again'),
      );
    }, waitMs);
    stop.watchdog.unref?.();
  }

  /** TriggerMessage MeterValues for the session's connector; a station that will not is remembered. */
  private async trigger(track: Track): Promise<void> {
    const station = this.station(track.identity);
    const nowMs = this.deps.clock.now().getTime();
    track.triggeredMs = nowMs;
    if (station.trigger === 'no' && station.triggerRetryMs !== undefined && nowMs >= station.triggerRetryMs) {
      station.trigger = 'unknown';
      station.triggerRetryMs = undefined;
    }
    if (station.trigger === 'no') return this.shorten(track.identity);
    this.stats.triggers++;
    let ok = false;
    let status = 'error';
    try {
      const conf = await this.deps.stations.call(
        track.identity,
        'TriggerMessage',
        { requestedMessage: 'MeterValues', connectorId: track.connectorId },
        { timeoutMs: this.options.callTimeoutMs ?? 10_000, reason: 'predictive_reading' },
      );
      ok = conf.status === 'Accepted';
      status = conf.status;
    } catch (err) {
      status = unansweredOr(err);
      this.deps.log.debug({ err, identity: track.identity }, 'TriggerMessage failed');
    }
    if (ok) {
      this.learnt(track.identity, station, { trigger: 'yes' });
      return;
    }
    // NotImplemented, Rejected, a CALLERROR or no answer: shorter periodic readings instead. An
    // answer is remembered (across restarts); no answer only for a while, in this process.
    if (status === 'unanswered') {
      station.trigger = 'no';
      station.triggerRetryMs = nowMs + UNANSWERED_RETRY_MS;
    } else {
      this.learnt(track.identity, station, { trigger: 'no' });
    }
    this.deps.log.info({ identity: track.identity }, 'station does not answer TriggerMessage MeterValues: shortening its sample interval while wallets are low');
    await this.shorten(track.identity);
  }

  private async shorten(identity: string): Promise<void> {
    const s = this.station(identity);
    const low = this.options.lowSampleIntervalS;
    if (s.shortened || s.interval === 'no' || !low || !this.options.normalSampleIntervalS || low >= this.options.normalSampleIntervalS) return;
    s.shortened = true;
    const status = await this.configure(identity, low);
    if (status === 'Accepted') {
      this.learnt(identity, s, { interval: 'yes' });
      this.stats.intervalChanges++;
      if (!s.lowWallets.size) await this.restore(identity);
    } else {
      // an answer is remembered; no answer says nothing (asked again the next time a wallet is low)
      if (status !== 'unanswered') this.learnt(identity, s, { interval: 'no' });
      s.shortened = false;
      this.deps.log.info({ identity, status }, 'station refuses a shorter MeterValueSampleInterval: predicting from its regular readings');
    }
  }

  private async restore(identity: string): Promise<void> {
    const s = this.station(identity);
    if (!s.shortened) return;
    s.shortened = false;
    const status = await this.configure(identity, this.options.normalSampleIntervalS);
    if (status !== 'Accepted') this.deps.log.warn({ identity, status }, 'could not restore MeterValueSampleInterval');
  }

  private async configure(identity: string, intervalS: number): Promise<string> {
    try {
      const conf = await this.deps.stations.call(
        identity,
        'ChangeConfiguration',
        { key: 'MeterValueSampleInterval', value: String(intervalS) },
        { timeoutMs: this.options.callTimeoutMs ?? 10_000, reason: 'predictive_sample_interval' },
      );
      return conf.status;
    } catch (err) {
      return unansweredOr(err);
    }
  }
}
