# -*- coding: utf-8 -*-
"""Attachments driven directly: CouchDB-Python 1.2's attachment calls
(``put_attachment``, ``get_attachment``, ``delete_attachment``, ``save`` /
``update`` with inline base64 ``_attachments``) must read back exactly what
they wrote, and the standalone attachment API must answer as CouchDB 3.x
does, errors and Range requests included (raw http.client, where the client
hides status codes and headers).

Expectations come from CouchDB's source: chttpd_db.erl
(db_attachment_req/4, parse_ranges/2, send_ranges_multipart/5), couch_att.erl
(to_json/4, inline_from_json/2), couch_doc.erl (merge_stubs/2) and
chttpd.erl (error_info/1), so the suite also passes against a real CouchDB
with SETTEE_URL.
"""

import base64
import gzip
import hashlib
import io
import random
import re
from urllib.parse import quote

import pytest

from couchdb.http import (
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ServerError,
)

from couch_wire import (
    ATT_MISSING,
    CONFLICT,
    DOC_DELETED,
    DOC_MISSING,
    error_of,
    rev_pos,
)

pytestmark = pytest.mark.attachments

OCTET = 'application/octet-stream'

# CouchDB 3.x wire string (chttpd.erl error_info/1)
RANGE_NOT_SATISFIABLE = ('requested_range_not_satisfiable',
                         'Requested range not satisfiable')


def wire_error(resp):
    return resp.json['error'], resp.json['reason']


def b64(data):
    return base64.b64encode(data).decode('ascii')


def etag_of(data):
    """An attachment's ETag: its MD5, base64, in double quotes."""
    return '"%s"' % b64(hashlib.md5(data).digest())


def md5_digest(data):
    return 'md5-' + b64(hashlib.md5(data).digest())


def stub(data, revpos, content_type=OCTET, digest=None):
    """The stub of an attachment.  CouchDB's digest (and ETag) is the MD5 of
    the bytes it stored: for a gzip-stored attachment, of the gzip bytes
    (couch_db:with_stream/3), so those tests pass it in."""
    return {'content_type': content_type, 'revpos': revpos,
            'digest': digest or md5_digest(data), 'length': len(data),
            'stub': True}


def stored_bytes(raw, path):
    """The attachment's bytes as stored: what a client accepting gzip gets
    (the gzip bytes of a compressed attachment, else the identity bytes)."""
    resp = raw('GET', path, headers={'Accept-Encoding': 'gzip'})
    assert resp.status == 200, resp
    return resp.body


def att_path(user_db, doc_id, name):
    return '/%s/%s/%s' % (user_db, quote(doc_id, safe=''),
                          quote(name, safe=''))


# ===========================================================================
# CouchDB-Python reads back exactly what it wrote.
# ===========================================================================

def test_binary_attachment_with_every_byte_value(db, raw, user_db):
    data = bytes(range(256)) * 4 + bytes(range(255, -1, -1))
    doc = {'_id': 'bin'}
    db.save(doc)
    db.put_attachment(doc, data, 'all-bytes.bin', OCTET)
    assert rev_pos(doc['_rev']) == 2
    assert db.get_attachment('bin', 'all-bytes.bin').read() == data
    assert db.get_attachment(doc, 'all-bytes.bin').read() == data
    assert db['bin']['_attachments'] == {'all-bytes.bin': stub(data, 2)}
    resp = raw('GET', att_path(user_db, 'bin', 'all-bytes.bin'))
    assert resp.status == 200, resp
    assert resp.body == data
    assert resp.header('content-type') == OCTET
    assert resp.header('content-length') == str(len(data))
    assert resp.header('etag') == etag_of(data)
    assert resp.header('accept-ranges') == 'bytes'
    assert resp.header('cache-control') == 'must-revalidate'
    assert resp.header('content-encoding') is None
    # ?attachments=true inlines the same bytes, base64, without a length
    inline = db.get('bin', attachments=True)['_attachments']
    assert inline == {'all-bytes.bin': {
        'content_type': OCTET, 'revpos': 2, 'digest': md5_digest(data),
        'data': b64(data)}}


