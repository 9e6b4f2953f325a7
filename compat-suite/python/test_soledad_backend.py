# -*- coding: utf-8 -*-
"""Settee driven by CouchDB-Python 1.2 the way LEAP soledad's sync server
drives CouchDB (shared/seeds/soledad-couch-backend.py.txt).

Two kinds of test live here:

* scenario tests that go through soledad_backend.CouchDatabase, the port of
  soledad's backend, so that every call soledad makes is made exactly as it
  makes it;
* shape tests that assert what CouchDB 3.x puts on the wire (status codes,
  ``error`` / ``reason`` strings, row layouts) through the same client objects
  (couchdb.client.Server / Database, couchdb.http.Resource) or, where the
  client hides a status code or header, through a raw http.client request.

Every expectation is CouchDB 3.x's behaviour (checked against its source:
chttpd.erl error_info/1, fabric_view_all_docs.erl, couch_mrview_http.erl,
couch_db_updater.erl), so the suite also passes against a real CouchDB with
SETTEE_URL=http://admin:pass@127.0.0.1:5984.

Scenarios that read or write attachments (u1db_content / u1db_conflicts)
carry the ``attachments`` marker (``-m attachments`` selects them); the
attachment API itself, driven directly, is in test_attachments.py.
"""

import base64
import hashlib
import io
import re
import threading
import uuid
from urllib.parse import urljoin

import pytest

import couchdb
from couchdb import http as couch_http
from couchdb.http import (
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    Session,
)

from couch_wire import (
    ATT_MISSING,
    CONFLICT,
    DOC_DELETED,
    DOC_MISSING,
    error_of,
    rev_pos,
)
import soledad_backend as sb
from soledad_backend import (
    CouchDatabase,
    DatabaseDoesNotExist,
    InvalidGeneration,
    RevisionConflict,
    ServerDocument,
    _get_gen_doc_id,
    list_users_dbs,
)
from soledad_support import MultipartWriter

UUID_RE = re.compile(r'^[0-9a-f]{32}$')

# CouchDB 3.x wire strings (chttpd.erl error_info/1)
DB_MISSING = ('not_found', 'Database does not exist.')
DB_EXISTS = ('file_exists',
             'The database could not be created, the file already exists.')

# CouchDB 3.x refusals (couch_db.erl, chttpd_auth_request.erl)
NOT_SERVER_ADMIN = ('unauthorized', 'You are not a server admin.')
NOT_DB_ADMIN = ('forbidden', 'You are not a db or server admin.')
NOT_A_MEMBER = ('forbidden', 'You are not allowed to access this db.')
ANONYMOUS = ('unauthorized', 'You are not authorized to access this db.')

# CouchDB 3.x: [couchdb] default_security = admin_only
DEFAULT_SECURITY_3X = {'members': {'roles': ['_admin']},
                       'admins': {'roles': ['_admin']}}

# Raw-collation probes around the gen-NNNNNNNNNN range soledad queries.
# 'GEN-1' lies before the range in raw (byte) order, which _all_docs uses, but
# inside it under ICU collation; 'gen-' and 'gen-a' bracket the range.
NOISE_IDS = ['GEN-1', 'a-doc', 'gen-', 'gen-a', 'z-doc']
NOISE_BEFORE_RANGE = 3   # GEN-1, a-doc, gen-
NOISE_AFTER_RANGE = 2    # gen-a, z-doc


def db_url(couch_url, name):
    return urljoin(couch_url, name)


def open_db(couch_url, name):
    """A second, independent CouchDatabase on the same database (its own
    Session, as another soledad request would have)."""
    return CouchDatabase(couch_url, name)


def add_noise(db):
    for doc_id in NOISE_IDS:
        db.save({'_id': doc_id, 'noise': True})


def allocate(cdb, n, prefix='doc'):
    out = []
    for i in range(1, n + 1):
        out.append(cdb._allocate_new_generation('%s-%d' % (prefix, i),
                                                'T-%d' % i))
    return out


# ===========================================================================
# Server and database lifecycle: couch_server, open_database, list_users_dbs,
# delete_database.
# ===========================================================================

def test_server_welcome_reports_couchdb_3(server, raw):
    assert server.version_info()[0] == 3
    resp = raw('GET', '/')
    assert resp.status == 200
    assert resp.json['couchdb'] == 'Welcome'
    assert resp.json['version'].startswith('3.')


def test_create_database_then_exists(server, db_name):
    assert db_name not in server            # HEAD /{db} -> 404
    db = server.create(db_name)             # PUT /{db}, then HEAD /{db}
    assert isinstance(db, couchdb.Database)
    assert db.name == db_name
    assert db_name in server                # HEAD /{db} -> 200


def test_create_database_raw_shapes(server, raw, db_name):
    resp = raw('PUT', '/' + db_name)
    assert resp.status == 201, resp
    assert resp.json == {'ok': True}
    resp = raw('PUT', '/' + db_name)
    assert resp.status == 412, resp
    assert (resp.json['error'], resp.json['reason']) == DB_EXISTS
    with pytest.raises(PreconditionFailed) as exc:
        server.create(db_name)
    assert error_of(exc) == DB_EXISTS
    resp = raw('HEAD', '/' + db_name)
    assert resp.status == 200 and resp.body == b''


def test_missing_database_errors(server, raw, db_name):
    resp = raw('HEAD', '/' + db_name)
    assert resp.status == 404 and resp.body == b''
    resp = raw('GET', '/' + db_name)
    assert resp.status == 404
    assert (resp.json['error'], resp.json['reason']) == DB_MISSING
    with pytest.raises(ResourceNotFound) as exc:
        del server[db_name]
    assert error_of(exc) == DB_MISSING
    missing = couchdb.Database(server.resource(db_name), db_name)
    with pytest.raises(ResourceNotFound) as exc:
        missing['some-doc']
    assert error_of(exc) == DB_MISSING
    with pytest.raises(ResourceNotFound) as exc:
        missing.save({'_id': 'some-doc'})
    assert error_of(exc) == DB_MISSING


def test_delete_database(server, user_db, raw):
    status, _, body = server.resource.delete_json(user_db)
    assert status == 200 and body == {'ok': True}
    assert user_db not in server
    with pytest.raises(ResourceNotFound) as exc:
        del server[user_db]
    assert error_of(exc) == DB_MISSING


def test_error_bodies_are_small_json_with_content_length(raw, user_db):
    # couchdb.http decodes an error body only when it is buffered, i.e. when
    # the response has a Content-Length under 8 KiB; a chunked error body
    # makes the client crash with AttributeError instead of raising
    # ResourceNotFound / ResourceConflict.  CouchDB sends them with a length.
    for method, path in [('GET', '/%s/nope' % user_db),
                         ('GET', '/%s/_local/nope' % user_db),
                         ('GET', '/%s-gone' % user_db)]:
        resp = raw(method, path)
        assert resp.status == 404, resp
        assert 'application/json' in resp.header('content-type'), resp
        assert resp.header('content-length') == str(len(resp.body)), resp
        assert resp.header('transfer-encoding') is None, resp


def test_list_users_dbs(admin_url, server, db_names):
    # listing databases (_all_dbs) is for server admins
    users = [db_names('user-') for _ in range(3)]
    others = [db_names('shared-'), db_names('tokens_')]
    for name in users + others:
        server.create(name)
    listed = list_users_dbs(admin_url)
    assert set(users) <= set(listed)
    assert not set(others) & set(listed)
    assert all(name.startswith('user-') for name in listed)
    everything = list(server)               # GET /_all_dbs
    assert everything == sorted(everything)
    assert set(users + others) <= set(everything)
    for name in users[:2]:
        del server[name]
    listed = list_users_dbs(admin_url)
    assert users[2] in listed
    assert not set(users[:2]) & set(listed)


