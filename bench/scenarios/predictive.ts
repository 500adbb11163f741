/**
 * Scenario 7, the predictive stop (issue 17): wallets run to zero with the predictive stop off
 * and on, in the same run, on the same workload, two gateways side by side. Each session's wallet holds the cost of 2.2–4.2
 * sample intervals of its charging; AC 7–22 kW and DC 50–350 kW, sample intervals of 30 and 60 s,
 * stop delays of 1–5 s (a station's own, the same at each of its stops), time scaled. Each
 * station charges two sessions one after the other: the first stop of a station uses the default
 * delay, the second the one learnt from the first. Reported: the final balance of each session
 * (mean; p99 and max below zero (debt) and above zero (left unspent)), AC and DC apart, and the
 * MeterValues latency on both gateways against scenario 1's.
 */
import { createFixture, type AdminApi } from '../lib/admin.ts';
import { PRICE_CENTS_PER_KWH, type Ctx } from '../lib/config.ts';
import { startGateway, type Gateway } from '../lib/gateway.ts';
import { energyCost } from '../lib/ledger.ts';
import { fmtRatio, ms } from '../lib/report.ts';
import { BenchStation, closeAll, connectAll, identities } from '../lib/station.ts';
import { percentiles, type Percentiles } from '../lib/stats.ts';
import { log, now, pMap, sleep } from '../lib/util.ts';

const S7 = '7 predictive stop';

/** One station's charging: what it draws and how it behaves. */
interface Profile {
  kind: 'AC' | 'DC';
  powerW: number;
  /** its MeterValueSampleInterval, simulated s */
  intervalS: number;
  /** RemoteStopTransaction → stopped (constant power until then), simulated s */
  stopDelayS: number;
}

interface Plan {
  station: BenchStation;
  profile: Profile;
  /** per session: the driver's idTag, wallet, user, balance */
  sessions: { idTag: string; userId: string; walletId: string; balance: number }[];
}

export interface PredictPrep {
  off: { gw: Gateway; plans: Plan[] };
  on: { gw: Gateway; plans: Plan[] };
}

interface SessionResult {
  userId: string;
  kind: 'AC' | 'DC';
  order: number;
  balance: number;
  final: number;
  stoppedByGateway: boolean;
  /** the station was limited ahead of the stop (a soft landing) */
  landed: boolean;
}

/** A deterministic random stream (the same workload on both gateways). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function profiles(count: number): Profile[] {
  const rnd = random(17);
  return Array.from({ length: count }, (_, i) => {
    const kind = i % 2 === 0 ? 'AC' : 'DC';
    const powerW = Math.round(kind === 'AC' ? 7_000 + rnd() * 15_000 : 50_000 + rnd() * 300_000);
    return { kind, powerW, intervalS: rnd() < 0.5 ? 30 : 60, stopDelayS: Math.round((1 + rnd() * 4) * 10) / 10 };
  });
}

/** Cents that `seconds` of charging at `powerW` cost at the bench's rate. */
function costOf(powerW: number, seconds: number): number {
  return Math.round((powerW * seconds * PRICE_CENTS_PER_KWH) / 3_600 / 1_000);
}

async function prepareOne(ctx: Ctx, predictive: boolean, profs: Profile[]): Promise<{ gw: Gateway; plans: Plan[] }> {
  const c = ctx.cfg.predict;
  const gw = await startGateway({
    database: 'postgres',
    name: `gateway-predict-${predictive ? 'on' : 'off'}`,
    env: {
      PREDICTIVE_STOP: predictive ? 'on' : 'off',
      // the default stop delay (3 s) in the simulation's time
      PREDICTIVE_STOP_DELAY_S: String(3 / c.timeScale),
      // the boot pushes 60 s; each station then keeps its own (see drive())
      METER_VALUE_SAMPLE_INTERVAL_S: '60',
      PREDICTIVE_LOW_SAMPLE_INTERVAL_S: '10',
      // the landing power (11 kW) as the gateway sees it: the stations' registers run ×timeScale
      PREDICTIVE_LANDING_POWER_KW: String(11 * c.timeScale),
      BILLING_SWEEP_INTERVAL_S: '60',
    },
  });
  const fx = await createFixture(gw.api, `Bench predict ${predictive ? 'on' : 'off'}`, PRICE_CENTS_PER_KWH);
  const prefix = predictive ? 'PN-' : 'PF-';
  const ids = identities(prefix, profs.length, 4);
  const rnd = random(29);
  await pMap(ids, 48, (ocpp_id) => gw.api.create('/v1/chargestations', { ocpp_id, organization: fx.organizationId, rate: fx.rateId }));
  const plans = await pMap(profs, 24, async (profile, i): Promise<Plan> => {
    const sessions = [];
    for (let k = 0; k < c.sessionsPerStation; k++) {
      const balance = Math.max(1, costOf(profile.powerW, profile.intervalS * (2.2 + rnd() * 2)));
      sessions.push({ ...(await driver(gw.api, fx.organizationId, `${prefix}${i}-${k}`, balance)), balance });
    }
    // a StartTransaction of 500 at once on a busy machine can take seconds: give them time
    const station = new BenchStation({ url: gw.ocppUrl, identity: ids[i]!, callTimeoutMs: 30_000 });
    return { station, profile, sessions };
  });
  await connectAll(plans.map((p) => p.station), 100);
  return { gw, plans };
}

