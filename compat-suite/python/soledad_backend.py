# -*- coding: utf-8 -*-
"""A faithful port of LEAP soledad's CouchDB backend.

Source: soledad ``src/leap/soledad/common/couch/__init__.py`` (the seed in
shared/seeds/soledad-couch-backend.py.txt).  Every call this module makes on
``couchdb.client.Server`` / ``Database`` / ``couchdb.http.Resource`` is the
call soledad makes, with the same arguments, so that a passing test here means
soledad runs unchanged against the server under test.

What changed, and why:

* The u1db / leap imports are gone.  ``DatabaseDoesNotExist``,
  ``InvalidGeneration``, ``RevisionConflict``, ``InvalidURLError`` and a
  minimal ``ServerDocument`` stand in for them; ``open_database`` returns the
  ``CouchDatabase`` itself instead of wrapping it in a ``SoledadBackend``.
  soledad's ``MultipartWriter`` (``leap.soledad.common.couch.support``) is
  reimplemented byte for byte in soledad_support.py.
* Python 3 (soledad ran on Python 2; the requests on the wire are unchanged):
  ``__perform_batch`` passes ``list(batch_docs.values())`` because
  ``couchdb.client.Database.update`` indexes its argument and a Python 3
  ``dict.values()`` view cannot be indexed; ``save_document`` wraps ``map``
  in ``list`` (for ``json.dumps``), compares the attachment name with ``==``
  instead of ``is``, base64-encodes bytes in the batch branch and uses
  ``io.StringIO`` (what ``six.StringIO`` is on Python 3) in the multipart
  branch.  The ``length`` soledad announces for each ``follows`` attachment
  is ``len()`` of a ``str``; that is the byte length because the u1db JSON
  is ``json.dumps`` output, which is ASCII.
"""

import binascii
import copy
import json
import re
import uuid
from contextlib import contextmanager
from io import StringIO
from urllib.parse import urljoin

from couchdb.client import Database, Server
from couchdb.http import (
    ResourceConflict,
    ResourceNotFound,
    Resource,
    Session,
)
from couchdb.http import urljoin as couch_urljoin

from soledad_support import MultipartWriter


# --------------------------------------------------------------------------
# Stand-ins for the leap / u1db imports of the original module.
# --------------------------------------------------------------------------

class DatabaseDoesNotExist(Exception):
    """leap.soledad.common.l2db.errors.DatabaseDoesNotExist"""


class InvalidGeneration(Exception):
    """leap.soledad.common.l2db.errors.InvalidGeneration"""


class RevisionConflict(Exception):
    """leap.soledad.common.l2db.errors.RevisionConflict"""


class InvalidURLError(Exception):
    """leap.soledad.common.errors.InvalidURLError"""


class ServerDocument(object):
    """The bits of leap.soledad.common.document.ServerDocument (a u1db
    Document) that the backend touches."""

    def __init__(self, doc_id=None, rev=None, json_string=None,
                 has_conflicts=False):
        self.doc_id = doc_id
        self.rev = rev
        self._json = json_string
        self.has_conflicts = has_conflicts
        self._conflicts = None

    # content
    def get_json(self):
        return self._json

    def _get_content(self):
        if self._json is None:
            return None
        return json.loads(self._json)

    def _set_content(self, content):
        self._json = None if content is None else json.dumps(content)

    content = property(_get_content, _set_content)

    def make_tombstone(self):
        self._json = None

    def is_tombstone(self):
        return self._json is None

    # conflicts
    def set_conflicts(self, conflicts):
        self._conflicts = conflicts
        self.has_conflicts = len(conflicts) > 0

    def get_conflicts(self):
        return self._conflicts or []

    def __repr__(self):
        return '<ServerDocument %s %s%s>' % (
            self.doc_id, self.rev,
            ' (tombstone)' if self.is_tombstone() else '')


# --------------------------------------------------------------------------
# The seed module, from here on as close to verbatim as the above allows.
# --------------------------------------------------------------------------

COUCH_TIMEOUT = 120  # timeout for transfers between Soledad server and Couch