def test_open_database_creates_and_secures(admin_url, server, db_name):
    # creating a database and its _security takes a server admin
    assert db_name not in server
    cdb = CouchDatabase.open_database(db_url(admin_url, db_name), create=True)
    assert isinstance(cdb, CouchDatabase)
    assert db_name in server
    security = server[db_name].resource.get_json('_security')[2]
    assert security['members'] == {'names': ['soledad'], 'roles': []}
    assert security['admins'] == {'names': [], 'roles': []}
    # opening an existing database neither recreates nor re-secures it
    server[db_name].resource.put_json('_security', body={
        'members': {'names': ['someone-else'], 'roles': []},
        'admins': {'names': [], 'roles': []}})
    again = CouchDatabase.open_database(db_url(admin_url, db_name),
                                        create=False)
    assert again.get_generation_info() == (0, '')
    security = server[db_name].resource.get_json('_security')[2]
    assert security['members']['names'] == ['someone-else']


def test_open_database_missing_without_create(couch_url, server, db_name):
    with pytest.raises(DatabaseDoesNotExist):
        CouchDatabase.open_database(db_url(couch_url, db_name), create=False)
    assert db_name not in server


def test_delete_database_via_backend(admin_url, couch_db, server, db_name):
    assert db_name in server
    # the soledad member may not delete its database: a server admin may
    with pytest.raises(couch_http.Unauthorized) as exc:
        couch_db.delete_database()
    assert error_of(exc) == NOT_SERVER_ADMIN
    assert db_name in server
    CouchDatabase(admin_url, db_name).delete_database()
    assert db_name not in server


def test_database_info_via_json_from_resource(couch_db, db_name):
    couch_db._allocate_new_generation('doc-1', 'T-1')
    info = couch_db.json_from_resource(None)          # GET /{db}
    assert info['db_name'] == db_name
    assert info['doc_count'] == 1
    assert info['doc_del_count'] == 0
    assert 'update_seq' in info
    # "0" up to CouchDB 3.2, the shard creation time since: a digit string
    assert re.match(r'^\d+$', info['instance_start_time'])
    # soledad's _new_resource: a fresh Resource/Session with the same headers
    status, _, same = couch_db._new_resource().get_json()
    assert status == 200
    assert same['db_name'] == db_name and same['doc_count'] == 1
    status, _, gen = couch_db._new_resource(_get_gen_doc_id(1)).get_json()
    assert status == 200 and gen['gen'] == 1


# ===========================================================================
# _security: ensure_security_ddoc
# ===========================================================================

def test_security_of_new_database_is_admin_only(server, db_name):
    # CouchDB 3.x creates databases with the admin_only security object
    # ([couchdb] default_security = admin_only, couch_db_updater.erl).
    server.create(db_name)
    status, _, security = server[db_name].resource.get_json('_security')
    assert status == 200
    assert security == DEFAULT_SECURITY_3X


def test_ensure_security_ddoc_default(admin_url, user_db):
    # writing _security takes a database or server admin
    cdb = CouchDatabase(admin_url, user_db)
    cdb.ensure_security_ddoc()
    status, _, security = cdb._database.resource.get_json('_security')
    assert status == 200
    assert security == {
        'members': {'names': ['soledad'], 'roles': []},
        'admins': {'names': [], 'roles': []},
    }


def test_ensure_security_ddoc_custom_and_keeps_other_fields(admin_url,
                                                            user_db, db):
    admin_db = couchdb.Database(db_url(admin_url, user_db), Session())
    status, _, body = admin_db.resource.put_json(
        '_security', body={'members': {'names': ['x'], 'roles': []},
                           'admins': {'names': [], 'roles': []},
                           'cozy': {'nested': [1, 2, 3]}})
    assert status == 200 and body == {'ok': True}
    cdb = CouchDatabase(admin_url, user_db)
    cdb.ensure_security_ddoc({'members': ['alice', 'soledad'],
                              'members_roles': ['users'],
                              'admins': ['bob'],
                              'admins_roles': ['ops']})
    security = db.resource.get_json('_security')[2]
    assert security == {
        'members': {'names': ['alice', 'soledad'], 'roles': ['users']},
        'admins': {'names': ['bob'], 'roles': ['ops']},
        'cozy': {'nested': [1, 2, 3]},
    }
    # the property the client library offers reads the same object, and
    # soledad, a member again, reads it too
    assert db.security == security


# ===========================================================================
# _local/config: get_replica_uid / set_replica_uid
# ===========================================================================

def test_config_doc_missing_then_created(couch_db, db):
    with pytest.raises(ResourceNotFound) as exc:
        db[sb.CONFIG_DOC_ID]                 # GET /{db}/_local/config
    assert error_of(exc) == DOC_MISSING
    replica_uid = couch_db.get_replica_uid()
    assert UUID_RE.match(replica_uid)
    doc = db[sb.CONFIG_DOC_ID]
    assert dict(doc) == {'_id': '_local/config', '_rev': '0-1',
                         'replica_uid': replica_uid, 'schema_version': 1}
    assert couch_db.get_replica_uid() == replica_uid
    assert db[sb.CONFIG_DOC_ID].rev == '0-1'


def test_set_replica_uid_creates_then_updates(couch_db, db):
    couch_db.set_replica_uid('first')
    assert db[sb.CONFIG_DOC_ID].rev == '0-1'
    couch_db.set_replica_uid('second')      # save() with the _rev it read
    doc = db[sb.CONFIG_DOC_ID]
    assert doc.rev == '0-2'
    assert doc['replica_uid'] == 'second'
    assert doc['schema_version'] == 1
    assert couch_db.get_replica_uid() == 'second'
    # a second backend instance (another request) sees the same config
    other = open_db(couch_db._url, couch_db._dbname)
    assert other.get_replica_uid() == 'second'
    other.set_replica_uid('third')
    assert couch_db.get_replica_uid() == 'third'
    assert db[sb.CONFIG_DOC_ID].rev == '0-3'


def test_local_doc_save_shapes(db):
    doc = {'_id': '_local/config', 'replica_uid': 'r', 'schema_version': 1}
    assert db.save(doc) == ('_local/config', '0-1')
    assert doc['_rev'] == '0-1'
    status, _, body = db.resource.put_json(
        ['_local', 'config'], body=dict(doc, replica_uid='s'))
    assert status == 201
    assert body == {'ok': True, 'id': '_local/config', 'rev': '0-2'}
    assert db['_local/config']['replica_uid'] == 's'


def test_local_docs_stay_out_of_all_docs_and_doc_count(couch_db, db):
    couch_db.get_replica_uid()
    couch_db.get_replica_gen_and_trans_id('other-replica')
    couch_db._allocate_new_generation('doc-1', 'T-1')
    ids = [row.id for row in db.view('_all_docs')]
    assert ids == [_get_gen_doc_id(1)]
    assert len(db) == 1                     # doc_count from GET /{db}
    assert db.view('_all_docs').total_rows == 1


def test_local_doc_writes_are_last_writer_wins(db):
    # CouchDB >= 2.2 (so every 3.x) does no MVCC check on _local docs: the new
    # rev is "0-" + (the given rev + 1), whatever the stored rev is
    # (couch_db_updater:increment_local_doc_revs/1).  Two soledad syncs that
    # race on _local/sync_<uid> therefore never get a 409 here.
    doc_id = '_local/sync_racer'
    assert db.save({'_id': doc_id, 'gen': 1}) == (doc_id, '0-1')
    assert db.save({'_id': doc_id, 'gen': 2, '_rev': '0-1'})[1] == '0-2'
    assert db.save({'_id': doc_id, 'gen': 3, '_rev': '0-1'})[1] == '0-2'
    assert db[doc_id]['gen'] == 3
    assert db.save({'_id': doc_id, 'gen': 4})[1] == '0-1'
    assert db[doc_id]['gen'] == 4


def test_deleted_local_doc_is_missing(db):
    doc = {'_id': '_local/sync_gone', 'gen': 1}
    db.save(doc)
    status, _, body = db.resource.delete_json(['_local', 'sync_gone'],
                                              rev=doc['_rev'])
    assert status == 200
    assert body == {'ok': True, 'id': '_local/sync_gone', 'rev': '0-0'}
    with pytest.raises(ResourceNotFound) as exc:
        db['_local/sync_gone']
    assert error_of(exc) == DOC_MISSING


# ===========================================================================
# _local/sync_<uid>: get_replica_gen_and_trans_id / set_replica_gen_and_...
# ===========================================================================

