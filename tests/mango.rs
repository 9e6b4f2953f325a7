//! Mango: `_index`, `_find`, `_explain` over HTTP, from CouchDB's
//! documented examples, plus a differential test of the index planner
//! against full scans.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{delete, get, new_db, post, req};

fn bulk(db: &str, docs: Vec<Value>) {
    let r = post(&format!("/{db}/_bulk_docs"), &json!({ "docs": docs }));
    assert_eq!(r.status, 201, "{}", r.text);
}

fn ids(r: &crate::common::Reply) -> Vec<String> {
    r.body["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_string())
        .collect()
}

fn find(db: &str, q: Value) -> crate::common::Reply {
    post(&format!("/{db}/_find"), &q)
}

/// The movies of CouchDB's `_find` documentation.
fn movies(db: &str) {
    bulk(
        db,
        vec![
            json!({"_id": "m1", "title": "Live And Let Die", "year": 1973, "director": "Guy Hamilton"}),
            json!({"_id": "m2", "title": "Skyfall", "year": 2012, "director": "Sam Mendes"}),
            json!({"_id": "m3", "title": "Spectre", "year": 2015, "director": "Sam Mendes"}),
            json!({"_id": "m4", "title": "Dr. No", "year": 1962, "director": "Terence Young"}),
            json!({"_id": "m5", "title": "Casino Royale", "year": 2006, "director": "Martin Campbell"}),
        ],
    );
}

#[test]
fn create_list_and_delete_indexes() {
    let db = new_db("mango-idx");
    let r = post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["foo"]}, "name": "foo-index", "type": "json"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"], "created");
    let ddoc = r.body["id"].as_str().unwrap().to_string();
    assert!(
        ddoc.starts_with("_design/") && ddoc.len() == 8 + 40,
        "{ddoc}"
    );
    assert_eq!(r.body["name"], "foo-index");
    let again = post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["foo"]}, "name": "foo-index", "type": "json"}),
    );
    assert_eq!(again.body["result"], "exists");
    assert_eq!(again.body["id"], ddoc);

    // Stored as CouchDB stores it, in a design document.
    let d = get(&format!("/{db}/{ddoc}"));
    assert_eq!(d.body["language"], "query");
    assert_eq!(
        d.body["views"]["foo-index"],
        json!({"map": {"fields": {"foo": "asc"}, "partial_filter_selector": {}}, "reduce": "_count",
               "options": {"def": {"fields": ["foo"]}}})
    );

    let list = get(&format!("/{db}/_index"));
    assert_eq!(list.body["total_rows"], 2);
    assert_eq!(
        list.body["indexes"][0],
        json!({"ddoc": null, "name": "_all_docs", "type": "special", "def": {"fields": [{"_id": "asc"}]}})
    );
    assert_eq!(
        list.body["indexes"][1],
        json!({"ddoc": ddoc, "name": "foo-index", "type": "json", "partitioned": false,
               "def": {"fields": [{"foo": "asc"}]}})
    );
    let page = get(&format!("/{db}/_index?skip=1&limit=1"));
    assert_eq!(page.body["indexes"].as_array().unwrap().len(), 1);
    get(&format!("/{db}/_index?limit=0")).assert_error(500, "invalid_list_index_params", None);

    let name = &ddoc["_design/".len()..];
    delete(&format!("/{db}/_index/{name}/json/nope")).assert_error(
        404,
        "not_found",
        Some("missing"),
    );
    let r = delete(&format!("/{db}/_index/_design/{name}/json/foo-index"));
    assert_eq!(r.body, json!({"ok": true}), "{}", r.text);
    assert_eq!(get(&format!("/{db}/{ddoc}")).status, 404);
    assert_eq!(get(&format!("/{db}/_index")).body["total_rows"], 1);

    // _bulk_delete
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["a"]}, "ddoc": "one"}),
    );
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["b"]}, "ddoc": "two"}),
    );
    let r = post(
        &format!("/{db}/_index/_bulk_delete"),
        &json!({"docids": ["one", "_design/two", "three"]}),
    );
    assert_eq!(
        r.body,
        json!({"success": [{"id": "_design/two", "ok": true}, {"id": "_design/one", "ok": true}],
               "fail": [{"id": "_design/three", "error": "not_found"}]})
    );
}

