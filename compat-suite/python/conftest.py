# -*- coding: utf-8 -*-
"""Fixtures for the Python `couchdb` (CouchDB-Python 1.2) compatibility suite.

The server under test is either

* a Settee child process: ``$SETTEE_BIN`` (default ``<repo>/target/debug/settee``)
  started with ``--port 0 --in-memory``; its first stdout line,
  ``Settee listening on http://ADDR:PORT``, gives the URL; or
* any running server given by ``$SETTEE_URL`` (for example a real CouchDB 3.x,
  ``http://admin:secret@127.0.0.1:5984``), so the same tests can be checked
  against the reference implementation.

Every test gets its own database named ``user-<uuid hex>`` (the shape soledad
gives its per-user databases), deleted afterwards.
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

import pytest

import couchdb
from couchdb import http as couch_http

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / 'target' / 'debug' / 'settee'
LISTENING_RE = re.compile(r'^Settee listening on (https?://\S+)\s*$')
STARTUP_TIMEOUT = 30.0
COUCH_TIMEOUT = 120

_server_log = {'path': None}


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
        [str(binary), '--port', '0', '--in-memory'],
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
    return proc, match.group(1).rstrip('/')


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
def couch_url():
    """Base URL of the server under test, no trailing slash (it may carry
    credentials, as soledad's couch_url does)."""
    url = os.environ.get('SETTEE_URL')
    if url:
        yield url.rstrip('/')
        return
    proc, url = _start_settee(os.environ.get('SETTEE_BIN', str(DEFAULT_BIN)))
    try:
        yield url
    finally:
        _stop(proc)


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
def server(couch_url):
    """A couchdb.client.Server configured as soledad's couch_server()."""
    return couchdb.Server(url=couch_url, full_commit=False,
                          session=new_session())


def unique_db_name(prefix='user-'):
    return prefix + uuid.uuid4().hex


def _drop_db(couch_url, name):
    srv = couchdb.Server(url=couch_url, full_commit=False,
                         session=new_session())
    try:
        del srv[name]
    except couch_http.ResourceNotFound:
        pass


@pytest.fixture
def db_names(couch_url):
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
        _drop_db(couch_url, name)


@pytest.fixture
def db_name(db_names):
    """A fresh, not yet created, database name ``user-<uuid hex>``."""
    return db_names()


@pytest.fixture
def user_db(couch_url, db_name):
    """A freshly created database; yields its name."""
    couchdb.Server(url=couch_url, full_commit=False,
                   session=new_session()).create(db_name)
    yield db_name


@pytest.fixture
def db(couch_url, user_db):
    """couchdb.client.Database on the fresh database, built the way soledad's
    CouchDatabase.get_couch_database builds it."""
    from urllib.parse import urljoin
    return couchdb.Database(urljoin(couch_url, user_db), new_session())


@pytest.fixture
def couch_db(couch_url, user_db):
    """soledad's CouchDatabase on the fresh database, opened as the soledad
    server opens a user database: open_database(url, create=True), which
    also writes the _security object.  (test_open_database_* cover the
    branch where open_database creates the database.)"""
    from soledad_backend import CouchDatabase
    cdb = CouchDatabase.open_database('%s/%s' % (couch_url, user_db),
                                      create=True)
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
def raw(couch_url):
    """raw(method, path, body=None, headers=None) -> RawResponse, over a fresh
    http.client connection (path is appended verbatim to the base URL)."""
    base, credentials = couch_http.extract_credentials(couch_url)
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