async function driver(api: AdminApi, organization: string, tag: string, balance: number) {
  const user = await api.create('/v1/users', {
    firstname: 'Bench',
    lastname: tag,
    email: `${tag.toLowerCase()}@bench.invalid`,
    organization,
  });
  const wallet = (await api.get(`/v1/users/${user._id}/wallet`)).wallet;
  await api.create('/v1/top_up', { type: 'manual', wallet: wallet._id, amount: balance });
  await api.create('/v1/tokens', { physicalId: tag, user: user._id });
  return { idTag: tag, userId: user._id as string, walletId: wallet._id as string };
}

export async function preparePredictive(ctx: Ctx): Promise<PredictPrep> {
  const profs = profiles(ctx.cfg.predict.stations);
  const [off, on] = await Promise.all([prepareOne(ctx, false, profs), prepareOne(ctx, true, profs)]);
  return { off, on };
}

/**
 * One station's sessions, one after the other: the register grows at the station's power (×
 * the time scale); a MeterValues every sample interval (which the gateway may shorten), one at
 * once on TriggerMessage; RemoteStopTransaction accepted, the charger stopping after its stop
 * delay at full power (the worst case), then StopTransaction. A session the gateway does not stop
 * is stopped by the driver after ten intervals.
 */
async function drive(plan: Plan, scale: number, latencies: number[]): Promise<SessionResult[]> {
  const { station: st, profile } = plan;
  const results: SessionResult[] = [];
  let intervalS = profile.intervalS;
  let session: { wake: () => void; reading: () => void; stop: () => void; limit: (w: number | undefined) => void } | undefined;
  st.client.handle('ChangeConfiguration', async ({ params }) => {
    if (params?.key === 'MeterValueSampleInterval') {
      intervalS = Number(params.value) === 60 ? profile.intervalS : Number(params.value);
      session?.wake();
    }
    return { status: 'Accepted' };
  });
  st.client.handle('TriggerMessage', async ({ params }) => {
    if (params?.requestedMessage !== 'MeterValues' || !session) return { status: 'Rejected' };
    setImmediate(() => session?.reading());
    return { status: 'Accepted' };
  });
  st.client.handle('RemoteStopTransaction', async () => {
    if (session) setTimeout(() => session?.stop(), (profile.stopDelayS / scale) * 1000);
    return { status: 'Accepted' };
  });
  // A TxProfile power limit (the gateway's soft landing) takes effect after the same delay as a
  // stop; the limit is in the gateway's watts, i.e. ×timeScale of this station's own.
  st.client.handle('SetChargingProfile', async ({ params }) => {
    const p = params as { csChargingProfiles?: { chargingProfilePurpose?: string; chargingSchedule?: { chargingSchedulePeriod?: { limit: number }[] } } };
    const limit = p.csChargingProfiles?.chargingSchedule?.chargingSchedulePeriod?.[0]?.limit;
    if (!session || p.csChargingProfiles?.chargingProfilePurpose !== 'TxProfile' || limit === undefined) return { status: 'Rejected' };
    const s = session;
    setTimeout(() => s.limit(limit / scale), (profile.stopDelayS / scale) * 1000);
    return { status: 'Accepted' };
  });
  st.client.handle('ClearChargingProfile', async () => {
    session?.limit(undefined);
    return { status: 'Accepted' };
  });
  intervalS = profile.intervalS;
  // The fleet does not start in step: each station's first session within one interval.
  await sleep(Math.random() * (profile.intervalS / scale) * 1000);
  for (const [order, s] of plan.sessions.entries()) {
    const meterStart = st.register;
    await st.startTransaction(s.idTag, meterStart);
    const t0 = now();
    let stopped = false;
    let stoppedByGateway = false;
    let landed = false;
    // energy in segments of constant power (a landing limit changes it)
    let segmentAt = t0;
    let segmentWh = 0;
    let powerW = profile.powerW;
    const energyNow = () => segmentWh + (powerW * scale * (now() - segmentAt)) / 3_600_000;
    const registerNow = () => meterStart + Math.floor(energyNow());
    const limit = (w: number | undefined) => {
      if (stopped) return;
      segmentWh = energyNow();
      segmentAt = now();
      powerW = w === undefined ? profile.powerW : Math.min(profile.powerW, w);
      if (w !== undefined) landed = true;
    };
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      const send = () => {
        if (stopped) return;
        const start = now();
        void st.meter(registerNow() - st.register).then((r) => {
          if (r.ok) latencies.push(r.end - start);
        });
      };
      const schedule = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          send();
          schedule();
        }, (intervalS / scale) * 1000);
      };
      const finish = (byGateway: boolean) => {
        if (stopped) return;
        stopped = true;
        stoppedByGateway = byGateway;
        clearTimeout(timer);
        clearTimeout(giveUp);
        st.register = registerNow();
        void st.stopTransaction(byGateway ? 'Remote' : 'Local').finally(resolve);
      };
      const giveUp = setTimeout(() => finish(false), ((10 * profile.intervalS) / scale) * 1000);
      session = { wake: schedule, reading: send, stop: () => finish(true), limit };
      schedule();
    });
    await done;
    session = undefined;
    intervalS = profile.intervalS;
    results.push({ userId: s.userId, kind: profile.kind, order, balance: s.balance, final: s.balance - energyCost(PRICE_CENTS_PER_KWH, st.meterStop! - meterStart), stoppedByGateway, landed });
    await sleep(50);
  }
  return results;
}