def test_replica_gen_of_unknown_replica(couch_db, db):
    assert couch_db.get_replica_gen_and_trans_id('replica-a') == (0, '')
    doc = db['_local/sync_replica-a']
    assert dict(doc) == {'_id': '_local/sync_replica-a', '_rev': '0-1',
                         'gen': 0, 'replica_uid': 'replica-a',
                         'trans_id': ''}
    assert couch_db.get_replica_gen_and_trans_id('replica-a') == (0, '')
    assert db['_local/sync_replica-a'].rev == '0-1'


def test_set_replica_gen_and_trans_id_roundtrip(couch_db, db):
    other_uid = uuid.uuid4().hex
    couch_db.get_replica_gen_and_trans_id(other_uid)
    couch_db.set_replica_gen_and_trans_id(other_uid, 5, 'T-five')
    assert couch_db.get_replica_gen_and_trans_id(other_uid) == (5, 'T-five')
    couch_db.set_replica_gen_and_trans_id(other_uid, 7, 'T-seven')
    assert couch_db.get_replica_gen_and_trans_id(other_uid) == (7, 'T-seven')
    doc = db['_local/sync_%s' % other_uid]
    assert doc.rev == '0-3'
    assert doc['replica_uid'] == other_uid


def test_set_replica_gen_for_never_seen_replica(couch_db, db):
    couch_db.set_replica_gen_and_trans_id('fresh', 3, 'T-3')
    assert dict(db['_local/sync_fresh']) == {
        '_id': '_local/sync_fresh', '_rev': '0-1', 'gen': 3,
        'trans_id': 'T-3'}
    assert couch_db.get_replica_gen_and_trans_id('fresh') == (3, 'T-3')


# ===========================================================================
# Generations: gen-NNNNNNNNNN docs read through _all_docs ranges.
# ===========================================================================

def test_generation_info_of_empty_database(couch_db):
    assert couch_db.get_generation_info() == (0, '')
    assert couch_db.get_trans_id_for_gen(0) == ''
    with pytest.raises(InvalidGeneration):
        couch_db.get_trans_id_for_gen(1)
    assert couch_db.whats_changed() == (0, '', [])
    assert list(couch_db.get_transaction_log()) == []
    assert couch_db.get_all_docs() == (0, [])


def test_gen_doc_ids_are_zero_padded():
    assert _get_gen_doc_id(1) == 'gen-0000000001'
    assert _get_gen_doc_id(12) == 'gen-0000000012'
    assert _get_gen_doc_id(9999999999) == 'gen-9999999999'


def test_allocate_generations_sequentially(couch_db, db):
    add_noise(db)
    docs = allocate(couch_db, 12)            # crosses 9 -> 10
    assert [d['gen'] for d in docs] == list(range(1, 13))
    assert [d['_id'] for d in docs] == [_get_gen_doc_id(g)
                                        for g in range(1, 13)]
    assert couch_db.get_generation_info() == (12, 'T-12')
    for gen in range(1, 13):
        assert couch_db.get_trans_id_for_gen(gen) == 'T-%d' % gen
    with pytest.raises(InvalidGeneration):
        couch_db.get_trans_id_for_gen(13)
    stored = db[_get_gen_doc_id(7)]
    assert rev_pos(stored.rev) == 1
    assert {k: v for k, v in stored.items() if k != '_rev'} == {
        '_id': 'gen-0000000007', 'gen': 7, 'doc_id': 'doc-7',
        'trans_id': 'T-7'}


def test_transaction_log_and_ranges(couch_db, db):
    add_noise(db)
    for gen, doc_id in enumerate(['a', 'b', 'a', 'c', 'b', 'a'], start=1):
        couch_db._allocate_new_generation(doc_id, 'T-%d' % gen)
    assert couch_db._get_transaction_log() == [
        (1, 'a', 'T-1'), (2, 'b', 'T-2'), (3, 'a', 'T-3'),
        (4, 'c', 'T-4'), (5, 'b', 'T-5'), (6, 'a', 'T-6')]
    assert list(couch_db.get_transaction_log()) == [
        ('a', 'T-1'), ('b', 'T-2'), ('a', 'T-3'), ('c', 'T-4'),
        ('b', 'T-5'), ('a', 'T-6')]
    assert couch_db._get_transaction_log(start=2, end=4) == [
        (2, 'b', 'T-2'), (3, 'a', 'T-3'), (4, 'c', 'T-4')]
    assert couch_db._get_transaction_log(start=6, end=6) == [(6, 'a', 'T-6')]
    assert couch_db._get_transaction_log(start=7) == []
    rows = couch_db._get_gen_docs(descending=True)
    assert [r.id for r in rows] == [_get_gen_doc_id(g)
                                    for g in range(6, 0, -1)]
    rows = couch_db._get_gen_docs(start=2, end=5, descending=True, limit=2)
    assert [r.id for r in rows] == ['gen-0000000005', 'gen-0000000004']
    assert couch_db.whats_changed() == (6, 'T-6', [
        ('c', 4, 'T-4'), ('b', 5, 'T-5'), ('a', 6, 'T-6')])
    assert couch_db.whats_changed(old_generation=4) == (6, 'T-6', [
        ('b', 5, 'T-5'), ('a', 6, 'T-6')])
    assert couch_db.whats_changed(old_generation=6) == (6, 'T-6', [])


def test_all_docs_range_row_shape(couch_db, db):
    add_noise(db)
    allocate(couch_db, 3)
    total = len(NOISE_IDS) + 3
    view = db.view('_all_docs', startkey=_get_gen_doc_id(0),
                   endkey=_get_gen_doc_id(9999999999), include_docs='true')
    assert [r.id for r in view.rows] == [_get_gen_doc_id(g) for g in (1, 2, 3)]
    assert view.total_rows == total
    assert view.offset == NOISE_BEFORE_RANGE
    for gen, row in enumerate(view.rows, start=1):
        assert set(row) == {'id', 'key', 'value', 'doc'}
        assert row.key == row.id
        assert row.value == {'rev': row.doc['_rev']}
        assert rev_pos(row.value['rev']) == 1
        assert row.doc == {'_id': row.id, '_rev': row.value['rev'],
                           'gen': gen, 'doc_id': 'doc-%d' % gen,
                           'trans_id': 'T-%d' % gen}
    # endkey is inclusive; startkey == endkey selects one row
    one = db.view('_all_docs', startkey='gen-0000000002',
                  endkey='gen-0000000002', include_docs='true')
    assert [r.id for r in one.rows] == ['gen-0000000002']
    assert one.offset == NOISE_BEFORE_RANGE + 1
    # without include_docs there is no doc member
    bare = db.view('_all_docs', startkey=_get_gen_doc_id(0),
                   endkey=_get_gen_doc_id(9999999999))
    assert all('doc' not in r for r in bare.rows)


def test_latest_generation_via_descending_limit_1(couch_db, db):
    add_noise(db)
    allocate(couch_db, 11)
    # exactly soledad's query: descending, swapped keys, limit 1
    status, _, data = db.resource('_all_docs').get_json(
        descending='true', startkey='"gen-9999999999"',
        endkey='"gen-0000000000"', include_docs='true', limit='1')
    assert status == 200
    assert data['total_rows'] == len(NOISE_IDS) + 11
    assert data['offset'] == NOISE_AFTER_RANGE
    assert len(data['rows']) == 1
    row = data['rows'][0]
    assert row['id'] == row['key'] == 'gen-0000000011'
    assert row['doc']['gen'] == 11 and row['doc']['trans_id'] == 'T-11'
    assert couch_db.get_generation_info() == (11, 'T-11')


def test_descending_with_unswapped_keys_selects_nothing(couch_db, db):
    # _all_docs does not reject a backwards range (the "No rows can match
    # your key range" 400 is for map views only): it answers 200, no rows.
    # That is why soledad swaps start and end when it reads descending.
    allocate(couch_db, 3)
    view = db.view('_all_docs', descending='true',
                   startkey=_get_gen_doc_id(0),
                   endkey=_get_gen_doc_id(9999999999), include_docs='true')
    assert view.rows == []
    assert view.total_rows == 3
    asc = db.view('_all_docs', startkey=_get_gen_doc_id(9999999999),
                  endkey=_get_gen_doc_id(0))
    assert asc.rows == []


