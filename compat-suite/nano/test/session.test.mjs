// Cookie sessions through nano: nano.auth (POST /_session, form-encoded),
// nano.session (GET /_session), the AuthSession cookie nano keeps in its jar,
// logout (DELETE /_session), and a non-admin user from the _users database.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';

import Nano from 'nano';
import { serverForFile, uniqueName, rejectsWith } from '../lib/settee.mjs';

const { srv, nano: admin } = await serverForFile();
const BOB = { name: `bob-${uniqueName('u').slice(-8)}`, password: 'bob-secret' };

before(async () => {
  // _users may not exist yet on a fresh server (CouchDB creates it at setup).
  try {
    await admin.db.create('_users');
  } catch (e) {
    if (e.statusCode !== 412) throw e;
  }
  await admin.use('_users').insert({
    _id: `org.couchdb.user:${BOB.name}`,
    name: BOB.name,
    password: BOB.password,
    roles: [],
    type: 'user',
  });
});

/** A nano client with no credentials of its own (only what its cookie jar gets). */
const anonymous = () => Nano(srv.plainUrl);

test('nano.session() without credentials is the anonymous user context', async () => {
  const s = await anonymous().session();
  // CouchDB 3.x leaves [chttpd_auth] authentication_db unset by default, so
  // info carries only the handler names.
  assert.deepEqual(s, {
    ok: true,
    userCtx: { name: null, roles: [] },
    info: { authentication_handlers: ['cookie', 'default'] },
  });
});

test('nano.session() with basic credentials says the default handler authenticated', async () => {
  const s = await admin.session();
  assert.equal(s.ok, true);
  assert.equal(s.userCtx.name, srv.admin.name);
  assert.ok(s.userCtx.roles.includes('_admin'));
  assert.equal(s.info.authenticated, 'default');
});

test('nano.auth(admin) logs in; the cookie then authenticates nano.session and admin calls', async () => {
  const nano = anonymous();
  const login = await nano.auth(srv.admin.name, srv.admin.password);
  assert.deepEqual(login, { ok: true, name: srv.admin.name, roles: ['_admin'] });
  const s = await nano.session();
  assert.deepEqual(s.userCtx, { name: srv.admin.name, roles: ['_admin'] });
  assert.equal(s.info.authenticated, 'cookie');
  assert.deepEqual(s.info.authentication_handlers, ['cookie', 'default']);
  // The cookie alone is enough for admin-only calls.
  const name = uniqueName('cookie');
  assert.deepEqual(await nano.db.create(name), { ok: true });
  assert.ok((await nano.db.list()).includes(name));
  await nano.db.destroy(name);
});

test('nano.auth with a wrong password is 401 unauthorized', async () => {
  const nano = anonymous();
  await rejectsWith(nano.auth(srv.admin.name, 'wrong'), 401, 'unauthorized', 'Name or password is incorrect.');
  await rejectsWith(nano.auth('nobody-at-all', 'x'), 401, 'unauthorized', 'Name or password is incorrect.');
  // No cookie was set: still anonymous.
  assert.equal((await nano.session()).userCtx.name, null);
});

test('a _users user logs in with nano.auth and is not a server admin', async () => {
  const nano = anonymous();
  const login = await nano.auth(BOB.name, BOB.password);
  assert.deepEqual(login, { ok: true, name: BOB.name, roles: [] });
  const s = await nano.session();
  assert.deepEqual(s.userCtx, { name: BOB.name, roles: [] });
  assert.equal(s.info.authenticated, 'cookie');
  await rejectsWith(nano.db.create(uniqueName('bob')), 401, 'unauthorized', 'You are not a server admin.');
  // CouchDB 3.x creates databases admin-only (default_security = admin_only)...
  const name = uniqueName('members');
  await admin.db.create(name);
  await rejectsWith(nano.use(name).insert({ by: BOB.name }), 403, 'forbidden', 'You are not allowed to access this db.');
  // ...until the security object names the user as a member.
  const security = { admins: { names: [], roles: [] }, members: { names: [BOB.name], roles: [] } };
  assert.deepEqual(await admin.request({ db: name, path: '_security', method: 'PUT', body: security }), { ok: true });
  const r = await nano.use(name).insert({ by: BOB.name });
  assert.equal(r.ok, true);
  assert.equal((await nano.use(name).get(r.id)).by, BOB.name);
  await admin.db.destroy(name);
});

test('DELETE /_session logs out: the cookie is cleared', async () => {
  const nano = anonymous();
  await nano.auth(BOB.name, BOB.password);
  assert.equal((await nano.session()).userCtx.name, BOB.name);
  assert.deepEqual(await nano.request({ db: '_session', method: 'DELETE' }), { ok: true });
  assert.equal((await nano.session()).userCtx.name, null);
});

test('the user document hides the password: password_sha / derived_key replace it', async () => {
  const doc = await admin.use('_users').get(`org.couchdb.user:${BOB.name}`);
  assert.equal(doc.password, undefined, 'the plain password is not stored');
  assert.equal(doc.type, 'user');
  assert.ok(doc.derived_key || doc.password_sha, 'a password hash is stored');
  assert.ok(doc.salt);
});