#[test]
fn index_errors() {
    let db = new_db("mango-idx-err");
    let e = |body: Value| post(&format!("/{db}/_index"), &body);
    e(json!({})).assert_error(
        400,
        "missing_required_key",
        Some("Missing required key: index"),
    );
    e(json!({"index": {"fields": ["a"]}, "name": ""})).assert_error(
        400,
        "invalid_empty_string",
        None,
    );
    e(json!({"index": {"fields": ["a"]}, "type": "geo"})).assert_error(
        400,
        "invalid_index",
        Some("Invalid type for index: geo"),
    );
    e(json!({"index": {"fields": [{"a": "up"}]}})).assert_error(400, "invalid_sort_field", None);
    e(json!({"index": {"fields": ["a"]}, "bogus": 1})).assert_error(
        400,
        "invalid_key",
        Some("Invalid key bogus for this request."),
    );
    let r = req(
        Method::PUT,
        &format!("/{db}/_design/js"),
        Some(&json!({"views": {}})),
    );
    assert_eq!(r.status, 201);
    e(json!({"index": {"fields": ["a"]}, "ddoc": "js"})).assert_error(
        400,
        "invalid_ddoc_lang",
        None,
    );
    let r = req(Method::GET, &format!("/{db}/_find"), None);
    r.assert_error(405, "method_not_allowed", None);
}

#[test]
fn documented_find_examples() {
    let db = new_db("mango-movies");
    movies(&db);
    // Without an index: _all_docs, with the warning.
    let r = find(
        &db,
        json!({"selector": {"year": {"$gt": 2010}}, "fields": ["_id", "title", "year"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["docs"],
        json!([{"_id": "m2", "title": "Skyfall", "year": 2012}, {"_id": "m3", "title": "Spectre", "year": 2015}])
    );
    assert_eq!(
        r.body["warning"],
        "No matching index found, create an index to optimize query time."
    );
    assert!(r.body["bookmark"].is_string());
    // The response layout is CouchDB's.
    assert!(r.text.starts_with("{\"docs\":[\r\n{"), "{}", r.text);
    assert!(r.text.ends_with("}\r\n"));

    // A sort needs an index.
    let r = find(
        &db,
        json!({"selector": {"year": {"$gt": 2010}}, "sort": [{"year": "asc"}]}),
    );
    r.assert_error(
        400,
        "no_usable_index",
        Some("No index exists for this sort, try indexing by the sort fields."),
    );
    // `_explain` answers it: no index, and why `_all_docs` cannot serve.
    let x = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {"year": {"$gt": 2010}}, "sort": ["year"]}),
    );
    assert_eq!(x.status, 200, "{}", x.text);
    assert_eq!(x.body["index"], Value::Null);
    assert_eq!(
        x.body["index_candidates"],
        json!([{
            "index": {"ddoc": null, "name": "_all_docs", "type": "special", "def": {"fields": [{"_id": "asc"}]}},
            "analysis": {"usable": false, "reasons": [{"name": "field_mismatch"}], "ranking": 1, "covering": null}
        }]),
        "{}",
        x.text
    );

    let r = post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["year"]}}),
    );
    assert_eq!(r.body["result"], "created");
    let r = find(
        &db,
        json!({"selector": {"year": {"$gt": 1960}}, "fields": ["_id", "year"], "sort": [{"year": "desc"}], "limit": 2, "execution_stats": true}),
    );
    assert_eq!(
        r.body["docs"],
        json!([{"_id": "m3", "year": 2015}, {"_id": "m2", "year": 2012}]),
        "{}",
        r.text
    );
    assert!(r.body.get("warning").is_none(), "{}", r.text);
    assert_eq!(r.body["execution_stats"]["results_returned"], 2);
    assert_eq!(
        r.body["execution_stats"]["total_docs_examined"], 0,
        "covering index: {}",
        r.text
    );
    // Paging with the bookmark.
    let next = find(
        &db,
        json!({"selector": {"year": {"$gt": 1960}}, "fields": ["_id"], "sort": [{"year": "desc"}], "limit": 2, "bookmark": r.body["bookmark"]}),
    );
    assert_eq!(ids(&next), ["m5", "m1"]);
    let last = find(
        &db,
        json!({"selector": {"year": {"$gt": 1960}}, "fields": ["_id"], "sort": [{"year": "desc"}], "limit": 2, "bookmark": next.body["bookmark"]}),
    );
    assert_eq!(ids(&last), ["m4"]);

    // _explain
    let x = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {"year": {"$gt": 2010}}, "fields": ["_id", "_rev", "year", "title"], "sort": [{"year": "asc"}], "limit": 2, "skip": 0}),
    );
    assert_eq!(x.status, 200, "{}", x.text);
    assert_eq!(x.body["dbname"], db.as_str());
    assert_eq!(x.body["index"]["def"], json!({"fields": [{"year": "asc"}]}));
    assert_eq!(x.body["selector"], json!({"year": {"$gt": 2010}}));
    assert_eq!(x.body["opts"]["bookmark"], "nil");
    assert_eq!(x.body["opts"]["sort"], json!({"year": "asc"}));
    assert_eq!(x.body["mrargs"]["start_key"], json!([2010]));
    assert_eq!(x.body["mrargs"]["end_key"], json!(["<MAX>"]));
    assert_eq!(x.body["mrargs"]["direction"], "fwd");
    assert_eq!(x.body["mrargs"]["conflicts"], "undefined");
    assert_eq!(x.body["covering"], false);
    let cand = &x.body["index_candidates"][0];
    assert_eq!(cand["index"]["name"], "_all_docs");
    assert_eq!(cand["analysis"]["usable"], false);
    assert_eq!(
        cand["analysis"]["reasons"],
        json!([{"name": "field_mismatch"}])
    );
    assert_eq!(
        x.body["selector_hints"],
        json!([{"type": "json", "indexable_fields": ["year"], "unindexable_fields": []}])
    );
}

