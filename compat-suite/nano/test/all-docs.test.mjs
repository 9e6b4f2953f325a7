// _all_docs and _bulk_docs through nano: db.list with its query parameters,
// db.fetch / db.fetchRevs (POST _all_docs with keys) and db.bulk.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverForFile, freshDb, makeDocs, rejectsWith, REV } from '../lib/settee.mjs';

const { nano } = await serverForFile();

/** A database holding doc-0000 … doc-(n-1); returns { db, revs } with revs by id. */
async function filled(tag, n = 10) {
  const { db, name } = await freshDb(nano, tag);
  const res = await db.bulk({ docs: makeDocs(n) });
  const revs = Object.fromEntries(res.map((r) => [r.id, r.rev]));
  return { db, name, revs };
}

const ids = (body) => body.rows.map((r) => r.id);

test('db.list(): total_rows, offset and {id, key, value:{rev}} rows in id order', async () => {
  const { db, revs } = await filled('plain', 5);
  const body = await db.list();
  assert.deepEqual(Object.keys(body).sort(), ['offset', 'rows', 'total_rows']);
  assert.equal(body.total_rows, 5);
  assert.equal(body.offset, 0);
  assert.deepEqual(
    body.rows,
    Object.keys(revs)
      .sort()
      .map((id) => ({ id, key: id, value: { rev: revs[id] } }))
  );
});

test('db.list({include_docs}) embeds each document', async () => {
  const { db, revs } = await filled('include', 3);
  const body = await db.list({ include_docs: true });
  assert.deepEqual(body.rows[1], {
    id: 'doc-0001',
    key: 'doc-0001',
    value: { rev: revs['doc-0001'] },
    doc: { _id: 'doc-0001', _rev: revs['doc-0001'], n: 1, even: false },
  });
});

test('db.list key ranges: startkey/endkey, inclusive_end, start_key/end_key, key', async () => {
  const { db } = await filled('range');
  assert.deepEqual(ids(await db.list({ startkey: 'doc-0003', endkey: 'doc-0005' })), ['doc-0003', 'doc-0004', 'doc-0005']);
  assert.deepEqual(
    ids(await db.list({ startkey: 'doc-0003', endkey: 'doc-0005', inclusive_end: false })),
    ['doc-0003', 'doc-0004']
  );
  assert.deepEqual(ids(await db.list({ start_key: 'doc-0008', end_key: 'doc-0099' })), ['doc-0008', 'doc-0009']);
  assert.deepEqual(ids(await db.list({ key: 'doc-0007' })), ['doc-0007']);
  // Offset counts the rows before the start key.
  const body = await db.list({ startkey: 'doc-0003', limit: 1 });
  assert.equal(body.offset, 3);
  assert.equal(body.total_rows, 10);
  // key= is a one-key range, not a keys lookup: a missing id gives no row at all.
  assert.deepEqual((await db.list({ key: 'nope' })).rows, []);
  const one = await db.list({ key: 'doc-0007' });
  assert.equal(one.offset, 7);
});

test('db.list descending, limit and skip', async () => {
  const { db } = await filled('desc');
  assert.deepEqual(ids(await db.list({ descending: true, limit: 3 })), ['doc-0009', 'doc-0008', 'doc-0007']);
  // With descending the start key is the high end.
  assert.deepEqual(
    ids(await db.list({ descending: true, startkey: 'doc-0005', endkey: 'doc-0003' })),
    ['doc-0005', 'doc-0004', 'doc-0003']
  );
  assert.deepEqual(ids(await db.list({ descending: true, startkey: 'doc-0003', endkey: 'doc-0005' })), []);
  const paged = await db.list({ skip: 2, limit: 3 });
  assert.deepEqual(ids(paged), ['doc-0002', 'doc-0003', 'doc-0004']);
  assert.equal(paged.offset, 2);
  assert.deepEqual(ids(await db.list({ limit: 0 })), []);
});

