#!/usr/bin/env python3
"""Records what a real CouchDB computes for compressible attachments.

Writes `couch-gzip-digests.json` next to this file: for each case, the
document as sent, and the `digest`, `encoded_length` and revision id CouchDB
3.4 answered. `tests/attachments.rs` replays every case against Settee and
asserts the same answers, so Settee's gzip bytes stay zlib's.

Bodies are generated, not stored: `words(seed, size)` is a small linear
congruential generator picking from a word list, reimplemented by the Rust
test. Run against the reference CouchDB (../shared/tools/couchdb):

    COUCHDB_URL=http://admin:admin@127.0.0.1:5985 tests/data/couch_gzip_fixtures.py
"""

import base64
import json
import os
import sys
import urllib.request
import uuid
from pathlib import Path

WORDS = ["settee", "couch", "replica", "zlib", "deflate", "revision", "tree",
         "leaf", "winner", "conflict", "attachment", "stub", "digest", "md5",
         "gzip", "window", "9", "42", "{", "}", "\n", "é", "日本", " "]


def words(seed, size):
    """`size` bytes of text from the word list, chosen by an LCG."""
    out = bytearray()
    x = seed
    while len(out) < size:
        x = (x * 1103515245 + 12345) % 2147483648
        out += WORDS[(x >> 16) % len(WORDS)].encode() + b" "
    return bytes(out[:size])


# (id, content type, seed, size, how it is uploaded)
CASES = [
    ("repeat-inline", "text/plain", None, 1200, "inline"),
    ("tiny-inline", "text/plain", 1, 5, "inline"),
    ("empty-inline", "text/plain", 2, 0, "inline"),
    ("json-inline", "application/json", 3, 3000, "inline"),
    ("words-4k", "text/plain", 4, 4096, "inline"),
    ("words-64k", "text/html", 5, 65536, "inline"),
    ("words-200k", "text/plain", 6, 200_000, "inline"),
    ("js-standalone", "application/javascript", 7, 10_000, "standalone"),
    ("xml-standalone", "application/xml", 8, 150_000, "standalone"),
    ("css-multipart", "text/css", 9, 20_000, "multipart"),
    ("big-multipart", "text/plain; charset=utf-8", 10, 1_000_000, "multipart"),
]


def body_of(seed, size):
    if seed is None:
        return (b"hello world " * 100)[:size]
    return words(seed, size)


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def main():
    base = os.environ.get("COUCHDB_URL")
    if not base:
        sys.exit("set COUCHDB_URL to a CouchDB 3.4 with a server admin")
    from urllib.parse import urlsplit
    parts = urlsplit(base)
    auth = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    root = f"{parts.scheme}://{parts.hostname}:{parts.port}"
    hdr = {"Authorization": f"Basic {auth}"}
    db = f"{root}/gzip-fixtures-{uuid.uuid4().hex}"
    request("PUT", db, headers=hdr)
    out = []
    try:
        for (doc_id, ctype, seed, size, how) in CASES:
            data = body_of(seed, size)
            if how == "inline":
                doc = {"_attachments": {"a": {"content_type": ctype,
                                              "data": base64.b64encode(data).decode()}}}
                rev = request("PUT", f"{db}/{doc_id}", json.dumps(doc).encode(),
                              {**hdr, "Content-Type": "application/json"})["rev"]
            elif how == "standalone":
                rev = request("PUT", f"{db}/{doc_id}/a", data,
                              {**hdr, "Content-Type": ctype})["rev"]
            else:
                boundary = "fixture-boundary"
                doc = {"_attachments": {"a": {"content_type": ctype, "follows": True,
                                              "length": len(data)}}}
                body = (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
                        f"{json.dumps(doc)}\r\n--{boundary}\r\n\r\n").encode() \
                    + data + f"\r\n--{boundary}--".encode()
                rev = request("PUT", f"{db}/{doc_id}", body,
                              {**hdr, "Content-Type":
                               f'multipart/related; boundary="{boundary}"'})["rev"]
            got = request("GET", f"{db}/{doc_id}?att_encoding_info=true", headers=hdr)
            att = got["_attachments"]["a"]
            out.append({"id": doc_id, "content_type": ctype, "seed": seed, "size": size,
                        "upload": how, "rev": rev, "digest": att["digest"],
                        "length": att["length"], "encoding": att.get("encoding"),
                        "encoded_length": att.get("encoded_length")})
    finally:
        urllib.request.urlopen(urllib.request.Request(db, method="DELETE", headers=hdr))
    version = json.loads(urllib.request.urlopen(root).read())["version"]
    path = Path(__file__).with_name("couch-gzip-digests.json")
    path.write_text(json.dumps({"couchdb": version, "cases": out}, indent=1) + "\n")
    print(f"wrote {len(out)} cases from CouchDB {version} to {path}")


if __name__ == "__main__":
    main()
