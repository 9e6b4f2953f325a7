# -*- coding: utf-8 -*-
"""What test_couch_replicator.py needs to drive a real CouchDB's replicator
between two servers and to compare what it left on both sides.

* ``Server`` / ``Db``: a plain http.client JSON client (no CouchDB-Python, so
  nothing is hidden or re-encoded), with doc ids encoded the way CouchDB's
  replicator encodes them (``couch_util:encode_doc_id/1``: ``_design/`` and
  ``_local/`` keep their slash, everything else is percent-encoded).
* ``doc_snapshot`` / ``compare_dbs`` / ``assert_same_docs``: everything a
  database holds about a document, read back the way a replicator reads it
  (``open_revs=all&revs=true&attachments=true`` as JSON, the attachment
  stubs, the winner with ``conflicts`` and ``deleted_conflicts``, its
  ``_all_docs`` row), and a unified diff per document that differs, plus
  the ids, ``_all_docs``, ``doc_count`` and ``doc_del_count``.
* ``Replicator``: ``POST /_replicate`` (one-shot) and ``_replicator``
  documents (continuous, ``ContinuousJob``) on the CouchDB that runs the
  replication, with the diagnostics a failure needs (the response or
  ``_scheduler/docs``, CouchDB's log records about the databases, and the
  requests Settee's log shows it failing).
"""

import base64
import difflib
import hashlib
import http.client
import json
import os
import re
import time
import uuid
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

HTTP_TIMEOUT = 180


class Resp(object):
    def __init__(self, method, path, status, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def __repr__(self):
        body = self.body[:1500]
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            pass
        return '%s %s -> %d %r' % (self.method, self.path, self.status, body)


def doc_path(doc_id):
    """A document id as a URL path segment, as CouchDB's replicator writes
    it (couch_util:encode_doc_id/1)."""
    for prefix in ('_design/', '_local/'):
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix):].encode('utf-8'),
                                  safe='')
    return quote(doc_id.encode('utf-8'), safe='')


