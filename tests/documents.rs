//! Document CRUD, options, headers and errors.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[test]
fn put_get_update_delete() {
    let db = new_db("crud");
    let r = put(&format!("/{db}/doc1"), &json!({"a": 1, "b": [1, 2]}));
    assert_eq!(r.status, 201);
    assert_eq!(r.body["ok"], true);
    assert_eq!(r.body["id"], "doc1");
    let rev1 = r.body["rev"].as_str().unwrap().to_string();
    assert!(rev1.starts_with("1-") && rev1.len() == 34, "{rev1}");
    assert_eq!(r.header("etag"), Some(format!("\"{rev1}\"").as_str()));
    assert!(r
        .header("location")
        .unwrap()
        .ends_with(&format!("/{db}/doc1")));

    let g = get(&format!("/{db}/doc1"));
    assert_eq!(
        g.body,
        json!({"_id": "doc1", "_rev": rev1, "a": 1, "b": [1, 2]})
    );
    assert_eq!(g.header("etag"), Some(format!("\"{rev1}\"").as_str()));

    put(&format!("/{db}/doc1"), &json!({"a": 2})).assert_error(
        409,
        "conflict",
        Some("Document update conflict."),
    );
    let r = put(&format!("/{db}/doc1"), &json!({"_rev": rev1, "a": 2}));
    let rev2 = r.body["rev"].as_str().unwrap().to_string();
    assert!(rev2.starts_with("2-"));
    put(&format!("/{db}/doc1?rev={rev1}"), &json!({"a": 3})).assert_error(409, "conflict", None);

    delete(&format!("/{db}/doc1")).assert_error(409, "conflict", None);
    let d = delete(&format!("/{db}/doc1?rev={rev2}"));
    assert_eq!(d.status, 200);
    assert!(d.body["rev"].as_str().unwrap().starts_with("3-"));
    get(&format!("/{db}/doc1")).assert_error(404, "not_found", Some("deleted"));
    get(&format!("/{db}/nope")).assert_error(404, "not_found", Some("missing"));
    // old revisions stay readable until compaction
    assert_eq!(get(&format!("/{db}/doc1?rev={rev1}")).body["a"], 1);
}

#[test]
fn same_content_same_rev_and_couchdb_rev_for_empty_doc() {
    let (a, b) = (new_db("deta"), new_db("detb"));
    let ra = create(&a, "x", &json!({"k": "v", "n": 1.5}));
    let rb = create(&b, "x", &json!({"k": "v", "n": 1.5}));
    assert_eq!(ra, rb);
    assert_eq!(
        create(&a, "empty", &json!({})),
        "1-967a00dff5e02add41819138abb3284d"
    );
}

#[test]
fn post_creates_with_server_id() {
    let db = new_db("post");
    let r = post(&format!("/{db}"), &json!({"x": 1}));
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(get(&format!("/{db}/{id}")).body["x"], 1);
    let r = post(&format!("/{db}"), &json!({"_id": "given"}));
    assert_eq!(r.body["id"], "given");
    raw(Method::POST, &format!("/{db}"), "text/plain", "{}").assert_error(
        415,
        "bad_content_type",
        None,
    );
    let r = post(&format!("/{db}?batch=ok"), &json!({"_id": "batched"}));
    assert_eq!(r.status, 202);
    assert_eq!(r.body, json!({"ok": true, "id": "batched"}));
}

