//! The replication protocol's read and write endpoints as a replicator
//! uses them: `_revs_diff`, `_missing_revs`, `_bulk_get` (JSON and
//! multipart), `open_revs`, and `new_edits=false` writes.

use serde_json::{json, Value};

use crate::common::*;

/// Sends a JSON POST with extra headers.
fn post_with(path: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut rb = client()
        .post(format!("{}{}", url(), path))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let res = rb.send().unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, res.text().unwrap())
}

/// The parts of a multipart body: (headers, body) each.
fn parts(ctype: &str, body: &str) -> Vec<(String, String)> {
    let boundary = ctype.split("boundary=").nth(1).unwrap().trim_matches('"');
    let delim = format!("--{boundary}");
    body.split(&delim)
        .skip(1)
        .take_while(|p| !p.starts_with("--"))
        .map(|p| {
            let p = p.strip_prefix("\r\n").unwrap_or(p);
            let p = p.strip_suffix("\r\n").unwrap_or(p);
            let (head, body) = p.split_once("\r\n\r\n").unwrap();
            (head.to_string(), body.to_string())
        })
        .collect()
}

#[test]
fn revs_diff_and_missing_revs() {
    let db = new_db("repl-diff");
    let rev = create(&db, "a", &json!({}));
    let r2 = put(&format!("/{db}/a?rev={rev}"), &json!({"v": 2})).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({
        "a": [rev, r2, "3-0123456789abcdef0123456789abcdef"],
        "b": ["1-abc", "2-def"],
        "c": [],
    });
    let r = post(&format!("/{db}/_revs_diff"), &body);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({
            "a": {"missing": ["3-0123456789abcdef0123456789abcdef"], "possible_ancestors": [r2]},
            "b": {"missing": ["1-abc", "2-def"]},
        })
    );
    let r = post(&format!("/{db}/_missing_revs"), &body);
    assert_eq!(
        r.body,
        json!({"missing_revs": {"a": ["3-0123456789abcdef0123456789abcdef"], "b": ["1-abc", "2-def"]}})
    );
    // Nothing missing: an empty object.
    assert_eq!(
        post(&format!("/{db}/_revs_diff"), &json!({"a": [r2]})).body,
        json!({})
    );
    get(&format!("/{db}/_revs_diff")).assert_error(405, "method_not_allowed", None);
}

#[test]
fn new_edits_false_is_idempotent() {
    let db = new_db("repl-idem");
    let doc = json!({"_id": "d", "_rev": "2-bbbb", "_revisions": {"start": 2, "ids": ["bbbb", "aaaa"]}, "v": 1});
    for _ in 0..3 {
        let r = post(
            &format!("/{db}/_bulk_docs"),
            &json!({"new_edits": false, "docs": [doc]}),
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.body, json!([]));
    }
    let info = get(&format!("/{db}"));
    assert_eq!(info.body["doc_count"], 1);
    assert_eq!(
        info.body["update_seq"].as_str().unwrap().split('-').next(),
        Some("1"),
        "repeats write nothing"
    );
    // The same revision through PUT ?new_edits=false, with the replicator's header.
    for _ in 0..2 {
        let res = client()
            .put(format!("{}/{db}/d?new_edits=false", url()))
            .header("Content-Type", "application/json")
            .header("X-Couch-Full-Commit", "false")
            .body(doc.to_string())
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
    }
    let d = get(&format!("/{db}/d?revs=true"));
    assert_eq!(
        d.body["_revisions"],
        json!({"start": 2, "ids": ["bbbb", "aaaa"]})
    );
    let changes = get(&format!("/{db}/_changes"));
    assert_eq!(changes.body["results"].as_array().unwrap().len(), 1);
    // A delayed commit still answers with the results.
    let (status, _, text) = post_with(
        &format!("/{db}/_bulk_docs"),
        &json!({"docs": [{"_id": "later"}]}),
        &[("X-Couch-Full-Commit", "false")],
    );
    assert_eq!(status, 201, "{text}");
    assert!(text.contains("\"id\":\"later\""));
}

