//! What CouchDB's replicator sees on the wire: gzip-stored attachments
//! with CouchDB's own bytes, digests and revs; multipart answers that send
//! them still encoded; and multipart uploads that take them back.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// `tests/data/couch_gzip_fixtures.py`'s body generator: words picked by
/// a linear congruential generator, cut to `size` bytes.
fn words(seed: u64, size: usize) -> Vec<u8> {
    const WORDS: [&str; 24] = [
        "settee",
        "couch",
        "replica",
        "zlib",
        "deflate",
        "revision",
        "tree",
        "leaf",
        "winner",
        "conflict",
        "attachment",
        "stub",
        "digest",
        "md5",
        "gzip",
        "window",
        "9",
        "42",
        "{",
        "}",
        "\n",
        "é",
        "日本",
        " ",
    ];
    let mut out = Vec::with_capacity(size + 16);
    let mut x = seed;
    while out.len() < size {
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
        out.extend_from_slice(WORDS[((x >> 16) % WORDS.len() as u64) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(size);
    out
}

fn send(method: Method, path: &str, ctype: &str, body: Vec<u8>) -> Reply {
    let r = client()
        .request(method, format!("{}{path}", url()))
        .header("Content-Type", ctype)
        .body(body)
        .send()
        .unwrap();
    Reply::from(r)
}

fn get_raw(path: &str, accept: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let r = client()
        .get(format!("{}{path}", url()))
        .header("Accept", accept)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    (headers, r.bytes().unwrap().to_vec())
}

/// A multipart/related body as a client writes it: the JSON, then parts.
fn related(boundary: &str, doc: &Value, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out =
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{doc}").into_bytes();
    for (headers, data) in parts {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n{headers}\r\n").as_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--").as_bytes());
    out
}

/// The parts of a multipart body: (header block, data).
fn parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let start = find(rest, delimiter.as_bytes()).expect("first boundary");
    rest = &rest[start + delimiter.len()..];
    while !rest.starts_with(b"--") {
        let head_end = find(rest, b"\r\n\r\n").expect("header block");
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delimiter}").as_bytes()).expect("part end");
        out.push((head, rest[..end].to_vec()));
        rest = &rest[end + 2 + delimiter.len()..];
    }
    out
}

fn boundary_of(ctype: &str) -> String {
    ctype
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .trim_matches('"')
        .to_string()
}

/// Digests and revision ids of gzip-stored attachments are CouchDB's:
/// `tests/data/couch-gzip-digests.json` holds what CouchDB 3.4 answered
/// for the same documents, uploaded inline, standalone and as multipart.
#[test]
fn gzip_attachments_get_couchdbs_digests_and_revs() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/couch-gzip-digests.json"),
    )
    .unwrap();
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    let db = new_db("gzipfix");
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let ctype = case["content_type"].as_str().unwrap();
        let size = case["size"].as_u64().unwrap() as usize;
        let data = match case["seed"].as_u64() {
            Some(seed) => words(seed, size),
            None => b"hello world ".repeat(100)[..size].to_vec(),
        };
        let r = match case["upload"].as_str().unwrap() {
            "inline" => put(
                &format!("/{db}/{id}"),
                &json!({"_attachments": {"a": {"content_type": ctype, "data": b64(&data)}}}),
            ),
            "standalone" => send(Method::PUT, &format!("/{db}/{id}/a"), ctype, data.clone()),
            _ => {
                let doc = json!({"_attachments": {"a": {"content_type": ctype, "follows": true, "length": data.len()}}});
                send(
                    Method::PUT,
                    &format!("/{db}/{id}"),
                    "multipart/related; boundary=\"fixture-boundary\"",
                    related("fixture-boundary", &doc, &[("", &data)]),
                )
            }
        };
        assert_eq!(r.status, 201, "{id}: {}", r.text);
        assert_eq!(r.body["rev"], case["rev"], "{id}: rev");
        let att = &get(&format!("/{db}/{id}?att_encoding_info=true")).body["_attachments"]["a"];
        assert_eq!(att["digest"], case["digest"], "{id}: digest");
        assert_eq!(att["length"], case["length"], "{id}: length");
        assert_eq!(att["encoding"], case["encoding"], "{id}: encoding");
        assert_eq!(
            att["encoded_length"], case["encoded_length"],
            "{id}: encoded_length"
        );
        // and the identity bytes come back
        let back = client()
            .get(format!("{}/{db}/{id}/a", url()))
            .send()
            .unwrap()
            .bytes()
            .unwrap();
        assert_eq!(back.as_ref(), data.as_slice(), "{id}: body");
    }
}

