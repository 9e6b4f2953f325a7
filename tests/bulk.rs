//! `_bulk_docs`, `_bulk_get` and `_revs_diff`.

use serde_json::json;

use crate::common::*;

#[test]
fn bulk_docs_results_per_doc() {
    let db = new_db("bulk");
    let rev = create(&db, "exists", &json!({}));
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"docs": [{"_id": "new", "v": 1}, {"_id": "exists", "v": 2}, {"v": 3}, {"_id": "exists", "_rev": rev}]}),
    );
    assert_eq!(r.status, 201);
    let rows = r.body.as_array().unwrap();
    assert_eq!(rows[0]["ok"], true);
    assert_eq!(
        rows[1],
        json!({"id": "exists", "error": "conflict", "reason": "Document update conflict."})
    );
    assert_eq!(rows[2]["id"].as_str().unwrap().len(), 32);
    assert!(rows[3]["rev"].as_str().unwrap().starts_with("2-"));
    post(&format!("/{db}/_bulk_docs"), &json!({})).assert_error(
        400,
        "bad_request",
        Some("POST body must include `docs` parameter."),
    );
    post(
        &format!("/{db}/_bulk_docs"),
        &json!({"docs": [{"_id": "x"}], "new_edits": false}),
    )
    .assert_error(400, "bad_request", None);
    // a bad document fails the whole request and writes nothing
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"docs": [{"_id": "ok1"}, {"_id": "_bad"}]}),
    );
    r.assert_error(400, "illegal_docid", None);
    get(&format!("/{db}/ok1")).assert_error(404, "not_found", None);
}

#[test]
fn bulk_get_revs_and_errors() {
    let db = new_db("bulkget");
    let rev1 = create(&db, "a", &json!({"v": 1}));
    let r = post(
        &format!("/{db}/_bulk_get?revs=true"),
        &json!({"docs": [{"id": "a"}, {"id": "a", "rev": rev1}, {"id": "missing"}, {"id": "a", "rev": "9-abc"}]}),
    );
    assert_eq!(r.status, 200);
    let res = &r.body["results"];
    assert_eq!(res[0]["docs"][0]["ok"]["_rev"], rev1.as_str());
    assert!(res[0]["docs"][0]["ok"]["_revisions"].is_object());
    assert_eq!(res[1]["docs"][0]["ok"]["v"], 1);
    assert_eq!(res[2]["docs"][0]["error"]["error"], "not_found");
    assert_eq!(res[3]["docs"][0]["error"]["rev"], "9-abc");
    post(&format!("/{db}/_bulk_get"), &json!({})).assert_error(400, "bad_request", None);
}

#[test]
fn revs_diff_reports_missing() {
    let db = new_db("revsdiff");
    let rev = create(&db, "a", &json!({}));
    let r = post(
        &format!("/{db}/_revs_diff"),
        &json!({"a": [rev, "2-0123456789abcdef0123456789abcdef"], "b": ["1-abc"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["a"]["missing"],
        json!(["2-0123456789abcdef0123456789abcdef"])
    );
    assert_eq!(r.body["a"]["possible_ancestors"], json!([rev]));
    assert_eq!(r.body["b"], json!({"missing": ["1-abc"]}));
}

/// A document over max_document_size (8,000,000 bytes by default) fails
/// the whole `_bulk_docs` request with 413, and nothing is written; one
/// just under the limit is stored.
#[test]
fn bulk_docs_over_max_document_size() {
    let db = new_db("bulkbig");
    // CouchDB measures the body without its special members:
    // {"big":"…"} is 10 bytes plus the string (checked against CouchDB 3.4)
    let docs = json!({"docs": [
        {"_id": "small"},
        {"_id": "big", "big": "x".repeat(8_000_000 - 9)},
    ]});
    let r = post(&format!("/{db}/_bulk_docs"), &docs);
    r.assert_error(413, "document_too_large", Some("big"));
    assert_eq!(get(&format!("/{db}")).body["doc_count"], 0);
    let fits = json!({"docs": [{"_id": "big", "big": "x".repeat(8_000_000 - 10)}]});
    let r = post(&format!("/{db}/_bulk_docs"), &fits);
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(200)]);
}

/// CouchDB cannot honour `"all_or_nothing": true` (fabric's
/// `validate_atomic_update`): 417 with one `not_implemented` error per
/// document, naming its id and the rev it was sent with (`0-` for none),
/// and nothing written. With `new_edits: false` the option is ignored.
#[test]
fn bulk_docs_all_or_nothing_is_refused() {
    let db = new_db("bulkaon");
    let docs = json!([
        {"_id": "a", "v": 1},
        {"_id": "b", "_rev": "1-0123456789abcdef0123456789abcdef"},
        {"_id": "_local/c"},
        {"v": 4}
    ]);
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"all_or_nothing": true, "docs": docs}),
    );
    assert_eq!(r.status, 417, "{}", r.text);
    let reason = "all_or_nothing is not supported";
    let generated = r.body[3]["id"].as_str().unwrap_or_default();
    assert_eq!(generated.len(), 32, "{}", r.text);
    assert_eq!(
        r.body,
        json!([
            {"id": "a", "rev": "0-", "error": "not_implemented", "reason": reason},
            {"id": "b", "rev": "1-0123456789abcdef0123456789abcdef",
             "error": "not_implemented", "reason": reason},
            {"id": "_local/c", "rev": "0-", "error": "not_implemented", "reason": reason},
            {"id": generated, "rev": "0-", "error": "not_implemented", "reason": reason},
        ])
    );
    assert_eq!(get(&format!("/{db}")).body["doc_count"], 0);
    get(&format!("/{db}/_local/c")).assert_error(404, "not_found", None);
    // an empty list has nothing to refuse
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"all_or_nothing": true, "docs": []}),
    );
    assert_eq!((r.status, r.body.clone()), (201, json!([])), "{}", r.text);
    // replicated writes ignore the option
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"all_or_nothing": true, "new_edits": false,
                "docs": [{"_id": "r", "_rev": "1-abc"}]}),
    );
    assert_eq!((r.status, r.body.clone()), (201, json!([])), "{}", r.text);
    assert_eq!(get(&format!("/{db}/r")).body["_rev"], "1-abc");
}