#[test]
fn bulk_get_items_and_errors_as_couchdb() {
    let db = new_db("repl-bulkget");
    let r1 = create(&db, "a", &json!({"v": 1}));
    let r2 = put(&format!("/{db}/a?rev={r1}"), &json!({"v": 2})).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"docs": [
        {"id": "a", "rev": r1},
        {"id": "a"},
        {"id": "nope"},
        {"id": "nope", "rev": "1-abc"},
        {},
        "string",
        {"rev": "1-abc"},
        {"id": 42},
        {"id": "_bad"},
        {"id": "a", "rev": "bogus"},
        {"id": "a", "rev": r1, "atts_since": "x"},
    ]});
    let r = post(&format!("/{db}/_bulk_get?revs=true"), &body);
    assert_eq!(r.status, 200, "{}", r.text);
    let res = r.body["results"].as_array().unwrap();
    assert_eq!(res.len(), 11);
    assert_eq!(res[0]["docs"][0]["ok"]["v"], 1);
    assert_eq!(res[0]["docs"][0]["ok"]["_revisions"]["start"], 1);
    assert_eq!(res[1]["docs"][0]["ok"]["_rev"], r2.as_str());
    let err = |i: usize| res[i]["docs"][0]["error"].clone();
    assert_eq!(
        err(2),
        json!({"id": "nope", "rev": "undefined", "error": "not_found", "reason": "missing"})
    );
    assert_eq!(
        err(3),
        json!({"id": "nope", "rev": "1-abc", "error": "not_found", "reason": "missing"})
    );
    let not_object = json!({"id": null, "rev": null, "error": "bad_request", "reason": "document must be a JSON object"});
    assert_eq!(err(4), not_object);
    assert_eq!(err(5), not_object);
    assert_eq!(res[4]["id"], Value::Null);
    assert_eq!(
        err(6),
        json!({"id": null, "rev": null, "error": "bad_request", "reason": "document id missed"})
    );
    assert_eq!(err(7)["error"], "illegal_docid");
    assert_eq!(err(7)["rev"], Value::Null);
    assert_eq!(err(8)["error"], "illegal_docid");
    assert_eq!(
        err(9),
        json!({"id": "a", "rev": "bogus", "error": "bad_request", "reason": "Invalid rev format"})
    );
    assert_eq!(err(10)["reason"], "att_since value must be array of revs.");
    // latest follows a revision to its leaf.
    let r = post(
        &format!("/{db}/_bulk_get?latest=true"),
        &json!({"docs": [{"id": "a", "rev": r1}]}),
    );
    assert_eq!(r.body["results"][0]["docs"][0]["ok"]["_rev"], r2.as_str());
    // Parameters that belong in the body are refused.
    post(&format!("/{db}/_bulk_get?rev={r1}"), &json!({"docs": []})).assert_error(
        400,
        "bad_request",
        Some("\"rev\" query parameter is not acceptable"),
    );
    post(&format!("/{db}/_bulk_get"), &json!({"docs": 1})).assert_error(
        400,
        "bad_request",
        Some("Missing JSON list of 'docs'."),
    );
}

#[test]
fn bulk_get_lists_every_leaf_of_a_conflicted_doc() {
    let db = new_db("repl-leaves");
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "c", "_rev": "1-aaaa", "side": "a"},
            {"_id": "c", "_rev": "1-bbbb", "side": "b"},
        ]}),
    );
    assert_eq!(r.status, 201);
    let r = post(&format!("/{db}/_bulk_get"), &json!({"docs": [{"id": "c"}]}));
    let docs = r.body["results"][0]["docs"].as_array().unwrap();
    let revs: Vec<&str> = docs
        .iter()
        .map(|d| d["ok"]["_rev"].as_str().unwrap())
        .collect();
    assert_eq!(revs, ["1-bbbb", "1-aaaa"]);
}