#[test]
fn bad_input_gets_couchdb_errors() {
    let db = new_db("bad");
    raw(
        Method::PUT,
        &format!("/{db}/x"),
        "application/json",
        "{not json",
    )
    .assert_error(400, "bad_request", Some("invalid UTF-8 JSON"));
    put(&format!("/{db}/x"), &json!([1, 2])).assert_error(
        400,
        "bad_request",
        Some("Document must be a JSON object"),
    );
    put(&format!("/{db}/_foo"), &json!({})).assert_error(
        400,
        "illegal_docid",
        Some("Only reserved document ids may start with underscore."),
    );
    put(&format!("/{db}/x"), &json!({"_foo": 1})).assert_error(
        400,
        "doc_validation",
        Some("Bad special document member: _foo"),
    );
    put(&format!("/{db}/x"), &json!({"_rev": "bogus"})).assert_error(
        400,
        "bad_request",
        Some("Invalid rev format"),
    );
    get(&format!("/{db}/x?rev=bogus")).assert_error(400, "bad_request", Some("Invalid rev format"));
    get(&format!("/{db}/x?revs=maybe")).assert_error(400, "query_parse_error", None);
    put("/nodb-at-all/x", &json!({})).assert_error(
        404,
        "not_found",
        Some("Database does not exist."),
    );
    let big = json!({"big": "x".repeat(8_000_001)});
    put(&format!("/{db}/big"), &big).assert_error(413, "document_too_large", None);
    assert_eq!(get(&format!("/{db}")).body["doc_count"], 0);
}

#[test]
fn design_docs_and_encoded_ids() {
    let db = new_db("ddoc");
    let r = put(&format!("/{db}/_design/app"), &json!({"language": "query"}));
    assert_eq!(r.status, 201);
    assert_eq!(r.body["id"], "_design/app");
    assert_eq!(
        get(&format!("/{db}/_design%2Fapp")).body["language"],
        "query"
    );
    create(&db, "a%2Fb", &json!({"slash": true}));
    assert_eq!(get(&format!("/{db}/a%2Fb")).body["_id"], "a/b");
}

