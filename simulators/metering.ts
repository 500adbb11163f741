/**
 * Energy and readings: the register of each connector grows with the power its EV draws (bounded
 * by the charging limit in force and by a stop that ramps power down), and the station reports
 * it in MeterValues: periodic samples of a session (possibly held back and sent late or in
 * bursts), clock-aligned readings, and readings the central system triggers.
 */
import { performance } from 'node:perf_hooks';
import type { StationCore } from './core.ts';
import { wholeWh, type ConnectorState, type HeldReading } from './connectors.ts';
import { buildMeterValue, type MeterFormat, type MeterReading } from './meter.ts';
import type { Measurand, MeterValuesReq, ReadingContext } from './ocpp-types.ts';
import { AC_VOLTAGE } from './smart-charging.ts';

/** A DC outlet's voltage rises with the battery's state of charge. */
function dcVoltage(soc: number): number {
  return 350 + 100 * soc;
}

export class Metering {
  readonly format: MeterFormat;
  private alignedTimer: NodeJS.Timeout | undefined;

  constructor(private readonly core: StationCore) {
    this.format = {
      energyUnit: core.options.energyUnit ?? 'Wh',
      threePhaseOnly: core.options.threePhaseOnly ?? false,
      powerUnit: core.options.powerUnit ?? 'W',
    };
  }

  get sampleInterval(): number {
    return this.core.config.getInt('MeterValueSampleInterval', 60);
  }

  /** Adds the energy delivered since the last accrual to the register. */
  accrue(connector: ConnectorState): void {
    const session = connector.session;
    if (!session) return;
    const now = performance.now();
    const from = session.lastAccrualMs;
    const scale = this.core.clock.timeScale;
    const simSeconds = ((now - from) / 1000) * scale;
    session.lastAccrualMs = now;
    // A stopped station delivers nothing (its register is frozen until it starts again).
    if (connector.status === 'Charging' && this.core.running) {
      connector.registerWh += session.ev.charge(simSeconds, (offset) => this.capW(connector, from + (offset * 1000) / scale));
    }
    this.checkEvFull(connector);
  }

  accrueAll(): void {
    for (const connector of this.core.parts.connectors.all) this.accrue(connector);
  }

  /** Integer Wh of the register, brought up to date. */
  registerWh(connector: ConnectorState): number {
    this.accrue(connector);
    return wholeWh(connector.registerWh);
  }

  /** Power being delivered right now in W. */
  currentPower(connector: ConnectorState): number {
    if (!connector.session || connector.status !== 'Charging') return 0;
    return Math.round(Math.max(0, Math.min(connector.session.ev.powerW, this.capW(connector, performance.now()))));
  }

  /** The charging limit in force now (smart charging), W; undefined when none. */
  limitW(connector: ConnectorState): number | undefined {
    return this.core.parts.smartCharging.limitW(connector, this.core.clock.now().getTime());
  }

  checkEvFull(connector: ConnectorState): void {
    if (connector.session?.ev.full && connector.status === 'Charging') {
      this.core.parts.connectors.setStatus(connector, 'SuspendedEV');
      this.core.emit('evFull', { connectorId: connector.id });
    }
  }

  /**
   * The charging limits changed (a profile set or cleared, a schedule period began, a session
   * started or ended): a limit of 0 suspends the session (SuspendedEVSE), a limit above 0 lets it
   * charge again, and the station wakes up at the next change.
   */
  limitChanged(connector: ConnectorState): void {
    const { core } = this;
    const { connectors, smartCharging } = core.parts;
    core.timers.clear(connector.limitTimer);
    connector.limitTimer = undefined;
    const limit = this.limitW(connector);
    if (limit !== connector.lastLimitW) {
      connector.lastLimitW = limit;
      core.emit('chargingLimit', { connectorId: connector.id, limitW: limit });
    }
    const session = connector.session;
    if (!session || !core.running) return;
    if (limit === 0 && connector.status === 'Charging') connectors.setStatus(connector, 'SuspendedEVSE');
    else if (limit !== 0 && connector.status === 'SuspendedEVSE' && !session.ev.full) connectors.setStatus(connector, 'Charging');
    const nowMs = core.clock.now().getTime();
    const next = smartCharging.nextChange(connector, nowMs);
    if (next === undefined) return;
    connector.limitTimer = core.timers.timeout(() => {
      connector.limitTimer = undefined;
      this.accrue(connector);
      this.limitChanged(connector);
    }, Math.max(1, next - nowMs + 1));
  }

