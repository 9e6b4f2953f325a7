// Mango through nano: db.find (selectors, fields, sort, limit/skip,
// bookmarks, execution_stats, use_index) and db.createIndex, with the
// warnings and errors CouchDB 3.x gives.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverForFile, freshDb, rejectsWith } from '../lib/settee.mjs';

const { nano } = await serverForFile();

const NO_INDEX_WARNING = 'No matching index found, create an index to optimize query time.';

/** A database of 20 people-like documents. */
async function people(tag) {
  const { db, name } = await freshDb(nano, tag);
  const docs = [];
  for (let i = 0; i < 20; i++) {
    docs.push({
      _id: `p${String(i).padStart(2, '0')}`,
      age: 20 + i,
      name: `person ${i}`,
      city: ['Oslo', 'Lima', 'Kyiv', 'Pune'][i % 4],
      tags: i % 3 === 0 ? ['x', 'y'] : ['y'],
      ...(i % 5 === 0 ? { vip: true } : {}),
    });
  }
  await db.bulk({ docs });
  return { db, name };
}

test('db.find without an index: matching docs, bookmark, and the no-index warning', async () => {
  const { db } = await people('noidx');
  const res = await db.find({ selector: { city: 'Lima' } });
  assert.deepEqual(
    res.docs.map((d) => d._id),
    ['p01', 'p05', 'p09', 'p13', 'p17']
  );
  assert.equal(typeof res.bookmark, 'string');
  assert.equal(res.warning, NO_INDEX_WARNING);
  assert.ok(res.docs[0]._rev, 'whole documents, with _rev');
});

test('db.find operators: $gt/$lte, $in, $or, $and, $exists, $regex, $elemMatch, $ne, $not', async () => {
  const { db } = await people('ops');
  const q = async (selector) => (await db.find({ selector, limit: 100 })).docs.map((d) => d._id).sort();
  assert.deepEqual(await q({ age: { $gt: 36, $lte: 38 } }), ['p17', 'p18']);
  assert.deepEqual(await q({ city: { $in: ['Kyiv', 'Pune'] }, age: { $lt: 24 } }), ['p02', 'p03']);
  assert.deepEqual(await q({ $or: [{ _id: 'p00' }, { age: 39 }] }), ['p00', 'p19']);
  assert.deepEqual(await q({ $and: [{ vip: true }, { age: { $gte: 30 } }] }), ['p10', 'p15']);
  assert.deepEqual(await q({ vip: { $exists: true } }), ['p00', 'p05', 'p10', 'p15']);
  assert.deepEqual(await q({ name: { $regex: '^person 1[89]$' } }), ['p18', 'p19']);
  assert.deepEqual(await q({ tags: { $elemMatch: { $eq: 'x' } }, age: { $lt: 27 } }), ['p00', 'p03', 'p06']);
  assert.equal((await q({ city: { $ne: 'Oslo' } })).length, 15);
  assert.deepEqual(await q({ age: { $not: { $gt: 21 } } }), ['p00', 'p01']);
});

test('db.find fields, sort by _id, limit and skip', async () => {
  const { db } = await people('fields');
  // Sorting by _id uses the special _all_docs index, which CouchDB only
  // considers when the selector constrains _id.
  const res = await db.find({
    selector: { _id: { $gt: null }, age: { $gte: 30 } },
    fields: ['_id', 'age', 'city'],
    sort: [{ _id: 'desc' }],
    limit: 3,
    skip: 1,
  });
  assert.deepEqual(res.docs, [
    { _id: 'p18', age: 38, city: 'Kyiv' },
    { _id: 'p17', age: 37, city: 'Lima' },
    { _id: 'p16', age: 36, city: 'Oslo' },
  ]);
});

test('db.find sorting on a field without an index is 400 no_usable_index', async () => {
  const { db } = await people('nosort');
  await rejectsWith(
    db.find({ selector: { age: { $gt: 0 } }, sort: ['_id'] }),
    400,
    'no_usable_index',
    'No index exists for this sort, try indexing by the sort fields.'
  );
  await rejectsWith(
    db.find({ selector: { age: { $gt: 0 } }, sort: ['age'] }),
    400,
    'no_usable_index',
    'No index exists for this sort, try indexing by the sort fields.'
  );
});

