//! `_local` documents.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

/// `COPY path` with a `Destination` header.
fn copy(path: &str, dest: Option<&str>) -> Reply {
    let mut rb = client().request(
        Method::from_bytes(b"COPY").unwrap(),
        format!("{}{path}", url()),
    );
    if let Some(dest) = dest {
        rb = rb.header("Destination", dest);
    }
    Reply::from(rb.send().unwrap())
}

#[test]
fn local_docs_lifecycle() {
    let db = new_db("local");
    get(&format!("/{db}/_local/config")).assert_error(404, "not_found", Some("missing"));
    let r = put(
        &format!("/{db}/_local/config"),
        &json!({"replica_uid": "R1"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body,
        json!({"ok": true, "id": "_local/config", "rev": "0-1"})
    );
    let g = get(&format!("/{db}/_local/config")).body;
    assert_eq!(
        g,
        json!({"_id": "_local/config", "_rev": "0-1", "replica_uid": "R1"})
    );
    let r = put(
        &format!("/{db}/_local/config"),
        &json!({"_rev": "0-1", "replica_uid": "R2"}),
    );
    assert_eq!(r.body["rev"], "0-2");
    // never in _all_docs or the doc counts
    assert_eq!(get(&format!("/{db}/_all_docs")).body["rows"], json!([]));
    assert_eq!(get(&format!("/{db}")).body["doc_count"], 0);
    let list = get(&format!("/{db}/_local_docs")).body;
    assert_eq!(list["rows"][0]["id"], "_local/config");
    assert_eq!(list["rows"][0]["value"]["rev"], "0-2");
    let r = delete(&format!("/{db}/_local/config?rev=0-2"));
    assert_eq!(r.status, 200);
    get(&format!("/{db}/_local/config")).assert_error(404, "not_found", None);
}

#[test]
fn local_docs_via_post_and_bulk() {
    let db = new_db("localbulk");
    let r = post(
        &format!("/{db}"),
        &json!({"_id": "_local/sync_abc", "gen": 0}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body["rev"], "0-1");
    assert_eq!(get(&format!("/{db}/_local/sync_abc")).body["gen"], 0);
    // soledad updates with the local rev in the body, through _bulk_docs too
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"docs": [{"_id": "_local/sync_abc", "_rev": "0-1", "gen": 5}]}),
    );
    assert_eq!(
        r.body,
        json!([{"ok": true, "id": "_local/sync_abc", "rev": "0-2"}])
    );
    let r = put(
        &format!("/{db}/_local/sync_abc"),
        &json!({"_id": "_local/sync_abc", "_rev": "0-2", "gen": 6}),
    );
    assert_eq!(r.body["rev"], "0-3");
}

