//! Attachments: inline, standalone, multipart, encodings, ranges, errors.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn get_bytes(path: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut rb = client().get(format!("{}{path}", url()));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().unwrap().to_vec())
}

#[test]
fn inline_attachments_stubs_and_data() {
    let db = new_db("attinline");
    let doc = json!({"a": 1, "_attachments": {
        "hello.txt": {"content_type": "text/plain", "data": b64(b"hello world")},
        "bin": {"content_type": "application/octet-stream", "data": b64(&[0, 1, 2, 255])}
    }});
    let rev1 = put(&format!("/{db}/d"), &doc).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let got = get(&format!("/{db}/d")).body;
    let stub = &got["_attachments"]["bin"];
    assert_eq!(stub["stub"], true);
    assert_eq!(stub["length"], 4);
    assert_eq!(stub["revpos"], 1);
    assert_eq!(stub["content_type"], "application/octet-stream");
    // md5 of the bytes, base64, as CouchDB's digest
    assert_eq!(stub["digest"], "md5-BBbauBmIczOvgx+MdlrCrg==");
    let full = get(&format!("/{db}/d?attachments=true")).body;
    assert_eq!(full["_attachments"]["bin"]["data"], b64(&[0, 1, 2, 255]));
    assert_eq!(
        full["_attachments"]["hello.txt"]["data"],
        b64(b"hello world")
    );
    let enc = get(&format!("/{db}/d?att_encoding_info=true")).body;
    assert_eq!(enc["_attachments"]["hello.txt"]["encoding"], "gzip");
    assert!(enc["_attachments"]["bin"].get("encoding").is_none());

    // an update with a stub keeps the attachment; one without drops it
    let upd = json!({"_rev": rev1, "a": 2, "_attachments": {"bin": {"stub": true}}});
    let rev2 = put(&format!("/{db}/d"), &upd).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let got = get(&format!("/{db}/d")).body;
    assert_eq!(got["_attachments"].as_object().unwrap().len(), 1);
    assert_eq!(got["_attachments"]["bin"]["revpos"], 1);
    let since = get(&format!(
        "/{db}/d?attachments=true&atts_since=%5B%22{rev1}%22%5D"
    ))
    .body;
    assert_eq!(since["_attachments"]["bin"]["stub"], true);
    let rev3 = put(&format!("/{db}/d"), &json!({"_rev": rev2, "a": 3})).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(get(&format!("/{db}/d")).body.get("_attachments").is_none());
    put(
        &format!("/{db}/d"),
        &json!({"_rev": rev3, "_attachments": {"nope": {"stub": true}}}),
    )
    .assert_error(
        412,
        "missing_stub",
        Some("Invalid attachment stub in d for nope"),
    );
    put(
        &format!("/{db}/e"),
        &json!({"_attachments": {"x": {"data": "%%%"}}}),
    )
    .assert_error(400, "bad_request", Some("Invalid attachment data for x"));
}

#[test]
fn standalone_put_get_delete() {
    let db = new_db("attstandalone");
    let data: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    let r = client()
        .put(format!("{}/{db}/doc/dir%2Ffile%20name.bin", url()))
        .header("Content-Type", "image/png")
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let rev: Value = r.json().unwrap();
    let rev = rev["rev"].as_str().unwrap().to_string();
    let (status, headers, body) = get_bytes(
        &format!("/{db}/doc/dir%2Ffile%20name.bin"),
        &[("Accept", "application/json")],
    );
    assert_eq!(status, 200);
    assert_eq!(body, data);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["accept-ranges"], "bytes");
    assert!(headers["etag"].to_str().unwrap().starts_with('"'));
    // same name via an unencoded slash
    let (_, _, again) = get_bytes(&format!("/{db}/doc/dir/file%20name.bin"), &[]);
    assert_eq!(again, data);
    let (status, headers, part) = get_bytes(
        &format!("/{db}/doc/dir%2Ffile%20name.bin"),
        &[("Range", "bytes=1000-1999")],
    );
    assert_eq!(status, 206);
    assert_eq!(headers["content-range"], "bytes 1000-1999/200000");
    assert_eq!(part, data[1000..2000].to_vec());
    let head = req(
        Method::HEAD,
        &format!("/{db}/doc/dir%2Ffile%20name.bin"),
        None,
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("200000"));
    get(&format!("/{db}/doc/missing")).assert_error(
        404,
        "not_found",
        Some("Document is missing attachment"),
    );
    let d = delete(&format!("/{db}/doc/dir%2Ffile%20name.bin?rev={rev}"));
    assert_eq!(d.status, 200, "{}", d.text);
    get(&format!("/{db}/doc/dir%2Ffile%20name.bin")).assert_error(404, "not_found", None);
    // the old revision still has it until compaction
    let (status, _, old) = get_bytes(&format!("/{db}/doc/dir%2Ffile%20name.bin?rev={rev}"), &[]);
    assert_eq!((status, old.len()), (200, 200_000));
    // PUT with a stale rev conflicts
    let r = raw(
        Method::PUT,
        &format!("/{db}/doc/x?rev={rev}"),
        "text/plain",
        "x",
    );
    r.assert_error(409, "conflict", None);
}

