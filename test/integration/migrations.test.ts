import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createDb, parseInt8, preparedStatement } from '../../src/db/index.ts';
import { migrateToLatest, MIGRATIONS_DIR } from '../../src/db/migrate.ts';
import { createPostgresDatabase, migratedDb, ON_POSTGRES, POSTGRES_URL } from '../helpers/db.ts';

const EXPECTED_TABLES = [
  'alerts', 'api_keys', 'charge_stations', 'charging_profiles', 'cluster_jobs', 'cluster_nodes',
  'connectors', 'console_sessions', 'ledger_entries', 'organizations', 'outbox_events', 'rates',
  'reservations', 'sessions', 'station_calls', 'station_capabilities', 'station_commands', 'station_presence', 'station_reports',
  'tokens', 'top_ups', 'users', 'wallets', 'webhook_attempts', 'webhook_deliveries', 'webhooks',
];

async function tablesOf(db: Parameters<typeof migrateToLatest>[0]) {
  const { rows } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name not like 'kysely_%' order by table_name`.execute(db);
  return rows.map((r) => r.table_name);
}

const kinds = ['pglite', ...(ON_POSTGRES ? (['postgres'] as const) : [])] as const;

describe.each(kinds)('migrations on %s', (kind) => {
  it('create the schema and the Default organization; a second run applies nothing', async () => {
    const h = await migratedDb(kind, { fromScratch: true });
    try {
      expect(h.kind).toBe(kind);
      const files = (await import('node:fs')).readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
      expect(h.applied).toEqual(files.sort());
      expect(await tablesOf(h.db)).toEqual(EXPECTED_TABLES);
      const orgs = await h.db.selectFrom('organizations').selectAll().execute();
      expect(orgs).toHaveLength(1);
      expect(orgs[0]).toMatchObject({
        name: 'Default',
        is_default: true,
        currency: 'USD',
        test_mode: false,
        minimum_balance_to_start_session: 2000,
      });
      expect(await migrateToLatest(h.db)).toEqual([]);
    } finally {
      await h.dispose();
    }
  });

  it('int8 columns come back as numbers, timestamps as Dates, jsonb as objects', async () => {
    const h = await migratedDb(kind);
    try {
      const org = await h.db.selectFrom('organizations').selectAll().executeTakeFirstOrThrow();
      expect(typeof org.minimum_balance_to_start_session).toBe('number');
      expect(org.created_at).toBeInstanceOf(Date);
      const big = await sql<{ v: number }>`select 9007199254740991::bigint as v`.execute(h.db);
      expect(big.rows[0]!.v).toBe(Number.MAX_SAFE_INTEGER);
      await expect(sql`select 9007199254740993::bigint as v`.execute(h.db)).rejects.toThrow(/exactly representable/);
      await h.db
        .insertInto('charge_stations')
        .values({ id: 'a'.repeat(24), ocpp_id: 'J1', organization_id: org.id, password_hash: null })
        .execute();
      const st = await h.db.selectFrom('charge_stations').select('configuration').executeTakeFirstOrThrow();
      expect(st.configuration).toEqual({});
    } finally {
      await h.dispose();
    }
  });

  it('enforces the constraints the code relies on', async () => {
    const h = await migratedDb(kind);
    try {
      const org = await h.db.selectFrom('organizations').select('id').executeTakeFirstOrThrow();
      const station = { id: 'b'.repeat(24), ocpp_id: 'DUP', organization_id: org.id, password_hash: null };
      await h.db.insertInto('charge_stations').values(station).execute();
      await expect(
        h.db.insertInto('charge_stations').values({ ...station, id: 'c'.repeat(24) }).execute(),
      ).rejects.toMatchObject({ code: '23505' });
      await expect(
        h.db.insertInto('organizations').values({ id: 'd'.repeat(24), name: 'Second default', is_default: true }).execute(),
      ).rejects.toMatchObject({ code: '23505' });
      await expect(
        h.db
          .insertInto('connectors')
          .values({ station_id: station.id, connector_id: -1, status: null, error_code: null, info: null, vendor_id: null, vendor_error_code: null, status_at: null })
          .execute(),
      ).rejects.toMatchObject({ code: '23514' });
    } finally {
      await h.dispose();
    }
  });
});

describe('parseInt8', () => {
  it.each([
    ['0', 0],
    ['-42', -42],
    ['9007199254740991', 9007199254740991],
  ])('%s → %d', (text, value) => expect(parseInt8(text)).toBe(value));
  it('refuses what a number cannot hold exactly', () => {
    expect(() => parseInt8('9007199254740992')).toThrow(RangeError);
  });
});

describe.skipIf(!ON_POSTGRES)('migrations on PostgreSQL with several instances starting at once', () => {
  it('apply each migration exactly once', async () => {
    const target = await createPostgresDatabase(POSTGRES_URL);
    const handles = await Promise.all(
      Array.from({ length: 5 }, () => createDb({ databaseUrl: target.url, poolSize: 2 })),
    );
    try {
      const applied = await Promise.all(handles.map((h) => migrateToLatest(h.db)));
      const all = applied.flat();
      expect(all.length).toBeGreaterThan(0);
      expect(new Set(all).size).toBe(all.length); // each name applied by one instance only
      const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(handles[0]!.db);
      expect(rows.rows.map((r) => r.name).sort()).toEqual([...all].sort());
      const orgs = await handles[0]!.db.selectFrom('organizations').select('id').execute();
      expect(orgs).toHaveLength(1);
    } finally {
      await Promise.all(handles.map((h) => h.close()));
      await target.drop();
    }
  });
});

describe('prepared statements', () => {
  it('a marked statement runs as a named prepared statement on PostgreSQL, as plain SQL on PGlite', async () => {
    const marked = (n: number) => sql<{ x: number }>`${sql.raw(preparedStatement('probe_statement'))} select ${n}::int as x`;
    const target = ON_POSTGRES ? await createPostgresDatabase(POSTGRES_URL) : undefined;
    const h = target ? await createDb({ databaseUrl: target.url, poolSize: 1 }) : await createDb({ dataDir: 'memory://' });
    try {
      expect((await marked(1).execute(h.db)).rows).toEqual([{ x: 1 }]);
      expect((await marked(2).execute(h.db)).rows).toEqual([{ x: 2 }]);
      if (target) {
        const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(h.db);
        expect(rows.map((r) => r.name)).toContain('probe_statement');
      }
    } finally {
      await h.close();
      await target?.drop();
    }
  });

  it('names are plain identifiers', () => {
    expect(() => preparedStatement('x; drop table wallets')).toThrow(/bad prepared statement name/);
  });
});

describe('the embedded database directory', () => {
  it('cannot be opened by two gateways at once', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-lock-'));
    const first = await createDb({ dataDir: dir });
    try {
      await expect(createDb({ dataDir: dir })).rejects.toThrow(/in use by another gateway process/);
    } finally {
      await first.close();
    }
    const again = await createDb({ dataDir: dir });
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