fn doc_with_text_and_binary(db: &str) -> (String, Vec<u8>) {
    let text = words(42, 5000);
    let r = put(
        &format!("/{db}/d"),
        &json!({"v": 1, "_attachments": {
            "a.txt": {"content_type": "text/plain", "data": b64(&text)},
            "b.bin": {"content_type": "application/octet-stream", "data": b64(&[0, 1, 2])}
        }}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    (r.body["rev"].as_str().unwrap().to_string(), text)
}

/// Checks one document's multipart/related parts as CouchDB sends them:
/// the JSON with `follows` entries carrying `encoding`/`encoded_length`,
/// the text attachment gzip-encoded and marked so, the binary as is.
fn check_related(parts: &[(String, Vec<u8>)], text: &[u8], stored: &Value) {
    assert_eq!(parts.len(), 3, "json + two attachments");
    let doc: Value = serde_json::from_slice(&parts[0].1).unwrap();
    let a = &doc["_attachments"]["a.txt"];
    assert_eq!(a["follows"], true);
    assert_eq!(a["encoding"], "gzip");
    assert_eq!(a["digest"], stored["digest"]);
    assert_eq!(a["encoded_length"], stored["encoded_length"]);
    assert!(doc["_attachments"]["b.bin"].get("encoding").is_none());
    let (head, gz) = &parts[1];
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", gz.len())),
        "{head}"
    );
    assert_eq!(gz.len() as u64, a["encoded_length"].as_u64().unwrap());
    let mut plain = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, text);
    assert!(!parts[2].0.contains("Content-Encoding"), "{}", parts[2].0);
    assert_eq!(parts[2].1, [0, 1, 2]);
}

/// Every multipart answer (document GET, `open_revs`, `_bulk_get`) sends
/// gzip-stored attachments still encoded, as CouchDB does; a replicator
/// writing them to CouchDB would otherwise be refused.
#[test]
fn multipart_answers_send_gzip_attachments_encoded() {
    let db = new_db("mpencoded");
    let (rev, text) = doc_with_text_and_binary(&db);
    let stored =
        get(&format!("/{db}/d?att_encoding_info=true")).body["_attachments"]["a.txt"].clone();

    // GET with Accept: multipart/related: sized, not chunked
    let (headers, body) = get_raw(&format!("/{db}/d?attachments=true"), "multipart/related");
    let ctype = headers["content-type"].to_str().unwrap();
    assert!(ctype.starts_with("multipart/related"), "{ctype}");
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    assert!(headers.get("transfer-encoding").is_none());
    check_related(&parts(&body, &boundary_of(ctype)), &text, &stored);

    // open_revs, as the replicator asks
    let (headers, body) = get_raw(
        &format!("/{db}/d?revs=true&latest=true&open_revs=[\"{rev}\"]"),
        "multipart/mixed",
    );
    let outer = parts(
        &body,
        &boundary_of(headers["content-type"].to_str().unwrap()),
    );
    assert_eq!(outer.len(), 1);
    let inner = boundary_of(&outer[0].0);
    check_related(&parts(&outer[0].1, &inner), &text, &stored);

    // _bulk_get as multipart
    let r = client()
        .post(format!("{}/{db}/_bulk_get?revs=true", url()))
        .header("Accept", "multipart/related")
        .header("Content-Type", "application/json")
        .body(json!({"docs": [{"id": "d"}]}).to_string())
        .send()
        .unwrap();
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    let body = r.bytes().unwrap().to_vec();
    let outer = parts(&body, &boundary_of(&ctype));
    assert_eq!(outer.len(), 1);
    assert!(outer[0].0.contains("X-Doc-Id: d"), "{}", outer[0].0);
    check_related(
        &parts(&outer[0].1, &boundary_of(&outer[0].0)),
        &text,
        &stored,
    );

    // a stub-only answer (atts_since the current rev) is plain JSON, with
    // the encoding shown as in CouchDB's multipart answers
    let (headers, body) = get_raw(
        &format!("/{db}/d?atts_since=[\"{rev}\"]"),
        "multipart/related",
    );
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["_attachments"]["a.txt"]["stub"], true);
    assert_eq!(doc["_attachments"]["a.txt"]["encoding"], "gzip");
}

