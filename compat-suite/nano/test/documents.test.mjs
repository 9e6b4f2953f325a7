// Documents through nano: insert / get / head / destroy with revisions,
// 409 conflicts, revision options on get, conflicts made by replication-style
// writes, _local documents, _design documents, and bad input.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverForFile, freshDb, rejectsWith, REV } from '../lib/settee.mjs';

const { nano } = await serverForFile();

test('db.insert without an id (POST) gets a server uuid and a 1- rev', async () => {
  const { db } = await freshDb(nano, 'post');
  const r = await db.insert({ hello: 'world' });
  assert.deepEqual(Object.keys(r).sort(), ['id', 'ok', 'rev']);
  assert.equal(r.ok, true);
  assert.match(r.id, /^[0-9a-f]{32}$/);
  assert.match(r.rev, /^1-[0-9a-f]{32}$/);
  const doc = await db.get(r.id);
  assert.deepEqual(doc, { _id: r.id, _rev: r.rev, hello: 'world' });
});

test('db.insert(doc, id) (PUT) and db.insert({_id}) (POST) create named documents', async () => {
  const { db } = await freshDb(nano, 'put');
  const a = await db.insert({ v: 1 }, 'alpha');
  assert.deepEqual({ ok: a.ok, id: a.id }, { ok: true, id: 'alpha' });
  assert.match(a.rev, REV);
  const b = await db.insert({ _id: 'beta', v: 2 });
  assert.deepEqual({ ok: b.ok, id: b.id }, { ok: true, id: 'beta' });
  // The docName form with more query parameters.
  const c = await db.insert({ v: 3 }, { docName: 'gamma' });
  assert.equal(c.id, 'gamma');
  assert.equal((await db.get('alpha')).v, 1);
  assert.equal((await db.get('beta')).v, 2);
  assert.equal((await db.get('gamma')).v, 3);
  assert.equal((await db.info()).doc_count, 3);
});

test('updating with the current _rev gives generation 2; a stale _rev is 409 conflict', async () => {
  const { db } = await freshDb(nano, 'update');
  const first = await db.insert({ _id: 'd', v: 1 });
  const second = await db.insert({ _id: 'd', _rev: first.rev, v: 2 });
  assert.match(second.rev, /^2-[0-9a-f]{32}$/);
  assert.deepEqual(await db.get('d'), { _id: 'd', _rev: second.rev, v: 2 });

  const err = await rejectsWith(
    db.insert({ _id: 'd', _rev: first.rev, v: 3 }),
    409,
    'conflict',
    'Document update conflict.'
  );
  assert.equal(err.message, 'Document update conflict.');
  // Creating an existing document without a rev conflicts too (POST and PUT).
  await rejectsWith(db.insert({ _id: 'd', v: 4 }), 409, 'conflict', 'Document update conflict.');
  await rejectsWith(db.insert({ v: 4 }, 'd'), 409, 'conflict', 'Document update conflict.');
  // A rev given in the query string counts like _rev in the body.
  const viaQs = await db.insert({ v: 5 }, { docName: 'd', rev: second.rev });
  assert.match(viaQs.rev, /^3-/);
  assert.equal((await db.get('d')).v, 5);
});

test('db.destroy(id, rev) deletes; get is then 404 deleted; stale rev is 409, missing doc 404', async () => {
  const { db } = await freshDb(nano, 'destroy');
  const r = await db.insert({ _id: 'gone', v: 1 });
  await rejectsWith(db.destroy('gone', '1-00000000000000000000000000000000'), 409, 'conflict', 'Document update conflict.');
  const d = await db.destroy('gone', r.rev);
  assert.deepEqual({ ok: d.ok, id: d.id }, { ok: true, id: 'gone' });
  assert.match(d.rev, /^2-[0-9a-f]{32}$/);
  await rejectsWith(db.get('gone'), 404, 'not_found', 'deleted');
  await rejectsWith(db.get('never-was'), 404, 'not_found', 'missing');
  // The tombstone is still readable by rev, and the document can be recreated.
  const tomb = await db.get('gone', { rev: d.rev });
  assert.deepEqual(tomb, { _id: 'gone', _rev: d.rev, _deleted: true });
  const again = await db.insert({ _id: 'gone', v: 2 });
  assert.match(again.rev, /^3-/);
  const info = await db.info();
  assert.equal(info.doc_count, 1);
  assert.equal(info.doc_del_count, 0);
  // DELETE of a document that never existed is 404 (CouchDB opens it first), even with a rev.
  await rejectsWith(db.destroy('never-was', '1-00000000000000000000000000000000'), 404, 'not_found', 'missing');
});