/// HEAD is GET without a body, as in CouchDB: 200 with headers, 404 when missing.
#[test]
fn head_local_doc() {
    let db = new_db("localhead");
    put(&format!("/{db}/_local/h"), &json!({"x": 1}));
    let r = req(Method::HEAD, &format!("/{db}/_local/h"), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let r = req(Method::HEAD, &format!("/{db}/_local/nope"), None);
    assert_eq!(r.status, 404);
    assert_eq!(r.text, "");
    // POST is CouchDB's form upload, which wants a Referer first.
    let r = req(Method::POST, &format!("/{db}/_local/h"), Some(&json!({})));
    r.assert_error(400, "bad_request", Some("Referer header required."));
    let r = req(Method::PATCH, &format!("/{db}/_local/h"), None);
    r.assert_error(405, "method_not_allowed", None);
    assert_eq!(r.header("allow"), Some("DELETE,GET,HEAD,POST,PUT,COPY"));
}

/// `?rev=` and the body's `_rev` must agree, as for normal documents.
#[test]
fn local_put_rev_sources_must_agree() {
    let db = new_db("localrev");
    put(&format!("/{db}/_local/r"), &json!({"x": 1}));
    put(&format!("/{db}/_local/r?rev=0-1"), &json!({"x": 2}));
    put(
        &format!("/{db}/_local/r?rev=0-5"),
        &json!({"_rev": "0-2", "x": 3}),
    )
    .assert_error(
        400,
        "bad_request",
        Some("Document rev from request body and query string have different values"),
    );
    assert_eq!(get(&format!("/{db}/_local/r")).body["x"], 2);
    let r = put(
        &format!("/{db}/_local/r?rev=0-2"),
        &json!({"_rev": "0-2", "x": 3}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rev"], "0-3");
}

/// COPY of a local doc writes its body to the Destination: another local
/// doc (rev `0-N`) or a normal document.
#[test]
fn copy_local_doc() {
    let db = new_db("localcopy");
    put(&format!("/{db}/_local/src"), &json!({"v": 1}));
    let r = copy(&format!("/{db}/_local/src"), Some("_local/dst"));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"ok": true, "id": "_local/dst", "rev": "0-1"})
    );
    assert_eq!(r.header("etag"), Some("\"0-1\""));
    assert!(r.header("location").unwrap().ends_with("/_local%2Fdst"));
    assert_eq!(
        get(&format!("/{db}/_local/dst")).body,
        json!({"_id": "_local/dst", "_rev": "0-1", "v": 1})
    );
    let r = copy(&format!("/{db}/_local/src"), Some("_local/dst?rev=0-1"));
    assert_eq!(r.body["rev"], "0-2", "{}", r.text);
    let r = copy(&format!("/{db}/_local/src"), Some("plain"));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["rev"].as_str().unwrap().starts_with("1-"));
    assert_eq!(get(&format!("/{db}/plain")).body["v"], 1);
    copy(&format!("/{db}/_local/nope"), Some("_local/x")).assert_error(
        404,
        "not_found",
        Some("missing"),
    );
    copy(&format!("/{db}/_local/src"), None).assert_error(
        400,
        "bad_request",
        Some("Destination header is mandatory for COPY."),
    );
    copy(&format!("/{db}/_local/src"), Some("http://h/db/x")).assert_error(
        400,
        "bad_request",
        Some("Destination URL must be relative."),
    );
}

/// `_local_docs` refuses non-array `keys` as `_all_docs` does, and
/// negative paging values as CouchDB's `parse_pos_int`.
#[test]
fn local_docs_bad_parameters() {
    let db = new_db("localparams");
    get(&format!("/{db}/_local_docs?keys=%22a%22")).assert_error(
        400,
        "bad_request",
        Some("`keys` parameter must be an array."),
    );
    post(&format!("/{db}/_local_docs"), &json!({"keys": "a"})).assert_error(
        400,
        "bad_request",
        Some("`keys` body member must be an array."),
    );
    get(&format!("/{db}/_local_docs?limit=-1")).assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for positive integer: \"-1\""),
    );
    get(&format!("/{db}/_local_docs?skip=abc")).assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for integer: \"abc\""),
    );
    put(&format!("/{db}/_local/a"), &json!({}));
    put(&format!("/{db}/_local/b"), &json!({}));
    // the query string's keys win over the body's
    let r = post(
        &format!("/{db}/_local_docs?keys=%5B%22_local%2Fb%22%5D"),
        &json!({"keys": ["_local/a"]}),
    );
    assert_eq!(r.body["rows"][0]["id"], "_local/b", "{}", r.text);
}