/// The replicator's write: what one database sent in multipart, PUT with
/// `new_edits=false` into another, keeps the same encoded bytes, digest
/// and rev; the part may come without any header of its own.
#[test]
fn encoded_multipart_upload_round_trips() {
    let source = new_db("mpsource");
    let target = new_db("mptarget");
    let (rev, text) = doc_with_text_and_binary(&source);
    let (headers, body) = get_raw(
        &format!("/{source}/d?revs=true&attachments=true"),
        "multipart/related",
    );
    let ctype = headers["content-type"].to_str().unwrap().to_string();
    let r = send(
        Method::PUT,
        &format!("/{target}/d?new_edits=false"),
        &ctype,
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rev"], rev.as_str());
    let a = get(&format!("/{source}/d?att_encoding_info=true")).body;
    let b = get(&format!("/{target}/d?att_encoding_info=true")).body;
    assert_eq!(a["_attachments"], b["_attachments"]);
    let back = client()
        .get(format!("{}/{target}/d/a.txt", url()))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(back.as_ref(), text.as_slice());

    // A gzip part whose length is not its `encoded_length` is refused.
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(8));
        e.write_all(b"hello hello hello").unwrap();
        e.finish().unwrap()
    };
    let doc = json!({"_id": "g", "_rev": "1-abc", "_attachments": {"t": {
        "content_type": "text/plain", "follows": true, "length": 17,
        "encoding": "gzip", "encoded_length": gz.len() + 1}}});
    let r = send(
        Method::PUT,
        &format!("/{target}/g?new_edits=false"),
        "multipart/related; boundary=\"b\"",
        related("b", &doc, &[("", &gz)]),
    );
    r.assert_error(400, "bad_request", None);
}