def test_compressible_text_is_gzip_stored_and_served_as_sent(db, raw,
                                                             user_db):
    text = ''.join('line %05d: soledad keeps u1db documents in couch\n' % i
                   for i in range(2000)).encode('ascii')
    doc = {'_id': 'txt'}
    db.save(doc)
    db.put_attachment(doc, text, 'notes.txt', 'text/plain')
    # CouchDB-Python sends no Accept-Encoding: it gets the identity bytes
    assert db.get_attachment('txt', 'notes.txt').read() == text
    path = att_path(user_db, 'txt', 'notes.txt')
    # a client that accepts gzip gets the stored gzip bytes
    gz = raw('GET', path, headers={'Accept-Encoding': 'gzip'})
    assert gz.status == 200, gz
    assert gz.header('content-encoding') == 'gzip'
    assert gz.header('content-length') == str(len(gz.body))
    assert gz.header('accept-ranges') == 'none'
    assert gzip.decompress(gz.body) == text
    # digest and ETag are the MD5 of the stored (gzip) bytes, as in CouchDB
    assert gz.header('etag') == etag_of(gz.body)
    assert db['txt']['_attachments'] == {
        'notes.txt': stub(text, 2, 'text/plain', md5_digest(gz.body))}
    info = db.get('txt', att_encoding_info=True)['_attachments']['notes.txt']
    assert info == {'content_type': 'text/plain', 'revpos': 2,
                    'digest': md5_digest(gz.body), 'length': len(text),
                    'stub': True, 'encoding': 'gzip',
                    'encoded_length': len(gz.body)}
    assert len(gz.body) < len(text) // 4
    # http.client asks for Accept-Encoding: identity: decoded on the fly
    plain = raw('GET', path)
    assert plain.status == 200, plain
    assert plain.body == text
    assert plain.header('content-encoding') is None
    assert plain.header('content-length') == str(len(text))
    assert plain.header('etag') == etag_of(gz.body)
    assert plain.header('accept-ranges') == 'none'
    # inline data is always the identity bytes
    inline = db.get('txt', attachments=True)['_attachments']['notes.txt']
    assert base64.b64decode(inline['data']) == text
    assert 'encoding' not in inline
    # no ranges on an encoded attachment: the whole body, 200
    ranged = raw('GET', path, headers={'Range': 'bytes=0-9'})
    assert ranged.status == 200, ranged
    assert ranged.body == text
    assert ranged.header('content-range') is None


def test_five_megabyte_attachments(db, raw, user_db):
    data = random.Random(5).randbytes(5 * 1024 * 1024)
    doc = {'_id': 'big'}
    db.save(doc)
    # bytes go out with a Content-Length, a file object chunked
    db.put_attachment(doc, data, 'sized.bin', OCTET)
    db.put_attachment(doc, io.BytesIO(data), 'chunked.bin', OCTET)
    assert rev_pos(doc['_rev']) == 3
    for name in ('sized.bin', 'chunked.bin'):
        body = db.get_attachment('big', name)   # streamed, not buffered
        assert body.read() == data, name
    assert db['big']['_attachments'] == {'sized.bin': stub(data, 2),
                                         'chunked.bin': stub(data, 3)}
    path = att_path(user_db, 'big', 'chunked.bin')
    tail = raw('GET', path, headers={'Range': 'bytes=-1000'})
    assert tail.status == 206, tail
    assert tail.header('content-range') == 'bytes %d-%d/%d' % (
        len(data) - 1000, len(data) - 1, len(data))
    assert tail.body == data[-1000:]
    middle = raw('GET', path, headers={'Range': 'bytes=2097152-3145727'})
    assert middle.status == 206, middle
    assert middle.header('content-length') == str(1024 * 1024)
    assert middle.body == data[2097152:3145728]
    inline = db.get('big', attachments=True)['_attachments']
    assert base64.b64decode(inline['sized.bin']['data']) == data
    assert base64.b64decode(inline['chunked.bin']['data']) == data


