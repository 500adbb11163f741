import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, uniqueIdentity, type TestGateway } from '../helpers/gateway.ts';
import { eventually, handshakeStatus, stationClient } from '../helpers/station.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.stop();
});

describe('admin API: charge stations', () => {
  it('creates, reads, lists and updates a station; the password is write-only', async () => {
    const id = uniqueIdentity();
    const created = await gw.api('POST', '/v1/chargestations', { ocpp_id: id, password: 'abcdefgh1234' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ocpp_id: id, active: true, password_set: true, online: false, connectors: [] });
    expect(created.body._id).toMatch(/^[0-9a-f]{24}$/);
    expect(JSON.stringify(created.body)).not.toContain('abcdefgh1234');
    expect(created.body).not.toHaveProperty('password_hash');

    const got = await gw.api('GET', `/v1/chargestations/${created.body._id}`);
    expect(got.status).toBe(200);
    // the one station read also says what the gateway has learnt of it: nothing yet
    const { capabilities, ...station } = got.body;
    expect(station).toEqual(created.body);
    expect(capabilities).toMatchObject({ trigger_meter_values: null, smart_charging: null, stop_delay_s: { energy: null, time: null } });

    const patched = await gw.api('PATCH', `/v1/chargestations/${created.body._id}`, { password: null });
    expect(patched.status).toBe(200);
    expect(patched.body.password_set).toBe(false);
    // without a password the station now connects with no Basic auth
    const c = stationClient(gw.ocppUrl, id);
    await c.connect();
    expect((await gw.api('GET', `/v1/chargestations/${created.body._id}`)).body.online).toBe(true);
    await c.close();
  });

  it('puts new stations in the Default organization, and refuses an unknown organization (404)', async () => {
    const a = await gw.api('POST', '/v1/chargestations', { ocpp_id: uniqueIdentity() });
    const b = await gw.api('POST', '/v1/chargestations', { ocpp_id: uniqueIdentity() });
    expect(a.body.organization).toBe(b.body.organization);
    const bad = await gw.api('POST', '/v1/chargestations', { ocpp_id: uniqueIdentity(), organization: '000000000000000000000000' });
    expect(bad.status).toBe(404);
    expect(bad.body.error.code).toBe('not_found');
  });

  it('lists with limit and cursor until next_cursor is null', async () => {
    for (let i = 0; i < 5; i++) await gw.api('POST', '/v1/chargestations', { ocpp_id: uniqueIdentity('LIST') });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: any } = await gw.api('GET', `/v1/chargestations?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((s: any) => s._id));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor && pages < 100);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
  });

  it('deactivating (DELETE) keeps the station, marks it inactive and disconnects it', async () => {
    const id = uniqueIdentity();
    const created = await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const c = stationClient(gw.ocppUrl, id);
    await c.connect();
    const closed = new Promise<{ code: number }>((r) => c.once('close', r));
    const del = await gw.api('DELETE', `/v1/chargestations/${created.body._id}`);
    expect(del.status).toBe(200);
    expect(del.body.active).toBe(false);
    await closed;
    await eventually(() => !gw.app.ocpp.connections.isOnline(id));
    expect((await gw.api('GET', `/v1/chargestations/${created.body._id}`)).body.active).toBe(false);
    expect(await handshakeStatus(stationClient(gw.ocppUrl, id))).toBe(404);
    // reactivation lets it back in
    await gw.api('PATCH', `/v1/chargestations/${created.body._id}`, { active: true });
    const again = stationClient(gw.ocppUrl, id);
    await again.connect();
    await again.close();
  });

  it('answers each error with {error: {code, message, details}} and the right status', async () => {
    const id = uniqueIdentity();
    await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    const dup = await gw.api('POST', '/v1/chargestations', { ocpp_id: id });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('ocpp_id_taken');

    const unknownField = await gw.api('POST', '/v1/chargestations', { ocpp_id: uniqueIdentity(), colour: 'red' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.code).toBe('validation_error');
    expect(unknownField.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'colour' })]));

    const badId = await gw.api('POST', '/v1/chargestations', { ocpp_id: 'has/slash' });
    expect(badId.status).toBe(400);
    expect(badId.body.error.details[0]).toMatchObject({ in: 'body', field: 'ocpp_id' });

    const shortPw = await gw.api('POST', '/v1/chargestations', { ocpp_id: uniqueIdentity(), password: 'short' });
    expect(shortPw.status).toBe(400);
    expect(shortPw.body.error.details[0].field).toBe('password');

    const missing = await gw.api('GET', '/v1/chargestations/0123456789abcdef01234567');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');

    const malformedId = await gw.api('GET', '/v1/chargestations/not-an-id');
    expect(malformedId.status).toBe(400);
    expect(malformedId.body.error.details[0]).toMatchObject({ in: 'params', field: 'id' });

    const badCursor = await gw.api('GET', '/v1/chargestations?cursor=zzz');
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.error.details).toMatchObject({ field: 'cursor' });

    const badLimit = await gw.api('GET', '/v1/chargestations?limit=0');
    expect(badLimit.status).toBe(400);

    const res = await fetch(gw.adminUrl + '/v1/chargestations', {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.apiKey}`, 'content-type': 'application/json' },
      body: '{"ocpp_id": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe('invalid_json');

    const noRoute = await gw.api('GET', '/v1/nothing-here');
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error.code).toBe('not_found');
  });

  it('requires the Bearer key (401) except on /healthz; the OpenAPI document describes the routes', async () => {
    const none = await fetch(gw.adminUrl + '/v1/chargestations');
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error.code).toBe('unauthorized');
    const wrong = await gw.api('GET', '/v1/chargestations', undefined, { authorization: 'Bearer not-the-key' });
    expect(wrong.status).toBe(401);
    const basic = await gw.api('GET', '/v1/chargestations', undefined, { authorization: 'Basic Zm9vOmJhcg==' });
    expect(basic.status).toBe(401);

    const health = await fetch(gw.adminUrl + '/healthz');
    expect(health.status).toBe(200);

    const doc: any = await (await fetch(gw.adminUrl + "/v1/openapi.json")).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/chargestations', '/v1/chargestations/{id}']),
    );
    const post = doc.paths['/v1/chargestations'].post;
    const schema = post.requestBody.content['application/json'].schema;
    expect(schema.properties).toHaveProperty('ocpp_id');
    expect(schema.additionalProperties).toBe(false);
    const docs = await fetch(gw.adminUrl + '/v1/docs/');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<html');
  });
});