class Server(object):
    """A CouchDB-compatible server, from a URL with a server admin's
    credentials in it (``http://admin:pw@127.0.0.1:5984``)."""

    def __init__(self, url, name):
        parts = urlsplit(url.rstrip('/'))
        self.name = name
        self.user = unquote(parts.username or '')
        self.password = unquote(parts.password or '')
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == 'https' else 80)
        self.scheme = parts.scheme
        self.prefix = parts.path.rstrip('/')
        netloc = parts.hostname + (':%d' % parts.port if parts.port else '')
        self.base = urlunsplit((parts.scheme, netloc, self.prefix, '', ''))

    def __repr__(self):
        return '<%s %s>' % (self.name, self.base)

    def request(self, method, path, body=None, headers=None, query=None,
                timeout=HTTP_TIMEOUT):
        all_headers = {'Accept': 'application/json'}
        if self.user:
            token = base64.b64encode(
                ('%s:%s' % (self.user, self.password)).encode('utf-8'))
            all_headers['Authorization'] = 'Basic ' + token.decode('ascii')
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode('utf-8')
            all_headers['Content-Type'] = 'application/json'
        all_headers.update(headers or {})
        if query:
            path += '?' + urlencode(query)
        cls = (http.client.HTTPSConnection if self.scheme == 'https'
               else http.client.HTTPConnection)
        conn = cls(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, self.prefix + path, body=body,
                         headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return Resp(method, path, resp.status, hdrs, data)
        finally:
            conn.close()

    def call(self, method, path, body=None, expect=(200, 201, 202), **kw):
        """request() that must answer one of ``expect``; its JSON body."""
        resp = self.request(method, path, body=body, **kw)
        assert resp.status in expect, '%s: %r' % (self.name, resp)
        return resp.json

    def db(self, name):
        return Db(self, name)


class Db(object):
    """One database on a Server."""

    def __init__(self, server, name):
        self.server = server
        self.name = name

    def __repr__(self):
        return '%s/%s' % (self.server.name, self.name)

    @property
    def label(self):
        return '%s:%s' % (self.server.name, self.name)

    def path(self, rest=''):
        return '/' + quote(self.name, safe='') + rest

    def req(self, method, rest='', **kw):
        return self.server.request(method, self.path(rest), **kw)

    def call(self, method, rest='', body=None, expect=(200, 201, 202), **kw):
        return self.server.call(method, self.path(rest), body=body,
                                expect=expect, **kw)

    # -- the replicator's view of the database ---------------------------

    def endpoint(self):
        """The database as a replication source/target: its URL and the
        server admin's credentials (CouchDB 3.4's "auth" object)."""
        spec = {'url': self.server.base + self.path()}
        if self.server.user:
            spec['auth'] = {'basic': {'username': self.server.user,
                                      'password': self.server.password}}
        return spec

    # -- writes ---------------------------------------------------------

    def create(self):
        self.call('PUT', expect=(201, 202))

    def drop(self):
        self.req('DELETE')

    def put(self, doc, **query):
        """PUT the doc (with its _id), returning the new rev; sets _rev."""
        res = self.call('PUT', '/' + doc_path(doc['_id']), body=doc,
                        expect=(200, 201, 202), query=query or None)
        doc['_rev'] = res['rev']
        return res['rev']

    def bulk(self, docs, new_edits=True):
        body = {'docs': docs}
        if not new_edits:
            body['new_edits'] = False
        res = self.call('POST', '/_bulk_docs', body=body, expect=(201,))
        if new_edits:
            for doc, row in zip(docs, res):
                assert 'rev' in row, '%s: _bulk_docs: %r' % (self, row)
                doc['_rev'] = row['rev']
        else:
            assert res == [], '%s: _bulk_docs new_edits=false: %r' % (self,
                                                                      res)
        return res

    def get(self, doc_id, **query):
        return self.call('GET', '/' + doc_path(doc_id), expect=(200,),
                         query=query or None)

    def delete(self, doc_id, rev):
        return self.call('DELETE', '/' + doc_path(doc_id), expect=(200, 202),
                         query={'rev': rev})['rev']

    def put_attachment(self, doc_id, rev, name, data, content_type):
        path = '/%s/%s' % (doc_path(doc_id), quote(name.encode('utf-8'),
                                                   safe=''))
        return self.call('PUT', path, body=data, expect=(201, 202),
                         query={'rev': rev},
                         headers={'Content-Type': content_type})['rev']

    def delete_attachment(self, doc_id, rev, name):
        path = '/%s/%s' % (doc_path(doc_id), quote(name.encode('utf-8'),
                                                   safe=''))
        return self.call('DELETE', path, expect=(200, 202),
                         query={'rev': rev})['rev']

    # -- reads ----------------------------------------------------------

    def info(self):
        return self.call('GET', expect=(200,))

    def ids(self):
        """Every document id, deleted ones included (from _changes),
        together with the live ones from _all_docs."""
        changes = self.call('GET', '/_changes', expect=(200,),
                            query={'style': 'all_docs'})
        ids = {row['id'] for row in changes['results']}
        ids.update(row['id'] for row in self.all_docs())
        return ids

    def all_docs(self):
        return self.call('GET', '/_all_docs', expect=(200,))['rows']

    def local_doc_ids(self):
        rows = self.call('GET', '/_local_docs', expect=(200,))['rows']
        return [row['id'] for row in rows]

    def local_docs(self):
        rows = self.call('GET', '/_local_docs', expect=(200,),
                         query={'include_docs': 'true'})['rows']
        return [row['doc'] for row in rows]


# ===========================================================================
# Snapshots and their comparison.
# ===========================================================================

def _att_data_summary(data_b64):
    data = base64.b64decode(data_b64)
    return {'bytes': len(data),
            'sha256': hashlib.sha256(data).hexdigest(),
            'md5': base64.b64encode(hashlib.md5(data).digest()).decode()}


def _status_or_json(resp):
    try:
        body = resp.json
    except ValueError:
        body = resp.body[:300].decode('utf-8', 'replace')
    if resp.status == 200:
        return body
    return {'status': resp.status, 'body': body}


def doc_snapshot(db, doc_id):
    """What ``db`` holds about ``doc_id``: every leaf with its body, history
    (_revisions), _deleted and attachments (stub fields from the stub read,
    the bytes from the attachments=true read, summarised as size + hashes),
    the winner with _conflicts / _deleted_conflicts, and the _all_docs row
    (which also gives the winner of a deleted document)."""
    path = '/' + doc_path(doc_id)
    accept = {'Accept': 'application/json'}
    full = db.req('GET', path, headers=accept,
                  query={'open_revs': 'all', 'revs': 'true',
                         'attachments': 'true'})
    stubs = db.req('GET', path, headers=accept,
                   query={'open_revs': 'all', 'revs': 'true'})
    snap = {}
    if full.status != 200 or stubs.status != 200:
        snap['open_revs'] = {'status': full.status,
                             'body': _status_or_json(full)}
        snap['open_revs_stubs'] = {'status': stubs.status,
                                   'body': _status_or_json(stubs)}
    else:
        leaves = {}
        stub_atts = {}
        for row in stubs.json:
            doc = row.get('ok')
            if doc is not None:
                stub_atts[doc['_rev']] = doc.get('_attachments', {})
        for row in full.json:
            doc = row.get('ok')
            if doc is None:
                leaves['missing:%s' % row.get('missing')] = row
                continue
            doc = dict(doc)
            atts = doc.pop('_attachments', None)
            if atts is not None:
                merged = {}
                for name, att in atts.items():
                    att = dict(att)
                    if 'data' in att:
                        att['data'] = _att_data_summary(att['data'])
                    stub = stub_atts.get(doc['_rev'], {}).get(name, {})
                    # length and stub only come with a stub read
                    for key in ('length', 'digest', 'content_type',
                                'revpos'):
                        if key in stub:
                            att['stub.' + key] = stub[key]
                    merged[name] = att
                doc['_attachments'] = merged
            leaves[doc['_rev']] = doc
        snap['leaves'] = [leaves[k] for k in sorted(leaves)]
    winner = db.req('GET', path, query={'conflicts': 'true',
                                        'deleted_conflicts': 'true'})
    snap['winner'] = _status_or_json(winner)
    row = db.call('POST', '/_all_docs', body={'keys': [doc_id]},
                  expect=(200,))['rows']
    snap['all_docs_row'] = row
    return snap


def snapshot(db, ids):
    return {doc_id: doc_snapshot(db, doc_id) for doc_id in sorted(ids)}


def _pretty(obj):
    return json.dumps(obj, indent=1, sort_keys=True,
                      ensure_ascii=False).splitlines()


def diff_snapshots(a_label, a_snap, b_label, b_snap, max_lines=60):
    """A list of human-readable differences between two snapshots (one
    unified diff per document that differs)."""
    problems = []
    for doc_id in sorted(set(a_snap) | set(b_snap)):
        a = a_snap.get(doc_id)
        b = b_snap.get(doc_id)
        if a == b:
            continue
        lines = list(difflib.unified_diff(
            _pretty(a), _pretty(b), fromfile='%s %r' % (a_label, doc_id),
            tofile='%s %r' % (b_label, doc_id), lineterm='', n=2))
        if len(lines) > max_lines:
            lines = lines[:max_lines] + ['... (%d more diff lines)'
                                         % (len(lines) - max_lines)]
        problems.append('\n'.join(lines))
    return problems


def db_counts(db):
    info = db.info()
    return {'doc_count': info['doc_count'],
            'doc_del_count': info['doc_del_count']}


def compare_dbs(source, target, ids=None):
    """The differences between ``source`` and ``target`` (empty when they
    agree): with ``ids=None`` every document of the source (deleted ones
    too), the same set of ids on both sides, the same _all_docs and the same
    doc_count / doc_del_count; with ``ids`` (a filtered replication) just
    those documents, and the target holds no other."""
    problems = []
    src_ids = source.ids()
    tgt_ids = target.ids()
    if ids is None:
        wanted = src_ids
        if src_ids != tgt_ids:
            problems.append(
                'document ids differ: only on %s: %s; only on %s: %s' % (
                    source.label, sorted(src_ids - tgt_ids), target.label,
                    sorted(tgt_ids - src_ids)))
        src_all = {r['id']: r['value'] for r in source.all_docs()}
        tgt_all = {r['id']: r['value'] for r in target.all_docs()}
        if src_all != tgt_all:
            problems.append('_all_docs differs:\n' + '\n'.join(
                difflib.unified_diff(_pretty(src_all), _pretty(tgt_all),
                                     source.label, target.label,
                                     lineterm='', n=1)))
        src_counts, tgt_counts = db_counts(source), db_counts(target)
        if src_counts != tgt_counts:
            problems.append('counts differ: %s %r, %s %r' % (
                source.label, src_counts, target.label, tgt_counts))
    else:
        wanted = set(ids)
        extra = tgt_ids - wanted
        if extra:
            problems.append('%s holds documents the filter excludes: %s'
                            % (target.label, sorted(extra)))
    problems += diff_snapshots(source.label, snapshot(source, wanted),
                               target.label, snapshot(target, wanted))
    return problems


def assert_same_docs(source, target, ids=None, context=''):
    problems = compare_dbs(source, target, ids)
    assert not problems, '%s%s and %s differ:\n%s' % (
        context and context + ': ', source.label, target.label,
        '\n\n'.join(problems))


# ===========================================================================
# The replicator.
# ===========================================================================

def couch_log_path(couch):
    """CouchDB's log file, for diagnostics: $COUCHDB_LOG, else the log of
    the shared/tools/couchdb kit's instance on that port."""
    path = os.environ.get('COUCHDB_LOG')
    if path:
        return path
    # the kit's default build directory: couchdb-oracle next to the repo
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    oracle = os.environ.get('COUCHDB_ORACLE') or os.path.join(
        os.path.dirname(repo), 'couchdb-oracle')
    candidate = os.path.join(oracle, 'instances', str(couch.port),
                             'couchdb.log')
    return candidate if os.path.exists(candidate) else None


ANSI_RE = re.compile(r'\x1b\[[0-9;]*m')
NOISE = ('gen_server ', 'CRASH REPORT', 'Worker <', 'last msg', 'state: [',
         'extra: [')


class LogWatch(object):
    """Reads what a server logged after the watch was created."""

    def __init__(self, path):
        self.path = path
        self.offset = None
        if path and os.path.exists(path):
            self.offset = os.path.getsize(path)

    def text(self):
        if self.offset is None:
            return ''
        with open(self.path, 'rb') as f:
            f.seek(self.offset)
            return ANSI_RE.sub('', f.read().decode('utf-8', 'replace'))

    def records(self):
        records = []
        for line in self.text().splitlines():
            if line.startswith('[') or not records:
                records.append(line)
            else:
                records[-1] += '\n' + line
        return records

    def couch_relevant(self, names, max_records=16, max_chars=700):
        """CouchDB's error/warning records naming one of ``names`` (database
        names, replication ids), plus the request errors (req_err: those
        name no database), first line and stack only, duplicates and
        crash-report noise left out."""
        out, seen = [], set()
        for rec in self.records():
            if not rec.startswith(('[error]', '[warning]')):
                continue
            head = rec.split('\n', 1)[0]
            if any(n in head for n in NOISE):
                continue
            if not (any(n in rec for n in names) or 'req_err' in head):
                continue
            # the timestamp and pid differ between duplicates
            key = re.sub(r'^\S+ \S+ \S+ <[^>]*> \S+ ', '', head)
            key = re.sub(r'<\d+\.\d+\.\d+>', '<pid>', key)
            if key in seen:
                continue
            seen.add(key)
            lines = rec.split('\n')[:2]
            out.append('\n'.join(line[:max_chars] for line in lines))
        if len(out) > max_records:
            out = out[:max_records // 2] + ['...'] + out[-max_records // 2:]
        return out

    def settee_failed_requests(self, names, max_lines=12):
        """Settee's request log lines (INFO settee::http) for ``names``
        (database names) that did not answer 2xx/404."""
        out = []
        for line in self.text().splitlines():
            m = re.search(r'method=(\S+) path=(\S+) status=(\d+)', line)
            if not m or not any(n in m.group(2) for n in names):
                continue
            status = int(m.group(3))
            if status < 300 or status == 404:
                continue
            out.append(line.strip()[:400])
        if len(out) > max_lines:
            out = out[:max_lines // 2] + ['...'] + out[-max_lines // 2:]
        return out


class ReplicationFailed(AssertionError):
    pass


class Replicator(object):
    """Replications run by ``couch`` (a Server: the CouchDB whose replicator
    does the work)."""

    def __init__(self, couch, timeout=60.0, retries=None, peer_log=None):
        self.couch = couch
        self.timeout = timeout
        self.retries = retries
        self.log_path = couch_log_path(couch)
        self.peer_log = peer_log

    def watch(self):
        return (LogWatch(self.log_path), LogWatch(self.peer_log))

    def _body(self, source, target, opts):
        body = {'source': source.endpoint(), 'target': target.endpoint()}
        if self.retries is not None:
            body['retries_per_request'] = self.retries
        body.update(opts)
        return body

    def _diagnose(self, watch, source, target, extra=()):
        couch_watch, peer_watch = watch
        names = [source.name, target.name] + [e for e in extra if e]
        lines = []
        recs = couch_watch.couch_relevant(names)
        if recs:
            lines.append('CouchDB log (%s):' % self.log_path)
            lines += ['  ' + r.replace('\n', '\n    ') for r in recs]
        failed = peer_watch.settee_failed_requests(names)
        if failed:
            lines.append('Settee requests that failed (%s):' % self.peer_log)
            lines += ['  ' + r for r in failed]
        return '\n'.join(lines)

    def one_shot(self, source, target, **opts):
        """POST /_replicate; the response (``ok`` checked)."""
        watch = self.watch()
        body = self._body(source, target, opts)
        try:
            resp = self.couch.request('POST', '/_replicate', body=body,
                                      timeout=self.timeout * 2)
        except (OSError, http.client.HTTPException) as exc:
            cancel = dict(body, cancel=True)
            self.couch.request('POST', '/_replicate', body=cancel)
            raise ReplicationFailed(
                'POST /_replicate %s -> %s: no answer (%r)\n%s' % (
                    source.label, target.label, exc,
                    self._diagnose(watch, source, target)))
        result = None
        try:
            result = resp.json
        except ValueError:
            pass
        if resp.status != 200 or not (result or {}).get('ok'):
            raise ReplicationFailed(
                'POST /_replicate %s -> %s failed: %d %s\n%s' % (
                    source.label, target.label, resp.status,
                    resp.body.decode('utf-8', 'replace')[:2000],
                    self._diagnose(watch, source, target)))
        return result

    def continuous(self, source, target, **opts):
        """A continuous replication, as a ``_replicator`` document, for a
        ``with`` block: ``job.wait(until)`` polls until ``until()`` returns
        no problems; leaving the block deletes the document and waits until
        the scheduler has dropped the job."""
        return ContinuousJob(self, source, target, opts)

    def _delete_rep_doc(self, rdb, doc_id, job_id=None):
        """Deletes the _replicator document and waits until the scheduler
        has dropped the job (and so has run its last checkpoint)."""
        for _ in range(10):
            resp = rdb.req('GET', '/' + doc_id)
            if resp.status == 404:
                break
            rev = resp.json['_rev']
            resp = rdb.req('DELETE', '/' + doc_id, query={'rev': rev})
            if resp.status in (200, 202):
                break
        paths = ['/_scheduler/docs/_replicator/' + doc_id]
        if job_id:
            paths.append('/_scheduler/jobs/' + quote(job_id, safe=''))
        for path in paths:
            for _ in range(60):
                if self.couch.request('GET', path).status == 404:
                    break
                time.sleep(0.25)


def _seq_number(seq):
    """The number an opaque update sequence starts with (CouchDB's and
    Settee's are ``N-opaque``; the numbers compare, the strings do not: a
    clustered CouchDB encodes the same point differently in GET /db and in
    _changes)."""
    if isinstance(seq, int):
        return seq
    try:
        return int(str(seq).split('-', 1)[0])
    except ValueError:
        return None


class ContinuousJob(object):
    def __init__(self, replicator, source, target, opts):
        self.replicator = replicator
        self.couch = replicator.couch
        self.source = source
        self.target = target
        self.opts = opts
        self.doc_id = 'settee-compat-' + uuid.uuid4().hex
        self.rdb = self.couch.db('_replicator')
        self.watch = None
        self.sched = None
        self.job_id = None
        self.progressed = False

    def __enter__(self):
        self.watch = self.replicator.watch()
        body = self.replicator._body(self.source, self.target,
                                     dict(self.opts, continuous=True))
        self.rdb.call('PUT', '/' + self.doc_id, body=body, expect=(201, 202))
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.job_id is None:
            self.job_id = self.scheduler_doc().get('id')
        self.replicator._delete_rep_doc(self.rdb, self.doc_id, self.job_id)
        if exc_type is None:
            self.check_last_checkpoint()
        return False

    def progress_problems(self):
        """For an ``until``: no problem once the scheduler has reported the
        job processing changes (so that it has something to checkpoint)."""
        if self.progressed:
            return []
        return ['%s -> %s has not reported processing any change yet' % (
            self.source.label, self.target.label)]

    def check_last_checkpoint(self):
        """A stopped job checkpoints (couch_replicator_scheduler_job
        terminate(shutdown, _)): once it has processed changes, both ends
        hold the same checkpoint document, _local/<replication id>, for the
        same session and sequence."""
        if not (self.job_id and self.progressed):
            return
        path = '/_local/' + self.job_id.split('+', 1)[0]
        found = {}
        for _ in range(10):
            found = {}
            for db in (self.source, self.target):
                resp = db.req('GET', path)
                found[db.label] = resp.json if resp.status == 200 else resp
            docs = list(found.values())
            if all(isinstance(d, dict) for d in docs) and all(
                    (d.get('session_id'), d.get('source_last_seq'),
                     d.get('history')) ==
                    (docs[0].get('session_id'), docs[0].get('source_last_seq'),
                     docs[0].get('history')) for d in docs):
                return
            time.sleep(0.5)
        self._fail('stopped without a matching checkpoint %s on both ends: '
                   '%r' % (path, found))

    def scheduler_doc(self):
        resp = self.couch.request(
            'GET', '/_scheduler/docs/_replicator/' + self.doc_id)
        return resp.json if resp.status == 200 else {'response': repr(resp)}

    def _fail(self, why, problems=()):
        sched = self.sched or {}
        raise ReplicationFailed(
            'continuous replication %s -> %s %s\n%s\n_scheduler/docs: %s\n%s'
            % (self.source.label, self.target.label, why,
               '\n\n'.join(problems), json.dumps(sched),
               self.replicator._diagnose(
                   self.watch, self.source, self.target,
                   [(self.job_id or '').split('+', 1)[0]])))

    def wait(self, until, timeout=None):
        """Polls until ``until()`` (a list of problems) is empty.  Fails
        early when the scheduler reports the job crashing or failed (a
        healthy replication between two local servers never crashes), or
        when the job has been caught up with the source (its through_seq at
        the source's update_seq) for 8 s and the target still differs;
        otherwise after ``timeout`` seconds."""
        timeout = timeout or self.replicator.timeout
        deadline = time.monotonic() + timeout
        caught_up_since = None
        while True:
            time.sleep(0.5)
            self.sched = sched = self.scheduler_doc()
            self.job_id = self.job_id or sched.get('id')
            state = sched.get('state')
            if state in ('crashing', 'failed'):
                self._fail('is %s: %s' % (state, sched.get('info')))
            info = sched.get('info')
            if isinstance(info, dict) and info.get('revisions_checked'):
                self.progressed = True
            if isinstance(info, dict) and info.get('doc_write_failures'):
                self._fail('failed to write %s document(s) to the target' %
                           info['doc_write_failures'])
            problems = until()
            if not problems:
                return sched
            now = time.monotonic()
            through = (_seq_number(info.get('through_seq'))
                       if isinstance(info, dict) else None)
            at = (_seq_number(self.source.info().get('update_seq'))
                  if through is not None else None)
            if state == 'running' and at is not None and through >= at:
                caught_up_since = caught_up_since or now
            else:
                caught_up_since = None
            if now > deadline:
                self._fail('timed out after %.0fs; still:' % timeout,
                           problems)
            if caught_up_since and now - caught_up_since > 8:
                self._fail('caught up with the source (through_seq reached '
                           'its update_seq) 8 s ago, yet still:', problems)