def test_get_generation_info_sees_new_generations_through_etag_cache(
        couch_db, couch_url, db_name):
    # couchdb.http.Session caches GET responses that carry an ETag and
    # revalidates them with If-None-Match: a 304 for a changed result would
    # freeze soledad's view of the database (and spin the allocation loop).
    other = open_db(couch_url, db_name)
    for gen in range(1, 6):
        assert couch_db.get_generation_info() == (gen - 1, '' if gen == 1
                                                  else 'T-%d' % (gen - 1))
        other._allocate_new_generation('doc', 'T-%d' % gen)
        assert couch_db.get_generation_info() == (gen, 'T-%d' % gen)


def test_document_reads_see_updates_through_etag_cache(db, couch_url,
                                                       user_db):
    # db[doc_id] twice on one Session: the second GET carries If-None-Match
    # with the first ETag; after another client's update it must get 200
    # and the new body, and a 304 only while the doc is unchanged.
    other = couchdb.Database(db_url(couch_url, user_db), Session())
    db.save({'_id': 'cached', 'v': 1})
    assert db['cached']['v'] == 1
    assert db['cached']['v'] == 1
    doc = other['cached']
    doc['v'] = 2
    other.save(doc)
    got = db['cached']
    assert got['v'] == 2 and got.rev == doc.rev
    other.delete(doc)
    with pytest.raises(ResourceNotFound):
        db['cached']


# ===========================================================================
# _all_docs with keys (POST), include_docs and attachments=false: get_docs
# ===========================================================================

def test_all_docs_keys_row_shapes(db):
    a = {'_id': 'a', 'u1db_rev': 'r:1'}
    b = {'_id': 'b', 'u1db_rev': 'r:1'}
    db.save(a)
    db.save(b)
    _, _, deleted = db.resource.delete_json('b', rev=b['_rev'])
    assert deleted['ok'] is True and deleted['id'] == 'b'
    assert rev_pos(deleted['rev']) == 2
    status, _, data = db.resource('_all_docs').post_json(
        body={'keys': ['b', 'missing', 'a', 'a']},
        include_docs='true', attachments='false')
    assert status == 200
    rows = data['rows']
    assert rows[0] == {'id': 'b', 'key': 'b',
                       'value': {'rev': deleted['rev'], 'deleted': True},
                       'doc': None}
    assert rows[1] == {'key': 'missing', 'error': 'not_found'}
    expected_a = {'id': 'a', 'key': 'a', 'value': {'rev': a['_rev']},
                  'doc': {'_id': 'a', '_rev': a['_rev'], 'u1db_rev': 'r:1'}}
    assert rows[2] == expected_a
    assert rows[3] == expected_a
    assert len(rows) == 4
    assert data['total_rows'] == 1


def test_all_docs_keys_offset_is_null(db):
    # fabric_view_all_docs: a keys query reports "offset": null
    db.save({'_id': 'a'})
    status, _, data = db.resource('_all_docs').post_json(body={'keys': ['a']})
    assert status == 200
    assert 'offset' in data and data['offset'] is None


def test_view_keys_through_client_posts(db):
    for doc_id in ('x', 'y', 'z'):
        db.save({'_id': doc_id, 'n': doc_id})
    view = db.view('_all_docs', keys=['z', 'x'], include_docs='true',
                   attachments='false')
    assert [(r.id, r.doc['n']) for r in view.rows] == [('z', 'z'), ('x', 'x')]
    assert db.view('_all_docs', keys=[]).rows == []


# ===========================================================================
# Documents: doc_id in db, db[doc_id], db.save, conflicts
# ===========================================================================

def test_document_contains_get_save(db, raw, user_db):
    assert 'doc-1' not in db                 # HEAD -> 404
    doc = {'_id': 'doc-1', 'u1db_rev': 'replica:1'}
    doc_id, rev1 = db.save(doc)
    assert doc_id == 'doc-1' and rev_pos(rev1) == 1
    assert doc['_rev'] == rev1
    assert 'doc-1' in db                     # HEAD -> 200
    got = db['doc-1']
    assert isinstance(got, couchdb.Document)
    assert (got.id, got.rev) == ('doc-1', rev1)
    assert dict(got) == {'_id': 'doc-1', '_rev': rev1,
                         'u1db_rev': 'replica:1'}
    got['u1db_rev'] = 'replica:2'
    _, rev2 = db.save(got)
    assert rev_pos(rev2) == 2 and got.rev == rev2
    assert db['doc-1']['u1db_rev'] == 'replica:2'
    head = raw('HEAD', '/%s/doc-1' % user_db)
    assert head.status == 200
    assert head.header('etag') == '"%s"' % rev2


def test_document_put_shape(db):
    status, _, body = db.resource.put_json('put-shape', body={'a': 1})
    assert status == 201
    assert set(body) == {'ok', 'id', 'rev'}
    assert body['ok'] is True and body['id'] == 'put-shape'
    assert rev_pos(body['rev']) == 1


def test_stale_rev_conflicts(db, user_db, raw):
    doc = {'_id': 'doc-c', 'v': 1}
    db.save(doc)
    stale = dict(doc)
    doc['v'] = 2
    db.save(doc)
    with pytest.raises(ResourceConflict) as exc:
        db.save(stale)
    assert error_of(exc) == CONFLICT
    # no _rev at all on an existing document is a conflict too
    with pytest.raises(ResourceConflict) as exc:
        db.save({'_id': 'doc-c', 'v': 3})
    assert error_of(exc) == CONFLICT
    assert db['doc-c']['v'] == 2
    resp = raw('PUT', '/%s/doc-c' % user_db, body={'_rev': stale['_rev']})
    assert resp.status == 409
    assert resp.json == {'error': CONFLICT[0], 'reason': CONFLICT[1]}


def test_missing_and_deleted_documents(db):
    with pytest.raises(ResourceNotFound) as exc:
        db['never-there']
    assert error_of(exc) == DOC_MISSING
    doc = {'_id': 'doomed'}
    db.save(doc)
    db.delete(doc)
    assert 'doomed' not in db
    with pytest.raises(ResourceNotFound) as exc:
        db['doomed']
    assert error_of(exc) == DOC_DELETED
    # a deleted document can be recreated without a rev
    fresh = {'_id': 'doomed', 'again': True}
    db.save(fresh)
    assert rev_pos(fresh['_rev']) == 3
    assert 'doomed' in db


def test_concurrent_create_same_id_exactly_one_wins(couch_url, user_db):
    threads_n = 16
    barrier = threading.Barrier(threads_n)
    results = []
    lock = threading.Lock()

    def worker(i):
        db = couchdb.Database(db_url(couch_url, user_db),
                              Session(timeout=sb.COUCH_TIMEOUT))
        barrier.wait()
        try:
            db.save({'_id': 'gen-0000000001', 'gen': 1, 'by': i})
            outcome = ('ok', i)
        except ResourceConflict as e:
            outcome = ('conflict', e.args[0])
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [r for r in results if r[0] == 'ok']
    losers = [r for r in results if r[0] == 'conflict']
    assert len(results) == threads_n
    assert len(winners) == 1, results
    assert all(r[1] == CONFLICT for r in losers), losers
    db = couchdb.Database(db_url(couch_url, user_db), Session())
    stored = db['gen-0000000001']
    assert stored['by'] == winners[0][1]
    assert rev_pos(stored.rev) == 1


# ===========================================================================
# Bulk updates: db.update([...]) -> [(ok, id, rev_or_error)]
# ===========================================================================

def test_bulk_update_creates(db):
    docs = [{'_id': 'doc-1', 'u1db_rev': 'r:1'},
            {'_id': 'gen-0000000001', 'gen': 1, 'doc_id': 'doc-1',
             'trans_id': 'T-1'},
            {'anonymous': True}]
    results = db.update(docs)
    assert len(results) == 3
    assert [r[0] for r in results] == [True, True, True]
    assert results[0][1] == 'doc-1' and results[1][1] == 'gen-0000000001'
    assert UUID_RE.match(results[2][1])
    for (ok, doc_id, rev), doc in zip(results, docs):
        assert rev_pos(rev) == 1
        assert doc['_id'] == doc_id and doc['_rev'] == rev
    assert db['doc-1'].rev == results[0][2]
    assert db[results[2][1]]['anonymous'] is True