interface Distribution {
  count: number;
  mean: number;
  debt: Percentiles;
  unspent: Percentiles;
}

function distribution(finals: readonly number[]): Distribution {
  const mean = finals.length ? Math.round((finals.reduce((a, b) => a + b, 0) / finals.length) * 100) / 100 : 0;
  return {
    count: finals.length,
    mean,
    debt: percentiles(finals.map((f) => Math.max(0, -f))),
    unspent: percentiles(finals.map((f) => Math.max(0, f))),
  };
}

const fmt = (d: Distribution) =>
  `n ${d.count}: mean ${d.mean} c; below zero p99 ${d.debt.p99} / max ${d.debt.max} c; above zero p99 ${d.unspent.p99} / max ${d.unspent.max} c`;

async function runOne(ctx: Ctx, label: 'off' | 'on', run: { gw: Gateway; plans: Plan[] }) {
  const scale = ctx.cfg.predict.timeScale;
  const latencies: number[] = [];
  const t0 = now();
  const failures: string[] = [];
  const results = (
    await pMap(run.plans, run.plans.length, (p) =>
      drive(p, scale, latencies).catch((err: unknown) => {
        failures.push(`${p.station.identity}: ${(err as Error).message}`);
        return [] as SessionResult[];
      }),
    )
  ).flat();
  if (failures.length) log(`${S7}: predictive ${label}: ${failures.length} stations failed, e.g. ${failures[0]}`);
  const seconds = (now() - t0) / 1000;
  log(`${S7}: predictive ${label}: ${results.length} sessions in ${seconds.toFixed(1)} s`);
  // The gateway's view: every wallet ends where the stations' registers say it must.
  await sleep(500);
  const wrong: string[] = [];
  await pMap(results, 16, async (r) => {
    const w = (await run.gw.api.get(`/v1/users/${r.userId}/wallet`)).wallet;
    if (w.balance !== r.final) wrong.push(`${r.userId}: wallet ${w.balance}, expected ${r.final}`);
  });
  return { results, latency: percentiles(latencies), seconds, wrong, failures };
}

