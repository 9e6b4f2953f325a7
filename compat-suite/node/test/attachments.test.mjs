// Attachments through replication: a 1 MB binary attachment (and a few
// small ones) pushed PouchDB -> Settee and pulled Settee -> PouchDB arrive
// byte-for-byte, with equal digests on both sides.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

import { server, pair, http, authHeader } from '../lib/settee.mjs';

let settee;
before(async () => {
  settee = await server();
});
after(async () => {
  await settee.stop();
});

const md5 = (buf) => `md5-${createHash('md5').update(buf).digest('base64')}`;

/** 1 MB of incompressible bytes, and a few small attachments. */
function payloads() {
  return {
    'big.bin': { content_type: 'application/octet-stream', data: randomBytes(1024 * 1024) },
    'note.txt': { content_type: 'text/plain', data: Buffer.from('hello from the attachment test\n') },
    'zeros.bin': { content_type: 'application/octet-stream', data: Buffer.alloc(4096) },
  };
}

function asAttachments(files) {
  const out = {};
  for (const [name, f] of Object.entries(files)) {
    out[name] = { content_type: f.content_type, data: f.data.toString('base64') };
  }
  return out;
}

/** Checks a side holds the attachments: stubs with the right digests, bytes equal. */
async function assertAttachments(db, id, files) {
  const doc = await db.get(id);
  assert.deepEqual(Object.keys(doc._attachments).sort(), Object.keys(files).sort());
  for (const [name, f] of Object.entries(files)) {
    const stub = doc._attachments[name];
    // CouchDB (and Settee) store text types gzip-compressed and digest the
    // stored bytes, so only binary attachments share PouchDB's digest.
    if (!f.content_type.startsWith('text/')) assert.equal(stub.digest, md5(f.data), `${name}: digest`);
    assert.equal(stub.length, f.data.length, `${name}: length`);
    assert.equal(stub.content_type, f.content_type, `${name}: content type`);
    const blob = await db.getAttachment(id, name);
    const bytes = Buffer.isBuffer(blob) ? blob : Buffer.from(await blob.arrayBuffer());
    assert.ok(bytes.equals(f.data), `${name}: bytes`);
  }
  return doc;
}

test('push: a 1 MB binary attachment PouchDB -> Settee keeps its bytes and digest', async () => {
  const { remote, local, remoteUrl } = await pair(settee, 'att-push');
  const files = payloads();
  await local.put({ _id: 'with-atts', kind: 'pushed', _attachments: asAttachments(files) });
  const result = await local.replicate.to(remote);
  assert.equal(result.doc_write_failures, 0);
  assert.equal(result.docs_written, 1);
  const here = await assertAttachments(local, 'with-atts', files);
  const there = await assertAttachments(remote, 'with-atts', files);
  assert.equal(there._rev, here._rev);
  // Settee serves the raw bytes on the attachment URL too.
  const raw = await fetch(`${remoteUrl}/with-atts/big.bin`, { headers: authHeader(settee.auth) });
  assert.equal(raw.status, 200);
  assert.ok(Buffer.from(await raw.arrayBuffer()).equals(files['big.bin'].data));
  // A second revision that keeps the attachments as stubs replicates too.
  await local.put({ ...here, kind: 'edited' });
  await local.replicate.to(remote);
  const edited = await assertAttachments(remote, 'with-atts', files);
  assert.equal(edited.kind, 'edited');
});

test('pull: a 1 MB binary attachment Settee -> PouchDB keeps its bytes and digest', async () => {
  const { remote, local, remoteUrl } = await pair(settee, 'att-pull');
  const files = payloads();
  const put = await http(settee, 'PUT', `${remoteUrl}/pulled`, { kind: 'pulled', _attachments: asAttachments(files) });
  assert.equal(put.status, 201, put.text);
  const result = await local.replicate.from(remote);
  assert.equal(result.doc_write_failures, 0);
  assert.equal(result.docs_written, 1);
  const there = await assertAttachments(remote, 'pulled', files);
  const here = await assertAttachments(local, 'pulled', files);
  assert.equal(here._rev, there._rev);
  // Settee's own digests are the ones PouchDB computed.
  const stubs = await http(settee, 'GET', `${remoteUrl}/pulled`);
  for (const [name, f] of Object.entries(files)) {
    const { digest } = stubs.json._attachments[name];
    if (f.content_type.startsWith('text/')) continue;
    assert.equal(digest, md5(f.data));
    assert.equal(digest, here._attachments[name].digest, `${name}: same digest on both sides`);
  }
});

test('attachments round-trip Settee -> PouchDB -> Settee unchanged', async () => {
  const { remote, local } = await pair(settee, 'att-trip');
  const files = payloads();
  await remote.put({ _id: 'trip', _attachments: asAttachments(files) });
  await local.replicate.from(remote);
  const back = (await pair(settee, 'att-back')).remote;
  const result = await local.replicate.to(back);
  assert.equal(result.doc_write_failures, 0);
  const original = await assertAttachments(remote, 'trip', files);
  const copy = await assertAttachments(back, 'trip', files);
  assert.equal(copy._rev, original._rev);
});
