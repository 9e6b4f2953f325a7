//! Database lifecycle, info, _security, _revs_limit, _compact.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[test]
fn create_info_delete() {
    let name = db_name("db");
    let r = put(&format!("/{name}"), &json!({}));
    assert_eq!(r.status, 201);
    assert_eq!(r.body, json!({"ok": true}));
    put(&format!("/{name}"), &json!({})).assert_error(
        412,
        "file_exists",
        Some("The database could not be created, the file already exists."),
    );
    let info = get(&format!("/{name}")).body;
    assert_eq!(info["db_name"], name.as_str());
    assert_eq!(info["doc_count"], 0);
    assert_eq!(info["doc_del_count"], 0);
    assert!(info["update_seq"].as_str().unwrap().starts_with("0-"));
    assert!(
        info["instance_start_time"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1_600_000_000
    );
    for k in ["file", "external", "active"] {
        assert!(info["sizes"][k].is_u64(), "{k}");
    }
    assert_eq!(req(Method::HEAD, &format!("/{name}"), None).status, 200);
    assert_eq!(delete(&format!("/{name}")).body, json!({"ok": true}));
    get(&format!("/{name}")).assert_error(404, "not_found", Some("Database does not exist."));
    assert_eq!(req(Method::HEAD, &format!("/{name}"), None).status, 404);
    delete(&format!("/{name}")).assert_error(404, "not_found", Some("Database does not exist."));
}

#[test]
fn recreated_database_is_empty() {
    let name = new_db("recreate");
    create(&name, "doc", &json!({"a": 1}));
    delete(&format!("/{name}"));
    assert_eq!(put(&format!("/{name}"), &json!({})).status, 201);
    assert_eq!(get(&format!("/{name}")).body["doc_count"], 0);
    get(&format!("/{name}/doc")).assert_error(404, "not_found", Some("missing"));
}

#[test]
fn names_follow_couchdb_rules() {
    put("/Bad", &json!({})).assert_error(400, "illegal_database_name", None);
    put("/1abc", &json!({})).assert_error(400, "illegal_database_name", None);
    let name = format!("{}%2Fsub", db_name("slash"));
    assert_eq!(put(&format!("/{name}"), &json!({})).status, 201);
    let decoded = name.replace("%2F", "/");
    assert_eq!(get(&format!("/{name}")).body["db_name"], decoded.as_str());
    let all = get("/_all_dbs").body;
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == decoded.as_str()));
}

#[test]
fn counts_and_update_seq_follow_writes() {
    let db = new_db("counts");
    let rev = create(&db, "a", &json!({}));
    create(&db, "b", &json!({}));
    delete(&format!("/{db}/a?rev={rev}"));
    let info = get(&format!("/{db}")).body;
    assert_eq!(info["doc_count"], 1);
    assert_eq!(info["doc_del_count"], 1);
    assert!(info["update_seq"].as_str().unwrap().starts_with("3-"));
}