#[test]
fn conditional_requests() {
    let db = new_db("etag");
    let rev = create(&db, "d", &json!({"v": 1}));
    let r = client()
        .get(format!("{}/{db}/d", url()))
        .header("If-None-Match", format!("\"{rev}\""))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    let r = client()
        .put(format!("{}/{db}/d", url()))
        .header("If-Match", rev.clone())
        .header("Content-Type", "application/json")
        .body(r#"{"v":2}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = client()
        .delete(format!("{}/{db}/d", url()))
        .header("If-Match", rev)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let head = req(Method::HEAD, &format!("/{db}/d"), None);
    assert_eq!(head.status, 200);
    assert!(head.header("etag").unwrap().starts_with("\"2-"));
}

#[test]
fn copy_document() {
    let db = new_db("copy");
    create(&db, "src", &json!({"v": 1}));
    let r = client()
        .request(
            Method::from_bytes(b"COPY").unwrap(),
            format!("{}/{db}/src", url()),
        )
        .header("Destination", "dst")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(get(&format!("/{db}/dst")).body["v"], 1);
    // attachments come along; an existing destination needs its rev
    let rev = get(&format!("/{db}/src")).body["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    raw(
        Method::PUT,
        &format!("/{db}/src/a.txt?rev={rev}"),
        "text/plain",
        "hi",
    );
    let copy = |dest: &str| {
        client()
            .request(
                Method::from_bytes(b"COPY").unwrap(),
                format!("{}/{db}/src", url()),
            )
            .header("Destination", dest)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(copy("dst"), 409);
    let dst_rev = get(&format!("/{db}/dst")).body["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(copy(&format!("dst?rev={dst_rev}")), 201);
    let dst = get(&format!("/{db}/dst")).body;
    assert_eq!(dst["_attachments"]["a.txt"]["length"], 2);
    let body = client()
        .get(format!("{}/{db}/dst/a.txt", url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "hi");
}

#[test]
fn read_options() {
    let db = new_db("opts");
    let rev1 = create(&db, "d", &json!({"v": 1}));
    let rev2 = put(&format!("/{db}/d"), &json!({"_rev": rev1, "v": 2})).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let r = get(&format!("/{db}/d?revs=true&local_seq=true")).body;
    assert_eq!(r["_revisions"]["start"], 2);
    assert_eq!(r["_revisions"]["ids"][0], rev2[2..]);
    assert_eq!(r["_revisions"]["ids"][1], rev1[2..]);
    assert_eq!(r["_local_seq"], 2);
    let r = get(&format!("/{db}/d?revs_info=true")).body;
    assert_eq!(
        r["_revs_info"],
        json!([{"rev": rev2, "status": "available"}, {"rev": rev1, "status": "available"}])
    );
    let r = get(&format!("/{db}/d?rev={rev1}&latest=true")).body;
    assert_eq!(r["_rev"], rev2.as_str());
    let meta = get(&format!("/{db}/d?meta=true")).body;
    assert!(meta["_revs_info"].is_array());
}

#[test]
fn open_revs_json_and_multipart() {
    let db = new_db("openrevs");
    let rev1 = create(&db, "d", &json!({"v": 1}));
    let open_all = |query: &str| -> serde_json::Value {
        client()
            .get(format!("{}/{db}/d?open_revs=all{query}", url()))
            .header("Accept", "application/json")
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let body = open_all("");
    assert_eq!(body[0]["ok"]["_rev"], rev1.as_str());
    // _revisions only when asked for, as CouchDB (replicators send revs=true)
    assert!(body[0]["ok"].get("_revisions").is_none());
    assert!(open_all("&revs=true")[0]["ok"]["_revisions"].is_object());
    let q =
        format!("/{db}/d?open_revs=%5B%22{rev1}%22%2C%221-0123456789abcdef0123456789abcdef%22%5D");
    let r = client()
        .get(format!("{}{q}", url()))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body[0]["ok"]["_id"], "d");
    assert_eq!(
        body[1],
        json!({"missing": "1-0123456789abcdef0123456789abcdef"})
    );
    let r = client()
        .get(format!("{}/{db}/d?open_revs=all", url()))
        .send()
        .unwrap();
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("multipart/mixed"), "{ctype}");
    let text = r.text().unwrap();
    assert!(text.contains(&rev1));
}

/// Regression (found by the nano suite): CouchDB opens the document before
/// deleting it, so a missing or deleted document is 404, not 409.
#[test]
fn delete_of_missing_or_deleted_doc_is_404() {
    let db = new_db("delmissing");
    delete(&format!(
        "/{db}/never?rev=1-0123456789abcdef0123456789abcdef"
    ))
    .assert_error(404, "not_found", Some("missing"));
    delete(&format!("/{db}/never")).assert_error(404, "not_found", Some("missing"));
    let rev = create(&db, "gone", &json!({}));
    let rev2 = delete(&format!("/{db}/gone?rev={rev}")).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    delete(&format!("/{db}/gone?rev={rev2}")).assert_error(404, "not_found", Some("deleted"));
}

/// Regression (found by the nano suite): `/db/_local/a/b` names an
/// attachment of a local doc, which CouchDB refuses.
#[test]
fn local_doc_attachment_path_is_refused() {
    let db = new_db("localatt");
    put(&format!("/{db}/_local/repl"), &json!({"x": 1}));
    get(&format!("/{db}/_local/repl/abc")).assert_error(
        400,
        "bad_request",
        Some("_local documents do not accept attachments."),
    );
    assert_eq!(
        put(&format!("/{db}/_local/repl%2Fabc"), &json!({})).status,
        201
    );
    assert_eq!(
        get(&format!("/{db}/_local/repl%2Fabc")).body["_id"],
        "_local/repl/abc"
    );
}

/// Sends `method` to `path` with extra headers and an optional JSON body.
fn with_headers(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut rb = client().request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", url()),
    );
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    if let Some(body) = body {
        rb = rb
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    Reply::from(rb.send().unwrap())
}

/// `?rev=`, the body's `_rev` and `If-Match` must agree, as CouchDB's
/// `couch_doc_from_req`/`extract_header_rev` require.
#[test]
fn rev_sources_must_agree() {
    let db = new_db("revsrc");
    let rev = create(&db, "d", &json!({"v": 1}));
    let etag_error = Some("Document rev and etag have different values");
    // DELETE with ?rev and a different If-Match: refused, nothing deleted
    with_headers(
        "DELETE",
        &format!("/{db}/d?rev={rev}"),
        &[("If-Match", "\"1-abc\"")],
        None,
    )
    .assert_error(400, "bad_request", etag_error);
    assert_eq!(get(&format!("/{db}/d")).status, 200);
    // PUT: query rev vs If-Match
    with_headers(
        "PUT",
        &format!("/{db}/d?rev={rev}"),
        &[("If-Match", "\"1-abc\"")],
        Some(r#"{"v":2}"#),
    )
    .assert_error(400, "bad_request", etag_error);
    // PUT: body rev vs If-Match
    let body = json!({"_rev": rev, "v": 2}).to_string();
    with_headers(
        "PUT",
        &format!("/{db}/d"),
        &[("If-Match", "\"1-abc\"")],
        Some(&body),
    )
    .assert_error(400, "bad_request", etag_error);
    // PUT: body rev vs query rev keeps its own message
    with_headers("PUT", &format!("/{db}/d?rev=1-abc"), &[], Some(&body)).assert_error(
        400,
        "bad_request",
        Some("Document rev from request body and query string have different values"),
    );
    // agreeing sources work
    let quoted = format!("\"{rev}\"");
    let r = with_headers(
        "PUT",
        &format!("/{db}/d?rev={rev}"),
        &[("If-Match", &quoted)],
        Some(&body),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

/// DELETE ignores `batch=ok` (CouchDB answers 200 with the new rev), and
/// a single PUT with new_edits=false must name its revision.
#[test]
fn delete_batch_and_replicated_put_without_rev() {
    let db = new_db("delbatch");
    let rev = create(&db, "d", &json!({"v": 1}));
    let r = delete(&format!("/{db}/d?rev={rev}&batch=ok"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["rev"].as_str().unwrap().starts_with("2-"),
        "{}",
        r.text
    );
    assert!(r.header("etag").is_some());
    put(&format!("/{db}/e?new_edits=false"), &json!({"v": 1})).assert_error(
        400,
        "bad_request",
        Some("When `new_edits: false`, the document needs `_rev` or `_revisions` specified"),
    );
}

/// COPY's Destination is relative: an absolute URL is refused, and the
/// destination rev may follow any `?key=`.
#[test]
fn copy_destination_rules() {
    let db = new_db("copydest");
    create(&db, "src", &json!({"v": 1}));
    let copy = |dest: &str| {
        with_headers(
            "COPY",
            &format!("/{db}/src"),
            &[("Destination", dest)],
            None,
        )
    };
    copy("http://example.com/db/x").assert_error(
        400,
        "bad_request",
        Some("Destination URL must be relative."),
    );
    assert_eq!(copy("x").status, 201);
    let rev = get(&format!("/{db}/x")).body["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    let r = copy(&format!("x?foo={rev}"));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["rev"].as_str().unwrap().starts_with("2-"));
    copy("y?norev").assert_error(400, "bad_request", Some("Invalid rev format"));
    assert_eq!(get(&format!("/{db}/y")).status, 404);
    // a local destination gets a local document, outside _all_docs
    let r = copy("_local/z");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rev"], "0-1");
    assert_eq!(get(&format!("/{db}/_local/z")).body["v"], 1);
    let all = get(&format!("/{db}/_all_docs")).body;
    assert!(
        all["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["id"] != "_local/z"),
        "{all}"
    );
}

/// A standalone attachment write naming a revision the document lacks is
/// 409 `not_found`/`missing_rev`; naming a non-leaf one is a conflict.
#[test]
fn attachment_write_on_unknown_rev() {
    let db = new_db("attrev");
    raw(
        Method::PUT,
        &format!("/{db}/none/a.txt?rev=1-abc"),
        "text/plain",
        "hi",
    )
    .assert_error(409, "not_found", Some("missing_rev"));
    let rev1 = create(&db, "d", &json!({"v": 1}));
    raw(
        Method::PUT,
        &format!("/{db}/d/a.txt?rev=9-abc"),
        "text/plain",
        "hi",
    )
    .assert_error(409, "not_found", Some("missing_rev"));
    let r = put(&format!("/{db}/d"), &json!({"_rev": rev1, "v": 2}));
    assert_eq!(r.status, 201);
    raw(
        Method::PUT,
        &format!("/{db}/d/a.txt?rev={rev1}"),
        "text/plain",
        "hi",
    )
    .assert_error(409, "conflict", None);
}

/// `batch=ok`: CouchDB answers 202 `{"ok","id"}` (no rev, ETag or
/// Location) whatever the write's outcome, and only logs a failure, so a
/// conflicting PUT or POST is 202 and is dropped. The request itself is
/// still checked first (body, id, revs), and a multipart PUT is not batched.
#[test]
fn batch_ok_answers_202_even_on_conflict() {
    let db = new_db("batch");
    let accepted = |r: &Reply, id: &str| {
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body, json!({"ok": true, "id": id}));
        assert_eq!(r.header("etag"), None);
        assert_eq!(r.header("location"), None);
    };
    accepted(
        &put(&format!("/{db}/foo?batch=ok"), &json!({"a": 1})),
        "foo",
    );
    accepted(
        &put(&format!("/{db}/foo?batch=ok"), &json!({"a": 2})),
        "foo",
    );
    accepted(
        &post(&format!("/{db}?batch=ok"), &json!({"_id": "foo", "a": 3})),
        "foo",
    );
    let stored = get(&format!("/{db}/foo")).body;
    assert_eq!(stored["a"], 1);
    assert!(stored["_rev"].as_str().unwrap().starts_with("1-"));
    // _local docs too (they never conflict: a given `0-N` becomes `0-N+1`)
    accepted(
        &put(&format!("/{db}/_local/l?batch=ok"), &json!({})),
        "_local/l",
    );
    accepted(
        &put(&format!("/{db}/_local/l?batch=ok"), &json!({"_rev": "0-7"})),
        "_local/l",
    );
    accepted(
        &post(&format!("/{db}?batch=ok"), &json!({"_id": "_local/m"})),
        "_local/m",
    );
    assert_eq!(get(&format!("/{db}/_local/l")).body["_rev"], "0-8");
    assert_eq!(get(&format!("/{db}/_local/m")).body["_rev"], "0-1");
    // checked before the 202
    raw(
        Method::PUT,
        &format!("/{db}/x?batch=ok"),
        "application/json",
        "{not json",
    )
    .assert_error(400, "bad_request", None);
    put(&format!("/{db}/_bad?batch=ok"), &json!({})).assert_error(400, "illegal_docid", None);
    put(
        &format!("/{db}/x?batch=ok&rev=1-a"),
        &json!({"_rev": "1-b"}),
    )
    .assert_error(
        400,
        "bad_request",
        Some("Document rev from request body and query string have different values"),
    );
    put(&format!("/{db}/x?batch=ok&new_edits=false"), &json!({})).assert_error(
        400,
        "bad_request",
        Some("When `new_edits: false`, the document needs `_rev` or `_revisions` specified"),
    );
    post(&format!("/{db}?batch=ok"), &json!({"_foo": 1})).assert_error(400, "doc_validation", None);
    assert_eq!(get(&format!("/{db}")).body["doc_count"], 1);
    // a multipart PUT is written at once
    let body = "--B\r\nContent-Type: application/json\r\n\r\n{\"m\":1}\r\n--B--";
    let r = raw(
        Method::PUT,
        &format!("/{db}/mp?batch=ok"),
        "multipart/related; boundary=\"B\"",
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["rev"].as_str().unwrap().starts_with("1-"));
}

/// `If-None-Match` is read as CouchDB's `etag_match`: a list split on
/// commas and spaces, each token without a weak `W/` prefix, for
/// documents, attachments and `_changes`.
#[test]
fn if_none_match_accepts_weak_and_listed_etags() {
    let db = new_db("weaketag");
    let rev = create(&db, "d", &json!({"v": 1}));
    let status = |path: &str, inm: &str| {
        with_headers(
            "GET",
            &format!("/{db}/{path}"),
            &[("If-None-Match", inm)],
            None,
        )
    };
    let r = status("d", &format!("W/\"{rev}\""));
    assert_eq!(r.status, 304, "{}", r.text);
    assert_eq!(r.header("etag"), Some(format!("\"{rev}\"").as_str()));
    assert_eq!(status("d", &format!("\"0-x\", W/\"{rev}\"")).status, 304);
    assert_eq!(status("d", &format!("\"0-x\",\"{rev}\"")).status, 304);
    assert_eq!(status("d", "W/\"0-x\"").status, 200);
    assert_eq!(status("d", &format!("w/\"{rev}\"")).status, 200);

    let r = raw(
        Method::PUT,
        &format!("/{db}/d/att?rev={rev}"),
        "text/plain",
        "hello",
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let etag = get(&format!("/{db}/d/att"))
        .header("etag")
        .unwrap()
        .to_string();
    assert_eq!(status("d/att", &format!("W/{etag}")).status, 304);

    let etag = get(&format!("/{db}/_changes"))
        .header("etag")
        .unwrap()
        .to_string();
    assert_eq!(status("_changes", &format!("W/{etag}")).status, 304);
}

/// Design documents are checked as CouchDB checks them before storing
/// (`invalid_design_doc`), per document in `_bulk_docs`.
#[test]
fn malformed_design_documents_are_refused() {
    let db = new_db("ddocvalidate");
    let r = put(
        &format!("/{db}/_design/x"),
        &json!({"views": {"v": {"map": 5}}}),
    );
    r.assert_error(
        400,
        "invalid_design_doc",
        Some("`views.v.map` field must have string type"),
    );
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"docs": [
            {"_id": "_design/q", "language": "query", "views": {"v": {"map": "function(d){}"}}},
            {"_id": "_design/ok", "views": {"v": {"map": "function(d){emit(1,1)}", "reduce": "_count"}}},
            {"_id": "plain", "views": 5}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body[0]["error"], "invalid_design_doc");
    assert_eq!(
        r.body[0]["reason"],
        "`views.v.map` field must have object type"
    );
    assert_eq!(r.body[1]["ok"], true);
    assert_eq!(r.body[2]["ok"], true);
    // a deleted design document is not checked
    let rev = r.body[1]["rev"].as_str().unwrap();
    let r = delete(&format!("/{db}/_design/ok?rev={rev}"));
    assert_eq!(r.status, 200, "{}", r.text);
}

/// A write asking for more copies than this single node keeps (`w` > 1)
/// is `202 Accepted`, as a CouchDB node without that quorum answers;
/// `_bulk_docs` rows say `"accepted": true`. COPY and attachment DELETE
/// keep their status, as in CouchDB.
#[test]
fn unmet_write_quorum_is_accepted() {
    let db = new_db("quorum");
    let r = post(&format!("/{db}?w=3"), &json!({"_id": "0", "a": 1}));
    assert_eq!(r.status, 202, "{}", r.text);
    let rev = r.body["rev"].as_str().unwrap().to_string();
    let r = put(&format!("/{db}/0?w=2"), &json!({"_rev": rev, "a": 2}));
    assert_eq!(r.status, 202);
    assert!(r.header("location").is_some());
    let rev = r.body["rev"].as_str().unwrap().to_string();
    let r = post(
        &format!("/{db}/_bulk_docs?w=3"),
        &json!({"docs": [{"_id": "x"}]}),
    );
    assert_eq!(r.status, 202);
    assert_eq!(r.body[0]["accepted"], true);
    let r = post(
        &format!("/{db}/_bulk_docs?w=1"),
        &json!({"docs": [{"_id": "y"}]}),
    );
    assert_eq!(r.status, 201);
    assert!(r.body[0].get("accepted").is_none());
    let r = delete(&format!("/{db}/0?rev={rev}&w=3"));
    assert_eq!(r.status, 202);
    assert_eq!(put(&format!("/{db}/_local/l?w=3"), &json!({})).status, 202);
    assert_eq!(put(&format!("/{db}/z?w=0"), &json!({})).status, 201);
}