test('db.createIndex: created, then exists; listed by GET _index', async () => {
  const { db, name } = await people('create');
  const created = await db.createIndex({ index: { fields: ['age'] }, name: 'by-age', ddoc: 'people' });
  assert.deepEqual(created, { result: 'created', id: '_design/people', name: 'by-age' });
  const again = await db.createIndex({ index: { fields: ['age'] }, name: 'by-age', ddoc: 'people' });
  assert.deepEqual(again, { result: 'exists', id: '_design/people', name: 'by-age' });

  // Without ddoc and name, CouchDB derives both.
  const auto = await db.createIndex({ index: { fields: ['city'] } });
  assert.equal(auto.result, 'created');
  assert.match(auto.id, /^_design\/.+/);
  assert.equal(typeof auto.name, 'string');

  const list = await nano.request({ db: name, path: '_index' });
  assert.equal(list.total_rows, 3);
  assert.deepEqual(list.indexes[0], {
    ddoc: null,
    name: '_all_docs',
    type: 'special',
    def: { fields: [{ _id: 'asc' }] },
  });
  const byAge = list.indexes.find((i) => i.name === 'by-age');
  assert.deepEqual(byAge, {
    ddoc: '_design/people',
    name: 'by-age',
    type: 'json',
    partitioned: false,
    def: { fields: [{ age: 'asc' }] },
  });
  // The index lives in a design document.
  const ddoc = await db.get('_design/people');
  assert.equal(ddoc.language, 'query');
});

test('db.find with an index: sorted results, no warning, use_index honoured', async () => {
  const { db } = await people('useidx');
  await db.createIndex({ index: { fields: ['age'] }, name: 'by-age', ddoc: 'people' });
  const res = await db.find({ selector: { age: { $gt: 34 } }, sort: [{ age: 'desc' }], fields: ['_id', 'age'] });
  assert.deepEqual(res.docs, [
    { _id: 'p19', age: 39 },
    { _id: 'p18', age: 38 },
    { _id: 'p17', age: 37 },
    { _id: 'p16', age: 36 },
    { _id: 'p15', age: 35 },
  ]);
  assert.equal(res.warning, undefined);

  const named = await db.find({ selector: { age: { $gte: 38 } }, use_index: ['people', 'by-age'], fields: ['_id'] });
  assert.deepEqual(named.docs, [{ _id: 'p18' }, { _id: 'p19' }]);
  assert.equal(named.warning, undefined);

  // CouchDB 3.4 ignores an unknown use_index, answers from another index and says so.
  const fallback = await db.find({ selector: { age: 39 }, use_index: 'nope', fields: ['_id'] });
  assert.deepEqual(fallback.docs, [{ _id: 'p19' }]);
  assert.equal(
    fallback.warning,
    '_design/nope was not used because it does not contain a valid index for this query.'
  );
});

test('db.find bookmark pages through the results', async () => {
  const { db } = await people('bookmark');
  const seen = [];
  let bookmark;
  for (let page = 0; page < 10; page++) {
    const res = await db.find({ selector: { age: { $gte: 25 } }, limit: 4, ...(bookmark ? { bookmark } : {}) });
    seen.push(...res.docs.map((d) => d._id));
    if (res.docs.length < 4) break;
    bookmark = res.bookmark;
  }
  assert.deepEqual(seen, Array.from({ length: 15 }, (_, i) => `p${String(i + 5).padStart(2, '0')}`));
});

test('db.find execution_stats reports what was examined', async () => {
  const { db } = await people('stats');
  const res = await db.find({ selector: { city: 'Pune' }, execution_stats: true });
  const stats = res.execution_stats;
  assert.equal(stats.results_returned, 5);
  assert.equal(stats.total_docs_examined, 20);
  for (const k of ['total_keys_examined', 'total_quorum_docs_examined', 'execution_time_ms']) {
    assert.equal(typeof stats[k], 'number', k);
  }
});

test('db.find errors: missing selector, selector not an object, bad sort', async () => {
  const { db } = await people('errors');
  await rejectsWith(db.find({ limit: 1 }), 400, 'missing_required_key', 'Missing required key: selector');
  await rejectsWith(db.find({ selector: 'x' }), 400, 'invalid_selector_json');
  await rejectsWith(db.find({ selector: {}, sort: 'age' }), 400, 'invalid_sort_json');
});
