# -*- coding: utf-8 -*-
"""A real Apache CouchDB 3.x replicator between CouchDB and Settee, both
ways, one-shot (``POST /_replicate``) and continuous (``_replicator``
documents).

CouchDB (``$COUCHDB_URL``, a server admin's URL) runs every replication; the
other end is the Settee under test (conftest's ``admin_url``), or, with
``REPLICATOR_PEER=couchdb``, a second database on a CouchDB
(``$REPLICATOR_PEER_URL``, default ``$COUCHDB_URL`` itself) so the suite can
be checked against CouchDB on both ends.  Every test skips when
``COUCHDB_URL`` is not set.

After each replication the two databases must agree document by document
(replication_support.compare_dbs): every leaf (``open_revs=all``) with its
body, ``_revisions`` history, ``_deleted`` and attachments (bytes, digest,
content_type, length, revpos), the winner with ``_conflicts`` and
``_deleted_conflicts``, the ``_all_docs`` rows, ``doc_count`` and
``doc_del_count``.

Other knobs: ``REPLICATOR_TIMEOUT`` (seconds a continuous replication may
take to converge, default 60), ``REPLICATOR_RETRIES`` (the replications'
``retries_per_request``, default 2 so that a failing request fails the test
in seconds rather than CouchDB's default 5 retries, ~90 s; ``default`` leaves
CouchDB's setting), ``COUCHDB_LOG`` (CouchDB's log file, quoted in failure
messages; default: the shared/tools/couchdb kit's instance log for that
port).
"""

import base64
import functools
import hashlib
import json
import os
import random
import sys
import uuid

import pytest

from replication_support import (
    Replicator,
    Server,
    assert_same_docs,
    compare_dbs,
    doc_path,
)

COUCHDB_URL = os.environ.get('COUCHDB_URL', '').strip()
PEER_KIND = (os.environ.get('REPLICATOR_PEER') or 'settee').strip().lower()
if PEER_KIND not in ('settee', 'couchdb'):
    raise ValueError('REPLICATOR_PEER must be settee or couchdb, not %r'
                     % PEER_KIND)
PEER = 'settee' if PEER_KIND == 'settee' else 'couchdb2'
TIMEOUT = float(os.environ.get('REPLICATOR_TIMEOUT') or 60)
_retries = (os.environ.get('REPLICATOR_RETRIES') or '2').strip()
RETRIES = None if _retries == 'default' else int(_retries)

pytestmark = [
    pytest.mark.skipif(
        not COUCHDB_URL,
        reason='COUCHDB_URL not set: these tests need a real CouchDB 3.x '
               '(a server admin URL such as http://admin:admin@127.0.0.1:5985) '
               'to run its replicator against Settee'),
    pytest.mark.replicator,
    # continuous replications wait up to TIMEOUT for each phase
    pytest.mark.timeout(max(300, int(4 * TIMEOUT))),
]

OCTET = 'application/octet-stream'


# ===========================================================================
# Fixtures.
# ===========================================================================

@pytest.fixture(scope='module')
def couch():
    """The CouchDB whose replicator runs every replication (and one end of
    it)."""
    server = Server(COUCHDB_URL, 'couchdb')
    welcome = server.call('GET', '/', expect=(200,))
    assert welcome.get('couchdb') == 'Welcome', welcome
    return server


@pytest.fixture(scope='module')
def peer(request):
    """The other end: the Settee under test, or a second CouchDB database
    (REPLICATOR_PEER=couchdb)."""
    if PEER_KIND == 'couchdb':
        url = os.environ.get('REPLICATOR_PEER_URL') or COUCHDB_URL
        return Server(url, PEER)
    return Server(request.getfixturevalue('admin_url'), PEER)


def settee_log_path():
    """The log of the Settee conftest started (its request lines name every
    request that failed), if it started one."""
    conftest = sys.modules.get('conftest')
    return getattr(conftest, '_server_log', {}).get('path')


@pytest.fixture(scope='module')
def replicator(couch, peer):
    return Replicator(couch, timeout=TIMEOUT, retries=RETRIES,
                      peer_log=settee_log_path() if PEER_KIND == 'settee'
                      else None)


@pytest.fixture
def new_db():
    """new_db(server, tag) -> a freshly created Db, deleted after the
    test."""
    made = []

    def make(server, tag):
        db = server.db('repl-%s-%s' % (tag, uuid.uuid4().hex[:16]))
        db.create()
        made.append(db)
        return db

    yield make
    for db in made:
        try:
            db.drop()
        except OSError:
            pass


