// PouchDB replicating with Settee, both ways: the CouchDB replication
// protocol (_changes, _revs_diff, _bulk_get / open_revs, _bulk_docs with
// new_edits=false, _local checkpoints) spoken by a real client.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { PouchDB, server, pair, snapshot, makeDocs, bulkInsert, http, waitFor } from '../lib/settee.mjs';

let settee;
before(async () => {
  settee = await server();
});
after(async () => {
  await settee.stop();
});

/** Asserts two databases hold the same documents, revisions and conflicts. */
async function assertSame(a, b, expected) {
  const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)]);
  assert.equal(sa.size, expected, 'document count on the first side');
  assert.equal(sb.size, expected, 'document count on the second side');
  for (const [id, doc] of sa) {
    assert.deepEqual(sb.get(id), doc, `document ${id} differs`);
  }
}

test('push 10,000 documents PouchDB -> Settee: same content and revisions', async () => {
  const { remote, local } = await pair(settee, 'push');
  await bulkInsert(local, makeDocs(10_000));
  // Give some documents a history of several revisions.
  for (let i = 0; i < 50; i++) {
    const doc = await local.get(`doc-${String(i).padStart(6, '0')}`);
    doc.edited = true;
    await local.put(doc);
  }
  const result = await local.replicate.to(remote);
  assert.equal(result.ok, true);
  assert.equal(result.docs_written, 10_000);
  assert.equal(result.doc_write_failures, 0);
  await assertSame(local, remote, 10_000);
  const info = await remote.info();
  assert.equal(info.doc_count, 10_000);
  // Histories came along: the edited documents are at generation 2 with their path.
  const edited = await remote.get('doc-000007', { revs: true });
  assert.equal(edited._revisions.start, 2);
  assert.equal(edited._revisions.ids.length, 2);
});

test('pull 10,000 documents Settee -> PouchDB: same content and revisions', async () => {
  const { remote, local, remoteUrl } = await pair(settee, 'pull');
  const docs = makeDocs(10_000, 'pulled');
  for (let i = 0; i < docs.length; i += 2000) {
    const r = await http(settee, 'POST', `${remoteUrl}/_bulk_docs`, { docs: docs.slice(i, i + 2000) });
    assert.equal(r.status, 201, r.text);
  }
  const result = await local.replicate.from(remote);
  assert.equal(result.ok, true);
  assert.equal(result.docs_written, 10_000);
  assert.equal(result.doc_write_failures, 0);
  await assertSame(remote, local, 10_000);
});

test('live replication picks up a new document within a second, both ways', async () => {
  const { remote, local } = await pair(settee, 'live');
  const pull = local.replicate.from(remote, { live: true, retry: false });
  const push = local.replicate.to(remote, { live: true, retry: false });
  try {
    // Let both replications reach their live phase.
    await remote.put({ _id: 'warmup', x: 0 });
    assert.ok(await waitFor(() => local.get('warmup').then(() => true, () => false), 10_000), 'warm-up doc pulled');

    const t0 = Date.now();
    await remote.put({ _id: 'fresh-remote', x: 1 });
    const pulled = await waitFor(() => local.get('fresh-remote').then(() => true, () => false), 1000, 5);
    const pullMs = Date.now() - t0;
    assert.ok(pulled, `pulled within a second (waited ${pullMs} ms)`);

    const t1 = Date.now();
    await local.put({ _id: 'fresh-local', x: 2 });
    const pushed = await waitFor(() => remote.get('fresh-local').then(() => true, () => false), 1000, 5);
    const pushMs = Date.now() - t1;
    assert.ok(pushed, `pushed within a second (waited ${pushMs} ms)`);
  } finally {
    pull.cancel();
    push.cancel();
  }
});

test('deletions replicate both ways', async () => {
  const { remote, local } = await pair(settee, 'deletes');
  await bulkInsert(local, makeDocs(20, 'del'));
  await local.replicate.to(remote);
  // Delete some locally and push; delete others remotely and pull.
  for (const i of [1, 2, 3]) {
    const doc = await local.get(`del-00000${i}`);
    await local.remove(doc);
  }
  for (const i of [5, 6]) {
    const doc = await remote.get(`del-00000${i}`);
    await remote.remove(doc);
  }
  await local.replicate.to(remote);
  await local.replicate.from(remote);
  for (const db of [local, remote]) {
    for (const i of [1, 2, 3, 5, 6]) {
      await assert.rejects(db.get(`del-00000${i}`), (e) => e.status === 404 && e.reason === 'deleted');
    }
    assert.equal((await db.info()).doc_count, 15);
  }
  // The deletions show in Settee's changes feed as tombstones.
  const changes = await remote.changes({ since: 0 });
  const deleted = changes.results.filter((r) => r.deleted).map((r) => r.id).sort();
  assert.deepEqual(deleted, ['del-000001', 'del-000002', 'del-000003', 'del-000005', 'del-000006']);
  await assertSame(local, remote, 15);
});