test('db.list sorts ids raw (by code point), not by ICU collation', async () => {
  const { db } = await freshDb(nano, 'raw');
  await db.bulk({ docs: ['b', 'A', 'a', '_design/d', 'B', 'é', '1'].map((_id) => ({ _id })) });
  assert.deepEqual(ids(await db.list()), ['1', 'A', 'B', '_design/d', 'a', 'b', 'é']);
});

test('db.list({update_seq:true}) adds the database update_seq; conflicts with include_docs', async () => {
  const { db } = await filled('seq', 2);
  const body = await db.list({ update_seq: true });
  assert.equal(typeof body.update_seq, 'string');
  assert.equal(body.update_seq, (await db.info()).update_seq);

  await db.bulk({ docs: [{ _id: 'doc-0000', _rev: '1-ffffffffffffffffffffffffffffffff', x: 1 }], new_edits: false });
  const withConflicts = await db.list({ include_docs: true, conflicts: true, key: 'doc-0000' });
  assert.equal(withConflicts.rows[0].doc._rev, '1-ffffffffffffffffffffffffffffffff');
  assert.equal(withConflicts.rows[0].doc._conflicts.length, 1);
});

test('db.list({keys}) (GET with a JSON keys parameter) returns rows in key order', async () => {
  const { db } = await filled('getkeys', 5);
  const body = await db.list({ keys: ['doc-0003', 'doc-0001', 'missing'] });
  assert.deepEqual(body.rows.map((r) => r.key), ['doc-0003', 'doc-0001', 'missing']);
  assert.deepEqual(body.rows[2], { key: 'missing', error: 'not_found' });
});

test('db.fetch({keys}): docs in key order, not_found and deleted rows as CouchDB shapes them', async () => {
  const { db, revs } = await filled('fetch', 5);
  const del = await db.destroy('doc-0002', revs['doc-0002']);
  const body = await db.fetch({ keys: ['doc-0004', 'doc-0002', 'nope', 'doc-0000', 'doc-0004'] });
  assert.equal(body.total_rows, 4);
  assert.equal(body.offset, null, 'a keys query has no offset');
  assert.deepEqual(body.rows, [
    {
      id: 'doc-0004',
      key: 'doc-0004',
      value: { rev: revs['doc-0004'] },
      doc: { _id: 'doc-0004', _rev: revs['doc-0004'], n: 4, even: true },
    },
    { id: 'doc-0002', key: 'doc-0002', value: { rev: del.rev, deleted: true }, doc: null },
    { key: 'nope', error: 'not_found' },
    {
      id: 'doc-0000',
      key: 'doc-0000',
      value: { rev: revs['doc-0000'] },
      doc: { _id: 'doc-0000', _rev: revs['doc-0000'], n: 0, even: true },
    },
    {
      id: 'doc-0004',
      key: 'doc-0004',
      value: { rev: revs['doc-0004'] },
      doc: { _id: 'doc-0004', _rev: revs['doc-0004'], n: 4, even: true },
    },
  ]);
});

test('db.fetchRevs({keys}): revs only, deleted and missing rows included', async () => {
  const { db, revs } = await filled('fetchrevs', 3);
  const del = await db.destroy('doc-0001', revs['doc-0001']);
  const body = await db.fetchRevs({ keys: ['doc-0000', 'doc-0001', 'zzz'] });
  assert.deepEqual(body.rows, [
    { id: 'doc-0000', key: 'doc-0000', value: { rev: revs['doc-0000'] } },
    { id: 'doc-0001', key: 'doc-0001', value: { rev: del.rev, deleted: true } },
    { key: 'zzz', error: 'not_found' },
  ]);
});

test('deleted documents leave db.list but stay reachable by keys', async () => {
  const { db, revs } = await filled('deleted', 3);
  await db.destroy('doc-0001', revs['doc-0001']);
  const body = await db.list();
  assert.deepEqual(ids(body), ['doc-0000', 'doc-0002']);
  assert.equal(body.total_rows, 2);
});