def test_bulk_update_reports_conflict_per_doc(db):
    fresh = {'_id': 'fresh', 'v': 1}
    stale = {'_id': 'stale', 'v': 1}
    db.update([fresh, stale])
    stale_copy = dict(stale)
    stale['v'] = 2
    db.save(stale)                      # stale_copy now holds an old _rev
    fresh['v'] = 2
    stale_copy['v'] = 3
    results = db.update([fresh, stale_copy, {'_id': 'new', 'v': 1}])
    ok, doc_id, rev = results[0]
    assert (ok, doc_id, rev_pos(rev)) == (True, 'fresh', 2)
    ok, doc_id, error = results[1]
    assert (ok, doc_id) == (False, 'stale')
    assert type(error) is ResourceConflict
    assert error.args == ('Document update conflict.',)
    ok, doc_id, rev = results[2]
    assert (ok, doc_id, rev_pos(rev)) == (True, 'new', 1)
    assert db['stale']['v'] == 2
    assert db['fresh']['v'] == 2
    # an existing id without _rev is a conflict as well
    [(ok, doc_id, error)] = db.update([{'_id': 'fresh', 'v': 9}])
    assert (ok, doc_id, type(error)) == (False, 'fresh', ResourceConflict)


def test_bulk_docs_raw_shape(db):
    db.save({'_id': 'exists'})
    status, _, body = db.resource.post_json('_bulk_docs', body={'docs': [
        {'_id': 'exists'}, {'_id': 'brand-new'}]})
    assert status == 201
    assert body[0] == {'id': 'exists', 'error': 'conflict',
                       'reason': 'Document update conflict.'}
    assert set(body[1]) == {'ok', 'id', 'rev'}
    assert body[1]['ok'] is True and body[1]['id'] == 'brand-new'
    # an empty batch (soledad's batch_end after a flush) is fine
    status, _, body = db.resource.post_json('_bulk_docs', body={'docs': []})
    assert status == 201 and body == []
    assert db.update([]) == []


# ===========================================================================
# The 409-as-lock generation allocator under concurrency.
# ===========================================================================

@pytest.mark.concurrency
@pytest.mark.timeout(600)
def test_concurrent_generation_allocation(couch_url, couch_db, db_name):
    threads_n, per_thread = 8, 25
    total = threads_n * per_thread
    barrier = threading.Barrier(threads_n)
    claims = {}
    reads = {}
    errors = []
    lock = threading.Lock()

    class CountingCouchDatabase(CouchDatabase):
        def get_generation_info(self):
            self.reads += 1
            return CouchDatabase.get_generation_info(self)

    def worker(t):
        try:
            cdb = CountingCouchDatabase.__new__(CountingCouchDatabase)
            cdb.reads = 0
            CouchDatabase.__init__(cdb, couch_url, db_name)
            barrier.wait()
            for i in range(per_thread):
                gen_doc = cdb._allocate_new_generation(
                    'doc-%d-%d' % (t, i), 'T-%d-%d' % (t, i))
                with lock:
                    claims.setdefault(gen_doc['gen'], []).append(
                        (gen_doc['doc_id'], gen_doc['trans_id']))
            with lock:
                reads[t] = cdb.reads
        except Exception as e:  # surfaced below
            with lock:
                errors.append((t, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,), daemon=True)
               for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(500)
    assert not [t for t in threads if t.is_alive()], 'allocation loop hung'
    assert not errors, errors
    # every generation 1..N claimed exactly once, no gaps
    duplicated = {g: c for g, c in claims.items() if len(c) > 1}
    assert not duplicated, duplicated
    assert sorted(claims) == list(range(1, total + 1))
    # what the server stored is what each winner wrote
    log = couch_db._get_transaction_log()
    assert [g for g, _, _ in log] == list(range(1, total + 1))
    for gen, doc_id, trans_id in log:
        assert claims[gen] == [(doc_id, trans_id)]
    assert couch_db.get_generation_info() == (total, claims[total][0][1])
    # and each thread saw its own allocations in order
    for t in range(threads_n):
        mine = sorted(g for g, c in claims.items()
                      if c[0][0].startswith('doc-%d-' % t))
        order = [int(claims[g][0][0].rsplit('-', 1)[1]) for g in mine]
        assert order == list(range(per_thread))
    print('allocation reads per thread (%d allocations each): %s'
          % (per_thread, reads))


# ===========================================================================
# Batch mode (batch_start / save_document / get_doc / batch_end) with
# tombstones: documents without content carry `_attachments: {}` only.
# ===========================================================================

def tombstone(doc_id, rev):
    doc = ServerDocument(doc_id, rev)
    doc.make_tombstone()
    return doc


def test_batch_mode_with_tombstones(couch_db, db):
    couch_db.batch_start()                    # GET /{db}/_all_docs
    assert couch_db.batched_ids == set()
    couch_db.save_document(None, tombstone('doc-1', 'replica:1'), 'T-1')
    couch_db.save_document(None, tombstone('doc-2', 'replica:1'), 'T-2')
    assert couch_db.get_generation_info() == (2, 'T-2')   # from the batch
    assert sorted(couch_db.batch_docs) == ['doc-1', 'doc-2',
                                           'gen-0000000001', 'gen-0000000002']
    assert 'doc-1' not in db and 'gen-0000000001' not in db
    # reading a batched doc flushes the batch through _bulk_docs
    doc = couch_db.get_doc('doc-1')
    assert doc.doc_id == 'doc-1' and doc.rev == 'replica:1'
    assert doc.is_tombstone()
    assert rev_pos(doc.couch_rev) == 1
    assert couch_db.batch_docs == {}
    assert 'doc-2' in db and 'gen-0000000002' in db
    couch_db.batch_end()                      # POST _bulk_docs {"docs": []}
    stored = db['doc-1']
    assert stored.rev == doc.couch_rev
    assert stored['u1db_rev'] == 'replica:1'
    assert stored.get('_attachments', {}) == {}
    assert couch_db.get_generation_info() == (2, 'T-2')
    assert couch_db.whats_changed() == (2, 'T-2', [('doc-1', 1, 'T-1'),
                                                    ('doc-2', 2, 'T-2')])
    # get_all_docs / get_docs: _all_docs include_docs=true&attachments=false
    gen, docs = couch_db.get_all_docs(include_deleted=True)
    assert gen == 2
    assert [(d.doc_id, d.rev, d.is_tombstone()) for d in docs] == [
        ('doc-1', 'replica:1', True), ('doc-2', 'replica:1', True)]
    assert couch_db.get_all_docs() == (2, [])
    docs = list(couch_db.get_docs(['doc-2', 'doc-1'], include_deleted=True))
    assert [d.doc_id for d in docs] == ['doc-2', 'doc-1']
    assert [d.couch_rev for d in docs] == [db['doc-2'].rev, db['doc-1'].rev]


def test_batch_update_of_existing_doc(couch_db, db):
    couch_db.batch_start()
    couch_db.save_document(None, tombstone('doc-1', 'replica:1'), 'T-1')
    couch_db.batch_end()
    first_rev = db['doc-1'].rev
    couch_db.batch_start()
    assert couch_db.batched_ids == {'doc-1', 'gen-0000000001'}
    old = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert old.couch_rev == first_rev
    couch_db.save_document(old, tombstone('doc-1', 'replica:2'), 'T-2')
    couch_db.batch_end()
    doc = couch_db.get_doc('doc-1')
    assert doc.rev == 'replica:2'
    assert rev_pos(doc.couch_rev) == 2
    assert couch_db.get_generation_info() == (2, 'T-2')
    assert couch_db.whats_changed(1) == (2, 'T-2', [('doc-1', 2, 'T-2')])


def test_batch_with_stale_couch_rev_raises_revision_conflict(
        couch_db, couch_url, db_name, db):
    couch_db.batch_start()
    couch_db.save_document(None, tombstone('doc-1', 'replica:1'), 'T-1')
    couch_db.batch_end()
    old = couch_db.get_doc('doc-1')
    # another request updates doc-1 behind our back
    other = open_db(couch_url, db_name)
    other.batch_start()
    other.save_document(other.get_doc('doc-1'),
                        tombstone('doc-1', 'replica:2'), 'T-2')
    other.batch_end()
    couch_db.batch_start()
    couch_db.save_document(old, tombstone('doc-1', 'replica:3'), 'T-3')
    with pytest.raises(RevisionConflict):
        couch_db.batch_end()
    assert db['doc-1']['u1db_rev'] == 'replica:2'