#[test]
fn selector_errors() {
    let db = new_db("mango-errs");
    let f = |q: Value| find(&db, q);
    f(json!({})).assert_error(
        400,
        "missing_required_key",
        Some("Missing required key: selector"),
    );
    f(json!({"selector": {"a": {"$foo": 1}}})).assert_error(
        400,
        "invalid_operator",
        Some("Invalid operator: $foo"),
    );
    f(json!({"selector": {"a": {"$in": 1}}})).assert_error(
        400,
        "bad_arg",
        Some("Bad argument for operator $in: 1"),
    );
    f(json!({"selector": {"$gt": 1}})).assert_error(400, "invalid_selector", None);
    f(json!({"selector": {}, "limit": -1})).assert_error(400, "invalid_non_neg_integer", None);
    f(json!({"selector": {}, "sort": [{"a": "asc"}, {"b": "desc"}]})).assert_error(
        400,
        "unsupported_mixed_sort",
        None,
    );
    f(json!({"selector": {}, "bookmark": "%%%"})).assert_error(400, "invalid_bookmark", None);
    f(json!({"selector": {}, "use_index": "nope", "allow_fallback": false})).assert_error(
        400,
        "invalid_index",
        Some("_design/nope specified by `use_index` could not be found or it is not suitable."),
    );
    f(json!({"selector": {}, "allow_fallback": false})).assert_error(
        400,
        "invalid_index",
        Some("You must specify an index with the `use_index` parameter."),
    );
}

#[test]
fn operators_and_paths() {
    let db = new_db("mango-ops");
    bulk(
        &db,
        vec![
            json!({"_id": "a", "n": 1, "s": "apple", "tags": ["x", "y"], "o": {"k": 1}, "d.e": 5}),
            json!({"_id": "b", "n": 2, "s": "Banana", "tags": ["y"], "o": {"k": 2}}),
            json!({"_id": "c", "n": 3.5, "s": "cherry", "tags": [], "o": {"k": [1, 2]}}),
            json!({"_id": "d", "s": null}),
        ],
    );
    let q = |sel: Value| ids(&find(&db, json!({ "selector": sel })));
    assert_eq!(q(json!({"n": {"$gte": 2}})), ["b", "c"]);
    assert_eq!(q(json!({"n": {"$ne": 1}})), ["b", "c"]);
    assert_eq!(q(json!({"n": {"$exists": false}})), ["d"]);
    assert_eq!(q(json!({"s": {"$type": "null"}})), ["d"]);
    assert_eq!(q(json!({"s": {"$regex": "^[a-z]"}})), ["a", "c"]);
    assert_eq!(q(json!({"s": {"$beginsWith": "B"}})), ["b"]);
    assert_eq!(q(json!({"tags": {"$size": 0}})), ["c"]);
    assert_eq!(q(json!({"tags": {"$all": ["x", "y"]}})), ["a"]);
    assert_eq!(q(json!({"tags": {"$elemMatch": {"$eq": "y"}}})), ["a", "b"]);
    assert_eq!(q(json!({"tags": {"$allMatch": {"$eq": "y"}}})), ["b"]);
    assert_eq!(q(json!({"tags": {"$in": ["x"]}})), ["a"]);
    assert_eq!(q(json!({"tags": {"$nin": ["x"]}})), ["b", "c"]);
    assert_eq!(q(json!({"n": {"$mod": [2, 1]}})), ["a"]);
    assert_eq!(q(json!({"o.k": 2})), ["b"]);
    assert_eq!(q(json!({"o": {"k": {"$gt": 1}}})), ["b", "c"]);
    assert_eq!(q(json!({"o.k.1": 2})), ["c"]);
    assert_eq!(q(json!({"d\\.e": 5})), ["a"]);
    assert_eq!(
        q(json!({"o": {"$keyMapMatch": {"$eq": "k"}}})),
        ["a", "b", "c"]
    );
    assert_eq!(q(json!({"$or": [{"n": 1}, {"s": "cherry"}]})), ["a", "c"]);
    assert_eq!(q(json!({"$nor": [{"n": 1}, {"s": "cherry"}]})), ["b"]);
    assert_eq!(q(json!({"$not": {"n": 1}})), ["b", "c"]);
    assert_eq!(
        q(json!({"$and": [{"n": {"$gt": 0}}, {"n": {"$lt": 3}}]})),
        ["a", "b"]
    );
    // Collation: ICU, so "Banana" sorts between "apple" and "cherry".
    assert_eq!(q(json!({"s": {"$gt": "apple", "$lt": "cherry"}})), ["b"]);
    let r = find(
        &db,
        json!({"selector": {}, "skip": 1, "limit": 2, "fields": ["_id"]}),
    );
    assert_eq!(ids(&r), ["b", "c"]);
}