DIRECTIONS = ['couchdb-to-%s' % PEER, '%s-to-couchdb' % PEER]


@pytest.fixture(params=DIRECTIONS)
def direction(request):
    return request.param


@pytest.fixture
def ends(direction, couch, peer, new_db):
    """(source, target) for the direction under test, both fresh."""
    on_couch = new_db(couch, 'couch')
    on_peer = new_db(peer, PEER)
    if direction.startswith('couchdb-to-'):
        return on_couch, on_peer
    return on_peer, on_couch


@pytest.fixture(params=['one-shot', 'continuous'])
def mode(request):
    return request.param


def replicate(replicator, mode, source, target, ids=None, written=None,
              **opts):
    """One replication in ``mode``, checked: ``compare_dbs`` finds nothing
    (``ids``: the documents a filtered replication must carry, and no
    other); for a one-shot replication, no write failure and, if given,
    ``written`` documents written (CouchDB's count for the replication: it
    carries over from the checkpoint a run resumes from).  Returns the
    one-shot response."""
    if mode == 'one-shot':
        result = replicator.one_shot(source, target, **opts)
        hist = result['history'][0] if result.get('history') else {}
        assert hist.get('doc_write_failures') == 0, result
        if written is not None:
            assert hist.get('docs_written') == written, result
        assert_same_docs(source, target, ids,
                         context='after one-shot replication')
        return result
    with replicator.continuous(source, target, **opts) as job:
        job.wait(lambda: compare_dbs(source, target, ids))
    assert_same_docs(source, target, ids,
                     context='after continuous replication')
    return None


# ===========================================================================
# Test data.
# ===========================================================================

WORDS = ('settee couch sofa replicate revision leaf branch winner conflict '
         'attachment gzip digest checkpoint sequence changes bulk docs '
         'lorem ipsum dolor sit amet consectetur adipiscing elit').split()


def text_bytes(size, seed):
    """``size`` bytes of compressible text (words, lines)."""
    rng = random.Random(seed)
    out = []
    n = 0
    while n < size:
        line = ' '.join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
        line += ' %d\n' % rng.randint(0, 10 ** 6)
        out.append(line)
        n += len(line)
    return ''.join(out).encode('ascii')[:size]


def json_bytes(size, seed):
    rng = random.Random(seed)
    rows = []
    n = 2
    while n < size:
        row = {'id': rng.randint(0, 10 ** 9), 'name': rng.choice(WORDS),
               'tags': [rng.choice(WORDS) for _ in range(3)],
               'score': rng.randint(0, 1000) / 8.0}
        rows.append(row)
        n += len(json.dumps(row)) + 2
    return json.dumps(rows).encode('ascii')


def random_bytes(size, seed):
    return random.Random(seed).randbytes(size)


def png_bytes(size, seed):
    header = b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR'
    return (header + random_bytes(size, seed))[:size]


@functools.lru_cache(maxsize=None)
def blobs():
    """The attachment bodies: text (gzip-stored by CouchDB) and binary, of
    0 bytes, a few bytes, ~100 KB and ~2 MB."""
    return {
        'empty.txt': (b'', 'text/plain'),
        'small.txt': (b'hello, settee\n', 'text/plain'),
        'notes.txt': (text_bytes(100 * 1024, 1), 'text/plain'),
        'big.txt': (text_bytes(2 * 1024 * 1024, 2), 'text/plain'),
        'data.json': (json_bytes(100 * 1024, 3), 'application/json'),
        'tiny.json': (b'{"a":1}', 'application/json'),
        'empty.bin': (b'', OCTET),
        'small.bin': (b'\x00\x01\xfe\xff\x80', OCTET),
        'pic.png': (png_bytes(100 * 1024, 4), 'image/png'),
        'small.png': (png_bytes(24, 5), 'image/png'),
        'big.bin': (random_bytes(2 * 1024 * 1024, 6), OCTET),
    }


def b64(data):
    return base64.b64encode(data).decode('ascii')


def inline(*names):
    """An ``_attachments`` object with the named blobs inline, base64."""
    return {name: {'content_type': blobs()[name][1],
                   'data': b64(blobs()[name][0])} for name in names}