def test_attachment_names_with_spaces_and_slashes(db, raw, user_db):
    atts = {
        'with space.txt': (b'spaced out', 'text/plain'),
        'path/to/file.bin': (bytes(range(40)), OCTET),
        'path/with space/x y.dat': (b'both at once', OCTET),
    }
    doc = {'_id': 'names'}
    db.save(doc)
    for name, (data, ctype) in atts.items():
        db.put_attachment(doc, data, name, ctype)   # name sent %-escaped
    assert rev_pos(doc['_rev']) == 4
    stored = db['names']['_attachments']
    assert set(stored) == set(atts)
    for name, (data, ctype) in atts.items():
        assert db.get_attachment('names', name).read() == data, name
        assert stored[name]['content_type'] == ctype
        assert stored[name]['length'] == len(data)
        # unescaped slashes reach the same attachment: CouchDB joins the
        # path segments after the document id with '/'
        resp = raw('GET', '/%s/names/%s' % (user_db, quote(name, safe='/')))
        assert resp.status == 200, (name, resp)
        assert resp.body == data
    db.delete_attachment(doc, 'path/to/file.bin')
    assert rev_pos(doc['_rev']) == 5
    assert db.get_attachment('names', 'path/to/file.bin') is None
    assert set(db['names']['_attachments']) == set(atts) - {
        'path/to/file.bin'}
    # raw, with an unescaped slash in the name
    resp = raw('PUT', '/%s/names/new%%20dir/new%%20file.txt?rev=%s'
               % (user_db, doc['_rev']), body=b'hi',
               headers={'Content-Type': 'text/plain'})
    assert resp.status == 201, resp
    assert resp.json['ok'] is True and resp.json['id'] == 'names'
    assert rev_pos(resp.json['rev']) == 6
    assert db.get_attachment('names', 'new dir/new file.txt').read() == b'hi'


def test_inline_base64_save_then_get_attachment(db, raw, user_db):
    hello = b'Hello, world!'
    binary = bytes(range(256))
    doc = {'_id': 'inline', 'kind': 'note', '_attachments': {
        'hello.txt': {'content_type': 'text/plain', 'data': b64(hello)},
        'raw.bin': {'content_type': OCTET, 'data': b64(binary)}}}
    _, rev1 = db.save(doc)
    assert rev_pos(rev1) == 1
    assert db.get_attachment('inline', 'hello.txt').read() == hello
    assert db.get_attachment(doc, 'raw.bin').read() == binary
    stored = db['inline']
    hello_path = att_path(user_db, 'inline', 'hello.txt')
    stubs = {'hello.txt': stub(hello, 1, 'text/plain',
                               md5_digest(stored_bytes(raw, hello_path))),
             'raw.bin': stub(binary, 1)}
    assert dict(stored) == {'_id': 'inline', '_rev': rev1, 'kind': 'note',
                            '_attachments': stubs}
    # saving the document back with its stubs keeps the attachments as is
    stored['kind'] = 'edited'
    db.save(stored)
    again = db['inline']
    assert rev_pos(again.rev) == 2 and again['kind'] == 'edited'
    assert again['_attachments'] == stubs
    assert db.get_attachment('inline', 'raw.bin').read() == binary
    # replacing one attachment inline gives it the new revpos
    again['_attachments']['hello.txt'] = {'content_type': 'text/plain',
                                          'data': b64(b'bye')}
    db.save(again)
    third = db['inline']
    assert third['_attachments'] == {
        'hello.txt': stub(b'bye', 3, 'text/plain',
                          md5_digest(stored_bytes(raw, hello_path))),
        'raw.bin': stub(binary, 1)}
    assert db.get_attachment('inline', 'hello.txt').read() == b'bye'
    # saving without _attachments drops them all
    del third['_attachments']
    db.save(third)
    assert '_attachments' not in db['inline']
    assert db.get_attachment('inline', 'raw.bin') is None


def test_bulk_update_with_inline_attachments(db, raw, user_db):
    results = db.update([
        {'_id': 'one', '_attachments': {
            'a.bin': {'content_type': OCTET, 'data': b64(b'\x00\x01\x02')}}},
        {'_id': 'two', '_attachments': {
            'b.txt': {'content_type': 'text/plain', 'data': b64(b'text')},
            'empty': {'content_type': OCTET, 'data': ''}}},
    ])
    assert [(ok, doc_id) for ok, doc_id, _ in results] == [(True, 'one'),
                                                           (True, 'two')]
    assert db.get_attachment('one', 'a.bin').read() == b'\x00\x01\x02'
    assert db.get_attachment('two', 'b.txt').read() == b'text'
    assert db['two']['_attachments']['empty'] == stub(b'', 1)
    # CouchDB-Python turns an empty body into None: read it raw
    resp = raw('GET', att_path(user_db, 'two', 'empty'))
    assert resp.status == 200, resp
    assert resp.body == b'' and resp.header('content-length') == '0'
    assert resp.header('etag') == etag_of(b'')