def test_get_doc_of_missing_and_non_u1db_docs(couch_db, db):
    assert couch_db.get_doc('nope') is None          # HEAD -> 404
    db.save({'_id': 'plain', 'x': 1})
    assert couch_db.get_doc('plain') is None         # no u1db_rev
    couch_db.batch_start()
    assert couch_db.get_doc('not-batched') is None   # batching shortcut
    couch_db.batch_end()


def test_get_doc_conflicts_without_conflicts_attachment(couch_db, db):
    couch_db.batch_start()
    couch_db.save_document(None, tombstone('doc-1', 'replica:1'), 'T-1')
    couch_db.batch_end()
    # GET /{db}/doc-1/u1db_conflicts -> 404: soledad answers []
    with pytest.raises(ResourceNotFound) as exc:
        couch_db.json_from_resource(['doc-1', 'u1db_conflicts'])
    assert error_of(exc) == ATT_MISSING
    assert couch_db.get_doc_conflicts('doc-1') == []
    rev = db['doc-1'].rev
    assert couch_db.get_doc_conflicts('doc-1', couch_rev=rev) == []
    assert couch_db.get_doc_conflicts('nope') == []
    # the doc itself, fetched as soledad fetches it (attachments=true)
    body = couch_db.json_from_resource(['doc-1'], attachments=True)
    assert body['_id'] == 'doc-1' and body['_rev'] == rev


# ===========================================================================
# Attachment scenarios: save_document outside a batch (soledad's
# multipart/related PUT, built by its MultipartWriter) and in a batch (inline
# base64 through _bulk_docs), and every read soledad makes of u1db_content /
# u1db_conflicts: get_doc (?attachments=true), get_docs (_all_docs with keys,
# include_docs=true, attachments=false, then one get_attachment per file) and
# get_doc_conflicts (GET /{db}/{doc}/u1db_conflicts).
# ===========================================================================

OCTET = 'application/octet-stream'
ENVELOPE_CTYPE_RE = re.compile(
    r'^multipart/related; boundary="(==[0-9a-f]{32}==)"$')


def md5_digest(data):
    return 'md5-' + base64.b64encode(hashlib.md5(data).digest()).decode()


def stub(data, revpos):
    """The stub CouchDB shows for an identity-stored attachment."""
    return {'content_type': OCTET, 'revpos': revpos,
            'digest': md5_digest(data), 'length': len(data), 'stub': True}


def u1db_doc(doc_id, rev, content=None, conflicts=()):
    """A ServerDocument; no content makes a tombstone."""
    doc = ServerDocument(doc_id, rev)
    doc.content = content
    if conflicts:
        doc.set_conflicts(list(conflicts))
    return doc


def envelope(boundary, json_doc, *parts):
    """soledad's multipart/related body, spelled out: the JSON part, one
    application/octet-stream part per attachment, then the closing
    delimiter with no CRLF after it."""
    out = ('--' + boundary + '\r\n'
           'Content-Type: application/json\r\n'
           '\r\n' + json_doc + '\r\n')
    for part in parts:
        out += ('--' + boundary + '\r\n'
                'Content-Type: application/octet-stream\r\n'
                '\r\n' + part + '\r\n')
    return out + '--' + boundary + '--'


@pytest.fixture
def multipart_puts(monkeypatch):
    """Records (path, body, headers) of every multipart PUT that goes through
    couchdb.http.Resource.put_json; the request itself still goes out."""
    sent = []
    put_json = couch_http.Resource.put_json

    def recording_put_json(self, path=None, body=None, headers=None,
                           **params):
        if (headers or {}).get('Content-Type', '').startswith('multipart/'):
            sent.append((path, body, dict(headers)))
        return put_json(self, path, body=body, headers=headers, **params)

    monkeypatch.setattr(couch_http.Resource, 'put_json', recording_put_json)
    return sent


def boundary_of(headers):
    assert set(headers) == {'Content-Type'}, headers
    m = ENVELOPE_CTYPE_RE.match(headers['Content-Type'])
    assert m, headers
    return m.group(1)


def test_multipart_writer_bytes_are_soledads():
    buf = io.StringIO()
    writer = MultipartWriter(buf, boundary='==b==')
    assert writer.headers == {
        'Content-Type': 'multipart/related; boundary="==b=="'}
    writer.add('application/json', '{"_id": "d"}')
    writer.add('application/octet-stream', '[["r:1", {"a": 1}]]')
    writer.add('application/octet-stream', '')  # empty: no body, no CRLF
    writer.close()
    assert buf.getvalue() == (
        '--==b==\r\n'
        'Content-Type: application/json\r\n'
        '\r\n'
        '{"_id": "d"}\r\n'
        '--==b==\r\n'
        'Content-Type: application/octet-stream\r\n'
        '\r\n'
        '[["r:1", {"a": 1}]]\r\n'
        '--==b==\r\n'
        'Content-Type: application/octet-stream\r\n'
        '\r\n'
        '--==b==--')
    # default boundary: '==' + uuid4 hex + '==', fresh per writer
    one = boundary_of(MultipartWriter(io.StringIO()).headers)
    two = boundary_of(MultipartWriter(io.StringIO()).headers)
    assert one != two


@pytest.mark.attachments
def test_save_document_multipart_put(couch_db, db, multipart_puts):
    doc = u1db_doc('doc-1', 'replica:1', {'n': 1, 'secret': 'ciphertext'})
    couch_db.save_document(None, doc, 'T-1')
    # on the wire: exactly soledad's request
    content = '{"n": 1, "secret": "ciphertext"}'
    [(path, body, headers)] = multipart_puts
    assert path == 'doc-1'
    assert body == envelope(
        boundary_of(headers),
        '{"_attachments": {"u1db_content": {"content_type": '
        '"application/octet-stream", "follows": true, "length": 32}}, '
        '"_id": "doc-1", "u1db_rev": "replica:1"}',
        content)
    # read back the way soledad reads
    got = couch_db.get_doc('doc-1')
    assert (got.doc_id, got.rev) == ('doc-1', 'replica:1')
    assert got.content == {'n': 1, 'secret': 'ciphertext'}
    assert not got.has_conflicts
    assert rev_pos(got.couch_rev) == 1
    assert couch_db.get_generation_info() == (1, 'T-1')
    assert couch_db.whats_changed() == (1, 'T-1', [('doc-1', 1, 'T-1')])
    # what the server stored
    assert dict(db['doc-1']) == {
        '_id': 'doc-1', '_rev': got.couch_rev, 'u1db_rev': 'replica:1',
        '_attachments': {'u1db_content': stub(content.encode(), 1)}}
    assert db.get_attachment('doc-1', 'u1db_content').read() == \
        content.encode()


@pytest.mark.attachments
def test_get_doc_reads_attachments_inline(couch_db):
    # get_doc: GET /{db}/{doc}?attachments=true with Accept: application/json
    conflicts = u1db_doc('doc-1', 'other:1', {'v': 'o'})
    couch_db.save_document(
        None, u1db_doc('doc-1', 'replica:1', {'v': 1}, [conflicts]), 'T-1')
    body = couch_db.json_from_resource(['doc-1'], attachments=True)
    content = b'{"v": 1}'
    listed = b'[["other:1", {"v": "o"}]]'
    assert body['_attachments'] == {
        'u1db_content': {'content_type': OCTET, 'revpos': 1,
                         'digest': md5_digest(content),
                         'data': base64.b64encode(content).decode()},
        'u1db_conflicts': {'content_type': OCTET, 'revpos': 1,
                           'digest': md5_digest(listed),
                           'data': base64.b64encode(listed).decode()},
    }
    got = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert got.content == {'v': 1}
    assert [(c.rev, c.content) for c in got.get_conflicts()] == [
        ('other:1', {'v': 'o'})]