def fake_rev(gen, tag):
    """A revision id for new_edits=false writes: ``gen-<md5 hex of tag>``."""
    return '%d-%s' % (gen, hashlib.md5(tag.encode('utf-8')).hexdigest())


def rev_hash(rev):
    return rev.split('-', 1)[1]


def assert_attachment_bytes(db, doc_id, expected):
    """The winner of ``doc_id`` on ``db`` holds exactly the attachments
    ``expected`` ({name: blob name}) with the right bytes and types."""
    doc = db.get(doc_id, attachments='true')
    atts = doc.get('_attachments', {})
    assert sorted(atts) == sorted(expected), (db, doc_id, sorted(atts))
    for name, blob in expected.items():
        data, ctype = blobs()[blob]
        got = base64.b64decode(atts[name]['data'])
        assert got == data, '%s %s/%s: %d bytes, expected %d' % (
            db, doc_id, name, len(got), len(data))
        assert atts[name]['content_type'] == ctype, (db, doc_id, name)
    stubs = db.get(doc_id)['_attachments'] if expected else {}
    for name, blob in expected.items():
        assert stubs[name]['length'] == len(blobs()[blob][0]), \
            (db, doc_id, name, stubs[name])


# ===========================================================================
# 1. Plain documents.
# ===========================================================================

def test_plain_docs(replicator, ends, mode):
    source, target = ends
    docs = [{'_id': 'doc-%03d' % i, 'n': i,
             'nested': {'list': [i, str(i), None, True, False],
                        'ratio': i / 7.0, 'big': 2 ** 53 + i,
                        'empty': {}, 'none': []},
             'text': u'caf\u00e9 \u65e5\u672c \u2603 "quoted" \\ \n\t'}
            for i in range(30)]
    source.bulk(docs)
    # a few with a history of several revisions
    for doc in docs[:5]:
        for gen in range(2):
            doc['edited'] = gen
            source.put(doc)
    replicate(replicator, mode, source, target, written=30)
    assert target.info()['doc_count'] == 30
    got = target.get('doc-004', revs='true')
    assert got['_revisions']['start'] == 3
    assert got['edited'] == 1


# ===========================================================================
# 2. Attachments.
# ===========================================================================

@pytest.mark.attachments
def test_attachments(replicator, ends, mode):
    source, target = ends
    # text: all inline base64 at rev 1, then two standalone uploads
    doc = {'_id': 'att-text',
           '_attachments': inline('empty.txt', 'small.txt', 'notes.txt',
                                  'big.txt')}
    rev = source.put(doc)
    for name in ('data.json', 'tiny.json'):
        rev = source.put_attachment('att-text', rev, name, *blobs()[name])
    # binary: inline at rev 1, then standalone
    doc = {'_id': 'att-binary',
           '_attachments': inline('empty.bin', 'small.bin', 'pic.png')}
    rev = source.put(doc)
    for name in ('big.bin', 'small.png'):
        rev = source.put_attachment('att-binary', rev, name, *blobs()[name])
    # a body edit keeping the stubs, then one attachment removed
    doc = {'_id': 'att-edited', 'v': 1,
           '_attachments': inline('small.txt', 'small.bin')}
    source.put(doc)
    doc = source.get('att-edited')
    doc['v'] = 2
    source.put(doc)
    source.delete_attachment('att-edited', doc['_rev'], 'small.bin')
    # a document with attachments, deleted
    doc = {'_id': 'att-gone', '_attachments': inline('notes.txt')}
    source.put(doc)
    source.delete('att-gone', doc['_rev'])

    expected = {
        'att-text': {n: n for n in ('empty.txt', 'small.txt', 'notes.txt',
                                    'big.txt', 'data.json', 'tiny.json')},
        'att-binary': {n: n for n in ('empty.bin', 'small.bin', 'pic.png',
                                      'big.bin', 'small.png')},
        'att-edited': {'small.txt': 'small.txt'},
    }

    def edit_source():
        # second round: the target already holds earlier revisions, so the
        # replicator sends only what changed (atts_since)
        d = source.get('att-edited')
        d['v'] = 3
        source.put(d)
        rev = source.get('att-binary')['_rev']
        source.put_attachment('att-binary', rev, 'notes.txt',
                              *blobs()['notes.txt'])
        expected['att-binary']['notes.txt'] = 'notes.txt'

    if mode == 'one-shot':
        replicate(replicator, mode, source, target, written=4)
        edit_source()
        # CouchDB's history stats carry over from the checkpoint: 4 + 2
        replicate(replicator, mode, source, target, written=6)
    else:
        with replicator.continuous(source, target) as job:
            job.wait(lambda: compare_dbs(source, target))
            edit_source()
            job.wait(lambda: compare_dbs(source, target))
        assert_same_docs(source, target)
    for doc_id, atts in expected.items():
        assert_attachment_bytes(source, doc_id, atts)
        assert_attachment_bytes(target, doc_id, atts)


