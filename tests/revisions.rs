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

/// Leaves by list (`open_revs`, `_bulk_get`) come in CouchDB's orders and
/// without the members CouchDB computes only for a single read.
#[test]
fn open_revs_and_bulk_get_orders() {
    let db = new_db("leaforder");
    post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "c", "_rev": "1-a"},
            {"_id": "c", "_rev": "1-b"},
            {"_id": "c", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "b"]}},
            {"_id": "c", "_rev": "2-d", "_revisions": {"start": 2, "ids": ["d", "b"]}},
            {"_id": "c", "_rev": "3-e", "_revisions": {"start": 3, "ids": ["e", "x", "a"]}}
        ]}),
    );
    let revs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.get("ok")
                    .map(|d| d["_rev"].as_str().unwrap().to_string())
                    .unwrap_or_else(|| format!("missing {}", row["missing"]))
            })
            .collect()
    };
    let json_get = |path: &str| {
        let r = client()
            .get(format!("{}{path}", url()))
            .header("Accept", "application/json")
            .send()
            .unwrap();
        Reply::from(r).body
    };
    // fabric_doc_open_revs sorts: found ones by position then id, then missing
    let all = json_get(&format!(
        "/{db}/c?open_revs=all&conflicts=true&revs_info=true&local_seq=true"
    ));
    assert_eq!(revs(&all), ["2-c", "2-d", "3-e"]);
    assert!(all[0]["ok"].get("_revs_info").is_none());
    assert!(all[0]["ok"].get("_conflicts").is_none());
    assert!(all[0]["ok"].get("_local_seq").is_none());
    let listed = json_get(&format!(
        "/{db}/c?open_revs=[\"2-d\",\"1-a\",\"9-z\",\"2-c\"]"
    ));
    assert_eq!(revs(&listed), ["1-a", "2-c", "2-d", "missing \"9-z\""]);
    // _bulk_get lists leaves in get_all_leafs order: last root first
    let r = post(
        &format!("/{db}/_bulk_get?conflicts=true"),
        &json!({"docs": [{"id": "c"}]}),
    );
    let docs = &r.body["results"][0]["docs"];
    let order: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ok"]["_rev"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["2-c", "2-d", "3-e"]);
    assert!(docs[0]["ok"].get("_conflicts").is_none());
    post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "k", "_rev": "1-a"},
            {"_id": "k", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "b"]}}
        ]}),
    );
    let r = post(&format!("/{db}/_bulk_get"), &json!({"docs": [{"id": "k"}]}));
    let order: Vec<&str> = r.body["results"][0]["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ok"]["_rev"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["2-c", "1-a"]);
}

/// A lowered `_revs_limit` cuts `_revisions` at once, and compaction stems
/// the stored trees to it, as CouchDB's `make_doc` and compactor do.
#[test]
fn lowered_revs_limit_cuts_reads_and_compaction_stems() {
    let db = new_db("revslimitlow");
    let mut rev = create(&db, "d", &json!({"v": 0}));
    for v in 1..=6 {
        rev = put(&format!("/{db}/d"), &json!({"_rev": rev, "v": v})).body["rev"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let r = client()
        .put(format!("{}/{db}/_revs_limit", url()))
        .body("3")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = get(&format!("/{db}/d?revs=true&revs_info=true")).body;
    assert_eq!(doc["_revisions"]["start"], 7);
    assert_eq!(doc["_revisions"]["ids"].as_array().unwrap().len(), 3);
    // the tree itself is not stemmed until compaction
    assert_eq!(doc["_revs_info"].as_array().unwrap().len(), 7);
    let r = post(&format!("/{db}/_compact"), &json!({}));
    assert_eq!(r.status, 202, "{}", r.text);
    let mut stemmed = 0;
    for _ in 0..100 {
        let info = get(&format!("/{db}/d?revs_info=true")).body;
        stemmed = info["_revs_info"].as_array().unwrap().len();
        if stemmed == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(stemmed, 3);
    let doc = get(&format!("/{db}/d?revs=true")).body;
    assert_eq!(doc["_revisions"]["ids"].as_array().unwrap().len(), 3);
    assert_eq!(doc["v"], 6);
}
