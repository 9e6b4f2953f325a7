// The changes feed through nano: db.changes (normal and longpoll feeds, since,
// include_docs, limit, descending, style, _doc_ids) and nano's changesReader
// (get: longpoll batches; spool: one streamed normal feed).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverForFile, freshDb, makeDocs } from '../lib/settee.mjs';

const { nano } = await serverForFile();

const ids = (body) => body.results.map((r) => r.id);

test('db.changes(): one row per document at its latest seq, deletions flagged', async () => {
  const { db } = await freshDb(nano, 'normal');
  const a = await db.insert({ _id: 'a' });
  const b = await db.insert({ _id: 'b' });
  await db.insert({ _id: 'c' });
  const a2 = await db.insert({ _id: 'a', _rev: a.rev, v: 2 });
  const bGone = await db.destroy('b', b.rev);

  const body = await db.changes();
  assert.deepEqual(Object.keys(body).sort(), ['last_seq', 'pending', 'results']);
  assert.deepEqual(ids(body), ['c', 'a', 'b'], 'ordered by the seq of each latest change');
  assert.equal(body.pending, 0);
  for (const row of body.results) assert.equal(typeof row.seq, 'string', 'seqs are opaque strings in 3.x');
  assert.equal(body.last_seq, body.results[2].seq);
  assert.deepEqual(body.results[1], { seq: body.results[1].seq, id: 'a', changes: [{ rev: a2.rev }] });
  assert.deepEqual(body.results[2], { seq: body.results[2].seq, id: 'b', changes: [{ rev: bGone.rev }], deleted: true });
  assert.equal(body.last_seq, (await db.info()).update_seq);
});

test('db.changes({since}) returns only later changes; since=now returns none', async () => {
  const { db } = await freshDb(nano, 'since');
  await db.bulk({ docs: makeDocs(3) });
  const first = await db.changes();
  assert.equal(first.results.length, 3);
  await db.insert({ _id: 'later' });
  const next = await db.changes({ since: first.last_seq });
  assert.deepEqual(ids(next), ['later']);
  const again = await db.changes({ since: next.last_seq });
  assert.deepEqual(again.results, []);
  assert.equal(again.last_seq, next.last_seq);
  const now = await db.changes({ since: 'now' });
  assert.deepEqual(now.results, []);
  assert.equal(now.last_seq, next.last_seq);
  // since=0 is the whole feed.
  assert.equal((await db.changes({ since: 0 })).results.length, 4);
});

test('db.changes({include_docs}) embeds documents, tombstones for deletions', async () => {
  const { db } = await freshDb(nano, 'docs');
  const x = await db.insert({ _id: 'x', v: 1 });
  const y = await db.insert({ _id: 'y', v: 2 });
  const yGone = await db.destroy('y', y.rev);
  const body = await db.changes({ include_docs: true });
  assert.deepEqual(body.results[0].doc, { _id: 'x', _rev: x.rev, v: 1 });
  assert.deepEqual(body.results[1].doc, { _id: 'y', _rev: yGone.rev, _deleted: true });
});

test('db.changes({limit}) sets pending; descending reverses the feed', async () => {
  const { db } = await freshDb(nano, 'limit');
  await db.bulk({ docs: makeDocs(5) });
  const page = await db.changes({ limit: 2 });
  assert.deepEqual(ids(page), ['doc-0000', 'doc-0001']);
  assert.equal(page.pending, 3);
  assert.equal(page.last_seq, page.results[1].seq);
  const rest = await db.changes({ since: page.last_seq });
  assert.deepEqual(ids(rest), ['doc-0002', 'doc-0003', 'doc-0004']);
  const desc = await db.changes({ descending: true, limit: 2 });
  assert.deepEqual(ids(desc), ['doc-0004', 'doc-0003']);
});

test('db.changes({style: all_docs}) lists every leaf of a conflicted document', async () => {
  const { db } = await freshDb(nano, 'style');
  const low = '1-11111111111111111111111111111111';
  const high = '1-99999999999999999999999999999999';
  await db.bulk({ docs: [{ _id: 'c', _rev: low }, { _id: 'c', _rev: high }], new_edits: false });
  const main = await db.changes();
  assert.deepEqual(main.results[0].changes, [{ rev: high }]);
  const all = await db.changes({ style: 'all_docs' });
  assert.deepEqual(all.results[0].changes.map((c) => c.rev).sort(), [high, low].sort());
});

test('db.changes({filter: _doc_ids}) limits the feed to the given ids', async () => {
  const { db } = await freshDb(nano, 'docids');
  await db.bulk({ docs: makeDocs(5) });
  const body = await db.changes({ filter: '_doc_ids', doc_ids: JSON.stringify(['doc-0003', 'doc-0001']) });
  assert.deepEqual(ids(body).sort(), ['doc-0001', 'doc-0003']);
});

test('db.changes({feed: longpoll}) waits for the next change', async () => {
  const { db } = await freshDb(nano, 'longpoll');
  await db.insert({ _id: 'before' });
  const { last_seq: since } = await db.changes();
  const waiting = db.changes({ feed: 'longpoll', since, timeout: 10000 });
  setTimeout(() => db.insert({ _id: 'during' }), 200);
  const body = await waiting;
  assert.deepEqual(ids(body), ['during']);
  // With nothing new, the timeout ends the wait with no results.
  const empty = await db.changes({ feed: 'longpoll', since: body.last_seq, timeout: 300 });
  assert.deepEqual(empty.results, []);
  assert.equal(empty.last_seq, body.last_seq);
});

test('changesReader.get() reads the whole feed in longpoll batches, then ends', async () => {
  const { db } = await freshDb(nano, 'reader');
  await db.bulk({ docs: makeDocs(7) });
  const seen = [];
  const batches = [];
  const last = await new Promise((resolve, reject) => {
    db.changesReader
      .get({ since: '0', batchSize: 3, timeout: 300 })
      .on('batch', (b) => {
        batches.push(b.length);
        seen.push(...b.map((c) => c.id));
      })
      .on('error', reject)
      .on('end', resolve);
  });
  assert.deepEqual(batches, [3, 3, 1]);
  assert.deepEqual(seen, makeDocs(7).map((d) => d._id));
  assert.equal(last, (await db.info()).update_seq);
});

test('changesReader.get({selector}) filters with _selector (POST body)', async () => {
  const { db } = await freshDb(nano, 'selector');
  await db.bulk({ docs: makeDocs(6) });
  const seen = [];
  await new Promise((resolve, reject) => {
    db.changesReader
      .get({ since: '0', timeout: 300, selector: { even: true } })
      .on('batch', (b) => seen.push(...b.map((c) => c.id)))
      .on('error', reject)
      .on('end', resolve);
  });
  assert.deepEqual(seen, ['doc-0000', 'doc-0002', 'doc-0004']);
});

test('changesReader.spool() streams the feed and ends with last_seq', async () => {
  const { db } = await freshDb(nano, 'spool');
  await db.bulk({ docs: makeDocs(25) });
  await db.insert({ _id: 'doc-0003', _rev: (await db.get('doc-0003'))._rev, edited: true });
  const seen = [];
  const last = await new Promise((resolve, reject) => {
    db.changesReader
      .spool({ since: 0, batchSize: 10, includeDocs: true })
      .on('batch', (b) => seen.push(...b))
      .on('error', reject)
      .on('end', resolve);
  });
  assert.equal(seen.length, 25);
  assert.equal(seen.at(-1).id, 'doc-0003');
  assert.equal(seen.at(-1).doc.edited, true);
  assert.equal(last, (await db.info()).update_seq);
});