# ===========================================================================
# 3. Long histories.
# ===========================================================================

def test_long_histories(replicator, ends, mode):
    source, target = ends
    doc = {'_id': 'long', 'gen': 1}
    source.put(doc)
    for gen in range(2, 61):
        doc['gen'] = gen
        source.put(doc)
    gone = {'_id': 'long-deleted', 'gen': 1}
    source.put(gone)
    for gen in range(2, 56):
        gone['gen'] = gen
        source.put(gone)
    source.delete('long-deleted', gone['_rev'])
    with_att = {'_id': 'long-att', 'gen': 1,
                '_attachments': inline('small.txt', 'pic.png')}
    source.put(with_att)
    for gen in range(2, 53):
        with_att = source.get('long-att')
        with_att['gen'] = gen
        source.put(with_att)
    replicate(replicator, mode, source, target, written=3)
    got = target.get('long', revs='true')
    assert got['_revisions']['start'] == 60
    assert len(got['_revisions']['ids']) == 60
    assert got['_revisions'] == source.get('long', revs='true')['_revisions']
    assert target.get('long-att', revs='true')['_revisions']['start'] == 52
    assert_attachment_bytes(target, 'long-att',
                            {'small.txt': 'small.txt', 'pic.png': 'pic.png'})


# ===========================================================================
# 4. Deletions.
# ===========================================================================

def test_deletions(replicator, ends, mode):
    source, target = ends
    docs = [{'_id': i, 'v': 1} for i in ('keep', 'del-plain', 'del-body',
                                           'del-later', 'del-recreated')]
    source.bulk(docs)
    by_id = {d['_id']: d for d in docs}
    source.delete('del-plain', by_id['del-plain']['_rev'])
    # a tombstone with a body
    source.put({'_id': 'del-body', '_rev': by_id['del-body']['_rev'],
                '_deleted': True, 'reason': 'gone for good'})
    # deleted then created again (a PUT without _rev extends the deleted
    # branch: 3-...)
    source.delete('del-recreated', by_id['del-recreated']['_rev'])
    source.put({'_id': 'del-recreated', 'v': 'again'})

    def delete_later():
        d = source.get('del-later')
        source.delete('del-later', d['_rev'])

    if mode == 'one-shot':
        replicate(replicator, mode, source, target, written=5)
        delete_later()
        # CouchDB's history stats carry over from the checkpoint: 5 + 1
        replicate(replicator, mode, source, target, written=6)
    else:
        with replicator.continuous(source, target) as job:
            job.wait(lambda: compare_dbs(source, target))
            delete_later()
            job.wait(lambda: compare_dbs(source, target))
        assert_same_docs(source, target)
    info = target.info()
    assert (info['doc_count'], info['doc_del_count']) == (2, 3), info
    resp = target.req('GET', '/del-later')
    assert resp.status == 404 and resp.json['reason'] == 'deleted', resp
    # the tombstone kept its body
    leaves = target.call('GET', '/del-body', expect=(200,),
                         query={'open_revs': 'all'},
                         headers={'Accept': 'application/json'})
    assert [row['ok'].get('reason') for row in leaves] == ['gone for good']
    assert leaves[0]['ok']['_deleted'] is True


# ===========================================================================
# 5. Conflicts with a deleted branch.
# ===========================================================================