def list_users_dbs(couch_url):
    """
    Retrieves a list with all databases that starts with 'user-' on CouchDB.
    """
    with couch_server(couch_url) as server:
        users = [dbname for dbname in server if dbname.startswith('user-')]
    return users


@contextmanager
def couch_server(url):
    """
    Provide a connection to a couch server and cleanup after use.
    """
    session = Session(timeout=COUCH_TIMEOUT)
    server = Server(url=url, full_commit=False, session=session)
    yield server


def _get_gen_doc_id(gen):
    return 'gen-%s' % str(gen).zfill(10)


GENERATION_KEY = 'gen'
TRANSACTION_ID_KEY = 'trans_id'
REPLICA_UID_KEY = 'replica_uid'
DOC_ID_KEY = 'doc_id'
SCHEMA_VERSION_KEY = 'schema_version'

CONFIG_DOC_ID = '_local/config'
SYNC_DOC_ID_PREFIX = '_local/sync_'
SCHEMA_VERSION = 1


class CouchDatabase(object):
    """
    Holds CouchDB related code.
    """

    @classmethod
    def open_database(cls, url, create, replica_uid=None,
                      database_security=None):
        """
        Open a U1DB database using CouchDB as backend.

        (soledad wraps the result in a SoledadBackend; the port returns the
        CouchDatabase itself.)
        """
        # get database from url
        m = re.match('(^https?://[^/]+)/(.+)$', url)
        if not m:
            raise InvalidURLError
        url = m.group(1)
        dbname = m.group(2)
        with couch_server(url) as server:
            if dbname not in server:
                if create:
                    server.create(dbname)
                else:
                    raise DatabaseDoesNotExist()
        db = cls(url, dbname, ensure_security=create,
                 database_security=database_security)
        return db

    def __init__(self, url, dbname, ensure_security=False,
                 database_security=None):
        self._session = Session(timeout=COUCH_TIMEOUT)
        self._url = url
        self._dbname = dbname
        self._database = self.get_couch_database(url, dbname)
        self.batching = False
        self.batch_generation = None
        self.batch_docs = {}
        if ensure_security:
            self.ensure_security_ddoc(database_security)

    def batch_start(self):
        self.batching = True
        self.batch_generation = self.get_generation_info()
        ids = set(row.id for row in self._database.view('_all_docs'))
        self.batched_ids = ids

    def batch_end(self):
        self.batching = False
        self.batch_generation = None
        self.__perform_batch()

    def get_couch_database(self, url, dbname):
        try:
            return Database(
                urljoin(url, dbname),
                self._session)
        except ResourceNotFound:
            raise DatabaseDoesNotExist()

    def ensure_security_ddoc(self, security_config=None):
        security_config = security_config or {}
        security = self._database.resource.get_json('_security')[2]
        security['members'] = {'names': [], 'roles': []}
        security['members']['names'] = security_config.get('members',
                                                           ['soledad'])
        security['members']['roles'] = security_config.get('members_roles', [])
        security['admins'] = {'names': [], 'roles': []}
        security['admins']['names'] = security_config.get('admins', [])
        security['admins']['roles'] = security_config.get('admins_roles', [])
        self._database.resource.put_json('_security', body=security)

    def delete_database(self):
        with couch_server(self._url) as server:
            del(server[self._dbname])

    def set_replica_uid(self, replica_uid):
        try:
            # set on existent config document
            doc = self._database[CONFIG_DOC_ID]
            doc[REPLICA_UID_KEY] = replica_uid
        except ResourceNotFound:
            # or create the config document
            doc = {
                '_id': CONFIG_DOC_ID,
                REPLICA_UID_KEY: replica_uid,
                SCHEMA_VERSION_KEY: SCHEMA_VERSION,
            }
        self._database.save(doc)

    def get_replica_uid(self):
        try:
            # grab replica_uid from server
            doc = self._database[CONFIG_DOC_ID]
            replica_uid = doc[REPLICA_UID_KEY]
            return replica_uid
        except ResourceNotFound:
            # create a unique replica_uid
            replica_uid = uuid.uuid4().hex
            self.set_replica_uid(replica_uid)
            return replica_uid

    def close(self):
        self._database = None

    def get_all_docs(self, include_deleted=False):
        generation, _ = self.get_generation_info()
        results = list(
            self.get_docs(None, True, include_deleted))
        return (generation, results)

    def get_docs(self, doc_ids, check_for_conflicts=True,
                 include_deleted=False, read_content=True):
        params = {'include_docs': 'true', 'attachments': 'false'}
        if doc_ids is not None:
            params['keys'] = doc_ids
        view = self._database.view("_all_docs", **params)
        for row in view.rows:
            result = copy.deepcopy(row['doc'])
            for file_name in result.get('_attachments', {}).keys():
                data = self._database.get_attachment(result, file_name)
                if data:
                    if read_content:
                        data = data.read()
                    result['_attachments'][file_name] = {'data': data}
            doc = self.__parse_doc_from_couch(
                result, result['_id'],
                check_for_conflicts=check_for_conflicts, decode=False)
            # filter out non-u1db or deleted documents
            if not doc or (not include_deleted and doc.is_tombstone()):
                continue
            yield doc

    def get_doc(self, doc_id, check_for_conflicts=False):
        doc_from_batch = self.__check_batch_before_get(doc_id)
        if doc_from_batch:
            return doc_from_batch
        if self.batching and doc_id not in self.batched_ids:
            return None
        if doc_id not in self._database:
            return None
        # get document with all attachments (u1db content and eventual
        # conflicts)
        result = self.json_from_resource([doc_id], attachments=True)
        return self.__parse_doc_from_couch(result, doc_id, check_for_conflicts)

    def __check_batch_before_get(self, doc_id):
        if doc_id in self.batch_docs:
            couch_doc = self.batch_docs[doc_id]
            rev = self.__perform_batch(doc_id)
            couch_doc['_rev'] = rev
            self.batched_ids.add(doc_id)
            return self.__parse_doc_from_couch(couch_doc, doc_id, True)
        return None

    def __perform_batch(self, doc_id=None):
        # Python 3: list() so that Database.update can index the documents
        # (soledad ran on Python 2, where values() is a list).
        status = self._database.update(list(self.batch_docs.values()))
        rev = None
        for ok, stored_doc_id, rev_or_error in status:
            if not ok:
                error = rev_or_error
                if type(error) is ResourceConflict:
                    raise RevisionConflict
                raise error
            elif doc_id == stored_doc_id:
                rev = rev_or_error
        self.batch_docs.clear()
        return rev

    def __parse_doc_from_couch(self, result, doc_id,
                               check_for_conflicts=False, decode=True):
        # restrict to u1db documents
        if 'u1db_rev' not in result:
            return None
        doc = ServerDocument(doc_id, result['u1db_rev'])
        # set contents or make tombstone
        if '_attachments' not in result \
                or 'u1db_content' not in result['_attachments']:
            doc.make_tombstone()
        elif decode:
            doc.content = json.loads(
                binascii.a2b_base64(
                    result['_attachments']['u1db_content']['data']))
        else:
            doc._json = result['_attachments']['u1db_content']['data']
        # determine if there are conflicts
        if check_for_conflicts \
                and '_attachments' in result \
                and 'u1db_conflicts' in result['_attachments']:
            if decode:
                conflicts = binascii.a2b_base64(
                    result['_attachments']['u1db_conflicts']['data'])
            else:
                conflicts = result['_attachments']['u1db_conflicts']['data']
            conflicts = json.loads(conflicts)
            doc.set_conflicts(self._build_conflicts(doc.doc_id, conflicts))
        # store couch revision
        doc.couch_rev = result['_rev']
        return doc

    def _build_conflicts(self, doc_id, attached_conflicts):
        conflicts = []
        for doc_rev, content in attached_conflicts:
            doc = ServerDocument(doc_id, doc_rev)
            if content is None:
                doc.make_tombstone()
            else:
                doc.content = content
            conflicts.append(doc)
        return conflicts

    def get_trans_id_for_gen(self, generation):
        if generation == 0:
            return ''
        log = self._get_transaction_log(start=generation, end=generation)
        if not log:
            raise InvalidGeneration
        _, _, trans_id = log[0]
        return trans_id

    def get_replica_gen_and_trans_id(self, other_replica_uid):
        doc_id = '%s%s' % (SYNC_DOC_ID_PREFIX, other_replica_uid)
        try:
            doc = self._database[doc_id]
        except ResourceNotFound:
            doc = {
                '_id': doc_id,
                GENERATION_KEY: 0,
                REPLICA_UID_KEY: str(other_replica_uid),
                TRANSACTION_ID_KEY: '',
            }
            self._database.save(doc)
        gen, trans_id = doc[GENERATION_KEY], doc[TRANSACTION_ID_KEY]
        return gen, trans_id

    def get_doc_conflicts(self, doc_id, couch_rev=None):
        # request conflicts attachment from server
        params = {}
        conflicts = []
        if couch_rev is not None:
            params['rev'] = couch_rev  # restric document's couch revision
        else:
            # TODO: move into resource logic!
            first_entry = self.get_doc(doc_id, check_for_conflicts=True)
            conflicts.append(first_entry)

        try:
            response = self.json_from_resource([doc_id, 'u1db_conflicts'],
                                               **params)
            return conflicts + self._build_conflicts(
                doc_id, json.loads(response.read()))
        except ResourceNotFound:
            return []

    def set_replica_gen_and_trans_id(
            self, other_replica_uid, other_generation, other_transaction_id):
        doc_id = '%s%s' % (SYNC_DOC_ID_PREFIX, other_replica_uid)
        try:
            doc = self._database[doc_id]
        except ResourceNotFound:
            doc = {'_id': doc_id}
        doc[GENERATION_KEY] = other_generation
        doc[TRANSACTION_ID_KEY] = other_transaction_id
        self._database.save(doc)

    def get_transaction_log(self):
        log = self._get_transaction_log()
        return map(lambda i: (i[1], i[2]), log)

    def _get_gen_docs(
            self, start=0, end=9999999999, descending=None, limit=None):
        params = {}
        if descending:
            params['descending'] = 'true'
            # honor couch way of traversing the view tree in reverse order
            start, end = end, start
        params['startkey'] = _get_gen_doc_id(start)
        params['endkey'] = _get_gen_doc_id(end)
        params['include_docs'] = 'true'
        if limit:
            params['limit'] = limit
        view = self._database.view("_all_docs", **params)
        return view.rows

    def _get_transaction_log(self, start=0, end=9999999999):
        # get current gen and trans_id
        rows = self._get_gen_docs(start=start, end=end)
        log = []
        for row in rows:
            doc = row['doc']
            log.append((
                doc[GENERATION_KEY],
                doc[DOC_ID_KEY],
                doc[TRANSACTION_ID_KEY]))
        return log

    def whats_changed(self, old_generation=0):
        changes = []
        cur_generation, last_trans_id = self.get_generation_info()
        relevant_tail = self._get_transaction_log(start=old_generation + 1)
        seen = set()
        for generation, doc_id, trans_id in reversed(relevant_tail):
            if doc_id not in seen:
                changes.append((doc_id, generation, trans_id))
                seen.add(doc_id)
        changes.reverse()
        return (cur_generation, last_trans_id, changes)

    def get_generation_info(self):
        if self.batching and self.batch_generation:
            return self.batch_generation
        rows = self._get_gen_docs(descending=True, limit=1)
        if not rows:
            return 0, ''
        gen_doc = rows.pop()['doc']
        return gen_doc[GENERATION_KEY], gen_doc[TRANSACTION_ID_KEY]

    def json_from_resource(self, doc_path, **kwargs):
        if doc_path is not None:
            resource = self._database.resource(*doc_path)
        else:
            resource = self._database.resource()
        _, _, data = resource.get_json(**kwargs)
        return data

    def _allocate_new_generation(self, doc_id, transaction_id, save=True):
        """
        Allocate a new generation number for a document modification: create
        gen-<N+1> until the PUT does not answer 409 (the 409 is the lock).
        """
        while True:
            try:
                # add the gen document
                gen, _ = self.get_generation_info()
                new_gen = gen + 1
                gen_doc = {
                    '_id': _get_gen_doc_id(new_gen),
                    GENERATION_KEY: new_gen,
                    DOC_ID_KEY: doc_id,
                    TRANSACTION_ID_KEY: transaction_id,
                }
                if save:
                    self._database.save(gen_doc)
                break  # succeeded allocating a new generation, proceed
            except ResourceConflict:
                pass  # try again!
        return gen_doc

    def save_document(self, old_doc, doc, transaction_id):
        """
        Put the document in the Couch backend database.

        Note that C{old_doc} must have been fetched with the parameter
        C{check_for_conflicts} equal to True, so we can properly update the
        new document using the conflict information from the old one.

        Outside a batch the document goes out as one multipart/related PUT
        (the JSON first, then the u1db_conflicts and u1db_content parts);
        in a batch it is queued with inline base64 attachments for
        _bulk_docs.
        """
        attachments = {}  # we save content and conflicts as attachments
        parts = []  # and we put it using couch's multipart PUT
        # save content as attachment
        if doc.is_tombstone() is False:
            content = doc.get_json()
            attachments['u1db_content'] = {
                'follows': True,
                'content_type': 'application/octet-stream',
                'length': len(content),
            }
            parts.append(content)

        # save conflicts as attachment
        if doc.has_conflicts is True:
            conflicts = json.dumps(
                list(map(lambda cdoc: (cdoc.rev, cdoc.content),
                         doc.get_conflicts())))
            attachments['u1db_conflicts'] = {
                'follows': True,
                'content_type': 'application/octet-stream',
                'length': len(conflicts),
            }
            parts.append(conflicts)

        # build the couch document
        couch_doc = {
            '_id': doc.doc_id,
            'u1db_rev': doc.rev,
            '_attachments': attachments,
        }
        # if we are updating a doc we have to add the couch doc revision
        if old_doc is not None and hasattr(old_doc, 'couch_rev'):
            couch_doc['_rev'] = old_doc.couch_rev
        # prepare the multipart PUT
        if not self.batching:
            buf = StringIO()
            envelope = MultipartWriter(buf)
            # the order in which attachments are described inside the
            # serialization of the couch document must match the order in
            # which they are actually written in the multipart structure.
            # Because of that, we use `sorted_keys=True` in the json
            # serialization (so "u1db_conflicts" comes before
            # "u1db_content" on the couch document attachments
            # description), and also reverse the order of the parts before
            # writing them, so the "conflict" part is written before the
            # "content" part.
            envelope.add(
                'application/json',
                json.dumps(couch_doc, sort_keys=True))
            parts.reverse()
            for part in parts:
                envelope.add('application/octet-stream', part)
            envelope.close()
            # try to save and fail if there's a revision conflict
            try:
                resource = self._new_resource()
                resource.put_json(
                    doc.doc_id, body=str(buf.getvalue()),
                    headers=envelope.headers)
            except ResourceConflict:
                raise RevisionConflict()
            self._allocate_new_generation(doc.doc_id, transaction_id)
        else:
            for name, attachment in attachments.items():
                del attachment['follows']
                del attachment['length']
                index = 0 if name == 'u1db_content' else 1
                # Python 3: b2a_base64 takes bytes and returns bytes.
                attachment['data'] = binascii.b2a_base64(
                    parts[index].encode('utf-8')).strip().decode('ascii')
            couch_doc['_attachments'] = attachments
            gen_doc = self._allocate_new_generation(
                doc.doc_id, transaction_id, save=False)
            self.batch_docs[doc.doc_id] = couch_doc
            self.batch_docs[gen_doc['_id']] = gen_doc
            last_gen, last_trans_id = self.batch_generation
            self.batch_generation = (last_gen + 1, transaction_id)

    def _new_resource(self, *path):
        """
        Return a new resource for accessing a couch database.
        """
        # Workaround for: https://leap.se/code/issues/5448
        url = couch_urljoin(self._database.resource.url, *path)
        resource = Resource(url, Session(timeout=COUCH_TIMEOUT))
        resource.credentials = self._database.resource.credentials
        resource.headers = self._database.resource.headers.copy()
        return resource
