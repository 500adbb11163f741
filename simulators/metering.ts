/**
 * Energy and readings: the register of each connector grows with the power its EV draws, and
 * the station reports it in MeterValues (periodic samples of a session, triggered readings).
 */
import { performance } from 'node:perf_hooks';
import type { StationCore } from './core.ts';
import { wholeWh, type ConnectorState } from './connectors.ts';
import { buildMeterValue, type MeterFormat } from './meter.ts';
import type { MeterValuesReq } from './ocpp-types.ts';

export class Metering {
  readonly format: MeterFormat;

  constructor(private readonly core: StationCore) {
    this.format = {
      energyUnit: core.options.energyUnit ?? 'Wh',
      threePhaseOnly: core.options.threePhaseOnly ?? false,
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
    const simSeconds = ((now - session.lastAccrualMs) / 1000) * this.core.clock.timeScale;
    session.lastAccrualMs = now;
    // A stopped station delivers nothing (its register is frozen until it starts again).
    if (connector.status === 'Charging' && this.core.running) {
      connector.registerWh += session.ev.charge(simSeconds);
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
    return Math.round(connector.session.ev.powerW);
  }

  checkEvFull(connector: ConnectorState): void {
    if (connector.session?.ev.full && connector.status === 'Charging') {
      this.core.parts.connectors.setStatus(connector, 'SuspendedEV');
      this.core.emit('evFull', { connectorId: connector.id });
    }
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

  stopSampling(connector: ConnectorState): void {
    this.core.timers.clear(connector.meterTimer);
    connector.meterTimer = undefined;
  }

  /** Restarts every session's samples (after MeterValueSampleInterval changed). */
  rescheduleAll(): void {
    for (const connector of this.core.parts.connectors.all) {
      if (connector.session) this.scheduleSample(connector);
    }
  }

  private sample(connector: ConnectorState): void {
    const { core } = this;
    const session = connector.session;
    if (!session) return;
    const registerWh = this.registerWh(connector);
    const powerW = this.currentPower(connector);
    const body: Omit<MeterValuesReq, 'transactionId'> = {
      connectorId: connector.id,
      meterValue: [
        buildMeterValue(
          {
            timestamp: core.clock.stamp(),
            registerWh,
            powerW,
            soc: core.profile.kind === 'DC' ? session.ev.soc : undefined,
          },
          'Sample.Periodic',
          this.format,
        ),
      ],
    };
    core.parts.transactions.queue.enqueue(connector.id, session.ref, { action: 'MeterValues', body });
    core.emit('meterSample', { connectorId: connector.id, sessionRef: session.ref, registerWh, powerW });
  }

  /** TriggerMessage(MeterValues): a one-off reading, sent directly. */
  sendTriggered(connector: ConnectorState): void {
    const { core } = this;
    if (!core.canSend()) return;
    const session = connector.session;
    const payload: MeterValuesReq = {
      connectorId: connector.id,
      meterValue: [
        buildMeterValue(
          { timestamp: core.clock.stamp(), registerWh: this.registerWh(connector), powerW: this.currentPower(connector) },
          'Trigger',
          this.format,
        ),
      ],
    };
    if (session?.transactionId !== undefined) payload.transactionId = session.transactionId;
    core.call('MeterValues', payload).catch((err: unknown) => core.warn('triggered MeterValues failed', err));
  }
}