test('db.info counts deleted documents in doc_del_count', async () => {
  const { db } = await freshDb(nano, 'delcount');
  const a = await db.insert({ _id: 'a' });
  await db.insert({ _id: 'b' });
  await db.destroy('a', a.rev);
  const info = await db.info();
  assert.equal(info.doc_count, 1);
  assert.equal(info.doc_del_count, 1);
});

test('db.get options: revs, revs_info, rev, open_revs, meta', async () => {
  const { db } = await freshDb(nano, 'getopts');
  const r1 = await db.insert({ _id: 'h', v: 1 });
  const r2 = await db.insert({ _id: 'h', _rev: r1.rev, v: 2 });
  const r3 = await db.insert({ _id: 'h', _rev: r2.rev, v: 3 });
  const hash = (rev) => rev.split('-')[1];

  const withRevs = await db.get('h', { revs: true });
  assert.deepEqual(withRevs._revisions, { start: 3, ids: [hash(r3.rev), hash(r2.rev), hash(r1.rev)] });

  const withInfo = await db.get('h', { revs_info: true });
  assert.deepEqual(withInfo._revs_info, [
    { rev: r3.rev, status: 'available' },
    { rev: r2.rev, status: 'available' },
    { rev: r1.rev, status: 'available' },
  ]);

  // An earlier revision is readable until compaction.
  assert.deepEqual(await db.get('h', { rev: r1.rev }), { _id: 'h', _rev: r1.rev, v: 1 });
  await rejectsWith(db.get('h', { rev: '1-00000000000000000000000000000000' }), 404, 'not_found', 'missing');

  // open_revs=all answers a JSON array of {ok: doc} (nano asks for JSON).
  const all = await db.get('h', { open_revs: 'all' });
  assert.deepEqual(all, [{ ok: { _id: 'h', _rev: r3.rev, v: 3 } }]);
  const some = await db.get('h', { open_revs: JSON.stringify([r3.rev, '1-00000000000000000000000000000000']) });
  assert.deepEqual(some, [{ ok: { _id: 'h', _rev: r3.rev, v: 3 } }, { missing: '1-00000000000000000000000000000000' }]);

  // meta=true adds revs_info (and conflicts / deleted_conflicts when there are any).
  const meta = await db.get('h', { meta: true });
  assert.equal(meta._revs_info.length, 3);
});

test('replicated (new_edits=false) writes make conflicts: winner, _conflicts, open_revs', async () => {
  const { db } = await freshDb(nano, 'conflicts');
  const low = '1-11111111111111111111111111111111';
  const high = '1-99999999999999999999999999999999';
  const res = await db.bulk({
    docs: [
      { _id: 'c', _rev: low, side: 'low' },
      { _id: 'c', _rev: high, side: 'high' },
    ],
    new_edits: false,
  });
  assert.deepEqual(res, [], 'new_edits=false answers only the failures');

  const doc = await db.get('c', { conflicts: true });
  assert.equal(doc._rev, high, 'the higher rev hash wins a same-generation tie');
  assert.equal(doc.side, 'high');
  assert.deepEqual(doc._conflicts, [low]);

  const open = await db.get('c', { open_revs: 'all' });
  assert.deepEqual(
    open.map((o) => o.ok._rev).sort(),
    [high, low].sort()
  );

  // Resolving: delete the loser, the conflict is gone and the loser shows in deleted_conflicts.
  const del = await db.destroy('c', low);
  assert.match(del.rev, /^2-/);
  const resolved = await db.get('c', { conflicts: true, deleted_conflicts: true });
  assert.equal(resolved._rev, high);
  assert.equal(resolved._conflicts, undefined);
  assert.deepEqual(resolved._deleted_conflicts, [del.rev], 'the tombstone leaf is listed');
});

test('db.head returns the headers with the ETag of the current rev; missing is 404', async () => {
  const { db } = await freshDb(nano, 'head');
  const r = await db.insert({ _id: 'x', v: 1 });
  const headers = await db.head('x');
  assert.equal(headers.etag, `"${r.rev}"`);
  assert.match(headers['content-type'], /^application\/json/);
  const r2 = await db.insert({ _id: 'x', _rev: r.rev, v: 2 });
  assert.equal((await db.head('x')).etag, `"${r2.rev}"`);
  const err = await rejectsWith(db.head('nope'), 404, undefined, undefined);
  assert.equal(err.statusCode, 404);
});