def test_put_attachment_standalone(db, raw, user_db):
    # PUT to a document that does not exist creates it
    resp = raw('PUT', att_path(user_db, 'fresh', 'note.txt'), body=b'first',
               headers={'Content-Type': 'text/plain'})
    assert resp.status == 201, resp
    assert resp.json['ok'] is True and resp.json['id'] == 'fresh'
    rev1 = resp.json['rev']
    assert rev_pos(rev1) == 1
    assert dict(db['fresh']) == {
        '_id': 'fresh', '_rev': rev1,
        '_attachments': {'note.txt': stub(
            b'first', 1, 'text/plain', md5_digest(stored_bytes(
                raw, att_path(user_db, 'fresh', 'note.txt'))))}}
    # an existing document needs its rev
    resp = raw('PUT', att_path(user_db, 'fresh', 'other.bin'), body=b'x',
               headers={'Content-Type': OCTET})
    assert resp.status == 409, resp
    assert wire_error(resp) == CONFLICT
    # replacing it: new revpos; without Content-Type: octet-stream
    resp = raw('PUT', att_path(user_db, 'fresh', 'note.txt') + '?rev=' + rev1,
               body=b'second')
    assert resp.status == 201, resp
    rev2 = resp.json['rev']
    assert rev_pos(rev2) == 2
    assert db['fresh']['_attachments'] == {'note.txt': stub(b'second', 2)}
    # a stale rev conflicts, through the client as well
    with pytest.raises(ResourceConflict) as exc:
        db.put_attachment({'_id': 'fresh', '_rev': rev1}, b'third',
                          'note.txt', OCTET)
    assert error_of(exc) == CONFLICT
    assert db.get_attachment('fresh', 'note.txt').read() == b'second'
    # the old revision still has its own attachment
    old = raw('GET', att_path(user_db, 'fresh', 'note.txt') + '?rev=' + rev1)
    assert old.status == 200, old
    assert old.body == b'first'


# ===========================================================================
# Errors CouchDB defines for attachments.
# ===========================================================================

def test_stub_for_missing_attachment_is_412_missing_stub(db, raw, user_db):
    # a new document cannot carry a stub
    with pytest.raises(PreconditionFailed) as exc:
        db.save({'_id': 'stubby', '_attachments': {
            'ghost.bin': {'stub': True, 'content_type': OCTET}}})
    assert error_of(exc) == ('missing_stub',
                             'Invalid attachment stub in stubby for ghost.bin')
    assert 'stubby' not in db
    # an update cannot carry a stub for an attachment the doc does not have
    doc = {'_id': 'has-one', '_attachments': {
        'real.txt': {'content_type': 'text/plain', 'data': b64(b'real')}}}
    db.save(doc)
    before = db['has-one']
    resp = raw('PUT', '/%s/has-one' % user_db, body={
        '_rev': doc['_rev'],
        '_attachments': {'real.txt': {'stub': True},
                         'ghost.bin': {'stub': True,
                                       'content_type': OCTET}}})
    assert resp.status == 412, resp
    assert resp.json == {'error': 'missing_stub',
                         'reason': 'Invalid attachment stub in has-one for '
                                   'ghost.bin'}
    assert dict(db['has-one']) == dict(before)
    assert rev_pos(before.rev) == 1
    assert db.get_attachment('has-one', 'real.txt').read() == b'real'


def test_bad_base64_is_400(db, raw, user_db):
    bad = {'bad.bin': {'content_type': OCTET, 'data': 'not*base64!'}}
    resp = raw('PUT', '/%s/bad' % user_db, body={'_attachments': bad})
    assert resp.status == 400, resp
    assert resp.json == {'error': 'bad_request',
                         'reason': 'Invalid attachment data for bad.bin'}
    with pytest.raises(ServerError) as exc:
        db.save({'_id': 'bad', '_attachments': bad})
    assert error_of(exc) == (400, ('bad_request',
                                   'Invalid attachment data for bad.bin'))
    assert 'bad' not in db
    # in _bulk_docs the whole request is rejected: nothing is written
    resp = raw('POST', '/%s/_bulk_docs' % user_db, body={'docs': [
        {'_id': 'good'}, {'_id': 'bad', '_attachments': bad}]})
    assert resp.status == 400, resp
    assert resp.json == {'error': 'bad_request',
                         'reason': 'Invalid attachment data for bad.bin'}
    assert 'good' not in db


