# -*- coding: utf-8 -*-
"""Fixtures for the Python `couchdb` (CouchDB-Python 1.2) compatibility suite.

The server under test is either

* a Settee child process: ``$SETTEE_BIN`` (default ``<repo>/target/debug/settee``)
  started with ``--port 0 --in-memory --admin admin:<random>``; its first
  stdout line, ``Settee listening on http://ADDR:PORT``, gives the URL; or
* any running server given by ``$SETTEE_URL`` with a server admin's
  credentials (for example a real CouchDB 3.x,
  ``http://admin:secret@127.0.0.1:5984``), so the same tests can be checked
  against the reference implementation.

As in a soledad deployment, the server admin (``admin_url``) creates each
user database and its ``_security`` (members: ``soledad``), and soledad's
backend speaks as the ``soledad`` user (``couch_url``), a member of the
database and nothing more.  Every test gets its own database named
``user-<uuid hex>`` (the shape soledad gives its per-user databases),
deleted afterwards.
"""

import http.client
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

import couchdb
from couchdb import http as couch_http

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / 'target' / 'debug' / 'settee'
LISTENING_RE = re.compile(r'^Settee listening on (https?://\S+)\s*$')
STARTUP_TIMEOUT = 30.0
COUCH_TIMEOUT = 120

_server_log = {'path': None}

# The server admin a started Settee gets (fresh for every run).
ADMIN_NAME = 'admin'
ADMIN_PASSWORD = uuid.uuid4().hex
# soledad's own CouchDB user, a member of every user database.
SOLEDAD_NAME = 'soledad'

# CouchDB 3.x: the _security soledad's server gives a user database
# (ensure_security_ddoc with its defaults).
SOLEDAD_SECURITY = {'members': {'names': [SOLEDAD_NAME], 'roles': []},
                    'admins': {'names': [], 'roles': []}}


# ---------------------------------------------------------------------------
# Python 3.11 and CouchDB-Python 1.2: every call this suite and soledad's
# backend make works unpatched (checked with `pytest -W error`), so there is
# no workaround here.  If one is ever needed, apply it in this module at import
# time (monkeypatching couchdb.http / couchdb.client), never on disk.
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# The server under test.
# ---------------------------------------------------------------------------

def _die_with_parent():
    """Linux: SIGTERM the server if pytest dies without running teardown
    (a hard timeout, a kill), so no server outlives its suite."""
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL('libc.so.6', use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _start_settee(binary):
    if not Path(binary).is_file():
        raise RuntimeError(
            'Settee binary %s not found: run `cargo build` first, or set '
            'SETTEE_BIN / SETTEE_URL' % binary)
    log = tempfile.NamedTemporaryFile(
        prefix='settee-compat-python-', suffix='.log', delete=False)
    _server_log['path'] = log.name
    proc = subprocess.Popen(
        [str(binary), '--port', '0', '--in-memory',
         '--admin', '%s:%s' % (ADMIN_NAME, ADMIN_PASSWORD)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        text=True, bufsize=1, preexec_fn=_die_with_parent)
    log.close()

    lines = queue.Queue()

    def pump():
        # First line to the fixture, the rest drained so the pipe never fills.
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    pumper = threading.Thread(target=pump, name='settee-stdout', daemon=True)
    pumper.start()
    proc.pumper = pumper
    try:
        first = lines.get(timeout=STARTUP_TIMEOUT)
    except queue.Empty:
        _stop(proc)
        raise RuntimeError('Settee printed nothing on stdout within %.0fs '
                           '(log: %s)' % (STARTUP_TIMEOUT, log.name))
    match = LISTENING_RE.match(first or '')
    if not match:
        _stop(proc)
        raise RuntimeError('unexpected first stdout line from Settee: %r '
                           '(exit code %r, log: %s)'
                           % (first, proc.poll(), log.name))
    return proc, with_credentials(match.group(1).rstrip('/'), ADMIN_NAME,
                                  ADMIN_PASSWORD)


def with_credentials(url, name, password):
    """``url`` with ``name:password@`` in it (replacing any credentials)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit('@', 1)[-1]
    netloc = '%s:%s@%s' % (quote(name, safe=''), quote(password, safe=''),
                           host)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query,
                       parts.fragment))


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    proc.pumper.join(timeout=10)
    proc.stdout.close()


@pytest.fixture(scope='session')
def admin_url():
    """Base URL of the server under test with a server admin's credentials,
    no trailing slash."""
    url = os.environ.get('SETTEE_URL')
    if url:
        yield url.rstrip('/')
        return
    proc, url = _start_settee(os.environ.get('SETTEE_BIN', str(DEFAULT_BIN)))
    try:
        yield url
    finally:
        _stop(proc)


def ensure_user(admin_url, name, password, roles=()):
    """Creates (or resets the password of) the user ``name`` in ``_users``,
    as a server admin does; creates ``_users`` first on a server without
    it."""
    srv = couchdb.Server(url=admin_url, full_commit=False,
                         session=new_session())
    if '_users' not in srv:
        try:
            srv.create('_users')
        except couch_http.PreconditionFailed:
            pass
    users = srv['_users']
    doc_id = 'org.couchdb.user:' + name
    doc = users.get(doc_id) or couchdb.Document(_id=doc_id)
    doc.update({'type': 'user', 'name': name, 'roles': list(roles),
                'password': password})
    users.save(doc)


@pytest.fixture(scope='session')
def couch_url(admin_url):
    """The URL soledad's server is configured with: the server, no trailing
    slash, with the credentials of the ``soledad`` user (a member of the
    user databases, not an admin)."""
    password = uuid.uuid4().hex
    ensure_user(admin_url, SOLEDAD_NAME, password)
    return with_credentials(admin_url, SOLEDAD_NAME, password)


@pytest.fixture(scope='session')
def stranger_url(admin_url):
    """The server with the credentials of another user, ``mallory``: known to
    the server, a member of nothing."""
    password = uuid.uuid4().hex
    ensure_user(admin_url, 'mallory', password)
    return with_credentials(admin_url, 'mallory', password)


@pytest.fixture(scope='session')
def anonymous_url(admin_url):
    """The server without credentials."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit('@', 1)[-1],
                       parts.path, parts.query, parts.fragment))