/// An index created over an existing database (many writer chunks, deleted
/// docs, docs without the fields, a design doc) answers exactly what a full
/// scan would, and updates after the build move its entries.
#[test]
fn index_built_over_existing_documents() {
    let db = new_db("mango-build");
    for batch in 0..3 {
        let docs = (batch * 1000..(batch + 1) * 1000)
            .map(|n| match n % 7 {
                0 => json!({"_id": format!("d{n:05}"), "type": format!("t{}", n % 5)}),
                _ => json!({"_id": format!("d{n:05}"), "type": format!("t{}", n % 5), "n": n}),
            })
            .collect();
        bulk(&db, docs);
    }
    for n in (3..3000).step_by(30) {
        let id = format!("d{n:05}");
        let rev = get(&format!("/{db}/{id}")).body["_rev"].clone();
        let r = req(
            Method::DELETE,
            &format!("/{db}/{id}?rev={}", rev.as_str().unwrap()),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["type", "n"]}, "name": "type-n", "ddoc": "tn"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let query = json!({
        "selector": {"type": "t3", "n": {"$gt": 1000}},
        "use_index": ["_design/tn", "type-n"],
        "limit": 5000,
        "execution_stats": true,
    });
    let r = find(&db, query.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let expected: Vec<u64> = (1001..3000)
        .filter(|n| n % 5 == 3 && n % 7 != 0 && n % 30 != 3)
        .collect();
    let found: Vec<u64> = r.body["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["n"].as_u64().unwrap())
        .collect();
    assert_eq!(found, expected, "index order is (type, n)");
    assert_eq!(
        r.body["execution_stats"]["total_docs_examined"].as_u64(),
        Some(expected.len() as u64),
        "{}",
        r.body["execution_stats"]
    );

    // Moving a document out of the range, and back into it elsewhere:
    // every key in the range is a result, so no entry was left behind.
    let ns = |r: &crate::common::Reply| -> Vec<u64> {
        assert_eq!(r.status, 200, "{}", r.text);
        let docs = r.body["docs"].as_array().unwrap();
        assert_eq!(
            r.body["execution_stats"]["total_keys_examined"].as_u64(),
            Some(docs.len() as u64),
            "stale index entries: {}",
            r.body["execution_stats"]
        );
        docs.iter().map(|d| d["n"].as_u64().unwrap()).collect()
    };
    let put_doc = |id: &str, body: Value| {
        let url = format!("/{db}/{id}");
        let mut body = body;
        if let Some(rev) = get(&url).body.get("_rev") {
            body["_rev"] = rev.clone();
        }
        let r = req(Method::PUT, &url, Some(&body));
        assert_eq!(r.status, 201, "{}", r.text);
    };
    let delete_doc = |id: &str| {
        let url = format!("/{db}/{id}");
        let rev = get(&url).body["_rev"].clone();
        let r = req(
            Method::DELETE,
            &format!("{url}?rev={}", rev.as_str().unwrap()),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
    };
    put_doc("d01003", json!({"type": "t3", "n": 5}));
    put_doc("d01018", json!({"type": "t3", "n": 4000}));
    let mut expected: Vec<u64> = expected
        .into_iter()
        .filter(|&n| n != 1003 && n != 1018)
        .collect();
    expected.push(4000);
    assert_eq!(ns(&find(&db, query.clone())), expected);

    // A document the build indexed, deleted, re-created with its old
    // values, deleted and re-created elsewhere: one entry at a time.
    let narrow = json!({
        "selector": {"type": "t3", "n": {"$gte": 1013, "$lt": 1014}},
        "use_index": ["_design/tn", "type-n"],
        "execution_stats": true,
    });
    assert_eq!(ns(&find(&db, narrow.clone())), [1013]);
    for n in [1013, 4001] {
        delete_doc("d01013");
        assert_eq!(ns(&find(&db, narrow.clone())), Vec::<u64>::new());
        put_doc("d01013", json!({"type": "t3", "n": n}));
        let want: &[u64] = if n == 1013 { &[1013] } else { &[] };
        assert_eq!(ns(&find(&db, narrow.clone())), want);
    }
    let mut expected: Vec<u64> = expected.into_iter().filter(|&n| n != 1013).collect();
    expected.push(4001);
    assert_eq!(ns(&find(&db, query)), expected);
}

/// A build is listed in `_active_tasks` while it runs, in the shape of
/// CouchDB's `indexer` task, and is gone once the index is ready.
#[test]
fn index_builds_are_active_tasks() {
    let db = new_db("mango-tasks");
    for batch in 0..10 {
        bulk(
            &db,
            (batch * 1000..(batch + 1) * 1000)
                .map(|n| json!({"_id": format!("d{n:05}"), "n": n}))
                .collect(),
        );
    }
    let r = post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["n"]}, "name": "by-n", "ddoc": "tasks"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let ours = || -> Vec<Value> {
        let r = get("/_active_tasks");
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["database"] == db.as_str())
            .cloned()
            .collect()
    };
    // The build started in the background when the index was created.
    let started = std::time::Instant::now();
    let task = loop {
        if let Some(task) = ours().pop() {
            break task;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no indexer task seen"
        );
    };
    let keys: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "node",
            "pid",
            "process_status",
            "changes_done",
            "database",
            "design_document",
            "indexer_pid",
            "progress",
            "started_on",
            "total_changes",
            "type",
            "updated_on"
        ],
        "{task}"
    );
    assert_eq!(task["type"], "indexer");
    assert_eq!(task["design_document"], "_design/tasks");
    assert!(task["total_changes"].as_u64().unwrap() >= 10_000, "{task}");
    assert!(task["progress"].as_u64().unwrap() <= 100, "{task}");
    assert!(task["started_on"].as_u64().unwrap() <= task["updated_on"].as_u64().unwrap());
    // `_find` waits for the build; then the task is gone.
    let r = find(
        &db,
        json!({"selector": {"n": {"$gte": 9990}}, "use_index": ["_design/tasks", "by-n"]}),
    );
    assert_eq!(ids(&r).len(), 10, "{}", r.text);
    assert_eq!(ours(), Vec::<Value>::new());
}