#[test]
fn bulk_get_multipart_mixed() {
    let db = new_db("repl-bgmp");
    let r1 = create(&db, "a", &json!({"v": 1}));
    let body =
        json!({"docs": [{"id": "a", "rev": r1}, {"id": "a", "rev": "5-dead"}, {"id": "gone"}]});
    let (status, ctype, text) = post_with(
        &format!("/{db}/_bulk_get?revs=true"),
        &body,
        &[("Accept", "multipart/mixed")],
    );
    assert_eq!(status, 200);
    assert!(ctype.starts_with("multipart/mixed; boundary=\""), "{ctype}");
    assert!(text.ends_with("--\r\n"), "{text:?}");
    let parts = parts(&ctype, &text);
    assert_eq!(parts.len(), 3, "{text}");
    assert_eq!(parts[0].0, "Content-Type: application/json");
    let doc: Value = serde_json::from_str(&parts[0].1).unwrap();
    assert_eq!(doc["_id"], "a");
    assert_eq!(doc["_revisions"]["ids"].as_array().unwrap().len(), 1);
    assert_eq!(parts[1].0, "Content-Type: application/json; error=\"true\"");
    assert_eq!(
        serde_json::from_str::<Value>(&parts[1].1).unwrap(),
        json!({"rev": "5-dead", "error": "not_found", "reason": "missing"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&parts[2].1).unwrap(),
        json!({"id": "gone", "rev": "undefined", "error": "not_found", "reason": "missing"})
    );
    // A client that also takes JSON gets JSON.
    let (_, ctype, _) = post_with(
        &format!("/{db}/_bulk_get"),
        &body,
        &[("Accept", "application/json, multipart/mixed")],
    );
    assert!(ctype.starts_with("application/json"), "{ctype}");
}

#[test]
fn bulk_get_multipart_with_attachments_and_atts_since() {
    let db = new_db("repl-bgatt");
    let data = "aGVsbG8gd29ybGQ="; // "hello world"
    let r1 = create(
        &db,
        "d",
        &json!({"_attachments": {"a.bin": {"content_type": "application/octet-stream", "data": data}}}),
    );
    let r2 = put(
        &format!("/{db}/d?rev={r1}"),
        &json!({"_rev": r1, "v": 2, "_attachments": {"a.bin": {"stub": true}}}),
    )
    .body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, ctype, text) = post_with(
        &format!("/{db}/_bulk_get?revs=true"),
        &json!({"docs": [{"id": "d", "rev": r2}]}),
        &[("Accept", "multipart/mixed")],
    );
    assert_eq!(status, 200);
    let outer = parts(&ctype, &text);
    assert_eq!(outer.len(), 1);
    let head = &outer[0].0;
    assert!(head.contains("X-Doc-Id: d"), "{head}");
    assert!(head.contains(&format!("X-Rev-Id: {r2}")), "{head}");
    let inner_type = head
        .lines()
        .find(|l| l.starts_with("Content-Type: multipart/related"))
        .unwrap();
    let inner = parts(inner_type.trim_start_matches("Content-Type: "), &outer[0].1);
    assert_eq!(inner.len(), 2, "{:?}", outer[0].1);
    let doc: Value = serde_json::from_str(&inner[0].1).unwrap();
    assert_eq!(doc["_attachments"]["a.bin"]["follows"], true);
    assert_eq!(inner[1].1, "hello world");
    // With atts_since at the first revision the attachment is a stub.
    let r = post(
        &format!("/{db}/_bulk_get"),
        &json!({"docs": [{"id": "d", "rev": r2, "atts_since": [r1]}, {"id": "d", "rev": r2, "atts_since": []}]}),
    );
    assert_eq!(
        r.body["results"][0]["docs"][0]["ok"]["_attachments"]["a.bin"]["stub"],
        true
    );
    assert_eq!(
        r.body["results"][1]["docs"][0]["ok"]["_attachments"]["a.bin"]["stub"],
        true
    );
    let r = post(
        &format!("/{db}/_bulk_get?attachments=true"),
        &json!({"docs": [{"id": "d", "rev": r2}]}),
    );
    assert_eq!(
        r.body["results"][0]["docs"][0]["ok"]["_attachments"]["a.bin"]["data"],
        data
    );
}