def make_conflicts(db):
    """Conflicting branches written with _bulk_docs new_edits=false, then
    one branch deleted (a normal DELETE ?rev=)."""
    r1 = fake_rev(1, 'a')
    r2x, r2y = fake_rev(2, 'x'), fake_rev(2, 'y')
    r3 = fake_rev(3, 'z')

    def branch(doc_id, revs, body):
        start = int(revs[0].split('-')[0])
        doc = {'_id': doc_id, '_rev': revs[0],
               '_revisions': {'start': start,
                              'ids': [rev_hash(r) for r in revs]}}
        doc.update(body)
        return doc

    docs = []
    # two branches; the losing one (2-x, shorter than 3-z) gets deleted
    docs += [branch('conflict-a', [r2x, r1], {'side': 'x'}),
             branch('conflict-a', [r3, r2y, r1], {'side': 'y'})]
    # two branches at the same generation: the winner gets deleted
    docs += [branch('conflict-b', [r2x, r1], {'side': 'x'}),
             branch('conflict-b', [r2y, r1], {'side': 'y'})]
    # every branch deleted: the document is deleted
    docs += [branch('conflict-c', [r2x, r1], {'side': 'x'}),
             branch('conflict-c', [r2y, r1], {'side': 'y'})]
    # three live branches, one deleted later
    docs += [branch('conflict-d', [fake_rev(2, t), r1], {'side': t})
             for t in ('p', 'q', 'r')]
    # branches with different attachments
    docs += [branch('conflict-att', [r2x, r1],
                    {'side': 'x', '_attachments': inline('notes.txt')}),
             branch('conflict-att', [r2y, r1],
                    {'side': 'y', '_attachments': inline('pic.png')})]
    db.bulk(docs, new_edits=False)

    db.delete('conflict-a', r2x)
    winner_b = max(r2x, r2y)   # same generation: the greater rev id wins
    assert db.get('conflict-b')['_rev'] == winner_b
    db.delete('conflict-b', winner_b)
    db.delete('conflict-c', r2x)
    db.delete('conflict-c', r2y)
    db.delete('conflict-d', fake_rev(2, 'q'))
    db.delete('conflict-att', max(r2x, r2y))
    return {'r1': r1, 'r2x': r2x, 'r2y': r2y, 'r3': r3}


def test_conflicts_with_a_deleted_branch(replicator, ends, mode):
    source, target = ends
    revs = make_conflicts(source)
    # docs_written counts revisions: the 11 leaves of the 5 documents
    replicate(replicator, mode, source, target, written=11)
    for db in (source, target):
        a = db.get('conflict-a', conflicts='true', deleted_conflicts='true')
        assert a['_rev'] == revs['r3']
        assert 'conflicts' not in a and '_conflicts' not in a, a
        assert len(a['_deleted_conflicts']) == 1, a
        b = db.get('conflict-b', conflicts='true', deleted_conflicts='true')
        assert b['_rev'] == min(revs['r2x'], revs['r2y']), b
        resp = db.req('GET', '/conflict-c')
        assert resp.status == 404 and resp.json['reason'] == 'deleted', resp
        d = db.get('conflict-d', conflicts='true', deleted_conflicts='true')
        assert len(d['_conflicts']) == 1 and \
            len(d['_deleted_conflicts']) == 1, d
    assert_attachment_bytes(target, 'conflict-att',
                            {'notes.txt': 'notes.txt'}
                            if revs['r2x'] < revs['r2y'] else
                            {'pic.png': 'pic.png'})


# ===========================================================================
# 6. Tricky ids.
# ===========================================================================

TRICKY_IDS = ['with/slash', 'a+b', 'with space', u'\u00e9\u65e5\u672c',
              'a%2Fb', 'q?x=1&y=2#frag', 'colon:doc', 'plus+and space/é']


@pytest.mark.attachments
def test_tricky_ids(replicator, ends, mode):
    source, target = ends
    docs = [{'_id': doc_id, 'id_was': doc_id} for doc_id in TRICKY_IDS]
    docs += [
        {'_id': '_design/x', 'language': 'javascript', 'options': {}},
        # stored, never queried (Settee runs no JavaScript)
        {'_id': '_design/v', 'language': 'javascript',
         'views': {'by_id': {'map': 'function (doc) { emit(doc._id, 1); }'}}},
        {'_id': u'_design/sp ace+\u00e9', 'language': 'query',
         'options': {}},
    ]
    source.bulk(docs)
    revs = {d['_id']: d['_rev'] for d in docs}
    source.put_attachment('with/slash', revs['with/slash'],
                          'dir/name with space.txt', *blobs()['small.txt'])
    source.put_attachment(u'\u00e9\u65e5\u672c', revs[u'\u00e9\u65e5\u672c'],
                          u'\u00e9t\u00e9.png', *blobs()['small.png'])
    source.put_attachment('_design/x', revs['_design/x'], 'logo.png',
                          *blobs()['pic.png'])
    # a deleted one
    gone = {'_id': 'deleted/\u00e9 +'}
    source.put(gone)
    source.delete(gone['_id'], gone['_rev'])
    replicate(replicator, mode, source, target,
              written=len(docs) + 1)
    for doc_id in TRICKY_IDS:
        assert target.get(doc_id)['id_was'] == doc_id
    assert_attachment_bytes(target, 'with/slash',
                            {'dir/name with space.txt': 'small.txt'})
    assert_attachment_bytes(target, u'\u00e9\u65e5\u672c',
                            {u'\u00e9t\u00e9.png': 'small.png'})
    assert_attachment_bytes(target, '_design/x', {'logo.png': 'pic.png'})
    design = target.call('GET', '/_design_docs', expect=(200,))['rows']
    assert sorted(r['id'] for r in design) == sorted(
        ['_design/x', '_design/v', u'_design/sp ace+\u00e9'])