test('conflicts made on both sides replicate; both sides agree on winner and conflicts', async () => {
  const { remote, local } = await pair(settee, 'conflicts');
  await local.bulkDocs([{ _id: 'c1', v: 0 }, { _id: 'c2', v: 0 }]);
  await local.replicate.to(remote);
  // Edit the same documents differently on each side.
  for (const id of ['c1', 'c2']) {
    const l = await local.get(id);
    await local.put({ ...l, v: 'local' });
    const r = await remote.get(id);
    await remote.put({ ...r, v: 'remote', more: true });
  }
  // A document created independently on both sides.
  await local.put({ _id: 'c3', side: 'local' });
  await remote.put({ _id: 'c3', side: 'remote' });
  await local.sync(remote);
  for (const id of ['c1', 'c2', 'c3']) {
    const l = await local.get(id, { conflicts: true });
    const r = await remote.get(id, { conflicts: true });
    assert.equal(l._rev, r._rev, `${id}: same winner`);
    assert.deepEqual(l, r, `${id}: same winning document and conflicts`);
    assert.equal(l._conflicts.length, 1, `${id}: one conflict`);
  }
  // Settee lists both leaves in style=all_docs.
  const changes = await remote.changes({ style: 'all_docs' });
  for (const row of changes.results) {
    assert.equal(row.changes.length, 2, `${row.id} lists both leaves`);
  }
  // Resolving the conflict on one side resolves it on the other.
  const winner = await remote.get('c1', { conflicts: true });
  await remote.remove('c1', winner._conflicts[0]);
  await local.sync(remote);
  const resolved = await local.get('c1', { conflicts: true });
  assert.equal(resolved._conflicts, undefined);
  await assertSame(local, remote, 3);
});

test('a second replication resumes from the checkpoint and transfers nothing', async () => {
  const { remote, local, remoteUrl } = await pair(settee, 'checkpoint');
  await bulkInsert(local, makeDocs(500, 'cp'));
  const first = await local.replicate.to(remote);
  assert.equal(first.docs_written, 500);
  const second = await local.replicate.to(remote);
  assert.equal(second.docs_read, 0);
  assert.equal(second.docs_written, 0);
  // The checkpoint lives in a _local document on Settee.
  const locals = await http(settee, 'GET', `${remoteUrl}/_local_docs`);
  assert.equal(locals.status, 200);
  assert.ok(locals.json.rows.length >= 1, 'a replication checkpoint is stored');

  // Pulling: the checkpoint is Settee's last_seq, and a second pull reads nothing.
  const sink = new PouchDB(`${remote.name}-sink`, { adapter: 'memory' });
  const pull1 = await sink.replicate.from(remote);
  assert.equal(pull1.docs_written, 500);
  const pull2 = await sink.replicate.from(remote);
  assert.equal(pull2.docs_read, 0);
  // New documents after the checkpoint: only those are read.
  await remote.bulkDocs(makeDocs(7, 'late'));
  const pull3 = await sink.replicate.from(remote);
  assert.equal(pull3.docs_read, 7);
});

test('doc_ids-filtered replication, both ways', async () => {
  const { remote, local } = await pair(settee, 'docids');
  await bulkInsert(local, makeDocs(100, 'ids'));
  const wanted = ['ids-000003', 'ids-000042', 'ids-000099', 'no-such-doc'];
  const pushed = await local.replicate.to(remote, { doc_ids: wanted });
  assert.equal(pushed.docs_written, 3);
  assert.deepEqual((await remote.allDocs()).rows.map((r) => r.id), wanted.slice(0, 3));

  await remote.bulkDocs(makeDocs(50, 'remote'));
  const sink = new PouchDB(`${remote.name}-ids-sink`, { adapter: 'memory' });
  const pulled = await sink.replicate.from(remote, { doc_ids: ['remote-000010', 'ids-000042'] });
  assert.equal(pulled.docs_written, 2);
  assert.deepEqual((await sink.allDocs()).rows.map((r) => r.id), ['ids-000042', 'remote-000010']);
});

test('selector-filtered replication, both ways', async () => {
  const { remote, local } = await pair(settee, 'selector');
  await bulkInsert(local, makeDocs(60, 'sel'));
  const pushed = await local.replicate.to(remote, { selector: { tag: 't3' } });
  assert.equal(pushed.docs_written, 9);
  const pulledSink = new PouchDB(`${remote.name}-sel-sink`, { adapter: 'memory' });
  await remote.bulkDocs(makeDocs(30, 'extra'));
  const pulled = await pulledSink.replicate.from(remote, { selector: { n: { $gte: 25 }, even: true } });
  const ids = (await pulledSink.allDocs()).rows.map((r) => r.id);
  // Matching docs: sel-* with tag t3 and n >= 25 even (n = 31? odd; 38, 52) and extra-26, extra-28.
  const expected = [];
  for (let i = 0; i < 60; i++) if (i % 7 === 3 && i >= 25 && i % 2 === 0) expected.push(`sel-${String(i).padStart(6, '0')}`);
  for (let i = 25; i < 30; i++) if (i % 2 === 0) expected.push(`extra-${String(i).padStart(6, '0')}`);
  assert.deepEqual(ids, expected.sort());
  assert.equal(pulled.docs_written, expected.length);
});