test('db.bulk: per-document results, conflicts reported in place, deletes with _deleted', async () => {
  const { db } = await freshDb(nano, 'bulk');
  const first = await db.bulk({ docs: [{ _id: 'a', v: 1 }, { _id: 'b', v: 1 }, { v: 'auto' }] });
  assert.equal(first.length, 3);
  for (const r of first) {
    assert.deepEqual(Object.keys(r).sort(), ['id', 'ok', 'rev']);
    assert.equal(r.ok, true);
    assert.match(r.rev, REV);
  }
  assert.deepEqual(first.slice(0, 2).map((r) => r.id), ['a', 'b']);
  assert.match(first[2].id, /^[0-9a-f]{32}$/);

  const second = await db.bulk({
    docs: [
      { _id: 'a', _rev: first[0].rev, v: 2 },
      { _id: 'b', v: 2 }, // no rev: conflict
      { _id: 'c', v: 1 },
      { _id: first[2].id, _rev: first[2].rev, _deleted: true },
    ],
  });
  assert.equal(second[0].ok, true);
  assert.match(second[0].rev, /^2-/);
  assert.deepEqual(second[1], { id: 'b', error: 'conflict', reason: 'Document update conflict.' });
  assert.equal(second[2].ok, true);
  assert.equal(second[3].ok, true);
  assert.match(second[3].rev, /^2-/);

  const list = await db.list();
  assert.deepEqual(ids(list), ['a', 'b', 'c']);
  assert.equal((await db.get('a')).v, 2);
  assert.equal((await db.get('b')).v, 1);
});

test('db.bulk with an invalid document id refuses the whole request, writing nothing', async () => {
  const { db } = await freshDb(nano, 'bulkbad');
  await rejectsWith(
    db.bulk({ docs: [{ _id: 'fine' }, { _id: '_bad', v: 1 }] }),
    400,
    'illegal_docid',
    'Only reserved document ids may start with underscore.'
  );
  await rejectsWith(db.bulk({ dox: [] }), 400, 'bad_request', 'POST body must include `docs` parameter.');
  assert.deepEqual(ids(await db.list()), []);
});

test('db.bulk with new_edits=false stores the given revisions as they are', async () => {
  const { db } = await freshDb(nano, 'replicated');
  const hashes = ['0123456789abcdef0123456789abcdef', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'];
  const rev = `3-${hashes[0]}`;
  const res = await db.bulk({
    docs: [{ _id: 'r', _rev: rev, _revisions: { start: 3, ids: hashes }, v: 1 }],
    new_edits: false,
  });
  assert.deepEqual(res, []);
  const doc = await db.get('r', { revs: true });
  assert.equal(doc._rev, rev);
  assert.deepEqual(doc._revisions, { start: 3, ids: hashes });
  // Writing the same revision again is a no-op, still with an empty answer.
  assert.deepEqual(await db.bulk({ docs: [{ _id: 'r', _rev: rev, v: 1 }], new_edits: false }), []);
});

test('db.bulk of 1,000 documents, then db.list pages through them with startkey + skip', async () => {
  const { db } = await freshDb(nano, 'many');
  const res = await db.bulk({ docs: makeDocs(1000) });
  assert.equal(res.filter((r) => r.ok).length, 1000);
  const seen = [];
  let startkey;
  for (;;) {
    const page = await db.list(startkey === undefined ? { limit: 101 } : { limit: 101, startkey });
    const rows = page.rows.slice(0, 100);
    seen.push(...rows.map((r) => r.id));
    if (page.rows.length < 101) break;
    startkey = page.rows[100].id;
  }
  assert.equal(seen.length, 1000);
  assert.deepEqual(seen, makeDocs(1000).map((d) => d._id));
  assert.equal((await db.info()).doc_count, 1000);
});
