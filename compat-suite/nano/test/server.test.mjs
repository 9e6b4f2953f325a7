// Server-level calls through nano: the welcome document, _uuids, and
// database create / get / destroy / list with CouchDB 3.x shapes and errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import Nano from 'nano';
import { serverForFile, uniqueName, rejectsWith } from '../lib/settee.mjs';

const { srv, nano } = await serverForFile();

test('nano.info() returns the CouchDB welcome document', async () => {
  const info = await nano.info();
  assert.equal(info.couchdb, 'Welcome');
  assert.match(info.version, /^3\.\d+\.\d+/);
  assert.match(info.uuid, /^[0-9a-f]{32}$/);
  assert.ok(Array.isArray(info.features), 'features is a list');
  assert.equal(typeof info.vendor, 'object');
  assert.equal(typeof info.vendor.name, 'string');
});

test("nano.request('/') and request({ path: '' }) reach the root too", async () => {
  const a = await nano.request('/');
  const b = await nano.request({ path: '' });
  assert.equal(a.couchdb, 'Welcome');
  assert.equal(b.couchdb, 'Welcome');
  assert.equal(a.uuid, b.uuid, 'the server uuid is stable');
});

test('nano.uuids(n) returns n distinct 32-hex-digit uuids', async () => {
  const one = await nano.uuids();
  assert.equal(one.uuids.length, 1);
  const many = await nano.uuids(10);
  assert.deepEqual(Object.keys(many), ['uuids']);
  assert.equal(many.uuids.length, 10);
  for (const u of many.uuids) assert.match(u, /^[0-9a-f]{32}$/);
  assert.equal(new Set(many.uuids).size, 10);
});

test('db.create answers {ok:true}; db.get returns the database info', async () => {
  const name = uniqueName('create');
  assert.deepEqual(await nano.db.create(name), { ok: true });
  const info = await nano.db.get(name);
  assert.equal(info.db_name, name);
  assert.equal(info.doc_count, 0);
  assert.equal(info.doc_del_count, 0);
  assert.equal(typeof info.update_seq, 'string', 'update_seq is an opaque string in 3.x');
  assert.equal(typeof info.purge_seq, 'string');
  assert.equal(info.compact_running, false);
  for (const k of ['file', 'external', 'active']) assert.equal(typeof info.sizes[k], 'number', `sizes.${k}`);
  assert.equal(typeof info.instance_start_time, 'string');
  assert.equal(typeof info.cluster, 'object');
  // The same through the database scope.
  const viaUse = await nano.use(name).info();
  assert.equal(viaUse.db_name, name);
  await nano.db.destroy(name);
});

test('db.create of an existing database is 412 file_exists', async () => {
  const name = uniqueName('dup');
  await nano.db.create(name);
  await rejectsWith(
    nano.db.create(name),
    412,
    'file_exists',
    'The database could not be created, the file already exists.'
  );
  await nano.db.destroy(name);
});

test('db.create with an illegal name is 400 illegal_database_name', async () => {
  const err = await rejectsWith(nano.db.create('Bad-Name'), 400, 'illegal_database_name');
  assert.equal(
    err.reason,
    "Name: 'Bad-Name'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."
  );
  // nano surfaces the reason as the Error message.
  assert.equal(err.message, err.reason);
});

test('db.get / db.destroy of a missing database are 404 not_found', async () => {
  const name = uniqueName('missing');
  await rejectsWith(nano.db.get(name), 404, 'not_found', 'Database does not exist.');
  await rejectsWith(nano.db.destroy(name), 404, 'not_found', 'Database does not exist.');
  await rejectsWith(nano.use(name).get('x'), 404, 'not_found', 'Database does not exist.');
});

test('db.destroy answers {ok:true} and the database is gone', async () => {
  const name = uniqueName('destroy');
  await nano.db.create(name);
  assert.deepEqual(await nano.db.destroy(name), { ok: true });
  await rejectsWith(nano.db.get(name), 404, 'not_found', 'Database does not exist.');
  assert.ok(!(await nano.db.list()).includes(name));
});

test('db.list returns the sorted database names', async () => {
  const prefix = uniqueName('list');
  const names = [`${prefix}-b`, `${prefix}-a`, `${prefix}-c`];
  for (const n of names) await nano.db.create(n);
  const all = await nano.db.list();
  assert.ok(Array.isArray(all));
  assert.deepEqual(
    all.filter((n) => n.startsWith(prefix)),
    [...names].sort()
  );
  assert.deepEqual(all, [...all].sort(), '_all_dbs is sorted');
  // _all_dbs takes the usual key-range parameters (nano JSON-encodes them).
  const ranged = await nano.request({
    db: '_all_dbs',
    qs: { startkey: `${prefix}-b`, endkey: `${prefix}-c`, limit: 5 },
  });
  assert.deepEqual(ranged, [`${prefix}-b`, `${prefix}-c`]);
  const desc = await nano.request({ db: '_all_dbs', qs: { startkey: `${prefix}-b`, descending: true, limit: 2 } });
  assert.deepEqual(desc, [`${prefix}-b`, `${prefix}-a`]);
  for (const n of names) await nano.db.destroy(n);
});

test('a database name with a slash works through nano (encoded as %2F)', async () => {
  const name = `${uniqueName('slash')}/sub`;
  await nano.db.create(name);
  const db = nano.use(name);
  const r = await db.insert({ _id: 'x', v: 1 });
  assert.equal(r.ok, true);
  assert.equal((await db.get('x')).v, 1);
  assert.equal((await db.info()).db_name, name);
  assert.ok((await nano.db.list()).includes(name));
  await nano.db.destroy(name);
});

test('without credentials, admin-only calls are 401 unauthorized', async () => {
  const anon = Nano(srv.plainUrl);
  await rejectsWith(anon.db.create(uniqueName('anon')), 401, 'unauthorized', 'You are not a server admin.');
  // Wrong credentials are refused too, with CouchDB's reason.
  const u = new URL(srv.plainUrl);
  u.username = 'admin';
  u.password = 'not-the-password';
  await rejectsWith(Nano(u.toString()).db.list(), 401, 'unauthorized', 'Name or password is incorrect.');
});