#[test]
fn writes_are_visible_to_the_next_find() {
    let db = new_db("mango-fresh");
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["k", "v"]}, "name": "kv"}),
    );
    for i in 0..30 {
        bulk(
            &db,
            vec![json!({"_id": format!("d{i:02}"), "k": i % 3, "v": i})],
        );
        let r = find(
            &db,
            json!({"selector": {"k": i % 3, "v": {"$gte": 0}}, "use_index": ["_design/kv", "kv"], "limit": 100}),
        );
        assert!(ids(&r).contains(&format!("d{i:02}")), "{i}: {}", r.text);
    }
    // Updates move entries; deletions remove them.
    let doc = get(&format!("/{db}/d00")).body;
    let r = req(
        Method::DELETE,
        &format!("/{db}/d00?rev={}", doc["_rev"].as_str().unwrap()),
        None,
    );
    assert_eq!(r.status, 200);
    let r = find(
        &db,
        json!({"selector": {"k": 0, "v": {"$gte": 0}}, "limit": 100}),
    );
    assert!(!ids(&r).contains(&"d00".to_string()));
}

#[test]
fn settee_uses_indexes_couchdb_refuses() {
    let db = new_db("mango-beyond");
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["os", "browser", "ip"]}, "name": "obi"}),
    );
    bulk(
        &db,
        vec![
            json!({"_id": "1", "os": "windows", "browser": "firefox", "ip": "1"}),
            json!({"_id": "2", "os": "windows", "browser": "chrome"}),
            json!({"_id": "3", "os": "linux", "browser": "chrome", "ip": "3"}),
            json!({"_id": "4", "os": "windows", "ip": "4"}),
            json!({"_id": "5", "os": "windows", "browser": "edge", "ip": "5"}),
        ],
    );
    // Sort on a field after an equality-bound one: CouchDB finds no usable
    // index (the selector does not require `ip`), and so does Settee.
    let r = find(
        &db,
        json!({"selector": {"os": "windows"}, "sort": ["browser"], "fields": ["_id"]}),
    );
    r.assert_error(400, "no_usable_index", None);
    let x = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {"os": "windows"}, "sort": ["browser"]}),
    );
    assert_eq!(x.body["index"], Value::Null, "{}", x.text);
    // A prefix of the index: same answer and order as _all_docs, no scan.
    // What CouchDB reports (its _all_docs plan, its warning) stays the
    // same; only settee_plan and the stats show the index.
    let r = find(
        &db,
        json!({"selector": {"os": "windows"}, "fields": ["_id"], "execution_stats": true}),
    );
    assert_eq!(ids(&r), ["1", "2", "4", "5"]);
    assert_eq!(r.body["execution_stats"]["total_docs_examined"], 4);
    assert_eq!(
        r.body["warning"],
        "No matching index found, create an index to optimize query time."
    );
    let x = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {"os": "windows"}}),
    );
    assert_eq!(x.body["index"]["name"], "_all_docs", "{}", x.text);
    assert_eq!(x.body["mrargs"]["start_key"], Value::Null, "{}", x.text);
    assert_eq!(x.body["settee_plan"]["strategy"], "reorder_by_id");
    assert_eq!(x.body["settee_plan"]["index"]["name"], "obi");
    // Paging keeps _all_docs order.
    let p1 = find(
        &db,
        json!({"selector": {"os": "windows"}, "fields": ["_id"], "limit": 3}),
    );
    assert_eq!(ids(&p1), ["1", "2", "4"]);
    let p2 = find(
        &db,
        json!({"selector": {"os": "windows"}, "fields": ["_id"], "limit": 3, "bookmark": p1.body["bookmark"]}),
    );
    assert_eq!(ids(&p2), ["5"]);

    // $exists: false served by a partial index that implies it.
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["os"], "partial_filter_selector": {"ip": {"$exists": false}}}, "name": "noip"}),
    );
    let r = find(
        &db,
        json!({"selector": {"os": "windows", "ip": {"$exists": false}}, "fields": ["_id"]}),
    );
    assert_eq!(ids(&r), ["2"]);
    let x = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {"os": "windows", "ip": {"$exists": false}}}),
    );
    assert_eq!(x.body["index"]["name"], "_all_docs", "{}", x.text);
    assert_eq!(x.body["settee_plan"]["index"]["name"], "noip", "{}", x.text);
    let candidate = x.body["index_candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["index"]["name"] == "noip")
        .cloned();
    assert_eq!(
        candidate.map(|c| c["analysis"]["reasons"].clone()),
        Some(json!([{"name": "is_partial"}])),
        "{}",
        x.text
    );
}