#[test]
fn security_round_trip() {
    let db = new_db("sec");
    // CouchDB 3's default_security = admin_only
    let default = json!({"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}});
    assert_eq!(get(&format!("/{db}/_security")).body, default);
    let sec = json!({"members": {"names": ["soledad"], "roles": []}, "admins": {"names": [], "roles": []}});
    assert_eq!(
        put(&format!("/{db}/_security"), &sec).body,
        json!({"ok": true})
    );
    assert_eq!(get(&format!("/{db}/_security")).body, sec);
    put(
        &format!("/{db}/_security"),
        &json!({"members": {"names": "x"}}),
    )
    .assert_error(400, "bad_request", None);
}

#[test]
fn revs_limit() {
    let db = new_db("revslimit");
    assert_eq!(get(&format!("/{db}/_revs_limit")).body, json!(1000));
    assert_eq!(
        put(&format!("/{db}/_revs_limit"), &json!(5)).body,
        json!({"ok": true})
    );
    assert_eq!(get(&format!("/{db}/_revs_limit")).body, json!(5));
    put(&format!("/{db}/_revs_limit"), &json!("x")).assert_error(400, "bad_request", None);
    // stemming: after 8 edits only 5 revisions are remembered
    let mut rev = create(&db, "d", &json!({"n": 0}));
    for n in 1..8 {
        rev = put(&format!("/{db}/d"), &json!({"_rev": rev, "n": n})).body["rev"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let r = get(&format!("/{db}/d?revs=true"));
    assert_eq!(r.body["_revisions"]["ids"].as_array().unwrap().len(), 5);
    assert_eq!(r.body["_revisions"]["start"], 8);
}

#[test]
fn ensure_full_commit_and_compact() {
    let db = new_db("commit");
    let r = req(
        Method::POST,
        &format!("/{db}/_ensure_full_commit"),
        Some(&json!({})),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body["ok"], true);
    assert!(r.body["instance_start_time"].is_string());
    let rev1 = create(&db, "d", &json!({"big": "x".repeat(10_000)}));
    put(&format!("/{db}/d"), &json!({"_rev": rev1, "small": 1}));
    assert_eq!(get(&format!("/{db}/d?rev={rev1}")).status, 200);
    let before = get(&format!("/{db}")).body["sizes"]["active"]
        .as_u64()
        .unwrap();
    let r = req(Method::POST, &format!("/{db}/_compact"), Some(&json!({})));
    assert_eq!(r.status, 202);
    let mut reclaimed = false;
    for _ in 0..100 {
        if get(&format!("/{db}/d?rev={rev1}")).status == 404 {
            reclaimed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        reclaimed,
        "old revision body still readable after compaction"
    );
    let mut finished = false;
    for _ in 0..100 {
        if get(&format!("/{db}")).body["compact_running"] == false {
            finished = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(finished, "compact_running stays true");
    let after = get(&format!("/{db}")).body["sizes"]["active"]
        .as_u64()
        .unwrap();
    assert!(after + 10_000 <= before, "active {before} -> {after}");
    let info = get(&format!("/{db}/d?revs_info=true")).body;
    assert_eq!(info["_revs_info"][1]["status"], "missing");
    raw(Method::POST, &format!("/{db}/_compact"), "text/plain", "").assert_error(
        415,
        "bad_content_type",
        None,
    );
}

/// `sizes.external` counts the current (leaf) bodies and `sizes.active`
/// each document record once, however often the document is edited.
#[test]
fn sizes_follow_edits() {
    let db = new_db("sizes");
    let sizes = || get(&format!("/{db}")).body["sizes"].clone();
    let mut rev = create(&db, "d", &json!({"n": 10}));
    let first = sizes();
    for n in 11..61 {
        let r = put(&format!("/{db}/d"), &json!({"_rev": rev, "n": n}));
        assert_eq!(r.status, 201, "{}", r.text);
        rev = r.body["rev"].as_str().unwrap().to_string();
    }
    let edited = sizes();
    // The same-sized body replaced 50 times: one leaf body still.
    assert_eq!(edited["external"], first["external"], "{first} -> {edited}");
    // The record grows by a revision id per edit and the old bodies are
    // still kept, but no record is counted more than once.
    let active = edited["active"].as_u64().unwrap();
    assert!(active < 10_000, "active {active} after 50 edits");
}

#[test]
fn delete_with_rev_is_refused() {
    let db = new_db("delrev");
    delete(&format!("/{db}?rev=1-abc")).assert_error(400, "bad_request", None);
    assert_eq!(get(&format!("/{db}")).status, 200);
}

/// `PUT /{db}` answers with the database's absolute URI, the name encoded
/// as CouchDB's `couch_util:url_encode` does: letters, digits and `_.-:`
/// as they are, everything else (`/` too) as upper-case `%XX`.
#[test]
fn create_returns_absolute_location() {
    let name = db_name("loc");
    let r = put(&format!("/{name}"), &json!({}));
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/{name}", url()).as_str())
    );
    let slashed = format!("{}%2Fwith_slashes", db_name("loc"));
    let r = put(&format!("/{slashed}"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/{slashed}", url()).as_str())
    );
    let odd = format!("{}%2Bx%28y%29%24", db_name("loc"));
    let r = put(&format!("/{odd}"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/{odd}", url()).as_str())
    );
}

/// Path segments are decoded as CouchDB's `chttpd:unquote` with its default
/// `decode_plus_to_space = true`: `+` is a space in document ids,
/// attachment names, COPY destinations and database names; `%2B` is a `+`.
#[test]
fn plus_in_path_decodes_to_space() {
    let db = new_db("plus");
    let r = put(&format!("/{db}/test+doc+2"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], "test doc 2");
    assert!(r
        .header("location")
        .unwrap()
        .ends_with(&format!("/{db}/test%20doc%202")));
    assert_eq!(
        get(&format!("/{db}/test%20doc%202")).body["_id"],
        "test doc 2"
    );

    let r = put(&format!("/{db}/a%2Bb"), &json!({}));
    assert_eq!(r.body["id"], "a+b", "{}", r.text);
    assert_eq!(get(&format!("/{db}/a%2Bb")).body["_id"], "a+b");
    get(&format!("/{db}/a+b")).assert_error(404, "not_found", Some("missing"));

    let r = raw(
        Method::PUT,
        &format!("/{db}/att/my+file"),
        "text/plain",
        "hi",
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let doc = get(&format!("/{db}/att")).body;
    assert!(doc["_attachments"]["my file"].is_object(), "{doc}");
    assert_eq!(get(&format!("/{db}/att/my%20file")).text, "hi");

    let r = client()
        .request(
            Method::from_bytes(b"COPY").unwrap(),
            format!("{}/{db}/a%2Bb", url()),
        )
        .header("Destination", "copied+here")
        .send()
        .unwrap();
    assert_eq!(Reply::from(r).body["id"], "copied here");

    put(&format!("/{}+x", db_name("plus")), &json!({})).assert_error(
        400,
        "illegal_database_name",
        None,
    );
}
