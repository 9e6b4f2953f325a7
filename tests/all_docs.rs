//! `_all_docs` ranges, keys, paging, and the soledad generation scans.

use serde_json::{json, Value};

use crate::common::*;

fn ids(body: &Value) -> Vec<String> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn seed(db: &str, ids: &[&str]) {
    let docs: Vec<Value> = ids.iter().map(|id| json!({"_id": id, "n": id})).collect();
    let r = post(&format!("/{db}/_bulk_docs"), &json!({"docs": docs}));
    assert_eq!(r.status, 201);
}

#[test]
fn ranges_and_order() {
    let db = new_db("range");
    seed(&db, &["b", "a", "c", "B", "é", "_design/x"]);
    let all = get(&format!("/{db}/_all_docs")).body;
    assert_eq!(all["total_rows"], 6);
    assert_eq!(all["offset"], 0);
    // raw code-point order, as CouchDB's _all_docs
    assert_eq!(ids(&all), vec!["B", "_design/x", "a", "b", "c", "é"]);
    let r = get(&format!("/{db}/_all_docs?startkey=%22a%22&endkey=%22b%22")).body;
    assert_eq!(ids(&r), vec!["a", "b"]);
    assert_eq!(r["offset"], 2);
    let r = get(&format!(
        "/{db}/_all_docs?start_key=%22a%22&end_key=%22c%22&inclusive_end=false"
    ))
    .body;
    assert_eq!(ids(&r), vec!["a", "b"]);
    let r = get(&format!(
        "/{db}/_all_docs?startkey=%22c%22&endkey=%22a%22&descending=true"
    ))
    .body;
    assert_eq!(ids(&r), vec!["c", "b", "a"]);
    let r = get(&format!("/{db}/_all_docs?descending=true&limit=2&skip=1")).body;
    assert_eq!(ids(&r), vec!["c", "b"]);
    let r = get(&format!("/{db}/_all_docs?startkey=%22b%22&endkey=%22a%22")).body;
    assert_eq!(ids(&r), Vec::<String>::new());
    let r = get(&format!("/{db}/_all_docs?key=%22b%22&include_docs=true")).body;
    assert_eq!(r["rows"][0]["doc"]["n"], "b");
    let r = get(&format!("/{db}/_design_docs")).body;
    assert_eq!(ids(&r), vec!["_design/x"]);
    let r = get(&format!("/{db}/_all_docs?update_seq=true")).body;
    assert!(r["update_seq"].as_str().unwrap().starts_with("6-"));
    get(&format!("/{db}/_all_docs?startkey=notjson")).assert_error(400, "bad_request", None);
    get(&format!("/{db}/_all_docs?limit=x")).assert_error(400, "query_parse_error", None);
}

