// Attachments through nano: db.attachment.insert / get / destroy (standalone
// attachment API), inline base64 attachments, and db.multipart.insert / get
// (multipart/related documents).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

import { serverForFile, freshDb, rejectsWith, REV } from '../lib/settee.mjs';

const { nano } = await serverForFile();

const md5 = (buf) => `md5-${createHash('md5').update(buf).digest('base64')}`;

/**
 * Splits a multipart/related body (as nano returns it, a string) into parts
 * of { headers, body }; the boundary is read from the first line.
 */
function parseMultipart(text) {
  const first = text.indexOf('\r\n');
  const delimiter = text.slice(0, first);
  assert.match(delimiter, /^--\S+$/, 'the body starts with the boundary');
  const parts = [];
  for (const chunk of text.slice(first + 2).split(`\r\n${delimiter}`)) {
    if (chunk.startsWith('--')) break; // the closing delimiter
    const raw = chunk.replace(/^\r\n/, '');
    const split = raw.indexOf('\r\n\r\n');
    const headers = {};
    for (const line of raw.slice(0, split).split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    parts.push({ headers, body: raw.slice(split + 4) });
  }
  return parts;
}

test('attachment.insert on a new document creates it; get returns the bytes as a Buffer', async () => {
  const { db } = await freshDb(nano, 'att-new');
  const data = randomBytes(2048);
  const r = await db.attachment.insert('doc', 'blob.bin', data, 'application/octet-stream');
  assert.deepEqual({ ok: r.ok, id: r.id }, { ok: true, id: 'doc' });
  assert.match(r.rev, /^1-[0-9a-f]{32}$/);
  const got = await db.attachment.get('doc', 'blob.bin');
  assert.ok(Buffer.isBuffer(got), 'binary attachments come back as a Buffer');
  assert.ok(got.equals(data));
  const doc = await db.get('doc');
  assert.deepEqual(doc._attachments, {
    'blob.bin': { content_type: 'application/octet-stream', revpos: 1, digest: md5(data), length: 2048, stub: true },
  });
});

test('attachment.insert with rev adds to an existing document; a stale rev is 409', async () => {
  const { db } = await freshDb(nano, 'att-rev');
  const d = await db.insert({ _id: 'doc', title: 'with files' });
  const r = await db.attachment.insert('doc', 'note.txt', Buffer.from('hello, nano'), 'text/plain', { rev: d.rev });
  assert.match(r.rev, /^2-/);
  // text/* comes back from nano as a string (decompressed by fetch if it was gzipped).
  assert.equal(await db.attachment.get('doc', 'note.txt'), 'hello, nano');
  const doc = await db.get('doc');
  assert.equal(doc.title, 'with files', 'the document body is kept');
  assert.equal(doc._attachments['note.txt'].revpos, 2);
  assert.equal(doc._attachments['note.txt'].length, 11);
  assert.equal(doc._attachments['note.txt'].content_type, 'text/plain');
  await rejectsWith(
    db.attachment.insert('doc', 'other.txt', Buffer.from('x'), 'text/plain', { rev: d.rev }),
    409,
    'conflict',
    'Document update conflict.'
  );
  // Without a rev on an existing document: conflict as well.
  await rejectsWith(
    db.attachment.insert('doc', 'other.txt', Buffer.from('x'), 'text/plain'),
    409,
    'conflict',
    'Document update conflict.'
  );
});

test('attachment.get errors: missing attachment, missing document', async () => {
  const { db } = await freshDb(nano, 'att-missing');
  await db.insert({ _id: 'doc' });
  await rejectsWith(db.attachment.get('doc', 'nope.bin'), 404, 'not_found', 'Document is missing attachment');
  await rejectsWith(db.attachment.get('no-doc', 'nope.bin'), 404, 'not_found', 'missing');
});

test('attachment.destroy removes it with a new rev; older revs still serve it', async () => {
  const { db } = await freshDb(nano, 'att-destroy');
  const data = Buffer.from('0123456789');
  const a = await db.attachment.insert('doc', 'a.bin', data, 'application/octet-stream');
  const b = await db.attachment.insert('doc', 'b.bin', data, 'application/octet-stream', { rev: a.rev });
  const gone = await db.attachment.destroy('doc', 'a.bin', { rev: b.rev });
  assert.deepEqual({ ok: gone.ok, id: gone.id }, { ok: true, id: 'doc' });
  assert.match(gone.rev, /^3-/);
  const doc = await db.get('doc');
  assert.deepEqual(Object.keys(doc._attachments), ['b.bin']);
  await rejectsWith(db.attachment.get('doc', 'a.bin'), 404, 'not_found', 'Document is missing attachment');
  // The attachment as of an older revision.
  assert.ok((await db.attachment.get('doc', 'a.bin', { rev: b.rev })).equals(data));
  // Destroying with a stale rev conflicts.
  await rejectsWith(db.attachment.destroy('doc', 'b.bin', { rev: b.rev }), 409, 'conflict', 'Document update conflict.');
});

test('attachment names with spaces, slashes and non-ASCII characters', async () => {
  const { db } = await freshDb(nano, 'att-names');
  let rev;
  const names = ['my file.bin', 'dir/sub/deep.bin', 'ünï©ødé.bin'];
  for (const [i, name] of names.entries()) {
    const r = await db.attachment.insert('doc', name, Buffer.from(`content ${i}`), 'application/octet-stream', rev ? { rev } : undefined);
    rev = r.rev;
  }
  const doc = await db.get('doc');
  assert.deepEqual(Object.keys(doc._attachments).sort(), [...names].sort());
  for (const [i, name] of names.entries()) {
    assert.equal((await db.attachment.get('doc', name)).toString(), `content ${i}`, name);
  }
});

test('a 1 MB binary attachment round-trips byte for byte', async () => {
  const { db } = await freshDb(nano, 'att-big');
  const data = randomBytes(1024 * 1024);
  await db.attachment.insert('big', 'big.bin', data, 'application/octet-stream');
  const got = await db.attachment.get('big', 'big.bin');
  assert.equal(got.length, data.length);
  assert.ok(got.equals(data));
  assert.equal((await db.get('big'))._attachments['big.bin'].digest, md5(data));
});

test('inline base64 attachments: insert, stubs on get, data with attachments=true, stubs kept on update', async () => {
  const { db } = await freshDb(nano, 'att-inline');
  const data = Buffer.from([0, 1, 2, 3, 254, 255]);
  const r = await db.insert({
    _id: 'inline',
    _attachments: { 'raw.bin': { content_type: 'application/octet-stream', data: data.toString('base64') } },
  });
  const stub = (await db.get('inline'))._attachments['raw.bin'];
  assert.deepEqual(stub, { content_type: 'application/octet-stream', revpos: 1, digest: md5(data), length: 6, stub: true });

  const full = await db.get('inline', { attachments: true });
  assert.deepEqual(full._attachments['raw.bin'], {
    content_type: 'application/octet-stream',
    revpos: 1,
    digest: md5(data),
    data: data.toString('base64'),
  });

  // Updating the document with the stub keeps the attachment.
  const doc = await db.get('inline');
  doc.edited = true;
  const u = await db.insert(doc);
  assert.match(u.rev, /^2-/);
  assert.ok((await db.attachment.get('inline', 'raw.bin')).equals(data));
  assert.equal((await db.get('inline'))._attachments['raw.bin'].revpos, 1);
  assert.notEqual(r.rev, u.rev);

  // A stub that names an attachment the document does not have is refused.
  await rejectsWith(
    db.insert({ _id: 'inline', _rev: u.rev, _attachments: { 'ghost.bin': { stub: true } } }),
    412,
    'missing_stub',
    'Invalid attachment stub in inline for ghost.bin'
  );
});

test('multipart.insert stores a document with several attachments in one request', async () => {
  const { db } = await freshDb(nano, 'mp-insert');
  const images = randomBytes(5000);
  const r = await db.multipart.insert(
    { title: 'multipart', tags: ['a', 'b'] },
    [
      { name: 'text.txt', data: 'plain text body', content_type: 'text/plain' },
      { name: 'image.png', data: images, content_type: 'image/png' },
    ],
    'mp'
  );
  assert.deepEqual({ ok: r.ok, id: r.id }, { ok: true, id: 'mp' });
  assert.match(r.rev, REV);
  const doc = await db.get('mp');
  assert.equal(doc.title, 'multipart');
  assert.deepEqual(doc.tags, ['a', 'b']);
  assert.deepEqual(Object.keys(doc._attachments).sort(), ['image.png', 'text.txt']);
  assert.equal(doc._attachments['image.png'].length, 5000);
  assert.equal(doc._attachments['image.png'].digest, md5(images));
  assert.equal(doc._attachments['text.txt'].length, 15);
  assert.equal(await db.attachment.get('mp', 'text.txt'), 'plain text body');
  assert.ok((await db.attachment.get('mp', 'image.png')).equals(images));

  // A second multipart write of the same document needs the current rev.
  await rejectsWith(
    db.multipart.insert({ title: 'again' }, [{ name: 'x.bin', data: 'x', content_type: 'application/octet-stream' }], 'mp'),
    409,
    'conflict',
    'Document update conflict.'
  );
  const r2 = await db.multipart.insert(
    { _rev: r.rev, title: 'again' },
    [{ name: 'x.bin', data: 'x', content_type: 'application/octet-stream' }],
    'mp'
  );
  assert.match(r2.rev, /^2-/);
  const doc2 = await db.get('mp');
  assert.deepEqual(Object.keys(doc2._attachments), ['x.bin'], 'the new revision has only the attachments it names');
});

test('multipart.get returns the document JSON and attachment parts', async () => {
  const { db } = await freshDb(nano, 'mp-get');
  const one = 'first attachment, sent as bytes';
  const two = 'second one';
  await db.multipart.insert(
    { kind: 'mp-get' },
    [
      { name: 'one.bin', data: one, content_type: 'application/octet-stream' },
      { name: 'two.bin', data: two, content_type: 'application/octet-stream' },
    ],
    'doc'
  );
  const text = await db.multipart.get('doc');
  assert.equal(typeof text, 'string', 'nano returns multipart/related as text');
  const parts = parseMultipart(text);
  assert.equal(parts.length, 3);
  assert.match(parts[0].headers['content-type'], /^application\/json/);
  const json = JSON.parse(parts[0].body);
  assert.equal(json._id, 'doc');
  assert.equal(json.kind, 'mp-get');
  assert.deepEqual(Object.keys(json._attachments).sort(), ['one.bin', 'two.bin']);
  for (const att of Object.values(json._attachments)) {
    assert.equal(att.follows, true);
    assert.equal(att.content_type, 'application/octet-stream');
  }
  const byName = {};
  for (const p of parts.slice(1)) {
    const m = p.headers['content-disposition'].match(/filename="([^"]+)"/);
    byName[m[1]] = p;
  }
  assert.equal(byName['one.bin'].body, one);
  assert.equal(byName['two.bin'].body, two);
  assert.equal(byName['one.bin'].headers['content-type'], 'application/octet-stream');
  assert.equal(Number(byName['one.bin'].headers['content-length']), one.length);
  // The parts follow the order of the JSON's _attachments.
  assert.deepEqual(Object.keys(byName), Object.keys(json._attachments));
});
