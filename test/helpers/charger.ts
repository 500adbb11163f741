import { SimStation } from '../../simulators/index.ts';
import { eventually, type TestStation } from './station.ts';
import type { TestGateway } from './gateway.ts';
import { aRate, aStation, aUserWithWallet } from './builders.ts';

export type StopPolicy = 'Accepted' | 'Rejected' | 'rejectFirst' | 'silent';

/**
 * A hand-driven charger for exact scenarios: the simulator in manual mode. It sends only what
 * the test tells it to (no boot, no heartbeats, no sessions of its own), records the
 * RemoteStart/RemoteStopTransaction calls it receives and answers them as told.
 */
export async function aCharger(
  url: string,
  identity: string,
  opts: { stopPolicy?: StopPolicy; password?: string; remoteStart?: 'Accepted' | 'Rejected'; startDelayMs?: number } = {},
) {
  const station = new SimStation({
    url,
    identity,
    manual: true,
    ...(opts.password ? { password: opts.password } : {}),
    rpcOptions: { reconnect: false, callTimeoutMs: 10_000 },
  });
  const remoteStops: number[] = [];
  const remoteStarts: { connectorId?: number; idTag: string }[] = [];
  station.on('inboundCall', ({ action, params }) => {
    if (action === 'RemoteStopTransaction') remoteStops.push(params.transactionId as number);
    if (action === 'RemoteStartTransaction') remoteStarts.push(params as { connectorId?: number; idTag: string });
  });
  const { answers } = station;
  answers.set('ChangeConfiguration', 'Accepted');
  answers.set('RemoteStartTransaction', { status: opts.remoteStart ?? 'Accepted', ...(opts.startDelayMs ? { delayMs: opts.startDelayMs } : {}) });
  const policy = opts.stopPolicy ?? 'Accepted';
  if (policy === 'silent') answers.set('RemoteStopTransaction', { noReply: true });
  else answers.set('RemoteStopTransaction', policy === 'Rejected' ? 'Rejected' : 'Accepted');
  if (policy === 'rejectFirst') answers.once('RemoteStopTransaction', 'Rejected');
  await station.start();

  const at = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();
  return {
    station,
    /** What tests need of the raw connection: any call, any frame. */
    client: {
      call: (action: string, params?: unknown, options?: { callTimeoutMs?: number }) => station.send(action, params, options),
      sendRaw: (frame: string) => station.sendRaw(frame),
    },
    remoteStops,
    remoteStarts,
    async start(idTag: string, meterStart: number, connectorId = 1, timestamp = at()) {
      const res = await station.send('StartTransaction', { connectorId, idTag, meterStart, timestamp });
      return res as { transactionId: number; idTagInfo: { status: string } };
    },
    meter(transactionId: number | undefined, wh: number | string, opts2: { connectorId?: number; unit?: string; timestamp?: string } = {}) {
      return station.send('MeterValues', {
        connectorId: opts2.connectorId ?? 1,
        ...(transactionId !== undefined ? { transactionId } : {}),
        meterValue: [
          {
            timestamp: opts2.timestamp ?? at(),
            sampledValue: [
              { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: opts2.unit ?? 'Wh', context: 'Sample.Periodic' },
            ],
          },
        ],
      });
    },
    stop(transactionId: number, meterStop: number, reason = 'Local', extra: Record<string, unknown> = {}) {
      return station.send('StopTransaction', { transactionId, meterStop, timestamp: at(), reason, ...extra });
    },
    waitForStop(transactionId: number, ms = 5000) {
      return eventually(() => remoteStops.includes(transactionId), ms);
    },
    close: () => station.stop({ force: true }),
  };
}

export type Charger = Awaited<ReturnType<typeof aCharger>>;
export type { TestStation };

/**
 * A charger with a transaction running on connector 1 (register 0 at start), its station billed at
 * an ENERGY rate of `pricePerKwh` cents, paid by a fresh wallet holding `balance` cents.
 */
export async function aRunningSession(gw: TestGateway, opts: { pricePerKwh: number; balance: number }) {
  const rate = await aRate(gw, { price_components: [{ type: 'ENERGY', price: opts.pricePerKwh }] });
  const station = await aStation(gw, { rate: rate._id });
  const { user, token } = await aUserWithWallet(gw, { balance: opts.balance });
  const charger = await aCharger(gw.ocppUrl, station.ocpp_id);
  const { transactionId } = await charger.start(token.physicalId, 0);
  return { charger, station, user, token, transactionId };
}