test('_local documents: 0-N revs, not in _all_docs/_changes/doc_count, last writer wins', async () => {
  const { db } = await freshDb(nano, 'local');
  // POST with a _local/ id, as nano's db.insert({_id}) sends it.
  const a = await db.insert({ _id: '_local/ckpt', seq: 1 });
  assert.deepEqual(a, { ok: true, id: '_local/ckpt', rev: '0-1' });
  assert.deepEqual(await db.get('_local/ckpt'), { _id: '_local/ckpt', _rev: '0-1', seq: 1 });
  // PUT (docName form) with the current rev increments it.
  const b = await db.insert({ _rev: '0-1', seq: 2 }, '_local/ckpt');
  assert.deepEqual(b, { ok: true, id: '_local/ckpt', rev: '0-2' });
  // CouchDB does not check _local revs: an update without _rev starts over at 0-1.
  const c = await db.insert({ seq: 3 }, '_local/ckpt');
  assert.deepEqual(c, { ok: true, id: '_local/ckpt', rev: '0-1' });
  assert.equal((await db.get('_local/ckpt')).seq, 3);
  await db.insert({ _id: 'normal' });
  const list = await db.list();
  assert.deepEqual(list.rows.map((row) => row.id), ['normal']);
  const changes = await db.changes();
  assert.deepEqual(changes.results.map((row) => row.id), ['normal']);
  assert.equal((await db.info()).doc_count, 1);

  const gone = await db.destroy('_local/ckpt', '0-1');
  assert.deepEqual(gone, { ok: true, id: '_local/ckpt', rev: '0-0' });
  await rejectsWith(db.get('_local/ckpt'), 404, 'not_found', 'missing');
});

test('a _local id with a slash: fine in a POST body and encoded; unencoded paths are refused', async () => {
  const { db, name } = await freshDb(nano, 'localslash');
  const s = await db.insert({ _id: '_local/repl/abc', v: 1 });
  assert.deepEqual(s, { ok: true, id: '_local/repl/abc', rev: '0-1' });
  const encoded = await nano.request({ db: name, path: `_local/${encodeURIComponent('repl/abc')}` });
  assert.deepEqual(encoded, { _id: '_local/repl/abc', _rev: '0-1', v: 1 });
  // nano leaves _local/ ids unencoded, so CouchDB reads /db/_local/repl/abc
  // as an attachment path of a _local document and refuses it.
  await rejectsWith(db.get('_local/repl/abc'), 400, 'bad_request', '_local documents do not accept attachments.');
});

test('_design documents are stored, listed in _all_docs and counted', async () => {
  const { db } = await freshDb(nano, 'design');
  const r = await db.insert({ views: { by_v: { map: 'function (doc) { emit(doc.v, null); }' } } }, '_design/app');
  assert.deepEqual({ ok: r.ok, id: r.id }, { ok: true, id: '_design/app' });
  const ddoc = await db.get('_design/app');
  assert.equal(ddoc._id, '_design/app');
  assert.equal(ddoc.views.by_v.map, 'function (doc) { emit(doc.v, null); }');
  const list = await db.list();
  assert.deepEqual(list.rows.map((row) => row.id), ['_design/app']);
  const del = await db.destroy('_design/app', r.rev);
  assert.equal(del.ok, true);
  await rejectsWith(db.get('_design/app'), 404, 'not_found', 'deleted');
});

test('ids with reserved characters and non-ASCII round-trip through nano', async () => {
  const { db } = await freshDb(nano, 'ids');
  const ids = ['a/b c', 'q?x=1&y#z', 'plus+percent%', 'üñí©ødé', '日本語', ' lead-space'];
  for (const id of ids) {
    const r = await db.insert({ id }, id);
    assert.equal(r.id, id);
    assert.equal((await db.get(id)).id, id);
  }
  const list = await db.list();
  assert.deepEqual(list.rows.map((row) => row.id).sort(), [...ids].sort());
});

test('bad input gets CouchDB errors: _-prefixed id, non-object body, bad rev', async () => {
  const { db } = await freshDb(nano, 'bad');
  await rejectsWith(
    db.insert({ v: 1 }, '_notreserved'),
    400,
    'illegal_docid',
    'Only reserved document ids may start with underscore.'
  );
  await rejectsWith(db.insert([1, 2, 3]), 400, 'bad_request', 'Document must be a JSON object');
  await rejectsWith(db.insert({ _id: 'r', _rev: 'not-a-rev' }), 400, 'bad_request', 'Invalid rev format');
  await rejectsWith(db.insert({ _id: 'r', _bogus: 1 }), 400, 'doc_validation', 'Bad special document member: _bogus');
});