/// CouchDB's parser takes a part whose header block is empty (the
/// boundary line followed at once by the blank line).
#[test]
fn multipart_part_with_an_empty_header_block() {
    let db = new_db("mpnoheaders");
    let doc =
        json!({"_attachments": {"a": {"content_type": "text/css", "follows": true, "length": 5}}});
    let body =
        format!("--B\r\nContent-Type: application/json\r\n\r\n{doc}\r\n--B\r\n\r\nhello\r\n--B--");
    let r = send(
        Method::PUT,
        &format!("/{db}/d"),
        "multipart/related; boundary=\"B\"",
        body.into_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // CouchDB 3.4's rev and digest for this document
    assert_eq!(r.body["rev"], "1-34e045571222dcfd6b296690631eff58");
    let got = client()
        .get(format!("{}/{db}/d/a", url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(got, "hello");
    // a body cut short of its closing boundary is refused, nothing written
    let cut = format!("--B\r\nContent-Type: application/json\r\n\r\n{doc}\r\n--B\r\n\r\nhel");
    let r = send(
        Method::PUT,
        &format!("/{db}/e"),
        "multipart/related; boundary=\"B\"",
        cut.into_bytes(),
    );
    r.assert_error(400, "bad_request", None);
    assert_eq!(get(&format!("/{db}/e")).status, 404);
}

/// CouchDB's `set_new_att_revpos`: an interactive edit stamps the bodies
/// uploaded with it with its generation, whatever revpos they carry; a
/// replicated write keeps the revpos sent (0 when none), and a COPY keeps
/// the source's. Replicas compare attachment revpos, so they must agree.
#[test]
fn attachment_revpos_rules() {
    let db = new_db("revposrules");
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [{"_id": "c", "_rev": "2-bbbb",
        "_revisions": {"start": 2, "ids": ["bbbb", "aaaa"]},
        "_attachments": {
            "a.bin": {"content_type": "application/octet-stream", "data": "AAEC"},
            "b.txt": {"content_type": "text/plain", "data": "AAEC", "revpos": 1}
        }}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let atts = get(&format!("/{db}/c")).body["_attachments"].clone();
    assert_eq!(atts["a.bin"]["revpos"], 0);
    assert_eq!(atts["b.txt"]["revpos"], 1);
    let r = put(
        &format!("/{db}/d"),
        &json!({"_attachments": {"a.bin": {"content_type": "application/octet-stream", "data": "AAEC", "revpos": 7}}}),
    );
    assert_eq!(r.body["rev"], "1-8aade4496626f284ab230dcc89faca9a");
    assert_eq!(
        get(&format!("/{db}/d")).body["_attachments"]["a.bin"]["revpos"],
        1
    );
    let r = client()
        .request(
            Method::from_bytes(b"COPY").unwrap(),
            format!("{}/{db}/c", url()),
        )
        .header("Destination", "e")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let atts = get(&format!("/{db}/e")).body["_attachments"].clone();
    assert_eq!(atts["a.bin"]["revpos"], 0);
    assert_eq!(atts["b.txt"]["revpos"], 1);
}

/// `?attachments=true` answers in multipart/related to every client that
/// takes it (no Accept, `*/*`, `multipart/*`), JSON only to one that does
/// not; `open_revs` likewise with multipart/mixed. Without `atts_since`
/// every attachment carries its data, revpos 0 included; with it, only
/// those newer than the newest known ancestor.
#[test]
fn attachment_reads_negotiate_as_couchdb() {
    let db = new_db("attaccept");
    post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [{"_id": "c", "_rev": "2-bbbb",
            "_revisions": {"start": 2, "ids": ["bbbb", "aaaa"]},
            "_attachments": {"a.bin": {"content_type": "application/octet-stream", "data": "AAEC"}}}]}),
    );
    let ctype = |path: &str, accept: Option<&str>| {
        let mut rb = client().get(format!("{}{path}", url()));
        if let Some(a) = accept {
            rb = rb.header("Accept", a);
        }
        let r = rb.send().unwrap();
        r.headers()["content-type"].to_str().unwrap().to_string()
    };
    let path = format!("/{db}/c?attachments=true");
    for accept in [
        None,
        Some("*/*"),
        Some("multipart/*"),
        Some("text/html,*/*;q=0.8"),
    ] {
        assert!(
            ctype(&path, accept).starts_with("multipart/related"),
            "{accept:?}"
        );
    }
    assert!(ctype(&path, Some("application/json")).starts_with("application/json"));
    let revs = format!("/{db}/c?open_revs=all");
    assert!(ctype(&revs, None).starts_with("multipart/mixed"));
    assert!(ctype(&revs, Some("text/html")).starts_with("application/json"));

    let data = get(&path).body;
    assert_eq!(data["_attachments"]["a.bin"]["data"], "AAEC");
    assert_eq!(data["_attachments"]["a.bin"]["revpos"], 0);
    for since in ["1-aaaa", "1-zzzz"] {
        let stub = get(&format!("/{db}/c?atts_since=[\"{since}\"]")).body;
        assert_eq!(stub["_attachments"]["a.bin"]["stub"], true, "{since}");
    }
}