/// A replicated (or CouchDB-written) design document defines a working index.
#[test]
fn design_documents_written_elsewhere_define_indexes() {
    let db = new_db("mango-ddoc");
    movies(&db);
    let ddoc = json!({"language": "query", "views": {"by-director": {
        "map": {"fields": {"director": "asc", "year": "asc"}, "partial_filter_selector": {}},
        "reduce": "_count", "options": {"def": {"fields": ["director", "year"]}}}}});
    let r = req(
        Method::PUT,
        &format!("/{db}/_design/replicated"),
        Some(&ddoc),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = find(
        &db,
        json!({"selector": {"director": "Sam Mendes", "year": {"$gt": 2000}}, "fields": ["_id"]}),
    );
    assert_eq!(ids(&r), ["m2", "m3"]);
    let x = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {"director": "Sam Mendes", "year": {"$gt": 2000}}}),
    );
    assert_eq!(x.body["index"]["ddoc"], "_design/replicated");
    assert_eq!(x.body["mrargs"]["start_key"], json!(["Sam Mendes", 2000]));
}

/// Deterministic pseudo-random numbers for the differential test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    fn value(&mut self) -> Value {
        match self.next(7) {
            0 => json!(null),
            1 => json!(self.next(2) == 0),
            2 | 3 => json!(self.next(6) as i64 - 2),
            4 => Value::from(["a", "B", "b", "ab", "A"][self.next(5) as usize]),
            5 => json!((self.next(8) as f64) / 2.0),
            _ => json!([self.next(3)]),
        }
    }

    fn cond(&mut self) -> Value {
        let v = self.value();
        match self.next(10) {
            0 => json!({"$eq": v}),
            1 => json!({"$gt": v}),
            2 => json!({"$gte": v}),
            3 => json!({"$lt": v}),
            4 => json!({"$lte": v}),
            5 => json!({"$exists": self.next(2) == 0}),
            6 => json!({"$ne": v}),
            7 => json!({"$in": [v, self.value()]}),
            8 => {
                let prefix = ["a", "b", "A"][self.next(3) as usize];
                json!({ "$beginsWith": prefix })
            }
            _ => v,
        }
    }

    fn selector(&mut self) -> Value {
        let fields = ["a", "b", "c", "_id"];
        let mut m = serde_json::Map::new();
        for _ in 0..1 + self.next(3) {
            let f = fields[self.next(4) as usize];
            let cond = if f == "_id" {
                json!({"$gt": format!("d{}", self.next(60))})
            } else {
                self.cond()
            };
            m.insert(f.to_string(), cond);
        }
        if self.next(5) == 0 {
            let alt = self.selector();
            return json!({"$or": [Value::Object(m), alt]});
        }
        Value::Object(m)
    }
}