def test_get_unknown_attachment_is_404(db, raw, user_db):
    db.save({'_id': 'doc', '_attachments': {
        'there.txt': {'content_type': 'text/plain', 'data': b64(b'here')}}})
    resp = raw('GET', att_path(user_db, 'doc', 'nope.txt'))
    assert resp.status == 404, resp
    assert resp.json == {'error': 'not_found',
                         'reason': 'Document is missing attachment'}
    head = raw('HEAD', att_path(user_db, 'doc', 'nope.txt'))
    assert head.status == 404 and head.body == b''
    assert db.get_attachment('doc', 'nope.txt') is None
    with pytest.raises(ResourceNotFound) as exc:
        db.resource('doc').get('nope.txt')
    assert error_of(exc) == ATT_MISSING
    # a missing or deleted document answers for the document
    resp = raw('GET', att_path(user_db, 'no-such-doc', 'there.txt'))
    assert resp.status == 404, resp
    assert wire_error(resp) == DOC_MISSING
    doomed = db['doc']
    db.delete(doomed)
    resp = raw('GET', att_path(user_db, 'doc', 'there.txt'))
    assert resp.status == 404, resp
    assert wire_error(resp) == DOC_DELETED


def test_delete_attachment(db, raw, user_db):
    doc = {'_id': 'doc', '_attachments': {
        'a.txt': {'content_type': 'text/plain', 'data': b64(b'aaa')},
        'b.bin': {'content_type': OCTET, 'data': b64(b'bbb')}}}
    db.save(doc)
    rev1 = doc['_rev']
    a_path = att_path(user_db, 'doc', 'a.txt')
    # without a rev: a conflict (the attachment exists)
    resp = raw('DELETE', a_path)
    assert resp.status == 409, resp
    assert wire_error(resp) == CONFLICT
    # with it: 200 and the new rev
    resp = raw('DELETE', a_path + '?rev=' + rev1)
    assert resp.status == 200, resp
    rev2 = resp.json['rev']
    assert resp.json == {'ok': True, 'id': 'doc', 'rev': rev2}
    assert rev_pos(rev2) == 2
    resp = raw('GET', a_path)
    assert resp.status == 404 and wire_error(resp) == ATT_MISSING
    assert db['doc']['_attachments'] == {'b.bin': stub(b'bbb', 1)}
    # the older revision keeps it
    old = raw('GET', a_path + '?rev=' + rev1)
    assert old.status == 200, old
    assert old.body == b'aaa'
    # deleting what is not there: 404
    resp = raw('DELETE', a_path + '?rev=' + rev2)
    assert resp.status == 404, resp
    assert wire_error(resp) == ATT_MISSING
    # a stale rev: 409
    resp = raw('DELETE', att_path(user_db, 'doc', 'b.bin') + '?rev=' + rev1)
    assert resp.status == 409, resp
    assert wire_error(resp) == CONFLICT
    # CouchDB-Python's delete_attachment
    current = db['doc']
    db.delete_attachment(current, 'b.bin')
    assert rev_pos(current['_rev']) == 3
    assert '_attachments' not in db['doc']
    assert db.get_attachment('doc', 'b.bin') is None


def test_delete_missing_attachment_without_rev_is_404(db, raw, user_db):
    # chttpd_db: a DELETE without a rev first checks that the current
    # revision has the attachment (get_existing_attachment/2), so a missing
    # one is a 404, not the conflict an existing one gets
    db.save({'_id': 'doc', '_attachments': {
        'a.bin': {'content_type': OCTET, 'data': b64(b'aaa')}}})
    resp = raw('DELETE', att_path(user_db, 'doc', 'nope.bin'))
    assert resp.status == 404, resp
    assert wire_error(resp) == ATT_MISSING


