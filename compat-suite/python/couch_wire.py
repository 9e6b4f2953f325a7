# -*- coding: utf-8 -*-
"""What CouchDB 3.x puts on the wire, as the test modules check it: the
``(error, reason)`` pairs several of them expect (chttpd.erl error_info/1,
couch_att.erl, couch_doc.erl), revision ids, and the pair CouchDB-Python
carries in the exception it raises for an error response."""

import re

REV_RE = re.compile(r'^(\d+)-[0-9a-f]{32}$')

DOC_MISSING = ('not_found', 'missing')
DOC_DELETED = ('not_found', 'deleted')
CONFLICT = ('conflict', 'Document update conflict.')
ATT_MISSING = ('not_found', 'Document is missing attachment')


def rev_pos(rev):
    """The generation of the revision id ``rev``; fails the test if ``rev``
    is not one."""
    m = REV_RE.match(rev or '')
    assert m, 'not a CouchDB revision: %r' % (rev,)
    return int(m.group(1))


def error_of(excinfo):
    """The (error, reason) pair couchdb.http puts in the exception."""
    return excinfo.value.args[0]