@pytest.mark.attachments
def test_save_document_multipart_with_conflicts(couch_db, db,
                                                multipart_puts):
    couch_db.save_document(None, u1db_doc('doc-1', 'replica:1', {'v': 1}),
                           'T-1')
    old = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert old.get_conflicts() == []
    new = u1db_doc('doc-1', 'replica:2', {'v': 2}, [
        u1db_doc('doc-1', 'other:1', {'v': 'o'}),
        u1db_doc('doc-1', 'other:2')])             # a conflicting tombstone
    couch_db.save_document(old, new, 'T-2')
    content = '{"v": 2}'
    listed = '[["other:1", {"v": "o"}], ["other:2", null]]'
    _, body, headers = multipart_puts[1]
    # sort_keys puts u1db_conflicts first, and its part comes first too
    assert body == envelope(
        boundary_of(headers),
        '{"_attachments": {"u1db_conflicts": {"content_type": '
        '"application/octet-stream", "follows": true, "length": 44}, '
        '"u1db_content": {"content_type": "application/octet-stream", '
        '"follows": true, "length": 8}}, "_id": "doc-1", '
        '"_rev": "%s", "u1db_rev": "replica:2"}' % old.couch_rev,
        listed, content)

    got = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert got.content == {'v': 2} and got.has_conflicts
    assert rev_pos(got.couch_rev) == 2
    assert [(c.rev, c.content, c.is_tombstone())
            for c in got.get_conflicts()] == [
        ('other:1', {'v': 'o'}, False), ('other:2', None, True)]
    assert not couch_db.get_doc('doc-1').has_conflicts
    # re-uploaded attachments take the new revision's position
    assert db['doc-1']['_attachments'] == {
        'u1db_content': stub(content.encode(), 2),
        'u1db_conflicts': stub(listed.encode(), 2)}
    # get_doc_conflicts: the doc itself, then the attachment's list
    assert [(c.rev, c.content) for c in
            couch_db.get_doc_conflicts('doc-1')] == [
        ('replica:2', {'v': 2}), ('other:1', {'v': 'o'}), ('other:2', None)]
    # ?rev= restricts it to one couch revision: only the attachment's list
    assert [(c.rev, c.content) for c in couch_db.get_doc_conflicts(
        'doc-1', couch_rev=got.couch_rev)] == [
        ('other:1', {'v': 'o'}), ('other:2', None)]
    # the first revision had no u1db_conflicts attachment: 404, so []
    assert couch_db.get_doc_conflicts('doc-1', couch_rev=old.couch_rev) == []

    # resolving: a save without conflicts drops the attachment
    couch_db.save_document(got, u1db_doc('doc-1', 'replica:3', {'v': 3}),
                           'T-3')
    assert set(db['doc-1']['_attachments']) == {'u1db_content'}
    assert couch_db.get_doc_conflicts('doc-1') == []
    resolved = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert resolved.content == {'v': 3} and not resolved.has_conflicts
    assert couch_db.get_generation_info() == (3, 'T-3')


@pytest.mark.attachments
def test_save_document_multipart_stale_rev_raises_revision_conflict(
        couch_db, couch_url, db_name):
    couch_db.save_document(None, u1db_doc('doc-1', 'replica:1', {'v': 1}),
                           'T-1')
    old = couch_db.get_doc('doc-1', check_for_conflicts=True)
    other = open_db(couch_url, db_name)
    other.save_document(other.get_doc('doc-1', check_for_conflicts=True),
                        u1db_doc('doc-1', 'replica:2', {'v': 2}), 'T-2')
    with pytest.raises(RevisionConflict):
        couch_db.save_document(
            old, u1db_doc('doc-1', 'replica:3', {'v': 3}), 'T-3')
    # a PUT without _rev over an existing document conflicts as well
    with pytest.raises(RevisionConflict):
        couch_db.save_document(
            None, u1db_doc('doc-1', 'replica:4', {'v': 4}), 'T-4')
    got = couch_db.get_doc('doc-1')
    assert (got.rev, got.content) == ('replica:2', {'v': 2})
    # the losers allocated no generation
    assert couch_db.get_generation_info() == (2, 'T-2')


@pytest.mark.attachments
def test_save_document_multipart_tombstones(couch_db, db, multipart_puts):
    couch_db.save_document(None, u1db_doc('doc-1', 'replica:1', {'v': 1}),
                           'T-1')
    old = couch_db.get_doc('doc-1', check_for_conflicts=True)
    couch_db.save_document(old, u1db_doc('doc-1', 'replica:2'), 'T-2')
    # a tombstone is the JSON part alone, with no attachment at all
    _, body, headers = multipart_puts[1]
    assert body == envelope(
        boundary_of(headers),
        '{"_attachments": {}, "_id": "doc-1", "_rev": "%s", '
        '"u1db_rev": "replica:2"}' % old.couch_rev)
    gone = couch_db.get_doc('doc-1')
    assert gone.is_tombstone() and gone.rev == 'replica:2'
    assert rev_pos(gone.couch_rev) == 2
    stored = db['doc-1']
    assert stored.get('_attachments', {}) == {}
    assert db.get_attachment('doc-1', 'u1db_content') is None      # 404
    # a document that starts life as a tombstone
    couch_db.save_document(None, u1db_doc('doc-2', 'replica:1'), 'T-3')
    assert couch_db.get_doc('doc-2').is_tombstone()
    assert couch_db.get_all_docs() == (3, [])
    gen, docs = couch_db.get_all_docs(include_deleted=True)
    assert gen == 3
    assert [(d.doc_id, d.rev, d.is_tombstone()) for d in docs] == [
        ('doc-1', 'replica:2', True), ('doc-2', 'replica:1', True)]
    # a tombstone with conflicts carries only u1db_conflicts
    tomb = couch_db.get_doc('doc-2', check_for_conflicts=True)
    couch_db.save_document(tomb, u1db_doc(
        'doc-2', 'replica:2', None, [u1db_doc('doc-2', 'other:1', {'x': 1})]),
        'T-4')
    assert set(db['doc-2']['_attachments']) == {'u1db_conflicts'}
    got = couch_db.get_doc('doc-2', check_for_conflicts=True)
    assert got.is_tombstone()
    assert [(c.rev, c.content) for c in got.get_conflicts()] == [
        ('other:1', {'x': 1})]
    assert couch_db.whats_changed(1) == (4, 'T-4', [('doc-1', 2, 'T-2'),
                                                     ('doc-2', 4, 'T-4')])


@pytest.mark.attachments
def test_get_docs_reads_attachments_through_all_docs_keys(couch_db, db):
    couch_db.save_document(None, u1db_doc('a', 'r:1', {'a': 1}), 'T-1')
    couch_db.save_document(None, u1db_doc(
        'b', 'r:1', {'b': 1}, [u1db_doc('b', 'o:1', {'b': 'o'})]), 'T-2')
    couch_db.save_document(None, u1db_doc('c', 'r:1'), 'T-3')
    db.save({'_id': 'plain', 'x': 1})
    # the request get_docs makes: its rows carry stubs, never data
    status, _, data = db.resource('_all_docs').post_json(
        body={'keys': ['b', 'a']}, include_docs='true', attachments='false')
    assert status == 200
    assert data['rows'][0]['doc']['_attachments'] == {
        'u1db_content': stub(b'{"b": 1}', 1),
        'u1db_conflicts': stub(b'[["o:1", {"b": "o"}]]', 1)}
    assert data['rows'][1]['doc']['_attachments'] == {
        'u1db_content': stub(b'{"a": 1}', 1)}
    # get_docs: one GET /{db}/{doc}/{att} per stub, content left undecoded
    docs = list(couch_db.get_docs(['b', 'plain', 'a', 'c'],
                                  include_deleted=True))
    assert [(d.doc_id, d.rev, d.is_tombstone()) for d in docs] == [
        ('b', 'r:1', False), ('a', 'r:1', False), ('c', 'r:1', True)]
    assert docs[0].content == {'b': 1} and docs[1].content == {'a': 1}
    assert [(c.rev, c.content) for c in docs[0].get_conflicts()] == [
        ('o:1', {'b': 'o'})]
    assert not docs[1].has_conflicts
    assert [d.couch_rev for d in docs] == [db[i].rev for i in 'bac']
    # tombstones are filtered out unless asked for
    assert [d.doc_id for d in couch_db.get_docs(['b', 'a', 'c'])] == [
        'b', 'a']
    [plain_b] = couch_db.get_docs(['b'], check_for_conflicts=False)
    assert plain_b.content == {'b': 1} and not plain_b.has_conflicts
    # read_content=False leaves the client's file-like body in place
    [lazy] = couch_db.get_docs(['a'], read_content=False)
    assert lazy._json.read() == b'{"a": 1}'
    gen, docs = couch_db.get_all_docs()
    assert gen == 3
    assert [(d.doc_id, d.content) for d in docs] == [('a', {'a': 1}),
                                                     ('b', {'b': 1})]