#[test]
fn keys_with_missing_and_deleted() {
    let db = new_db("keys");
    seed(&db, &["a", "b"]);
    let rev = get(&format!("/{db}/b")).body["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    delete(&format!("/{db}/b?rev={rev}"));
    let r = post(
        &format!("/{db}/_all_docs?include_docs=true"),
        &json!({"keys": ["b", "zz", "a"]}),
    );
    assert_eq!(r.status, 200);
    let rows = r.body["rows"].as_array().unwrap();
    assert_eq!(rows[0]["value"]["deleted"], true);
    assert_eq!(rows[0]["doc"], Value::Null);
    assert_eq!(rows[1], json!({"key": "zz", "error": "not_found"}));
    assert_eq!(rows[2]["doc"]["n"], "a");
    let r = get(&format!("/{db}/_all_docs")).body;
    assert_eq!(ids(&r), vec!["a"]);
}

#[test]
fn soledad_generation_scans() {
    let db = new_db("gens");
    let gen_id = |g: u64| format!("gen-{g:010}");
    let docs: Vec<Value> = (1..=12)
        .map(|g| json!({"_id": gen_id(g), "gen": g, "doc_id": format!("d{g}"), "trans_id": format!("T-{g}")}))
        .collect();
    post(&format!("/{db}/_bulk_docs"), &json!({"docs": docs}));
    seed(&db, &["0123abc", "zzz-after"]);
    let q = format!("/{db}/_all_docs?startkey=%22gen-0000000001%22&endkey=%22gen-9999999999%22&include_docs=true");
    let r = get(&q).body;
    assert_eq!(r["rows"].as_array().unwrap().len(), 12);
    assert_eq!(r["rows"][0]["doc"]["gen"], 1);
    let q = format!("/{db}/_all_docs?descending=true&startkey=%22gen-9999999999%22&endkey=%22gen-0000000000%22&limit=1&include_docs=true");
    let r = get(&q).body;
    assert_eq!(r["rows"][0]["doc"]["gen"], 12);
    assert_eq!(r["rows"][0]["doc"]["trans_id"], "T-12");
}

#[test]
fn queries_endpoint() {
    let db = new_db("queries");
    seed(&db, &["a", "b", "c"]);
    let r = post(
        &format!("/{db}/_all_docs/queries"),
        &json!({"queries": [{"keys": ["b"]}, {"limit": 1, "skip": 2}]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["results"][0]["rows"][0]["id"], "b");
    assert_eq!(r.body["results"][1]["rows"][0]["id"], "c");
}

#[test]
fn large_result_streams_valid_json() {
    let db = new_db("large");
    let docs: Vec<Value> = (0..3000)
        .map(|i| json!({"_id": format!("doc{i:05}"), "pad": "p".repeat(100)}))
        .collect();
    post(&format!("/{db}/_bulk_docs"), &json!({"docs": docs}));
    let r = get(&format!("/{db}/_all_docs?include_docs=true"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 3000);
    assert_eq!(r.body["total_rows"], 3000);
}

/// Regression (found by the nano suite): `key=` is a one-key range, not a
/// `keys` lookup: no `not_found` row, and a real offset.
#[test]
fn key_is_a_one_key_range() {
    let db = new_db("onekey");
    seed(&db, &["a", "b", "c"]);
    let r = get(&format!("/{db}/_all_docs?key=%22nope%22")).body;
    assert_eq!(r["rows"], json!([]));
    let r = get(&format!("/{db}/_all_docs?key=%22b%22")).body;
    assert_eq!(ids(&r), vec!["b"]);
    assert_eq!(r["offset"], 1);
}

/// A POST body's options are read first and the query string's laid over
/// them (CouchDB's `parse_body_and_query`): the query string wins.
#[test]
fn post_body_and_query_string_merge() {
    let db = new_db("merge");
    seed(&db, &["a", "b", "c", "d"]);
    let r = post(
        &format!("/{db}/_all_docs?limit=1"),
        &json!({"startkey": "b"}),
    );
    assert_eq!(ids(&r.body), vec!["b"], "{}", r.text);
    let r = post(
        &format!("/{db}/_all_docs?startkey=%22c%22"),
        &json!({"startkey": "a", "limit": 5}),
    );
    assert_eq!(ids(&r.body), vec!["c", "d"]);
    // an alias in the query string replaces the body's spelling
    let r = post(
        &format!("/{db}/_all_docs?start_key=%22c%22&descending=false"),
        &json!({"startkey": "a", "descending": true}),
    );
    assert_eq!(ids(&r.body), vec!["c", "d"]);
    let r = post(
        &format!("/{db}/_all_docs?skip=1"),
        &json!({"keys": ["d", "a", "b"]}),
    );
    assert_eq!(ids(&r.body), vec!["a", "b"]);
    // a body `key` is a one-key range
    let r = post(&format!("/{db}/_all_docs"), &json!({"key": "c"}));
    assert_eq!(ids(&r.body), vec!["c"]);
}

#[test]
fn keys_rules() {
    let db = new_db("keysrules");
    seed(&db, &["a", "b"]);
    let incompatible = Some("`keys` is incompatible with `key`, `start_key` and `end_key`");
    get(&format!(
        "/{db}/_all_docs?keys=%5B%22a%22,%22b%22%5D&startkey=%22a%22"
    ))
    .assert_error(400, "query_parse_error", incompatible);
    post(
        &format!("/{db}/_all_docs"),
        &json!({"keys": ["a", "b"], "key": "a"}),
    )
    .assert_error(400, "query_parse_error", incompatible);
    post(
        &format!("/{db}/_all_docs?end_key=%22b%22"),
        &json!({"keys": ["a", "b"]}),
    )
    .assert_error(400, "query_parse_error", incompatible);
    post(
        &format!("/{db}/_all_docs"),
        &json!({"keys": ["a"], "key": "b"}),
    )
    .assert_error(400, "query_parse_error", incompatible);
    // one key that equals `key`, or no keys at all, are fine
    let r = post(
        &format!("/{db}/_all_docs"),
        &json!({"keys": ["a"], "key": "a"}),
    );
    assert_eq!(ids(&r.body), vec!["a"], "{}", r.text);
    let r = post(
        &format!("/{db}/_all_docs"),
        &json!({"keys": [], "startkey": "a"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    get(&format!("/{db}/_all_docs?keys=%22a%22")).assert_error(
        400,
        "bad_request",
        Some("`keys` parameter must be an array."),
    );
    post(&format!("/{db}/_all_docs"), &json!({"keys": {"a": 1}})).assert_error(
        400,
        "bad_request",
        Some("`keys` body member must be an array."),
    );
    post(
        &format!("/{db}/_all_docs/queries"),
        &json!({"queries": [{"keys": "a"}]}),
    )
    .assert_error(
        400,
        "query_parse_error",
        Some("`keys` must be an array of strings."),
    );
}

/// `limit`/`skip` as CouchDB's `parse_pos_int`.
#[test]
fn limit_and_skip_must_be_positive_integers() {
    let db = new_db("posint");
    seed(&db, &["a"]);
    for (q, reason) in [
        ("limit=-1", "Invalid value for positive integer: \"-1\""),
        ("skip=-2", "Invalid value for positive integer: \"-2\""),
        ("limit=abc", "Invalid value for integer: \"abc\""),
        ("skip=1.5", "Invalid value for integer: \"1.5\""),
    ] {
        get(&format!("/{db}/_all_docs?{q}")).assert_error(400, "query_parse_error", Some(reason));
        get(&format!("/{db}/_design_docs?{q}")).assert_error(
            400,
            "query_parse_error",
            Some(reason),
        );
    }
    post(&format!("/{db}/_all_docs"), &json!({"limit": -1})).assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for positive integer: -1"),
    );
    post(&format!("/{db}/_all_docs"), &json!({"skip": "5"})).assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for integer: <<\"5\">>"),
    );
    assert_eq!(
        ids(&get(&format!("/{db}/_all_docs?limit=%2B1&skip=-0")).body),
        vec!["a"]
    );
}