# ===========================================================================
# 7. _local documents stay behind.
# ===========================================================================

def test_local_docs_stay_behind(replicator, ends, mode):
    source, target = ends
    source.bulk([{'_id': 'a'}, {'_id': 'b'}])
    local_ids = ['_local/x', u'_local/\u00e9 t\u00e9']
    for doc_id in local_ids:
        source.put({'_id': doc_id, 'private': True})
    replicate(replicator, mode, source, target, written=2)
    for doc_id in local_ids:
        assert source.get(doc_id)['private'] is True
        resp = target.req('GET', '/' + doc_path(doc_id))
        assert resp.status == 404, resp
        assert resp.json == {'error': 'not_found', 'reason': 'missing'}
    leaked = set(target.local_doc_ids()) & set(local_ids)
    assert not leaked, leaked
    assert target.info()['doc_count'] == 2


# ===========================================================================
# 8. Checkpoints: the same one-shot replication run again resumes.
# ===========================================================================

def checkpoint_docs(db, session_id):
    return [d for d in db.local_docs() if d.get('session_id') == session_id]


def test_checkpoint_resume(replicator, ends):
    source, target = ends
    source.bulk([{'_id': 'doc-%02d' % i, 'i': i} for i in range(20)])

    first = replicator.one_shot(source, target)
    assert first.get('no_changes') is None, first
    assert len(first['history']) == 1, first
    h = first['history'][0]
    assert (h['start_last_seq'], h['docs_written'], h['missing_checked'],
            h['doc_write_failures']) == (0, 20, 20, 0), first
    assert h['recorded_seq'] == first['source_last_seq'], first
    assert_same_docs(source, target)
    # the checkpoint is on both ends, for this session
    for db in (source, target):
        docs = checkpoint_docs(db, first['session_id'])
        assert len(docs) == 1, (db, db.local_docs())
        assert docs[0]['source_last_seq'] == first['source_last_seq']
        assert docs[0]['history'] == first['history']
    target_seq = target.info()['update_seq']

    # runs 2 and 3: nothing new on the source; CouchDB reads the checkpoint
    # from both ends, finds them equal and writes nothing
    for run in (2, 3):
        again = replicator.one_shot(source, target)
        assert again.get('no_changes') is True, (run, again)
        assert again['session_id'] == first['session_id'], (run, again)
        assert again['source_last_seq'] == first['source_last_seq'], \
            (run, again)
        assert again['history'] == first['history'], (run, again)
        assert target.info()['update_seq'] == target_seq, run
        assert_same_docs(source, target)

    # one more change: the next run starts from the checkpoint
    source.put({'_id': 'doc-new'})
    fourth = replicator.one_shot(source, target)
    assert fourth.get('no_changes') is None, fourth
    assert fourth['source_last_seq'] != first['source_last_seq'], fourth
    assert len(fourth['history']) == 2, fourth
    h = fourth['history'][0]
    assert h['start_last_seq'] == first['source_last_seq'], fourth
    # CouchDB carries the statistics over from the checkpoint it resumed
    # from (couch_replicator_scheduler_job init_state/1): 20 + 1
    assert (h['docs_written'], h['missing_checked'], h['docs_read'],
            h['doc_write_failures']) == (21, 21, 21, 0), fourth
    assert fourth['history'][1] == first['history'][0], fourth
    assert_same_docs(source, target)
    for db in (source, target):
        docs = checkpoint_docs(db, fourth['session_id'])
        assert len(docs) == 1, (db, db.local_docs())
        assert docs[0]['source_last_seq'] == fourth['source_last_seq']

    fifth = replicator.one_shot(source, target)
    assert fifth.get('no_changes') is True, fifth
    assert fifth['source_last_seq'] == fourth['source_last_seq'], fifth
    assert fifth['history'] == fourth['history'], fifth


