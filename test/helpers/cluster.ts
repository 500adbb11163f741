import { sql } from 'kysely';
import { createDb, type DbHandle } from '../../src/db/index.ts';
import { childGateway } from './child-gateway.ts';
import { createPostgresDatabase, type TestDatabase } from './db.ts';

export type ClusterNode = Awaited<ReturnType<typeof childGateway>> & { id: string };

/** Builds test data through a node's admin API: one organization (minimum 0) and one ENERGY rate. */
export async function clusterFixture(node: ClusterNode, priceCentsPerKwh: number) {
  const tag = Date.now().toString(36);
  const org = (await node.api('POST', '/v1/organizations', { name: `Cluster ${tag}`, minimum_balance_to_start_session: 0 })).body;
  const rate = (await node.api('POST', '/v1/rates', { currency: 'USD', price_components: [{ type: 'ENERGY', price: priceCentsPerKwh }] })).body;
  let n = 0;
  return {
    org,
    rate,
    async station(ocppId: string) {
      const res = await node.api('POST', '/v1/chargestations', { ocpp_id: ocppId, organization: org._id, rate: rate._id });
      if (res.status !== 201) throw new Error(`station ${ocppId}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body as { _id: string; ocpp_id: string };
    },
    /** A driver whose wallet holds `balance` cents, with `tags` tokens (one per concurrent session). */
    async driver(balance: number, tags = 1) {
      n += 1;
      const user = (await node.api('POST', '/v1/users', { firstname: 'C', lastname: `${n}`, email: `cl-${tag}-${n}@example.com`, organization: org._id })).body;
      const wallet = (await node.api('GET', `/v1/users/${user._id}/wallet`)).body.wallet;
      if (balance) await node.api('POST', '/v1/top_up', { type: 'manual', wallet: wallet._id, amount: balance });
      const idTags: string[] = [];
      for (let i = 0; i < tags; i++) {
        const physicalId = `CL${tag}${n}T${i}`.slice(-20);
        await node.api('POST', '/v1/tokens', { physicalId, user: user._id });
        idTags.push(physicalId);
      }
      return { userId: user._id as string, walletId: wallet._id as string, idTags };
    },
  };
}

/**
 * Several real gateway processes (`src/main.ts`) on one fresh PostgreSQL database: node1, node2, …
 * on ports picked free. `db` reads the database directly (ledger and presence checks).
 */
export async function startCluster(size: number, env: Record<string, string> = {}) {
  const database: TestDatabase = await createPostgresDatabase();
  const nodes: ClusterNode[] = [];
  let handle: DbHandle | undefined;
  try {
    // Started together: the migrations' advisory lock sorts out who applies them.
    const started = await Promise.all(
      Array.from({ length: size }, async (_, i) => {
        const id = `node${i + 1}`;
        // A smaller pool than a production node's (20): CI runs two test files at once against
        // one PostgreSQL (max_connections 100), and three nodes at 20 + 4 signalling + 2 delivery
        // + 1 billing + 1 listening connections each, beside another file's gateway, can
        // exhaust it (with 8: 16 each).
        return Object.assign(await childGateway({ DATABASE_URL: database.url!, NODE_ID: id, DB_POOL_SIZE: '8', ...env }), { id });
      }),
    );
    nodes.push(...started);
    handle = await createDb({ databaseUrl: database.url });
  } catch (err) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await database.drop();
    throw err;
  }
  const db = handle.db;
  return {
    nodes,
    db,
    url: database.url!,
    /** the node holding `identity`, from the presence table (live leases only) */
    async presence(identity: string): Promise<string | undefined> {
      const row = await db
        .selectFrom('station_presence as p')
        .innerJoin('cluster_nodes as n', 'n.id', 'p.node_id')
        .select('p.node_id')
        .where('p.identity', '=', identity)
        .where('n.lease_until', '>', sql<Date>`now()`)
        .executeTakeFirst();
      return row?.node_id;
    },
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await handle!.close();
      await database.drop();
    },
  };
}
