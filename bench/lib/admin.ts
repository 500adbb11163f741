import http from 'node:http';
import { pMap } from './util.ts';

/** Keep-alive HTTP/1.1 (much cheaper for the load generator's CPU than fetch). */
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** The gateway's admin REST API with a Bearer key. */
export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly key: string,
  ) {}

  request<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(this.baseUrl + path, {
        method,
        agent,
        headers: {
          authorization: `Bearer ${this.key}`,
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch (err) {
            reject(new Error(`${method} ${path} → ${res.statusCode}: ${text.slice(0, 200)}`));
          }
        });
      });
      req.end(payload);
    });
  }

  /** A route that answers text (GET /metrics). */
  text(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.get(this.baseUrl + path, { agent, headers: { authorization: `Bearer ${this.key}` } });
      req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path}: no answer in 30 s`)));
      req.once('error', reject);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () =>
          res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`GET ${path} → ${res.statusCode}`)));
      });
    });
  }

  async get<T = any>(path: string): Promise<T> {
    const res = await this.request<T>('GET', path);
    if (res.status !== 200) throw new Error(`GET ${path} → ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async create<T = any>(path: string, body: unknown): Promise<T> {
    const res = await this.request<T>('POST', path, body);
    if (res.status !== 201) throw new Error(`POST ${path} → ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** Every item of a paged list (`limit` ≤ 200). */
  async all<T = any>(path: string): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    const sep = path.includes('?') ? '&' : '?';
    do {
      const page: { data: T[]; next_cursor: string | null } = await this.get(
        `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      out.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }
}

/** Setup requests in flight at once. */
const SETUP_CONCURRENCY = 48;

export interface Fixture {
  organizationId: string;
  rateId: string;
  /** the rate's ENERGY price, whole cents per kWh, no tax, no step */
  priceCentsPerKwh: number;
}

/** An organization with minimum balance 0 and an ENERGY rate. */
export async function createFixture(api: AdminApi, name: string, priceCentsPerKwh: number): Promise<Fixture> {
  const org = await api.create('/v1/organizations', { name, minimum_balance_to_start_session: 0 });
  const rate = await api.create('/v1/rates', {
    description: `${name}: ${priceCentsPerKwh} c/kWh`,
    currency: 'USD',
    price_components: [{ type: 'ENERGY', price: priceCentsPerKwh }],
  });
  return { organizationId: org._id, rateId: rate._id, priceCentsPerKwh };
}

export async function createStations(api: AdminApi, fx: Fixture, identities: readonly string[]): Promise<void> {
  await pMap(identities, SETUP_CONCURRENCY, (ocpp_id) =>
    api.create('/v1/chargestations', { ocpp_id, organization: fx.organizationId, rate: fx.rateId }),
  );
}

export interface Driver {
  userId: string;
  walletId: string;
  balance: number;
  idTags: string[];
}

/** One user per entry, its wallet topped up with `balance` cents, and `tagsPer` tokens named `${prefix}${i}-${j}`. */
export async function createDrivers(
  api: AdminApi,
  fx: Fixture,
  prefix: string,
  count: number,
  balance: number,
  tagsPer = 1,
): Promise<Driver[]> {
  return pMap(Array.from({ length: count }, (_, i) => i), SETUP_CONCURRENCY, async (i) => {
    const user = await api.create('/v1/users', {
      firstname: 'Bench',
      lastname: `${prefix}${i}`,
      email: `${prefix.toLowerCase()}${i}@bench.invalid`,
      organization: fx.organizationId,
    });
    const wallet = (await api.get(`/v1/users/${user._id}/wallet`)).wallet;
    if (balance > 0) await api.create('/v1/top_up', { type: 'manual', wallet: wallet._id, amount: balance });
    const idTags = Array.from({ length: tagsPer }, (_, j) => (tagsPer === 1 ? `${prefix}${i}` : `${prefix}${i}-${j}`));
    await pMap(idTags, SETUP_CONCURRENCY, (tag) => api.create('/v1/tokens', { physicalId: tag, user: user._id }));
    return { userId: user._id, walletId: wallet._id, balance, idTags };
  });
}