  /** (Re)starts the periodic samples of the connector's session at MeterValueSampleInterval. */
  scheduleSample(connector: ConnectorState): void {
    const { core } = this;
    core.timers.clear(connector.meterTimer);
    connector.meterTimer = undefined;
    const interval = this.sampleInterval;
    if (!connector.session || interval <= 0 || !core.running) return;
    connector.meterTimer = core.timers.timeout(() => {
      connector.meterTimer = undefined;
      this.sample(connector);
      this.scheduleSample(connector);
    }, core.simToRealMs(interval));
  }

  /** The session ends: no more samples; readings held back are released first (they precede StopTransaction). */
  stopSampling(connector: ConnectorState): void {
    const { core } = this;
    core.timers.clear(connector.meterTimer);
    connector.meterTimer = undefined;
    core.timers.clear(connector.limitTimer);
    connector.limitTimer = undefined;
    this.release(connector, connector.held.length);
  }

  /** Drops the readings held back for a session the station lets go of. */
  discardHeld(connector: ConnectorState): void {
    connector.held = [];
  }

  /** Restarts every session's samples (after MeterValueSampleInterval changed). */
  rescheduleAll(): void {
    for (const connector of this.core.parts.connectors.all) {
      if (connector.session) this.scheduleSample(connector);
    }
  }

  /** The reading of a connector now, with every value a measurand may ask for. */
  reading(connector: ConnectorState, timestamp: string, registerWh = this.registerWh(connector)): MeterReading {
    const { profile } = this.core;
    const powerW = this.currentPower(connector);
    const soc = connector.session?.ev.soc;
    const voltageV = profile.kind === 'DC' ? dcVoltage(soc ?? 0) : AC_VOLTAGE;
    const phases = profile.kind === 'DC' ? 1 : profile.maxPowerW <= 7_400 ? 1 : 3;
    return {
      timestamp,
      registerWh,
      powerW,
      ...(soc !== undefined && profile.kind === 'DC' ? { soc } : {}),
      voltageV,
      currentA: powerW / (voltageV * phases),
      offeredW: Math.min(profile.maxPowerW, this.limitW(connector) ?? Number.POSITIVE_INFINITY),
    };
  }

  /** MeterValues of one connector, as the measurand list asks. */
  meterValues(connector: ConnectorState, context: ReadingContext, measurands: readonly Measurand[], timestamp: string, registerWh?: number) {
    return buildMeterValue(this.reading(connector, timestamp, registerWh), context, { ...this.format, measurands });
  }

  /** TriggerMessage(MeterValues): a one-off reading, sent directly. */
  sendTriggered(connector: ConnectorState): void {
    const { core } = this;
    if (!core.canSend()) return;
    const payload: MeterValuesReq = {
      connectorId: connector.id,
      meterValue: [this.meterValues(connector, 'Trigger', this.sampledMeasurands(), core.clock.stamp())],
    };
    if (connector.session?.transactionId !== undefined) payload.transactionId = connector.session.transactionId;
    core.send('MeterValues', payload);
  }

