//! `_local` documents.

use serde_json::json;

use crate::common::*;

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
