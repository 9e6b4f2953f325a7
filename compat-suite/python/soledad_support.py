# -*- coding: utf-8 -*-
"""soledad's ``MultipartWriter`` (``leap.soledad.common.couch.support``),
reimplemented byte for byte.

soledad's non-batch ``save_document`` PUTs a document with its attachments as
one ``multipart/related`` body built by this writer, not by CouchDB-Python's
own ``couchdb.multipart.MultipartWriter``.  The suite must put exactly
soledad's bytes on the wire, so this module reproduces its format:

* ``headers`` (the request headers to send) is
  ``{'Content-Type': 'multipart/related; boundary="<boundary>"'}``; the
  boundary is quoted there and defaults to ``'==' + uuid4().hex + '=='``.
* ``add(mimetype, content)`` writes::

      --<boundary>\\r\\n
      Content-Type: <mimetype>\\r\\n
      \\r\\n
      <content>\\r\\n

  and, when ``content`` is empty (falsy), only the first three lines: no
  content and no CRLF after it.  (Part headers are written sorted by name;
  soledad only ever writes ``Content-Type``.)
* ``close()`` writes ``--<boundary>--`` and nothing after it: soledad's
  closing delimiter has no trailing CRLF, because old CouchDB versions
  (BigCouch) failed on anything after the final ``--``.

Like soledad (``six.StringIO``), the writer writes ``str`` to a text buffer;
the caller sends ``str(buf.getvalue())`` and CouchDB-Python encodes it as
UTF-8.
"""

import uuid

CRLF = '\r\n'


def make_boundary():
    """A fresh boundary in soledad's shape: ``==`` + 32 hex digits + ``==``."""
    return '==%s==' % uuid.uuid4().hex


class MultipartWriter(object):
    """Writes a flat ``multipart/related`` body into ``fileobj``."""

    def __init__(self, fileobj, headers=None, boundary=None):
        self.fileobj = fileobj
        self._boundary = boundary if boundary is not None else make_boundary()
        self.headers = {
            'Content-Type': 'multipart/related; boundary="%s"'
                            % self._boundary,
        }
        for name in sorted(headers or {}):
            self.headers[name] = headers[name]

    @property
    def boundary(self):
        return self._boundary

    def add(self, mimetype, content, headers=None):
        """One part: delimiter line, its headers, a blank line, then the
        content followed by CRLF (nothing at all for empty content)."""
        part_headers = dict(headers or {})
        part_headers['Content-Type'] = mimetype
        out = ['--', self._boundary, CRLF]
        for name in sorted(part_headers):
            out.extend([name, ': ', part_headers[name], CRLF])
        out.append(CRLF)
        if content:
            out.extend([content, CRLF])
        self.fileobj.write(''.join(out))

    def close(self):
        """The closing delimiter, ``--<boundary>--``, with no CRLF after."""
        self.fileobj.write('--%s--' % self._boundary)