/// The same random selectors through the index planner (a database with
/// indexes) and through a full scan (the same documents, no index) must
/// give the same documents; without a sort, in the same order.
#[test]
fn differential_index_planner_vs_full_scan() {
    let indexed = new_db("mango-diff-ix");
    let plain = new_db("mango-diff-scan");
    for (body, name) in [
        (json!({"fields": ["a"]}), "a"),
        (json!({"fields": ["a", "b"]}), "ab"),
        (json!({"fields": ["b", "c"]}), "bc"),
        (
            json!({"fields": ["c"], "partial_filter_selector": {"a": {"$exists": false}}}),
            "c-no-a",
        ),
    ] {
        let r = post(
            &format!("/{indexed}/_index"),
            &json!({"index": body, "name": name, "ddoc": name}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let mut rng = Lcg(42);
    let mut docs = Vec::new();
    for i in 0..120 {
        let mut d = serde_json::Map::new();
        d.insert("_id".into(), json!(format!("d{i:03}")));
        for f in ["a", "b", "c"] {
            if rng.next(4) != 0 {
                d.insert(f.into(), rng.value());
            }
        }
        docs.push(Value::Object(d));
    }
    bulk(&indexed, docs.clone());
    bulk(&plain, docs);
    let mut used_index = 0;
    for n in 0..150 {
        let sel = rng.selector();
        let q = json!({"selector": sel, "limit": 1000, "fields": ["_id"]});
        let a = find(&indexed, q.clone());
        let b = find(&plain, q.clone());
        assert_eq!(a.status, 200, "{n}: {q} {}", a.text);
        let (mut ia, ib) = (ids(&a), ids(&b));
        let x = post(&format!("/{indexed}/_explain"), &q);
        let strategy = x.body["settee_plan"]["strategy"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if x.body["index"]["type"] == "json" {
            used_index += 1;
        }
        if strategy == "couchdb" && x.body["index"]["type"] == "json" {
            // CouchDB returns index order here; compare as sets.
            ia.sort();
        }
        assert_eq!(ia, ib, "{n}: {q} via {}", x.body["index"]["name"]);
        // Paging through with bookmarks gives the same documents.
        let mut paged = Vec::new();
        let mut bookmark = Value::Null;
        for _ in 0..200 {
            let mut pq = json!({"selector": q["selector"], "limit": 17, "fields": ["_id"]});
            if !bookmark.is_null() {
                pq["bookmark"] = bookmark.clone();
            }
            let r = find(&indexed, pq);
            let page = ids(&r);
            if page.is_empty() {
                break;
            }
            paged.extend(page);
            bookmark = r.body["bookmark"].clone();
        }
        paged.sort();
        let mut sorted_b = ib.clone();
        sorted_b.sort();
        assert_eq!(paged, sorted_b, "{n}: paging {q}");
    }
    assert!(
        used_index > 25,
        "the planner used an index only {used_index} times"
    );
}

/// `execution_stats` as a single-shard CouchDB counts: design documents in
/// an `_all_docs` scan, one row past the limit, quorum reads with `r` > 1.
#[test]
fn execution_stats_count_as_couchdb() {
    let db = new_db("mango-stats");
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["age"]}, "name": "age"}),
    );
    bulk(
        &db,
        (0..6)
            .map(|i| json!({"_id": format!("u{i}"), "age": 20 + i}))
            .collect(),
    );
    let stats = |q: Value| find(&db, q).body["execution_stats"].clone();
    // _all_docs: 6 documents and the index's design document
    let s = stats(json!({"selector": {"foo": "bar"}, "execution_stats": true}));
    assert_eq!(s["total_keys_examined"], 7);
    assert_eq!(s["total_docs_examined"], 7);
    assert_eq!(s["results_returned"], 0);
    // a limit of 3 over 6 matches: the cursor reads a fourth row
    let s = stats(json!({"selector": {"age": {"$lte": 40}}, "limit": 3, "execution_stats": true}));
    assert_eq!(s["total_keys_examined"], 4);
    assert_eq!(s["total_docs_examined"], 4);
    assert_eq!(s["results_returned"], 3);
    let r = find(&db, json!({"selector": {"age": {"$lte": 40}}, "limit": 3}));
    assert_eq!(ids(&r), ["u0", "u1", "u2"]);
    // r > 1: quorum reads (the range's boundary row, age 23, is read and
    // refused, as in CouchDB)
    let s = stats(json!({"selector": {"age": {"$lt": 23}}, "r": 3, "execution_stats": true}));
    assert_eq!(s["total_keys_examined"], 4);
    assert_eq!(s["total_docs_examined"], 0);
    assert_eq!(s["total_quorum_docs_examined"], 4);
    assert_eq!(s["results_returned"], 3);
}