#[test]
fn gzip_stored_text_is_served_both_ways() {
    let db = new_db("attgzip");
    let text = "settee ".repeat(10_000);
    let r = raw(Method::PUT, &format!("/{db}/d/t.txt"), "text/plain", &text);
    assert_eq!(r.status, 201);
    let (_, headers, body) = get_bytes(
        &format!("/{db}/d/t.txt"),
        &[("Accept-Encoding", "identity")],
    );
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(body, text.as_bytes());
    let raw_client = reqwest::blocking::Client::builder().build().unwrap();
    let r = raw_client
        .get(format!("{}/{db}/d/t.txt", url()))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().unwrap();
    assert!(
        gz.len() < text.len() / 10,
        "stored compressed: {} bytes",
        gz.len()
    );
    let info = get(&format!("/{db}/d?att_encoding_info=true")).body;
    assert_eq!(info["_attachments"]["t.txt"]["encoded_length"], gz.len());
    assert_eq!(info["_attachments"]["t.txt"]["length"], text.len());
}

/// The bytes soledad's MultipartWriter sends: no CRLF after the closing boundary.
fn soledad_multipart(doc: &Value, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"--BOUNDARY\r\nContent-Type: application/json\r\n\r\n");
    out.extend_from_slice(doc.to_string().as_bytes());
    for p in parts {
        out.extend_from_slice(b"\r\n--BOUNDARY\r\nContent-Type: application/octet-stream\r\n\r\n");
        out.extend_from_slice(p);
    }
    out.extend_from_slice(b"\r\n--BOUNDARY--");
    out
}