  /** (Re)starts clock-aligned readings every ClockAlignedDataInterval, on the boundaries of the station's clock. */
  scheduleClockAligned(): void {
    const { core } = this;
    core.timers.clear(this.alignedTimer);
    this.alignedTimer = undefined;
    const interval = core.config.getInt('ClockAlignedDataInterval', 0);
    if (interval <= 0 || !core.running) return;
    const periodMs = core.simToRealMs(interval);
    const now = core.clock.now().getTime();
    const next = (Math.floor(now / periodMs) + 1) * periodMs;
    this.alignedTimer = core.timers.timeout(() => {
      this.alignedTimer = undefined;
      this.sendClockAligned(new Date(next));
      this.scheduleClockAligned();
    }, next - now);
  }

  /**
   * Clock-aligned readings (Sample.Clock, MeterValuesAlignedData): connector 0 (the station's
   * total) and idle connectors without a transactionId; a connector in a transaction through
   * the transaction queue, with it.
   */
  sendClockAligned(at: Date): void {
    const { core } = this;
    if (!core.canSend()) return;
    const measurands = core.config.getList('MeterValuesAlignedData') as Measurand[];
    const timestamp = core.clock.stamp(at);
    const outlets = core.parts.connectors.outlets();
    const total = outlets.reduce((sum, c) => sum + this.registerWh(c), 0);
    const station = core.parts.connectors.at(0);
    core.send('MeterValues', { connectorId: 0, meterValue: [this.meterValues(station, 'Sample.Clock', measurands, timestamp, total)] });
    for (const connector of outlets) {
      const meterValue = [this.meterValues(connector, 'Sample.Clock', measurands, timestamp)];
      const session = connector.session;
      if (session) core.parts.transactions.queue.enqueue(connector.id, session.ref, { action: 'MeterValues', body: { connectorId: connector.id, meterValue } });
      else core.send('MeterValues', { connectorId: connector.id, meterValue });
    }
  }

  private sampledMeasurands(): Measurand[] {
    return this.core.config.getList('MeterValuesSampledData') as Measurand[];
  }

  /** The limit in force at a moment (performance.now() time base), and a stop ramping power down. */
  private capW(connector: ConnectorState, perfMs: number): number {
    const session = connector.session;
    const wallMs = perfMs + (this.core.clock.now().getTime() - performance.now());
    let cap = this.core.parts.smartCharging.limitW(connector, wallMs) ?? Number.POSITIVE_INFINITY;
    const ramp = session?.ramp;
    if (ramp) cap = Math.min(cap, ramp.fromW * Math.max(0, 1 - (perfMs - ramp.startMs) / ramp.durationMs));
    return cap;
  }

  private sample(connector: ConnectorState): void {
    const { core } = this;
    const session = connector.session;
    if (!session) return;
    const registerWh = this.registerWh(connector);
    const meterValue = this.meterValues(connector, 'Sample.Periodic', this.sampledMeasurands(), core.clock.stamp(), registerWh);
    const reading: HeldReading = { sessionRef: session.ref, body: { connectorId: connector.id, meterValue: [meterValue] } };
    core.emit('meterSample', { connectorId: connector.id, sessionRef: session.ref, registerWh, powerW: this.currentPower(connector) });
    const { lateReadingsSeconds = 0, readingBurst = 1 } = core.options;
    if (lateReadingsSeconds <= 0 && readingBurst <= 1) {
      core.parts.transactions.queue.enqueue(connector.id, session.ref, { action: 'MeterValues', body: reading.body });
      return;
    }
    connector.held.push(reading);
    if (readingBurst > 1 && connector.held.length >= readingBurst) this.release(connector, connector.held.length);
    else if (lateReadingsSeconds > 0 && readingBurst <= 1) {
      core.timers.timeout(() => this.release(connector, connector.held.indexOf(reading) + 1), core.simToRealMs(lateReadingsSeconds));
    }
  }

  /** Sends the first `count` held readings, oldest first. */
  private release(connector: ConnectorState, count: number): void {
    for (const reading of connector.held.splice(0, Math.max(0, count))) {
      this.core.parts.transactions.queue.enqueue(connector.id, reading.sessionRef, { action: 'MeterValues', body: reading.body });
    }
  }
}
