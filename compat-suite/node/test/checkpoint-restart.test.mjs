// Replication checkpoints live in _local documents on disk: after Settee
// restarts (same data directory, same port), a second replication of an
// unchanged source resumes from the checkpoint and transfers nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { PouchDB, startSettee, tempDir, makeDocs, bulkInsert, uniqueName } from '../lib/settee.mjs';

/** A PouchDB for a Settee URL that records every request it makes. */
function recorded(settee, name, log) {
  return new PouchDB(`${settee.url}/${name}`, {
    auth: settee.auth,
    fetch: (u, opts) => {
      log.push(`${opts.method || 'GET'} ${u}`);
      return PouchDB.fetch(u, opts);
    },
  });
}

test('checkpoints survive a restart: nothing is transferred the second time', { skip: !!process.env.SETTEE_URL }, async () => {
  const data = tempDir();
  let settee = await startSettee({ dataDir: data.dir });
  try {
    const port = new URL(settee.url).port;
    const name = uniqueName('restart');
    const local = new PouchDB(`${name}-local`, { adapter: 'memory' });
    const sink = new PouchDB(`${name}-sink`, { adapter: 'memory' });
    await bulkInsert(local, makeDocs(300, 'r'));

    let log = [];
    const pushed = await local.replicate.to(recorded(settee, name, log));
    assert.equal(pushed.docs_written, 300);
    const pulled = await sink.replicate.from(recorded(settee, name, log));
    assert.equal(pulled.docs_written, 300);
    const lastSeq = pulled.last_seq;

    await settee.stop();
    settee = await startSettee({ dataDir: data.dir, port });
    assert.equal(new URL(settee.url).port, port, 'restarted on the same port (same replication ids)');

    log = [];
    const push2 = await local.replicate.to(recorded(settee, name, log));
    assert.equal(push2.docs_read, 0);
    assert.equal(push2.docs_written, 0);
    assert.deepEqual(
      log.filter((l) => /_revs_diff|_bulk_docs/.test(l)),
      [],
      'the push read its checkpoint from Settee and had nothing to send'
    );

    log = [];
    const pull2 = await sink.replicate.from(recorded(settee, name, log));
    assert.equal(pull2.docs_read, 0);
    assert.equal(pull2.docs_written, 0);
    const changes = log.filter((l) => l.includes('/_changes'));
    assert.ok(changes.length >= 1);
    for (const l of changes) {
      const since = new URL(l.split(' ')[1]).searchParams.get('since');
      assert.equal(since, String(lastSeq), 'the pull resumed from its checkpoint');
    }
    assert.deepEqual(log.filter((l) => /_bulk_get|open_revs|_revs_diff/.test(l)), []);
  } finally {
    await settee.stop();
    data.remove();
  }
});