/// A POST to `_local_docs` reads its body's query options (`limit`,
/// `skip`, `descending`, `startkey`/`endkey`, `include_docs`, …) as
/// `_all_docs` does, with the query string taking precedence.
#[test]
fn local_docs_post_body_options() {
    let db = new_db("localpost");
    for id in ["a", "b", "c", "d"] {
        put(&format!("/{db}/_local/{id}"), &json!({"n": id}));
    }
    let ids = |r: &Reply| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    let path = format!("/{db}/_local_docs");
    let r = post(
        &path,
        &json!({"keys": ["_local/a", "_local/b"], "limit": 1}),
    );
    assert_eq!(ids(&r), ["_local/a"]);
    let r = post(&path, &json!({"limit": 2, "skip": 1}));
    assert_eq!(ids(&r), ["_local/b", "_local/c"]);
    let r = post(&path, &json!({"descending": true, "startkey": "_local/c"}));
    assert_eq!(ids(&r), ["_local/c", "_local/b", "_local/a"]);
    let r = post(
        &path,
        &json!({"start_key": "_local/b", "endkey": "_local/d", "inclusive_end": false}),
    );
    assert_eq!(ids(&r), ["_local/b", "_local/c"]);
    let r = post(&path, &json!({"key": "_local/c", "include_docs": true}));
    assert_eq!(ids(&r), ["_local/c"]);
    assert_eq!(
        r.body["rows"][0]["doc"],
        json!({"_id": "_local/c", "_rev": "0-1", "n": "c"})
    );
    // the query string wins over the body
    let r = post(
        &format!("{path}?limit=3&descending=false"),
        &json!({"limit": 1, "descending": true}),
    );
    assert_eq!(ids(&r), ["_local/a", "_local/b", "_local/c"]);
    post(&path, &json!({"limit": -1})).assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for positive integer: -1"),
    );
}

/// `/{db}/_local`, `/{db}/_local/` and `/{db}/_local%2F` name no local
/// document: 400 `Invalid _local document id.` for every method, once the
/// database exists (`chttpd_db:db_req`).
#[test]
fn local_doc_without_name_is_bad_request() {
    let db = new_db("localnoid");
    for path in ["_local", "_local/", "_local%2F"] {
        let path = format!("/{db}/{path}");
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::POST] {
            req(method.clone(), &path, Some(&json!({}))).assert_error(
                400,
                "bad_request",
                Some("Invalid _local document id."),
            );
        }
        copy(&path, Some("x")).assert_error(
            400,
            "bad_request",
            Some("Invalid _local document id."),
        );
    }
    get(&format!("/{}/_local", db_name("nodb"))).assert_error(
        404,
        "not_found",
        Some("Database does not exist."),
    );
}

/// CouchDB's replicator writes its checkpoints with `"_rev": "0-N"` and
/// `"_revisions": {"start": 0, "ids": ["N"]}`; CouchDB takes the first id
/// as the rev, and PouchDB's own suite does the same ("local docs - put
/// then get w/ revisions").
#[test]
fn replicator_checkpoint_with_revisions() {
    let db = new_db("localrevisions");
    let path = format!("/{db}/_local/checkpoint");
    let r = put(
        &path,
        &json!({"_rev": "0-1", "_revisions": {"start": 0, "ids": ["1"]}, "seq": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rev"], "0-2");
    let r = put(
        &path,
        &json!({"_rev": "0-2", "_revisions": {"start": 0, "ids": ["2"]}, "seq": 2}),
    );
    assert_eq!(r.body["rev"], "0-3");
    let doc = get(&path).body;
    assert_eq!(
        doc,
        json!({"_id": "_local/checkpoint", "_rev": "0-3", "seq": 2})
    );
    // without `_rev`, `_revisions` alone names the rev
    let r = put(
        &format!("/{db}/_local/other"),
        &json!({"_revisions": {"start": 0, "ids": ["1"]}, "x": 1}),
    );
    assert_eq!(r.body["rev"], "0-2");
    // a non-numeric or non-zero-start rev is refused, as CouchDB does
    for bad in [
        json!({"_revisions": {"start": 0, "ids": ["x"]}}),
        json!({"_revisions": {"start": 1, "ids": ["3"]}}),
        json!({"_rev": "1-abc"}),
    ] {
        put(&path, &bad).assert_error(400, "bad_request", Some("Invalid rev format"));
    }
}