#[test]
fn open_revs_json_and_multipart() {
    let db = new_db("repl-openrevs");
    let r1 = create(&db, "a", &json!({"v": 1}));
    let spec = format!("[\"{r1}\",\"9-ffff\"]");
    let q = format!("/{db}/a?open_revs={}&revs=true", percent(&spec));
    let res = client()
        .get(format!("{}{q}", url()))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    let body: Value = res.json().unwrap();
    assert_eq!(body[0]["ok"]["_rev"], r1.as_str());
    assert_eq!(body[1], json!({"missing": "9-ffff"}));
    let res = client()
        .get(format!("{}{q}", url()))
        .header("Accept", "multipart/mixed")
        .send()
        .unwrap();
    let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("multipart/mixed"));
    let parts = parts(&ctype, &res.text().unwrap());
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].0, "Content-Type: application/json");
    assert_eq!(parts[1].0, "Content-Type: application/json; error=\"true\"");
    assert_eq!(
        serde_json::from_str::<Value>(&parts[1].1).unwrap(),
        json!({"missing": "9-ffff"})
    );
    let all = client()
        .get(format!("{}/{db}/nothing?open_revs=all", url()))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(all.status().as_u16(), 404);
}

#[test]
fn open_revs_multipart_as_couchdbs_replicator_reads_it() {
    let db = new_db("repl-openatt");
    let data = "aGVsbG8gd29ybGQ="; // "hello world"
    let r1 = create(
        &db,
        "d",
        &json!({"_attachments": {"a.bin": {"content_type": "application/octet-stream", "data": data}}}),
    );
    let r2 = put(
        &format!("/{db}/d?rev={r1}"),
        &json!({"_rev": r1, "v": 2, "_attachments": {"a.bin": {"stub": true}}}),
    )
    .body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let fetch = |extra: &str| {
        let spec = percent(&format!("[\"{r2}\"]"));
        let res = client()
            .get(format!(
                "{}/{db}/d?revs=true&open_revs={spec}&latest=true{extra}",
                url()
            ))
            .header("Accept", "multipart/mixed")
            .send()
            .unwrap();
        let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
        parts(&ctype, &res.text().unwrap())
    };
    // No atts_since: the revision comes as multipart/related with the data.
    let first = fetch("");
    assert_eq!(first.len(), 1);
    assert!(
        first[0].0.starts_with("Content-Type: multipart/related"),
        "{}",
        first[0].0
    );
    assert!(first[0].1.contains("hello world"));
    // atts_since at the revision that added the attachment: a stub only.
    let since = fetch(&format!("&atts_since={}", percent(&format!("[\"{r1}\"]"))));
    assert_eq!(since[0].0, "Content-Type: application/json");
    let doc: Value = serde_json::from_str(&since[0].1).unwrap();
    assert_eq!(doc["_attachments"]["a.bin"]["stub"], true);
    assert_eq!(doc["_revisions"]["start"], 2);
}

/// CouchDB's replicator writes a document that has attachments as a
/// `multipart/related` PUT with `new_edits=false` (couch_replicator_api_wrap
/// `update_doc/4`); writing it twice changes nothing.
#[test]
fn multipart_put_with_new_edits_false_as_couchdbs_replicator_sends_it() {
    let db = new_db("repl-mpput");
    let json = r#"{"_id":"d","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","aaaa"]},"v":1,"_attachments":{"a.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"md5-XrY7u+Ae7tCTyyK7j1rNww==","length":11,"follows":true}}}"#;
    let body = format!(
        "--abc\r\nContent-Type: application/json\r\n\r\n{json}\r\n--abc\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\nContent-Length: 11\r\n\r\nhello world\r\n--abc--"
    );
    for _ in 0..2 {
        let res = client()
            .put(format!("{}/{db}/d?new_edits=false", url()))
            .header("Content-Type", "multipart/related; boundary=\"abc\"")
            .header("X-Couch-Full-Commit", "false")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 201);
        let reply: Value = res.json().unwrap();
        assert_eq!(reply, json!({"ok": true, "id": "d", "rev": "2-bbbb"}));
    }
    let doc = get(&format!("/{db}/d?revs=true"));
    assert_eq!(
        doc.body["_revisions"],
        json!({"start": 2, "ids": ["bbbb", "aaaa"]})
    );
    assert_eq!(
        doc.body["_attachments"]["a.bin"]["digest"],
        "md5-XrY7u+Ae7tCTyyK7j1rNww=="
    );
    let att = client()
        .get(format!("{}/{db}/d/a.bin", url()))
        .send()
        .unwrap();
    assert_eq!(att.text().unwrap(), "hello world");
    assert_eq!(
        get(&format!("/{db}")).body["update_seq"]
            .as_str()
            .unwrap()
            .split('-')
            .next(),
        Some("1")
    );
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
