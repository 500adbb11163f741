import { stationClient, eventually, type TestStation } from './station.ts';
import type { TestGateway } from './gateway.ts';
import { aRate, aStation, aUserWithWallet } from './builders.ts';

export type StopPolicy = 'Accepted' | 'Rejected' | 'rejectFirst' | 'silent';

/**
 * A hand-driven RPCClient charger for exact scenarios: it records the calls the gateway sends
 * and answers RemoteStopTransaction as told. It sends only what the test tells it to.
 */
export async function aCharger(
  url: string,
  identity: string,
  opts: { stopPolicy?: StopPolicy; password?: string; remoteStart?: 'Accepted' | 'Rejected'; startDelayMs?: number } = {},
) {
  const client = stationClient(url, identity, opts.password ? { password: opts.password } : {});
  const remoteStops: number[] = [];
  const remoteStarts: { connectorId?: number; idTag: string }[] = [];
  let stopCalls = 0;
  client.handle('ChangeConfiguration', async () => ({ status: 'Accepted' }));
  client.handle('RemoteStopTransaction', async ({ params }) => {
    stopCalls += 1;
    remoteStops.push(params.transactionId);
    const policy = opts.stopPolicy ?? 'Accepted';
    if (policy === 'silent') return new Promise(() => {}); // never answers
    if (policy === 'Rejected' || (policy === 'rejectFirst' && stopCalls === 1)) return { status: 'Rejected' };
    return { status: 'Accepted' };
  });
  client.handle('RemoteStartTransaction', async ({ params }) => {
    remoteStarts.push(params);
    if (opts.startDelayMs) await new Promise((r) => setTimeout(r, opts.startDelayMs));
    return { status: opts.remoteStart ?? 'Accepted' };
  });
  await client.connect();

  const at = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();
  return {
    client,
    remoteStops,
    remoteStarts,
    async start(idTag: string, meterStart: number, connectorId = 1, timestamp = at()) {
      const res = await client.call('StartTransaction', { connectorId, idTag, meterStart, timestamp });
      return res as { transactionId: number; idTagInfo: { status: string } };
    },
    meter(transactionId: number | undefined, wh: number | string, opts2: { connectorId?: number; unit?: string; timestamp?: string } = {}) {
      return client.call('MeterValues', {
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
      return client.call('StopTransaction', { transactionId, meterStop, timestamp: at(), reason, ...extra });
    },
    waitForStop(transactionId: number, ms = 5000) {
      return eventually(() => remoteStops.includes(transactionId), ms);
    },
    close: () => client.close({ force: true }),
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