# ===========================================================================
# 9. Filtered replication: selector and doc_ids.
# ===========================================================================

def filter_fixture(db):
    docs = [{'_id': 'keep-%d' % i, 'type': 'keep', 'i': i} for i in range(5)]
    docs += [{'_id': 'drop-%d' % i, 'type': 'drop', 'i': i} for i in range(5)]
    docs += [{'_id': 'keep-att', 'type': 'keep',
              '_attachments': inline('small.txt', 'small.bin')},
             {'_id': 'with/slash', 'type': 'drop'},
             {'_id': u'\u00e9\u65e5\u672c', 'type': 'keep'},
             {'_id': 'keep-deleted', 'type': 'keep'},
             {'_id': 'keep-deleted-body', 'type': 'keep'},
             {'_id': 'gone', 'type': 'drop'}]
    db.bulk(docs)
    revs = {d['_id']: d['_rev'] for d in docs}
    db.delete('keep-deleted', revs['keep-deleted'])
    # a tombstone whose body still matches the selector
    db.put({'_id': 'keep-deleted-body', '_rev': revs['keep-deleted-body'],
            '_deleted': True, 'type': 'keep'})
    db.delete('gone', revs['gone'])
    db.put({'_id': '_local/keep', 'type': 'keep'})


FILTERS = {
    'selector': ({'selector': {'type': 'keep'}},
                 ['keep-%d' % i for i in range(5)] +
                 ['keep-att', u'\u00e9\u65e5\u672c', 'keep-deleted-body']),
    'doc_ids': ({'doc_ids': ['keep-1', 'drop-2', 'with/slash',
                             u'\u00e9\u65e5\u672c', 'gone', 'no-such-doc']},
                ['keep-1', 'drop-2', 'with/slash', u'\u00e9\u65e5\u672c',
                 'gone']),
}


@pytest.mark.parametrize('kind', sorted(FILTERS))
def test_filtered(replicator, ends, mode, kind):
    source, target = ends
    filter_fixture(source)
    opts, expected = FILTERS[kind]
    replicate(replicator, mode, source, target, ids=expected,
              written=len(expected), **opts)
    assert sorted(target.ids()) == sorted(expected)
    resp = target.req('GET', '/_local/keep')
    assert resp.status == 404, resp


# ===========================================================================
# 10. Edits on both sides converge.
# ===========================================================================

def edit_both_sides(a, b):
    """Edits on each side, made while no replication runs: the same doc
    changed differently, the same new id created on both, a doc deleted on
    one side and edited on the other, and one edited on one side only."""
    da = a.get('shared')
    da.update(v='from-a', a_only=True)
    a.put(da)
    db_ = b.get('shared')
    db_.update(v='from-b', extra=[1, 2, 3])
    b.put(db_)
    db_ = b.get('shared')
    db_['v'] = 'from-b-twice'
    b.put(db_)
    a.put({'_id': 'born-twice', 'side': 'a'})
    b.put({'_id': 'born-twice', 'side': 'b',
           '_attachments': inline('small.txt')})
    gone = a.get('edit-vs-delete')
    a.delete('edit-vs-delete', gone['_rev'])
    kept = b.get('edit-vs-delete')
    kept['v'] = 'edited'
    b.put(kept)
    one = b.get('one-side')
    one['v'] = 2
    b.put(one)


def check_converged(a, b):
    assert_same_docs(a, b, context='after replicating both ways')
    for db in (a, b):
        shared = db.get('shared', conflicts='true')
        # the longer branch (b's, generation 3) wins; a's is the conflict
        assert shared['v'] == 'from-b-twice', (db, shared)
        assert len(shared['_conflicts']) == 1, (db, shared)
        born = db.get('born-twice', conflicts='true')
        assert len(born['_conflicts']) == 1, (db, born)
        # a live leaf beats a deleted one
        evd = db.get('edit-vs-delete', conflicts='true',
                     deleted_conflicts='true')
        assert evd['v'] == 'edited' and '_conflicts' not in evd, (db, evd)
        assert len(evd['_deleted_conflicts']) == 1, (db, evd)
        assert db.get('one-side')['v'] == 2
        assert db.info()['doc_count'] == 4