fn put_multipart(path: &str, body: Vec<u8>) -> Reply {
    let r = client()
        .put(format!("{}{path}", url()))
        .header("Content-Type", "multipart/related; boundary=\"BOUNDARY\"")
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    Reply {
        status,
        headers: Default::default(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

#[test]
fn multipart_put_and_reads() {
    let db = new_db("attmultipart");
    let doc = json!({"_id": "d", "u1db_rev": "r:1", "_attachments": {
        "u1db_conflicts": {"follows": true, "content_type": "application/octet-stream", "length": 2},
        "u1db_content": {"follows": true, "content_type": "application/octet-stream", "length": 7}
    }});
    let r = put_multipart(
        &format!("/{db}/d"),
        soledad_multipart(&doc, &[b"[]", b"{\"k\":1}"]),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let rev = r.body["rev"].as_str().unwrap().to_string();
    let (_, _, content) = get_bytes(&format!("/{db}/d/u1db_content"), &[]);
    assert_eq!(content, b"{\"k\":1}");
    let full = get(&format!("/{db}/d?attachments=true")).body;
    assert_eq!(full["_attachments"]["u1db_conflicts"]["data"], b64(b"[]"));
    // multipart/related read
    let (status, headers, body) = get_bytes(
        &format!("/{db}/d?attachments=true"),
        &[("Accept", "multipart/related")],
    );
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("multipart/related"));
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("\"follows\":true") && text.contains("{\"k\":1}"),
        "{text}"
    );
    // a length that does not match is refused, nothing is written
    let bad = json!({"_id": "d", "_rev": rev, "_attachments": {
        "u1db_content": {"follows": true, "content_type": "application/octet-stream", "length": 99}
    }});
    let r = put_multipart(&format!("/{db}/d"), soledad_multipart(&bad, &[b"short"]));
    r.assert_error(400, "bad_request", None);
    let missing = put_multipart(&format!("/{db}/d"), soledad_multipart(&bad, &[]));
    missing.assert_error(400, "bad_request", None);
    assert_eq!(get(&format!("/{db}/d")).body["_rev"], rev.as_str());
    // replicator-style push: new_edits=false with a history
    let repl = json!({"_id": "r", "_rev": "2-bbb", "_revisions": {"start": 2, "ids": ["bbb", "aaa"]}, "_attachments": {
        "a.bin": {"follows": true, "content_type": "application/octet-stream", "length": 3, "revpos": 2}
    }});
    let r = put_multipart(
        &format!("/{db}/r?new_edits=false"),
        soledad_multipart(&repl, &[b"xyz"]),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let (_, _, a) = get_bytes(&format!("/{db}/r/a.bin"), &[]);
    assert_eq!(a, b"xyz");
    // open_revs multipart/mixed carries nested multipart/related parts
    let (status, headers, body) = get_bytes(
        &format!("/{db}/r?open_revs=all&attachments=true&revs=true"),
        &[],
    );
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("multipart/mixed"));
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("multipart/related") && text.contains("xyz"),
        "{text}"
    );
}

#[test]
fn bulk_docs_and_bulk_get_with_attachments() {
    let db = new_db("attbulk");
    let docs = json!({"docs": [
        {"_id": "a", "_attachments": {"f": {"content_type": "text/plain", "data": b64(b"one")}}},
        {"_id": "b", "_attachments": {"f": {"content_type": "text/plain", "data": b64(b"one")}}}
    ]});
    assert_eq!(post(&format!("/{db}/_bulk_docs"), &docs).status, 201);
    let a = get(&format!("/{db}/a")).body;
    let b = get(&format!("/{db}/b")).body;
    assert_eq!(
        a["_attachments"]["f"]["digest"],
        b["_attachments"]["f"]["digest"]
    );
    let r = post(
        &format!("/{db}/_bulk_get?attachments=true"),
        &json!({"docs": [{"id": "a"}]}),
    );
    assert_eq!(
        r.body["results"][0]["docs"][0]["ok"]["_attachments"]["f"]["data"],
        b64(b"one")
    );
    let r = get(&format!(
        "/{db}/_all_docs?include_docs=true&attachments=true"
    ));
    assert_eq!(
        r.body["rows"][0]["doc"]["_attachments"]["f"]["data"],
        b64(b"one")
    );
}

#[test]
fn compaction_reclaims_unreferenced_bodies() {
    let db = new_db("attcompact");
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = client()
        .put(format!("{}/{db}/d/big", url()))
        .body(big.clone())
        .send()
        .unwrap();
    let rev: Value = r.json().unwrap();
    let rev = rev["rev"].as_str().unwrap().to_string();
    let r = delete(&format!("/{db}/d/big?rev={rev}"));
    assert_eq!(r.status, 200);
    let before = get(&format!("/{db}/d/big?rev={rev}"));
    assert_eq!(before.status, 200);
    req(Method::POST, &format!("/{db}/_compact"), Some(&json!({})));
    let mut gone = false;
    for _ in 0..200 {
        if get(&format!("/{db}/d/big?rev={rev}")).status == 404 {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        gone,
        "old revision's attachment still readable after compaction"
    );
}

/// CouchDB's stub rules (`prep_and_validate_update`, `merge_stubs`): an
/// edit of a stale revision is that document's conflict, whatever stubs it
/// carries, and the others are written (soledad's batches rely on it); a
/// stub that cannot be resolved, or whose `revpos` is not the stored
/// attachment's, fails the whole request with 412 and writes nothing.
#[test]
fn stub_rules_in_bulk_docs_and_put() {
    let db = new_db("attstubs");
    let rev1 = create(
        &db,
        "a",
        &json!({"_attachments": {"f": {"content_type": "text/plain", "data": b64(b"hello")}}}),
    );
    let rev2 = put(
        &format!("/{db}/a"),
        &json!({"_rev": rev1, "v": 2, "_attachments": {"f": {"stub": true}}}),
    )
    .body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let bulk = |docs: Value| post(&format!("/{db}/_bulk_docs"), &json!({"docs": docs}));

    // stale rev with a stub: a conflict row, the other doc written
    let r = bulk(json!([
        {"_id": "a", "_rev": rev1, "v": 3, "_attachments": {"f": {"stub": true}}},
        {"_id": "b", "x": 1}
    ]));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body[0]["error"], "conflict");
    assert_eq!(r.body[1]["ok"], true);
    let r = put(
        &format!("/{db}/a"),
        &json!({"_rev": rev1, "_attachments": {"f": {"stub": true}}}),
    );
    r.assert_error(409, "conflict", None);

    // unresolvable stubs: 412 for the whole request, nothing written
    let cases = [
        json!([{"_id": "c", "_attachments": {"f": {"stub": true}}}, {"_id": "b2"}]),
        json!([{"_id": "c", "_rev": "1-abc", "_attachments": {"f": {"stub": true}}}, {"_id": "b3"}]),
        json!([{"_id": "a", "_rev": rev2, "_attachments": {"g": {"stub": true}}}, {"_id": "b4"}]),
        json!([{"_id": "a", "_rev": rev2, "_attachments": {"f": {"stub": true, "revpos": 2}}}, {"_id": "b5"}]),
    ];
    for (i, docs) in cases.into_iter().enumerate() {
        let r = bulk(docs);
        r.assert_error(412, "missing_stub", None);
        assert_eq!(get(&format!("/{db}/b{}", i + 2)).status, 404);
    }
    let r = put(
        &format!("/{db}/a"),
        &json!({"_rev": rev2, "_attachments": {"f": {"stub": true, "revpos": 5}}}),
    );
    r.assert_error(
        412,
        "missing_stub",
        Some("Invalid attachment stub in a for f"),
    );
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [{"_id": "a", "_rev": "9-abc",
            "_revisions": {"start": 9, "ids": ["abc", rev2.split_once('-').unwrap().1]},
            "_attachments": {"f": {"stub": true, "revpos": 7}}}]}),
    );
    r.assert_error(412, "missing_stub", None);

    // the right revpos is accepted
    let r = put(
        &format!("/{db}/a"),
        &json!({"_rev": rev2, "_attachments": {"f": {"stub": true, "revpos": 1}}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

fn post_form(path: &str, referer: Option<&str>, form: reqwest::blocking::multipart::Form) -> Reply {
    let mut rb = client().post(format!("{}{path}", url())).multipart(form);
    if let Some(r) = referer {
        rb = rb.header("Referer", r);
    }
    Reply::from(rb.send().unwrap())
}

fn file(name: &str, ctype: &str, data: &[u8]) -> reqwest::blocking::multipart::Part {
    reqwest::blocking::multipart::Part::bytes(data.to_vec())
        .file_name(name.to_string())
        .mime_str(ctype)
        .unwrap()
}

/// `POST /{db}/{doc}` with `multipart/form-data`, the HTML-form upload:
/// `_rev` adds files to a revision, `_doc` writes a whole document; new
/// files replace same-named attachments and the others are kept.
#[test]
fn form_uploads() {
    use reqwest::blocking::multipart::Form;
    let db = new_db("attform");
    let referer = format!("{}/_utils/", url());
    let rev = create(
        &db,
        "d",
        &json!({"v": 0, "_attachments": {
            "old": {"content_type": "text/plain", "data": b64(b"old")},
            "up.txt": {"content_type": "text/plain", "data": b64(b"old")}
        }}),
    );
    let r = post_form(
        &format!("/{db}/d"),
        Some(&referer),
        Form::new()
            .text("_rev", rev.clone())
            .part("_attachments", file("up.txt", "text/plain", b"hello\n")),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // CouchDB 3.4's rev for the same upload
    assert_eq!(r.body["rev"], "2-885c375aa29adab73b228d5cc5ea16c8");
    assert_eq!(
        r.header("etag"),
        Some("\"2-885c375aa29adab73b228d5cc5ea16c8\"")
    );
    let doc = get(&format!("/{db}/d")).body;
    let names: Vec<&String> = doc["_attachments"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["up.txt", "old"]);
    assert_eq!(doc["_attachments"]["up.txt"]["revpos"], 2);
    assert_eq!(doc["_attachments"]["old"]["revpos"], 1);
    assert_eq!(doc["v"], 0);

    let r = post_form(
        &format!("/{db}/d2"),
        Some(&referer),
        Form::new()
            .text("_doc", r#"{"a":1}"#)
            .part("_attachments", file("up.txt", "text/plain", b"hello\n"))
            .part(
                "_attachments",
                file("second.bin", "application/octet-stream", b"hello\n"),
            ),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rev"], "1-28256e1da5596269f1eb276b26e61240");
    // a local document takes the body, not the files
    let r = post_form(
        &format!("/{db}/_local/x"),
        Some(&referer),
        Form::new().text("_doc", r#"{"a":3}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rev"], "0-1");

    // CouchDB's refusals
    let form = || Form::new().text("_doc", r#"{"a":1}"#);
    post_form(&format!("/{db}/d3"), None, form()).assert_error(
        400,
        "bad_request",
        Some("Referer header required."),
    );
    post_form(&format!("/{db}/d3"), Some("http://evil.example/"), form()).assert_error(
        400,
        "bad_request",
        Some("Referer header must match host."),
    );
    let r = client()
        .post(format!("{}/{db}/d3", url()))
        .header("Referer", &referer)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    Reply::from(r).assert_error(
        415,
        "bad_content_type",
        Some("Content-Type must be multipart/form-data"),
    );
    post_form(
        &format!("/{db}/d3"),
        Some(&referer),
        Form::new().text("x", "1"),
    )
    .assert_error(400, "bad_request", None);
    post_form(
        &format!("/{db}/d2"),
        Some(&referer),
        Form::new().text("_doc", r#"{"a":2}"#),
    )
    .assert_error(409, "conflict", None);
    post_form(
        &format!("/{db}/d4"),
        Some(&referer),
        form().part("_attachments", file("_bad", "text/plain", b"x")),
    )
    .assert_error(
        400,
        "bad_request",
        Some("Attachment name '_bad' starts with prohibited character '_'"),
    );
    assert_eq!(get(&format!("/{db}/d4")).status, 404);
}