def pytest_terminal_summary(terminalreporter):
    if _server_log['path']:
        terminalreporter.write_line(
            'Settee server log (stderr): %s' % _server_log['path'])


# ---------------------------------------------------------------------------
# Client-side handles.
# ---------------------------------------------------------------------------

def new_session():
    return couch_http.Session(timeout=COUCH_TIMEOUT)


@pytest.fixture
def server(admin_url):
    """A couchdb.client.Server configured as soledad's couch_server(), with
    a server admin's credentials (creating and deleting databases, _all_dbs
    and _security need them)."""
    return couchdb.Server(url=admin_url, full_commit=False,
                          session=new_session())


def unique_db_name(prefix='user-'):
    return prefix + uuid.uuid4().hex


def _drop_db(admin_url, name):
    srv = couchdb.Server(url=admin_url, full_commit=False,
                         session=new_session())
    try:
        del srv[name]
    except couch_http.ResourceNotFound:
        pass


@pytest.fixture
def db_names(admin_url):
    """Factory of fresh database names (``user-<hex>`` unless another prefix
    is asked for); every name it handed out is deleted after the test if it
    exists."""
    handed_out = []

    def make(prefix='user-'):
        name = unique_db_name(prefix)
        handed_out.append(name)
        return name

    yield make
    for name in handed_out:
        _drop_db(admin_url, name)


@pytest.fixture
def db_name(db_names):
    """A fresh, not yet created, database name ``user-<uuid hex>``."""
    return db_names()


@pytest.fixture
def user_db(admin_url, db_name):
    """A freshly created user database, secured for soledad as its server
    secures one (members: ``soledad``), both done by the server admin;
    yields its name."""
    srv = couchdb.Server(url=admin_url, full_commit=False,
                         session=new_session())
    srv.create(db_name)
    srv[db_name].resource.put_json('_security', body=SOLEDAD_SECURITY)
    yield db_name


@pytest.fixture
def db(couch_url, user_db):
    """couchdb.client.Database on the fresh database, built the way soledad's
    CouchDatabase.get_couch_database builds it, speaking as ``soledad``."""
    from urllib.parse import urljoin
    return couchdb.Database(urljoin(couch_url, user_db), new_session())


@pytest.fixture
def couch_db(couch_url, user_db):
    """soledad's CouchDatabase on the fresh database, opened as the soledad
    server opens an existing user database, as the ``soledad`` member:
    open_database(url, create=False).  (test_open_database_* cover the
    branch where an admin's open_database creates and secures it.)"""
    from soledad_backend import CouchDatabase
    cdb = CouchDatabase.open_database('%s/%s' % (couch_url, user_db),
                                      create=False)
    yield cdb
    cdb.close()


# ---------------------------------------------------------------------------
# Raw HTTP, for status codes and headers that the client hides.
# ---------------------------------------------------------------------------

class RawResponse(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def __repr__(self):
        return '<%d %s %r>' % (self.status, self.headers, self.body[:500])


@pytest.fixture
def raw(admin_url):
    """raw(method, path, body=None, headers=None) -> RawResponse, over a fresh
    http.client connection (path is appended verbatim to the base URL), as
    the server admin."""
    return raw_client(admin_url)


@pytest.fixture
def raw_as():
    """raw_as(url) -> a raw() speaking with the credentials in ``url``
    (none for an anonymous one)."""
    return raw_client


def raw_client(url):
    base, credentials = couch_http.extract_credentials(url)
    parts = couch_http.util.urlsplit(base)

    def request(method, path, body=None, headers=None):
        all_headers = {'Accept': 'application/json'}
        auth = couch_http.basic_auth(credentials)
        if auth:
            all_headers['Authorization'] = auth.decode('ascii')
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            all_headers['Content-Type'] = 'application/json'
        all_headers.update(headers or {})
        cls = (http.client.HTTPSConnection if parts.scheme == 'https'
               else http.client.HTTPConnection)
        conn = cls(parts.netloc, timeout=COUCH_TIMEOUT)
        try:
            conn.request(method, parts.path.rstrip('/') + path, body=body,
                         headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return RawResponse(resp.status, hdrs, data)
        finally:
            conn.close()

    return request