export async function runPredictive(ctx: Ctx, prep: PredictPrep): Promise<void> {
  const { report, cfg } = ctx;
  try {
    // Side by side, so both see the same machine (it is shared, and its load moves by the minute).
    const [off, on] = await Promise.all([runOne(ctx, 'off', prep.off), runOne(ctx, 'on', prep.on)]);
    const size = `${cfg.predict.stations} stations × ${cfg.predict.sessionsPerStation} sessions, time ×${cfg.predict.timeScale}`;
    report.add(S7, 'workload', `${size}; AC 7–22 kW, DC 50–350 kW; intervals 30/60 s; stop delays 1–5 s; 100 c/kWh; wallet = 2.2–4.2 intervals of charging`);
    const details: Record<string, unknown> = {};
    for (const [label, r] of [['off', off], ['on', on]] as const) {
      for (const kind of ['AC', 'DC'] as const) {
        const mine = r.results.filter((x) => x.kind === kind);
        const all = distribution(mine.map((x) => x.final));
        const learnt = distribution(mine.filter((x) => x.order > 0).map((x) => x.final));
        details[`${label} ${kind}`] = { all, learnt };
        if (label === 'on') {
          const debtTarget = kind === 'AC' ? 1 : 5;
          report.target(S7, `predictive on, ${kind}: final balance (cents)`, fmt(all), `debt p99 ≤ ${debtTarget}, unspent p99 ≤ 10`,
            all.debt.p99 <= debtTarget && all.unspent.p99 <= 10);
          report.add(S7, `predictive on, ${kind}, stops after the first at a station (delay learnt)`, fmt(learnt));
          const landed = mine.filter((x) => x.landed);
          report.add(S7, `predictive on, ${kind}: soft landings (limited to 11 kW ahead of the stop)`,
            landed.length ? `${landed.length} of ${mine.length} sessions; those: ${fmt(distribution(landed.map((x) => x.final)))}` : `none of ${mine.length}`);
        } else {
          report.add(S7, `predictive off, ${kind}: final balance (cents)`, fmt(all));
        }
      }
      if (r.failures.length) report.add(S7, `predictive ${label}: stations that failed (left out)`, `${r.failures.length}: ${r.failures.slice(0, 2).join('; ')}`, { verdict: 'fail' });
      const notStopped = r.results.filter((x) => !x.stoppedByGateway).length;
      report.add(S7, `predictive ${label}: sessions the gateway did not stop (driver stopped them)`, String(notStopped));
      report.target(S7, `predictive ${label}: wallets == top-up − cost of the stations' registers`, r.wrong.length ? `WRONG: ${r.wrong.slice(0, 3).join('; ')}` : `ok, ${r.results.length} sessions`,
        'exact', r.wrong.length === 0);
      if (r.wrong.length) report.ledgerFailed = true;
    }
    const s1 = (report.details['1 steady debits'] as { sweep?: { offeredRate?: number; latency: { p99: number } }[] } | undefined)?.sweep?.[0];
    const s1Text = s1 ? `scenario 1 at ${s1.offeredRate} MV/s: p99 ${ms(s1.latency.p99)}` : 'scenario 1 not run';
    report.add(S7, 'MeterValues latency, predictive off', `p50 ${ms(off.latency.p50)} / p99 ${ms(off.latency.p99)} (${off.latency.count} readings)`, { baseline: s1Text });
    report.add(S7, 'MeterValues latency, predictive on', `p50 ${ms(on.latency.p50)} / p99 ${ms(on.latency.p99)} (${on.latency.count} readings)`,
      { baseline: s1Text, ratioTarget: `${fmtRatio(on.latency.p99 / Math.max(0.01, off.latency.p99), 1)} × off` });
    report.gatewayLogs(S7, 'off', prep.off.gw.child.logs);
    report.gatewayLogs(S7, 'on', prep.on.gw.child.logs);
    report.details[S7] = { ...details, latency: { off: off.latency, on: on.latency }, seconds: { off: off.seconds, on: on.seconds } };
  } finally {
    await closeAll([...prep.off.plans, ...prep.on.plans].map((p) => p.station));
    await Promise.allSettled([prep.off.gw.close(), prep.on.gw.close()]);
  }
}