def test_put_attachment_location_names_the_attachment(db, raw, user_db):
    # chttpd_db: Location is /{db}/{doc}/{name}, each part URL-encoded
    # (couch_util:url_encode/1: '/' and ' ' become %2F and %20)
    resp = raw('PUT', att_path(user_db, 'fresh', 'note.txt'), body=b'x',
               headers={'Content-Type': OCTET})
    assert resp.status == 201, resp
    assert resp.header('location') is not None, resp
    assert resp.header('location').endswith(
        '/%s/fresh/note.txt' % user_db), resp
    resp = raw('PUT', '/%s/fresh/new%%20dir/new%%20file.txt?rev=%s'
               % (user_db, resp.json['rev']), body=b'hi',
               headers={'Content-Type': OCTET})
    assert resp.status == 201, resp
    assert resp.header('location').endswith(
        '/%s/fresh/new%%20dir%%2Fnew%%20file.txt' % user_db), resp


# ===========================================================================
# Range requests, HEAD and ETags on the standalone attachment API.
# ===========================================================================

@pytest.fixture
def ranged(db, user_db):
    """A 256-byte identity-stored attachment: (its bytes, its path)."""
    data = bytes(range(256))
    db.save({'_id': 'r', '_attachments': {
        'r.bin': {'content_type': OCTET, 'data': b64(data)}}})
    return data, att_path(user_db, 'r', 'r.bin')


@pytest.mark.parametrize('header, first, last', [
    ('bytes=0-9', 0, 9),
    ('bytes=7-7', 7, 7),
    ('bytes=250-', 250, 255),
    ('bytes=-6', 250, 255),
    ('bytes=100-1000', 100, 255),     # an end past the last byte is clipped
])
def test_range_request_is_206_with_content_range(raw, ranged, header, first,
                                                 last):
    data, path = ranged
    resp = raw('GET', path, headers={'Range': header})
    assert resp.status == 206, resp
    assert resp.header('content-range') == 'bytes %d-%d/256' % (first, last)
    assert resp.header('content-length') == str(last - first + 1)
    assert resp.body == data[first:last + 1]
    assert resp.header('content-type') == OCTET
    assert resp.header('etag') == etag_of(data)
    assert resp.header('accept-ranges') == 'bytes'


@pytest.mark.parametrize('header', [
    'bytes=0-',          # the whole thing: CouchDB answers a plain 200
    'bytes=abc',         # unparsable: ignored
    'pages=1-2',         # another unit: ignored
])
def test_range_requests_answered_with_the_whole_body(raw, ranged, header):
    data, path = ranged
    resp = raw('GET', path, headers={'Range': header})
    assert resp.status == 200, resp
    assert resp.body == data
    assert resp.header('content-range') is None


@pytest.mark.parametrize('header', ['bytes=10-5', 'bytes=300-400'])
def test_unsatisfiable_range_is_416(raw, ranged, header):
    _, path = ranged
    resp = raw('GET', path, headers={'Range': header})
    assert resp.status == 416, resp
    assert wire_error(resp) == RANGE_NOT_SATISFIABLE


def test_several_ranges_are_multipart_byteranges(raw, ranged):
    data, path = ranged
    resp = raw('GET', path, headers={'Range': 'bytes=0-1,10-12'})
    assert resp.status == 206, resp
    m = re.match(r'^multipart/byteranges; boundary="([^"]+)"$',
                 resp.header('content-type') or '')
    assert m, resp
    boundary = m.group(1).encode('ascii')
    assert resp.body == (
        b'--' + boundary + b'\r\n'
        b'Content-Type: application/octet-stream\r\n'
        b'Content-Range: bytes 0-1/256\r\n'
        b'\r\n' + data[0:2] + b'\r\n'
        b'--' + boundary + b'\r\n'
        b'Content-Type: application/octet-stream\r\n'
        b'Content-Range: bytes 10-12/256\r\n'
        b'\r\n' + data[10:13] + b'\r\n'
        b'--' + boundary + b'--')


def test_head_and_etag_revalidation(raw, ranged):
    data, path = ranged
    head = raw('HEAD', path)
    assert head.status == 200, head
    assert head.body == b''
    assert head.header('content-length') == '256'
    assert head.header('content-type') == OCTET
    assert head.header('etag') == etag_of(data)
    cached = raw('GET', path, headers={'If-None-Match': etag_of(data)})
    assert cached.status == 304, cached
    assert cached.body == b''
    other = raw('GET', path, headers={'If-None-Match': '"something-else"'})
    assert other.status == 200, other
    assert other.body == data
