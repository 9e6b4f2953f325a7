// @cloudant/couchbackup against Settee, as a new user would run it: the
// couchbackup command backs up a Settee database to a file, and
// couchrestore restores that file into a new Settee database and, when
// COUCHDB_URL names a real CouchDB 3.x, into CouchDB too. Every restored
// database must hold the same documents, with the same revisions, as the
// source. (The Cloudant SDK under these tools sends its request bodies
// gzip-compressed: _bulk_get for a backup, _bulk_docs for a restore.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { admin, fromUrl, server, withCredentials } from '../lib/settee.mjs';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.bin');
const couchdb = process.env.COUCHDB_URL ? fromUrl(process.env.COUCHDB_URL) : null;

let srv;
let dir;
const stamp = Date.now();
const source = `backup-src-${stamp}`;
/** Databases to delete afterwards: [server, name]. */
const made = [];

/** Runs a couchbackup tool with the database in its environment. */
function run(tool, target, db, args, stdinFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(bin, tool), args, {
      env: { ...process.env, COUCH_URL: withCredentials(target), COUCH_DATABASE: db },
      stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${tool} exited ${code}:\n${out}`));
    });
  });
}

async function createDb(target, name) {
  const r = await admin(target, 'PUT', `/${name}`);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  made.push([target, name]);
}

/** Every document's winning revision and body, and every conflict, by
 * id; and the deleted document, with its revision history. */
async function contents(target, db) {
  const r = await admin(target, 'GET', `/${db}/_all_docs?include_docs=true&conflicts=true`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const gone = await admin(target, 'GET', `/${db}/gone`);
  assert.deepEqual(gone, { status: 404, body: { error: 'not_found', reason: 'deleted' } });
  const changes = await admin(target, 'GET', `/${db}/_changes?style=all_docs`);
  const deletion = changes.body.results.find((c) => c.id === 'gone');
  return { docs: r.body.rows.map((row) => row.doc), deleted: deletion };
}

before(async () => {
  srv = await server();
  dir = mkdtempSync(path.join(os.tmpdir(), 'settee-backup-'));
  await createDb(srv, source);
  const docs = [];
  for (let i = 0; i < 1200; i++) {
    docs.push({ _id: `doc-${String(i).padStart(5, '0')}`, n: i, even: i % 2 === 0, tags: ['a', `t${i % 7}`] });
  }
  docs.push({ _id: 'unicode-é-☃', text: 'crème brûlée ☕', nested: { deep: { list: [1, 2.5, null, true] } } });
  docs.push({ _id: '_design/app', language: 'query', views: {} });
  let r = await admin(srv, 'POST', `/${source}/_bulk_docs`, { docs });
  assert.equal(r.status, 201);
  // a document edited twice, and one deleted
  r = await admin(srv, 'PUT', `/${source}/edited`, { v: 1 });
  r = await admin(srv, 'PUT', `/${source}/edited`, { v: 2, _rev: r.body.rev });
  r = await admin(srv, 'PUT', `/${source}/edited`, { v: 3, _rev: r.body.rev });
  assert.equal(r.status, 201);
  r = await admin(srv, 'PUT', `/${source}/gone`, { v: 1 });
  r = await admin(srv, 'DELETE', `/${source}/gone?rev=${r.body.rev}`);
  assert.equal(r.status, 200);
});

after(async () => {
  for (const [target, name] of made) await admin(target, 'DELETE', `/${name}`);
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('couchbackup and couchrestore', async (t) => {
  const file = () => path.join(dir, 'backup.txt');
  let expected;

  await t.test('couchbackup backs up a Settee database', async () => {
    await run('couchbackup', srv, source, ['--output', file(), '--log', path.join(dir, 'backup.log')]);
    const text = readFileSync(file(), 'utf8');
    const header = JSON.parse(text.split('\n')[0]);
    assert.equal(header.name, '@cloudant/couchbackup');
    const saved = text
      .split('\n')
      .slice(1)
      .filter((l) => l.trim())
      .flatMap((l) => JSON.parse(l));
    const ids = new Set(saved.map((d) => d._id));
    // the deleted document is backed up too, as its deletion
    assert.equal(ids.size, 1204);
    assert.ok(ids.has('unicode-é-☃') && ids.has('_design/app') && ids.has('edited'));
    assert.equal(saved.find((d) => d._id === 'gone')._deleted, true);
    assert.equal(saved.find((d) => d._id === 'edited')._rev.split('-')[0], '3');
    expected = await contents(srv, source);
    assert.equal(expected.docs.length, 1203);
  });

  await t.test('couchrestore restores it into Settee', async () => {
    const target = `backup-restored-${stamp}`;
    await createDb(srv, target);
    await run('couchrestore', srv, target, [], file());
    const got = await contents(srv, target);
    assert.deepEqual(got.docs, expected.docs);
    assert.equal(got.deleted.deleted, true);
    assert.deepEqual(got.deleted.changes, expected.deleted.changes);
  });

  await t.test(
    'couchrestore restores it into CouchDB, the same',
    { skip: couchdb ? false : 'COUCHDB_URL is not set' },
    async () => {
      const target = `settee-backup-restored-${stamp}`;
      await createDb(couchdb, target);
      await run('couchrestore', couchdb, target, [], file());
      const got = await contents(couchdb, target);
      assert.deepEqual(got.docs, expected.docs);
      assert.deepEqual(got.deleted.changes, expected.deleted.changes);
    },
  );
});