@pytest.mark.parametrize('first', ['couchdb-first', '%s-first' % PEER])
def test_edits_on_both_sides_converge_one_shot(replicator, couch, peer,
                                               new_db, first):
    on_couch, on_peer = new_db(couch, 'couch'), new_db(peer, PEER)
    a, b = (on_couch, on_peer) if first == 'couchdb-first' else \
        (on_peer, on_couch)
    a.bulk([{'_id': 'shared', 'v': 0}, {'_id': 'edit-vs-delete', 'v': 0},
            {'_id': 'one-side', 'v': 1}])
    replicate(replicator, 'one-shot', a, b, written=3)
    replicate(replicator, 'one-shot', b, a, written=0)
    edit_both_sides(a, b)
    replicator.one_shot(a, b)
    replicator.one_shot(b, a)
    check_converged(a, b)
    # once more both ways: each side's new changes are the other's, already
    # there, so nothing is written ...
    seqs = (a.info()['update_seq'], b.info()['update_seq'])
    replicator.one_shot(a, b)
    replicator.one_shot(b, a)
    assert (a.info()['update_seq'], b.info()['update_seq']) == seqs
    # ... and then the checkpoints say there is nothing left to do
    assert replicator.one_shot(a, b).get('no_changes') is True
    assert replicator.one_shot(b, a).get('no_changes') is True
    check_converged(a, b)


def test_edits_on_both_sides_converge_continuous(replicator, couch, peer,
                                                 new_db):
    a, b = new_db(couch, 'couch'), new_db(peer, PEER)
    a.bulk([{'_id': 'shared', 'v': 0}, {'_id': 'edit-vs-delete', 'v': 0},
            {'_id': 'one-side', 'v': 1}])

    def both_ways(until):
        """Both continuous replications at once, until ``until()`` holds and
        each has processed changes; then both are stopped."""
        with replicator.continuous(a, b) as there, \
                replicator.continuous(b, a) as back:
            for job in (there, back):
                job.wait(lambda: until() or job.progress_problems())

    both_ways(lambda: compare_dbs(a, b))
    edit_both_sides(a, b)

    def converged():
        problems = compare_dbs(a, b)
        if not problems:
            shared = a.get('shared', conflicts='true')
            if len(shared.get('_conflicts', [])) != 1:
                problems.append('shared has no conflict yet: %r' % shared)
        return problems

    both_ways(converged)
    check_converged(a, b)


# ===========================================================================
# Written independently on each side, a document with a compressible
# attachment gets the same revision and digest.
# ===========================================================================

SAME_REV_CASES = {
    'inline-empty-text': ('inline', 'empty.txt'),
    'inline-small-text': ('inline', 'small.txt'),
    'inline-100k-text': ('inline', 'notes.txt'),
    'inline-2m-text': ('inline', 'big.txt'),
    'inline-100k-json': ('inline', 'data.json'),
    'inline-small-json': ('inline', 'tiny.json'),
    'inline-100k-png': ('inline', 'pic.png'),
    'standalone-small-text': ('standalone', 'small.txt'),
    'standalone-100k-text': ('standalone', 'notes.txt'),
    'standalone-100k-json': ('standalone', 'data.json'),
    'standalone-2m-binary': ('standalone', 'big.bin'),
}


@pytest.mark.attachments
@pytest.mark.parametrize('case', sorted(SAME_REV_CASES))
def test_same_rev_and_digest_when_written_independently(couch, peer, new_db,
                                                        case):
    how, blob = SAME_REV_CASES[case]
    data, ctype = blobs()[blob]
    results = {}
    for db in (new_db(couch, 'couch'), new_db(peer, PEER)):
        if how == 'inline':
            revs = [db.put({'_id': 'same', 'v': 1,
                            '_attachments': inline(blob)})]
        else:
            revs = [db.put({'_id': 'same', 'v': 1})]
            revs.append(db.put_attachment('same', revs[0], blob, data,
                                          ctype))
        # a body edit keeping the attachment as a stub
        doc = db.get('same')
        doc['v'] = 2
        revs.append(db.put(doc))
        results[db.server.name] = {
            'revs': revs,
            'doc': db.get('same', att_encoding_info='true', revs='true'),
        }
    assert results['couchdb'] == results[PEER], json.dumps(results,
                                                           indent=1)

