//! Revision trees over HTTP: replication-style writes, conflicts, winners.

use serde_json::json;

use crate::common::*;

#[test]
fn couchdb_docs_conflict_example() {
    // The example from CouchDB's documentation of new_edits=false.
    let db = new_db("conflict");
    let first = json!({"new_edits": false, "docs": [
        {"_id": "foo", "_rev": "2-def", "_revisions": {"start": 2, "ids": ["def", "abc"]}, "bar": "tender"}
    ]});
    let r = post(&format!("/{db}/_bulk_docs"), &first);
    assert_eq!(r.status, 201);
    assert_eq!(r.body, json!([]));
    let second = json!({"new_edits": false, "docs": [
        {"_id": "foo", "_rev": "3-ghi", "_revisions": {"start": 3, "ids": ["ghi", "xyz", "abc"]}, "bar": "racuda"}
    ]});
    post(&format!("/{db}/_bulk_docs"), &second);
    let doc = get(&format!("/{db}/foo?conflicts=true")).body;
    assert_eq!(doc["_rev"], "3-ghi");
    assert_eq!(doc["bar"], "racuda");
    assert_eq!(doc["_conflicts"], json!(["2-def"]));
    // replaying is idempotent and does not bump the sequence
    let seq = get(&format!("/{db}")).body["update_seq"].clone();
    let r = post(&format!("/{db}/_bulk_docs"), &second);
    assert_eq!(r.body, json!([]));
    assert_eq!(get(&format!("/{db}")).body["update_seq"], seq);
    // resolving the conflict by deleting the loser
    let r = delete(&format!("/{db}/foo?rev=2-def"));
    assert_eq!(r.status, 200);
    let doc = get(&format!("/{db}/foo?conflicts=true&deleted_conflicts=true")).body;
    assert!(doc.get("_conflicts").is_none());
    assert_eq!(doc["_deleted_conflicts"].as_array().unwrap().len(), 1);
}

#[test]
fn live_leaf_beats_longer_deleted_branch() {
    let db = new_db("winner");
    let docs = json!({"new_edits": false, "docs": [
        {"_id": "d", "_rev": "1-a", "v": "a"},
        {"_id": "d", "_rev": "3-c", "_deleted": true, "_revisions": {"start": 3, "ids": ["c", "b", "a"]}},
        {"_id": "d", "_rev": "2-x", "_revisions": {"start": 2, "ids": ["x", "a"]}, "v": "x"}
    ]});
    post(&format!("/{db}/_bulk_docs"), &docs);
    let doc = get(&format!("/{db}/d?deleted_conflicts=true")).body;
    assert_eq!(doc["_rev"], "2-x");
    assert_eq!(doc["_deleted_conflicts"], json!(["3-c"]));
}

#[test]
fn recreate_after_delete_extends_tombstone() {
    let db = new_db("recreate");
    let rev1 = create(&db, "d", &json!({"v": 1}));
    let rev2 = delete(&format!("/{db}/d?rev={rev1}")).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let r = put(&format!("/{db}/d"), &json!({"v": 2}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["rev"].as_str().unwrap().starts_with("3-"));
    let doc = get(&format!("/{db}/d?revs=true")).body;
    assert_eq!(doc["_revisions"]["ids"][1], rev2[2..]);
}

#[test]
fn open_revs_lists_every_leaf() {
    let db = new_db("leaves");
    let docs = json!({"new_edits": false, "docs": [
        {"_id": "d", "_rev": "1-a", "v": 1},
        {"_id": "d", "_rev": "1-b", "v": 2}
    ]});
    post(&format!("/{db}/_bulk_docs"), &docs);
    let r = client()
        .get(format!("{}/{db}/d?open_revs=all", url()))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    let mut revs: Vec<String> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ok"]["_rev"].as_str().unwrap().to_string())
        .collect();
    revs.sort();
    assert_eq!(revs, vec!["1-a", "1-b"]);
    assert_eq!(get(&format!("/{db}/d")).body["_rev"], "1-b");
}

/// A revision at the largest position Settee can hold has no successor:
/// editing it, or a `_local` doc at the largest counter, is a 400, never a
/// crashed request.
#[test]
fn largest_positions_have_no_successor() {
    let db = new_db("maxpos");
    let top = format!("{}-abc", u64::MAX);
    let r = put(
        &format!("/{db}/x?new_edits=false"),
        &json!({"_rev": top, "v": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    put(&format!("/{db}/x"), &json!({"_rev": top, "v": 2})).assert_error(
        400,
        "bad_request",
        Some("Invalid rev format"),
    );
    assert_eq!(get(&format!("/{db}/x")).body["v"], 1);

    let local = format!("/{db}/_local/y");
    put(&local, &json!({"_rev": format!("0-{}", u64::MAX), "v": 1})).assert_error(
        400,
        "bad_request",
        Some("Invalid rev format"),
    );
    assert_eq!(get(&local).status, 404);
}

/// `new_edits=false` with a bare `"1-"` (PouchDB issue 7829) and revisions
/// at position 0 are stored and read back as CouchDB does.
#[test]
fn bare_and_position_zero_revs() {
    let db = new_db("barerev");
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [{"_id": "n", "_rev": "1-", "x": 1}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let doc = get(&format!("/{db}/n?revs=true")).body;
    assert_eq!(doc["_rev"], "1-");
    assert_eq!(doc["_revisions"], json!({"start": 1, "ids": [""]}));
    assert_eq!(get(&format!("/{db}/n?rev=1-")).body["x"], 1);
    // an interactive edit extends it, with CouchDB's rev
    let r = put(&format!("/{db}/n"), &json!({"_rev": "1-", "y": 1}));
    assert_eq!(r.body["rev"], "2-dee38716574c178c4068c5b08e92c1b5");
    // a history whose oldest entry sits at position 0
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "z", "_revisions": {"start": 1, "ids": ["b", "a"]}},
            {"_id": "z0", "_rev": "0-1", "v": 0}
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let doc = get(&format!("/{db}/z?revs=true")).body;
    assert_eq!(doc["_rev"], "1-b");
    assert_eq!(doc["_revisions"], json!({"start": 1, "ids": ["b", "a"]}));
    assert_eq!(get(&format!("/{db}/z0")).body["v"], 0);
    // an interactive write naming a position-0 rev is a conflict
    let r = put(&format!("/{db}/z1"), &json!({"_rev": "0-1"}));
    r.assert_error(409, "conflict", None);
}