@pytest.mark.attachments
def test_batch_mode_with_content_attachments(couch_db, db):
    # save_document's batch branch sends u1db_content / u1db_conflicts as
    # inline base64 attachments through _bulk_docs; get_doc reads them back
    # with ?attachments=true and get_docs with get_attachment per file.
    couch_db.batch_start()
    doc = ServerDocument('doc-1', 'replica:1')
    doc.content = {'secret': 'ciphertext', 'n': 1}
    couch_db.save_document(None, doc, 'T-1')
    couch_db.batch_end()
    got = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert got.content == {'secret': 'ciphertext', 'n': 1}
    assert not got.has_conflicts
    stored = db['doc-1']
    assert stored['_attachments'] == {
        'u1db_content': stub(b'{"secret": "ciphertext", "n": 1}', 1)}
    docs = list(couch_db.get_docs(['doc-1']))
    assert [d.doc_id for d in docs] == ['doc-1']
    assert docs[0].content == {'secret': 'ciphertext', 'n': 1}
    # conflicts attachment
    couch_db.batch_start()
    newer = ServerDocument('doc-1', 'replica:2')
    newer.content = {'n': 2}
    other = ServerDocument('doc-1', 'other:1')
    other.content = {'n': 'other'}
    newer.set_conflicts([other])
    couch_db.save_document(got, newer, 'T-2')
    couch_db.batch_end()
    conflicts = couch_db.get_doc_conflicts('doc-1')
    assert [(c.rev, c.content) for c in conflicts] == [
        ('replica:2', {'n': 2}), ('other:1', {'n': 'other'})]
    assert couch_db.get_generation_info() == (2, 'T-2')


@pytest.mark.attachments
def test_batch_and_multipart_saves_interleave(couch_db, db):
    # a sync may write a doc in a batch and update it outside one, or the
    # other way round: each path must read what the other wrote
    couch_db.batch_start()
    couch_db.save_document(None, u1db_doc('doc-1', 'replica:1', {'v': 1}),
                           'T-1')
    couch_db.batch_end()
    first = couch_db.get_doc('doc-1', check_for_conflicts=True)
    couch_db.save_document(first, u1db_doc('doc-1', 'replica:2', {'v': 2}),
                           'T-2')
    second = couch_db.get_doc('doc-1', check_for_conflicts=True)
    assert (second.rev, second.content) == ('replica:2', {'v': 2})
    assert rev_pos(second.couch_rev) == 2
    couch_db.batch_start()
    couch_db.save_document(second, u1db_doc('doc-1', 'replica:3', {'v': 3}),
                           'T-3')
    couch_db.batch_end()
    third = couch_db.get_doc('doc-1')
    assert (third.rev, third.content) == ('replica:3', {'v': 3})
    assert rev_pos(third.couch_rev) == 3
    assert db['doc-1']['_attachments'] == {
        'u1db_content': stub(b'{"v": 3}', 3)}
    assert couch_db.whats_changed() == (3, 'T-3', [('doc-1', 3, 'T-3')])


# ===========================================================================
# Access: soledad is a member of its user databases and nothing more; other
# users and anonymous clients get nothing (CouchDB 3.x: couch_db.erl
# check_is_member / check_is_admin, chttpd_auth_request.erl).
# ===========================================================================

def _every_member_request(user_db):
    """One request of each kind soledad makes on a user database."""
    return [
        ('GET', '/%s' % user_db, None),
        ('HEAD', '/%s' % user_db, None),
        ('GET', '/%s/%s' % (user_db, _get_gen_doc_id(1)), None),
        ('PUT', '/%s/intruder' % user_db, {'x': 1}),
        ('POST', '/%s' % user_db, {'x': 1}),
        ('GET', '/%s/_all_docs?include_docs=true' % user_db, None),
        ('POST', '/%s/_all_docs' % user_db, {'keys': ['a']}),
        ('POST', '/%s/_bulk_docs' % user_db, {'docs': [{'_id': 'b'}]}),
        ('GET', '/%s/_local/config' % user_db, None),
        ('PUT', '/%s/_local/config' % user_db, {'replica_uid': 'x'}),
        ('GET', '/%s/_changes' % user_db, None),
        ('GET', '/%s/_security' % user_db, None),
        ('POST', '/%s/_ensure_full_commit' % user_db, {}),
    ]


def test_other_user_gets_403_and_anonymous_401(couch_db, user_db, raw_as,
                                               stranger_url, anonymous_url,
                                               couch_url):
    couch_db._allocate_new_generation('doc-1', 'T-1')
    stranger = raw_as(stranger_url)
    anonymous = raw_as(anonymous_url)
    for method, path, body in _every_member_request(user_db):
        resp = stranger(method, path, body)
        assert resp.status == 403, (method, path, resp)
        resp = anonymous(method, path, body)
        assert resp.status == 401, (method, path, resp)
        if method != 'HEAD':
            assert (stranger(method, path, body).json ==
                    dict(zip(('error', 'reason'), NOT_A_MEMBER)))
            assert (anonymous(method, path, body).json ==
                    dict(zip(('error', 'reason'), ANONYMOUS)))
    # through the client library, as another soledad would see it
    with pytest.raises(couch_http.Forbidden) as exc:
        couchdb.Database(db_url(stranger_url, user_db), Session()).info()
    assert error_of(exc) == NOT_A_MEMBER
    with pytest.raises(couch_http.Unauthorized) as exc:
        CouchDatabase(anonymous_url, user_db).get_generation_info()
    assert error_of(exc) == ANONYMOUS
    # nothing was written by them
    assert 'intruder' not in couchdb.Database(db_url(couch_url, user_db),
                                              Session())
    assert couch_db.get_generation_info() == (1, 'T-1')


def test_soledad_is_a_member_not_an_admin(couch_db, user_db, raw_as,
                                          couch_url):
    soledad = raw_as(couch_url)
    assert soledad('GET', '/%s' % user_db).status == 200
    resp = soledad('PUT', '/%s/_security' % user_db,
                   {'members': {'names': ['soledad', 'mallory']}})
    assert (resp.status, tuple(resp.json.values())) == (403, NOT_DB_ADMIN)
    resp = soledad('PUT', '/%s/_design/views' % user_db, {'views': {}})
    assert (resp.status, tuple(resp.json.values())) == (403, NOT_DB_ADMIN)
    resp = soledad('POST', '/%s/_bulk_docs' % user_db,
                   {'docs': [{'_id': '_design/x'}, {'_id': 'plain'}]})
    assert resp.status == 201
    assert resp.json[0] == {'id': '_design/x', 'error': NOT_DB_ADMIN[0],
                            'reason': NOT_DB_ADMIN[1]}
    assert resp.json[1]['ok'] is True
    for method, path in [('GET', '/_all_dbs'), ('PUT', '/user-new'),
                         ('DELETE', '/%s' % user_db)]:
        resp = soledad(method, path)
        assert (resp.status, tuple(resp.json.values())) == \
            (401, NOT_SERVER_ADMIN), (method, path)


def test_soledad_cannot_open_a_database_it_is_not_a_member_of(
        server, db_names, couch_url):
    name = db_names()
    server.create(name)
    server[name].resource.put_json('_security', body={
        'members': {'names': ['someone-else'], 'roles': []},
        'admins': {'names': [], 'roles': []}})
    # open_database's `name in server` is a HEAD: a 403 without a body
    with pytest.raises(couch_http.Forbidden):
        CouchDatabase.open_database(db_url(couch_url, name), create=False)
    with pytest.raises(couch_http.Forbidden) as exc:
        CouchDatabase(couch_url, name).get_generation_info()
    assert error_of(exc) == NOT_A_MEMBER