describe('bootstrap API key', () => {
  // Two real embedded databases on disk (initdb, migrations): slow on a busy machine.
  it('is created and returned once at first start when ADMIN_API_KEY is unset, stored hashed', { timeout: 120_000 }, async () => {
    // PGlite must keep its files across the restart: use a data directory on disk.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gw-bootstrap-'));
    const env = { DATA_DIR: dataDir };
    const first = await startGateway({ noAdminKey: true, env });
    try {
      expect(first.bootstrapApiKey).toMatch(/^gw_/);
      const ok = await first.api('GET', '/v1/chargestations');
      expect(ok.status).toBe(200);
      const stored = await first.app.db.selectFrom('api_keys').selectAll().execute();
      expect(stored).toHaveLength(1);
      expect(JSON.stringify(stored)).not.toContain(first.bootstrapApiKey!);
      expect(first.logs.join('\n')).not.toContain(first.bootstrapApiKey!);
    } finally {
      await first.app.stop();
    }
    // a restart on the same database does not create another key, and the first still works
    const second = await startGateway({ noAdminKey: true, database: first.database, env });
    try {
      expect(second.bootstrapApiKey).toBeUndefined();
      const res = await fetch(second.adminUrl + '/v1/chargestations', {
        headers: { authorization: `Bearer ${first.bootstrapApiKey}` },
      });
      expect(res.status).toBe(200);
    } finally {
      await second.stop();
      await first.database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