/// Bookmarks Settee did not write are refused, as CouchDB refuses those it
/// cannot decode; `_index` sub-paths that name nothing are 404 for every
/// method; `;` separates query parameters, as in mochiweb.
#[test]
fn mango_request_edges() {
    let db = new_db("mango-edges");
    bulk(&db, vec![json!({"_id": "a"}), json!({"_id": "b"})]);
    for bookmark in ["bad-bookmark", "ZG9j"] {
        find(
            &db,
            json!({"selector": {"_id": {"$gt": null}}, "bookmark": bookmark}),
        )
        .assert_error(
            400,
            "invalid_bookmark",
            Some(&format!("Invalid bookmark value: \"{bookmark}\"")),
        );
    }
    let page = find(&db, json!({"selector": {"_id": {"$gt": null}}, "limit": 1}));
    let next = find(
        &db,
        json!({"selector": {"_id": {"$gt": null}}, "bookmark": page.body["bookmark"]}),
    );
    assert_eq!(ids(&next), ["b"]);
    for sub in ["a", "a/b", "a/b/c/d", "a/b/c/d/e/f"] {
        for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            let r = req(method.clone(), &format!("/{db}/_index/{sub}"), None);
            assert_eq!(r.status, 404, "{method} _index/{sub}: {}", r.text);
        }
    }
    let r = req(Method::PUT, &format!("/{db}/_index"), None);
    r.assert_error(405, "method_not_allowed", None);
    for i in 0..3 {
        post(
            &format!("/{db}/_index"),
            &json!({"index": {"fields": [format!("f{i}")]}}),
        );
    }
    let r = get(&format!("/{db}/_index?limit=2;skip=1"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total_rows"], 4);
    assert_eq!(r.body["indexes"].as_array().unwrap().len(), 2);
}

/// Indexes see `_conflicts`, as CouchDB's index updater opens documents
/// with their conflicts: an index on it finds conflicted documents.
#[test]
fn index_on_conflicts() {
    let db = new_db("mango-conflicts");
    bulk(
        &db,
        vec![json!({"_id": "doc", "a": 2}), json!({"_id": "calm"})],
    );
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "doc", "_rev": "1-23202479633c2b380f79507a776743d5", "a": 1}
        ]}),
    );
    assert_eq!(r.status, 201);
    post(
        &format!("/{db}/_index"),
        &json!({"index": {"fields": ["_conflicts"]}}),
    );
    let r = find(
        &db,
        json!({"selector": {"_conflicts": {"$exists": true}}, "conflicts": true}),
    );
    assert_eq!(ids(&r), ["doc"]);
    assert_eq!(
        r.body["docs"][0]["_rev"],
        "1-3975759ccff3842adf690a5c10caee42"
    );
    assert_eq!(
        r.body["docs"][0]["_conflicts"],
        json!(["1-23202479633c2b380f79507a776743d5"])
    );
    // without `conflicts`, the documents read lack the member: no match
    let r = find(&db, json!({"selector": {"_conflicts": {"$exists": true}}}));
    assert!(ids(&r).is_empty());
}
