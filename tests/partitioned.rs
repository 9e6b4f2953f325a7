//! Partitioned databases as CouchDB 3.4.3 answers them: creation options,
//! `partition:docid` rules on every write, `GET /{db}/_partition/{p}`,
//! partition `_all_docs`, and Mango with partitioned and global indexes.
//! The expected answers were taken from a real CouchDB 3.4.3 (databases
//! created with `q=1`, so totals and offsets are a single shard's).

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{db_name, delete, get, new_db, post, put, raw, req, Reply};

/// A new partitioned database.
fn new_pdb(tag: &str) -> String {
    let name = db_name(tag);
    let r = put(&format!("/{name}?partitioned=true"), &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    name
}

fn bulk(db: &str, docs: Value) -> Reply {
    let r = post(&format!("/{db}/_bulk_docs"), &json!({ "docs": docs }));
    assert_eq!(r.status, 201, "{}", r.text);
    r
}

fn ids(rows: &Value, member: &str) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[member].as_str().unwrap_or("").to_string())
        .collect()
}

fn row_ids(r: &Reply) -> Vec<String> {
    ids(&r.body["rows"], "id")
}

fn doc_ids(r: &Reply) -> Vec<String> {
    ids(&r.body["docs"], "_id")
}

#[test]
fn create_options_and_info() {
    let name = new_pdb("create");
    let info = get(&format!("/{name}")).body;
    assert_eq!(info["props"], json!({"partitioned": true}));
    let plain = new_db("create-plain");
    assert_eq!(get(&format!("/{plain}")).body["props"], json!({}));
    let other = db_name("create-false");
    assert_eq!(
        put(&format!("/{other}?partitioned=false&q=8&n=3"), &json!({})).status,
        201
    );
    assert_eq!(get(&format!("/{other}")).body["props"], json!({}));

    let fresh = db_name("create-bad");
    put(&format!("/{fresh}?partitioned=tru"), &json!({})).assert_error(
        400,
        "bad_request",
        Some("Invalid `partitioned` parameter"),
    );
    put(&format!("/{fresh}?q=0&partitioned=true"), &json!({})).assert_error(
        400,
        "bad_request",
        Some("The `q` value should be a positive integer."),
    );
    put(&format!("/{fresh}?n=x&q=x"), &json!({})).assert_error(
        400,
        "bad_request",
        Some("The `n` value should be a positive integer."),
    );
    put(&format!("/{fresh}?engine=x"), &json!({})).assert_error(
        400,
        "bad_request",
        Some("invalid_engine_extension"),
    );
    assert_eq!(get(&format!("/{fresh}")).status, 404);
    put(&format!("/{name}?partitioned=true"), &json!({})).assert_error(412, "file_exists", None);

    for system in [
        "_users",
        "_replicator",
        "_global_changes",
        "_dbs",
        "a%2F_users",
    ] {
        put(&format!("/{system}?partitioned=true"), &json!({})).assert_error(
            400,
            "bad_request",
            Some("Cannot partition a system database"),
        );
    }
    put("/_foo?partitioned=true", &json!({})).assert_error(400, "illegal_database_name", None);

    let features = get("/").body["features"].clone();
    assert!(features
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "partitioned"));
}

#[test]
fn document_ids_need_a_partition() {
    let db = new_pdb("ids");
    let r = put(&format!("/{db}/foo:bar"), &json!({"a": 1}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(get(&format!("/{db}/foo:bar")).body["a"], 1);
    for ok in ["foo:bar:baz", "_design/d", "%C3%A9:x", "a%3Ab"] {
        assert_eq!(put(&format!("/{db}/{ok}"), &json!({})).status, 201, "{ok}");
    }
    assert_eq!(
        put(&format!("/{db}/_local/l"), &json!({})).body["rev"],
        "0-1"
    );
    let table = [
        (
            "foo",
            "illegal_docid",
            "Doc id must be of form partition:id",
        ),
        (":bar", "illegal_partition", "Partition must not be empty"),
        (
            "_foo:bar",
            "illegal_docid",
            "Only reserved document ids may start with underscore.",
        ),
        ("foo:", "illegal_docid", "Document id must not be empty"),
        (
            "foo:_bar",
            "illegal_docid",
            "Only reserved document ids may start with underscore.",
        ),
    ];
    for (id, error, reason) in table {
        put(&format!("/{db}/{id}"), &json!({})).assert_error(400, error, Some(reason));
        post(&format!("/{db}"), &json!({ "_id": id })).assert_error(400, error, Some(reason));
        post(
            &format!("/{db}/_bulk_docs"),
            &json!({"docs": [{"_id": "ok:1"}, {"_id": id}]}),
        )
        .assert_error(400, error, Some(reason));
    }
    // A generated id has no partition.
    post(&format!("/{db}"), &json!({"a": 1})).assert_error(
        400,
        "illegal_docid",
        Some("Doc id must be of form partition:id"),
    );
    post(&format!("/{db}/_bulk_docs"), &json!({"docs": [{"a": 1}]})).assert_error(
        400,
        "illegal_docid",
        Some("Doc id must be of form partition:id"),
    );
    // Replicated writes are held to the same rules.
    post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [{"_id": "c", "_rev": "1-abc"}]}),
    )
    .assert_error(400, "illegal_docid", None);
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [{"_id": "c:1", "_rev": "1-abc"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    put(
        &format!("/{db}/nocolon?new_edits=false"),
        &json!({"_rev": "5-abc"}),
    )
    .assert_error(400, "illegal_docid", None);
    // Lookups need a partition to find the document's shard.
    get(&format!("/{db}/foo")).assert_error(
        400,
        "illegal_docid",
        Some("Doc id must be of form partition:id"),
    );
    get(&format!("/{db}/foo/att")).assert_error(400, "illegal_docid", None);
    delete(&format!("/{db}/foo?rev=1-a")).assert_error(400, "illegal_docid", None);
    assert_eq!(get(&format!("/{db}/:bar")).status, 404);
    post(&format!("/{db}/_revs_diff"), &json!({"foo": ["1-a"]})).assert_error(
        400,
        "illegal_docid",
        None,
    );
    post(&format!("/{db}/_all_docs"), &json!({"keys": ["foo"]})).assert_error(
        400,
        "illegal_docid",
        None,
    );
}

#[test]
fn bulk_get_copy_and_attachments_in_partitions() {
    let db = new_pdb("crud");
    let rev = put(&format!("/{db}/foo:bar"), &json!({"a": 1})).body["rev"].clone();
    let r = post(
        &format!("/{db}/_bulk_get"),
        &json!({"docs": [{"id": "foo:bar"}, {"id": "b"}, {"id": "_a:1"}, {"id": ":1"}]}),
    );
    assert_eq!(r.status, 200);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["docs"][0]["ok"]["a"], 1);
    let errors: Vec<(Value, Value, Value)> = results[1..]
        .iter()
        .map(|x| {
            let e = &x["docs"][0]["error"];
            (e["error"].clone(), e["reason"].clone(), e["rev"].clone())
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (
                json!("illegal_docid"),
                json!("Doc id must be of form partition:id"),
                Value::Null
            ),
            (
                json!("illegal_docid"),
                json!("Only reserved document ids may start with underscore."),
                Value::Null
            ),
            (
                json!("illegal_partition"),
                json!("Partition must not be empty"),
                Value::Null
            ),
        ]
    );

    let copy = |dest: &str| {
        let r = client_copy(&format!("/{db}/foo:bar"), dest);
        (r.status, r.body["reason"].clone())
    };
    assert_eq!(copy("foo:copy").0, 201);
    assert_eq!(
        copy("nocolon"),
        (400, json!("Doc id must be of form partition:id"))
    );
    assert_eq!(
        copy("_foo:copy"),
        (
            400,
            json!("Only reserved document ids may start with underscore.")
        )
    );

    let att = raw(
        Method::PUT,
        &format!("/{db}/foo:bar/att.txt?rev={}", rev.as_str().unwrap()),
        "text/plain",
        "hello",
    );
    assert_eq!(att.status, 201, "{}", att.text);
    raw(
        Method::PUT,
        &format!("/{db}/foo/att.txt"),
        "text/plain",
        "x",
    )
    .assert_error(
        400,
        "illegal_docid",
        Some("Doc id must be of form partition:id"),
    );
    raw(
        Method::PUT,
        &format!("/{db}/_x:y/att.txt"),
        "text/plain",
        "x",
    )
    .assert_error(
        400,
        "illegal_docid",
        Some("Only reserved document ids may start with underscore."),
    );
}

fn client_copy(path: &str, dest: &str) -> Reply {
    let rb = crate::common::client()
        .request(
            Method::from_bytes(b"COPY").unwrap(),
            format!("{}{}", crate::common::url(), path),
        )
        .header("Destination", dest);
    Reply::from(rb.send().unwrap())
}

#[test]
fn partition_info_counts_and_sizes() {
    let db = new_pdb("info");
    let info = |p: &str| get(&format!("/{db}/_partition/{p}")).body;
    let empty = info("foo");
    assert_eq!(
        empty,
        json!({"db_name": db, "sizes": {"active": 0, "external": 0}, "partition": "foo",
               "doc_count": 0, "doc_del_count": 0})
    );
    bulk(
        &db,
        json!([{"_id": "bar:1", "v": "x"}, {"_id": "bar:2", "v": "y"}, {"_id": "_design/d"}]),
    );
    let bar = info("bar");
    assert_eq!(bar["doc_count"], 2);
    let rev1 = put(&format!("/{db}/foo:1"), &json!({"val": ""})).body["rev"].clone();
    let first = info("foo");
    assert_eq!(first["doc_count"], 1);
    assert!(first["sizes"]["external"].as_u64().unwrap() > 0);
    assert!(first["sizes"]["active"].as_u64().unwrap() > 0);
    let rev2 = put(
        &format!("/{db}/foo:1"),
        &json!({"_rev": rev1, "val": "a much longer value than before, to grow the document"}),
    )
    .body["rev"]
        .clone();
    let grown = info("foo");
    assert!(grown["sizes"]["external"].as_u64() > first["sizes"]["external"].as_u64());
    assert_eq!(grown["doc_count"], 1);
    let gone = delete(&format!("/{db}/foo:1?rev={}", rev2.as_str().unwrap()));
    assert_eq!(gone.status, 200);
    let deleted = info("foo");
    assert_eq!(
        (
            deleted["doc_count"].clone(),
            deleted["doc_del_count"].clone()
        ),
        (json!(0), json!(1))
    );
    assert!(deleted["sizes"]["external"].as_u64() < grown["sizes"]["external"].as_u64());
    // Other partitions and design documents are not counted.
    assert_eq!(info("bar"), bar);
    assert_eq!(info("unknown")["doc_count"], 0);
    // The partitions add up to the database's external size.
    let db_info = get(&format!("/{db}")).body;
    let sum = info("foo")["sizes"]["external"].as_u64().unwrap()
        + info("bar")["sizes"]["external"].as_u64().unwrap();
    let design = get(&format!("/{db}/_design/d")).text.len() as u64;
    assert!(db_info["sizes"]["external"].as_u64().unwrap() >= sum);
    assert!(db_info["sizes"]["external"].as_u64().unwrap() <= sum + design);
    // Compaction drops old bodies: the partition's active size follows.
    let before = info("bar")["sizes"]["active"].as_u64().unwrap();
    let r = crate::common::raw(
        Method::POST,
        &format!("/{db}/_compact"),
        "application/json",
        "",
    );
    assert_eq!(r.status, 202);
    assert!(info("bar")["sizes"]["active"].as_u64().unwrap() <= before);
}

#[test]
fn partition_path_errors() {
    let db = new_pdb("paths");
    let plain = new_db("paths-plain");
    get(&format!("/{db}/_partition")).assert_error(
        400,
        "bad_request",
        Some("invalid_partition_req"),
    );
    get(&format!("/{db}/_partition/_foo")).assert_error(
        400,
        "illegal_partition",
        Some("Partition must not start with an underscore"),
    );
    get(&format!("/{db}/_partition/a%3Ab")).assert_error(
        400,
        "illegal_partition",
        Some("Partition must not contain a colon"),
    );
    post(&format!("/{db}/_partition/_find"), &json!({})).assert_error(
        400,
        "illegal_partition",
        Some("Partition must not start with an underscore"),
    );
    post(&format!("/{db}/_partition/foo"), &json!({})).assert_error(
        405,
        "method_not_allowed",
        Some("Only GET allowed"),
    );
    get(&format!("/{db}/_partition/foo/doc")).assert_error(404, "not_found", Some("missing"));
    get(&format!("/{db}/_partition/foo/_design/nope/_view/v")).assert_error(
        404,
        "not_found",
        Some("missing"),
    );
    get(&format!("/{db}/_partition/foo/_all_docs?partition=bar")).assert_error(
        400,
        "bad_request",
        Some("Conflicting value for `partition` in query string"),
    );
    req(
        Method::PUT,
        &format!("/{db}/_partition/foo/_all_docs"),
        None,
    )
    .assert_error(
        405,
        "method_not_allowed",
        Some("Only GET,HEAD,POST allowed"),
    );
    get(&format!("/{db}/_partition/foo/_find")).assert_error(
        405,
        "method_not_allowed",
        Some("Only POST allowed"),
    );
    // A database that is not partitioned.
    get(&format!("/{plain}/_partition/foo")).assert_error(
        400,
        "bad_request",
        Some("database is not partitioned"),
    );
    get(&format!("/{plain}/_partition/_foo")).assert_error(400, "illegal_partition", None);
    for path in ["_partition/foo/_all_docs", "_partition/_foo/_all_docs"] {
        get(&format!("/{plain}/{path}")).assert_error(
            400,
            "bad_request",
            Some("database is not partitioned"),
        );
    }
    get(&format!("/{plain}/_all_docs?partition=foo")).assert_error(
        400,
        "query_parse_error",
        Some("`partition` parameter is not supported on this db"),
    );
    get("/t-nope-nope/_partition/foo").assert_error(404, "not_found", None);
}

/// Ids in the order `_all_docs` returns them: `_design/d` sorts before
/// lowercase partitions, `A:` and `a0:` before `a:`.
fn all_docs_fixture(tag: &str) -> String {
    let db = new_pdb(tag);
    bulk(
        &db,
        json!([{"_id": "foo:1"}, {"_id": "foo:2"}, {"_id": "bar:1"}, {"_id": "fop:1"},
               {"_id": "fo:1"}, {"_id": "_design/d"}, {"_id": "foo:3", "_deleted": true},
               {"_id": "A:1"}, {"_id": "a0:1"}, {"_id": "a:1"}]),
    );
    db
}

#[test]
fn partition_all_docs() {
    let db = all_docs_fixture("alldocs");
    let q = |qs: &str| get(&format!("/{db}/_partition/foo/_all_docs{qs}"));
    let r = q("");
    assert_eq!(row_ids(&r), ["foo:1", "foo:2"]);
    // CouchDB's single-shard answers: every live doc, and those before.
    assert_eq!(
        (r.body["total_rows"].clone(), r.body["offset"].clone()),
        (json!(9), json!(6))
    );
    let r = q("?descending=true");
    assert_eq!(row_ids(&r), ["foo:2", "foo:1"]);
    assert_eq!(r.body["offset"], 1);
    assert_eq!(row_ids(&q("?start_key=%22a%22")), ["foo:1", "foo:2"]);
    assert_eq!(row_ids(&q("?start_key=%22foo:2%22")), ["foo:2"]);
    assert_eq!(row_ids(&q("?end_key=%22z%22")), ["foo:1", "foo:2"]);
    assert_eq!(row_ids(&q("?start_key=1")), ["foo:1", "foo:2"]);
    assert_eq!(row_ids(&q("?key=%22bar:1%22")), Vec::<String>::new());
    assert_eq!(row_ids(&q("?key=%22foo:2%22")), ["foo:2"]);
    assert_eq!(row_ids(&q("?skip=1&limit=1")), ["foo:2"]);
    assert_eq!(q("?skip=1&limit=1").body["offset"], 7);
    let r = q("?end_key=1");
    assert_eq!((row_ids(&r).len(), r.body["offset"].clone()), (0, json!(6)));
    let r = q("?descending=true&start_key=1");
    assert_eq!((row_ids(&r).len(), r.body["offset"].clone()), (0, json!(9)));
    assert_eq!(
        row_ids(&q(
            "?descending=true&end_key=%22foo:2%22&inclusive_end=false"
        )),
        Vec::<String>::new()
    );
    let r = q("?include_docs=true&update_seq=true");
    assert_eq!(r.body["rows"][0]["doc"]["_id"], "foo:1");
    assert!(r.body["update_seq"].is_string());
    q("?limit=268435457").assert_error(
        400,
        "query_parse_error",
        Some("Limit is too large, must not exceed 268435456"),
    );
    // `keys` are looked up wherever they are, as CouchDB does.
    let r = post(
        &format!("/{db}/_partition/foo/_all_docs"),
        &json!({"keys": ["bar:1", "foo:3", "nope:1"]}),
    );
    assert_eq!(r.body["offset"], Value::Null);
    assert_eq!(r.body["rows"][0]["id"], "bar:1");
    assert_eq!(r.body["rows"][1]["value"]["deleted"], true);
    assert_eq!(r.body["rows"][2]["error"], "not_found");
    // The same query through `?partition=` and in `_all_docs/queries`.
    assert_eq!(
        row_ids(&get(&format!("/{db}/_all_docs?partition=foo"))),
        ["foo:1", "foo:2"]
    );
    let r = post(
        &format!("/{db}/_partition/foo/_all_docs/queries"),
        &json!({"queries": [{}, {"descending": true}, {"keys": ["bar:1"]}]}),
    );
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(ids(&results[0]["rows"], "id"), ["foo:1", "foo:2"]);
    assert_eq!(ids(&results[1]["rows"], "id"), ["foo:2", "foo:1"]);
    assert_eq!(
        (results[2]["offset"].clone(), results[2]["rows"].clone()),
        (json!(6), json!([]))
    );
    // Global `_all_docs` offsets come from the partition counters.
    let offset = |qs: &str| get(&format!("/{db}/_all_docs{qs}")).body["offset"].clone();
    assert_eq!(offset("?start_key=%22foo:1%22"), 6);
    assert_eq!(offset("?start_key=%22b%22"), 4);
    assert_eq!(offset("?start_key=%22a:%22"), 3);
    assert_eq!(offset("?start_key=%22a0%22"), 2);
    assert_eq!(offset("?start_key=%22_design/e%22"), 2);
    assert_eq!(offset("?descending=true&start_key=%22foo:1%22"), 2);
    assert_eq!(offset("?descending=true&start_key=%22_design/d%22"), 7);
}

#[test]
fn all_docs_keys_sort_non_strings_below_ids() {
    // `_all_docs` compares keys in Erlang term order: arrays and objects,
    // like numbers, sort below every id.
    let db = new_db("rawkeys");
    bulk(&db, json!([{"_id": "a"}, {"_id": "b"}]));
    let r = get(&format!("/{db}/_all_docs?end_key=%5B1%5D"));
    assert_eq!(row_ids(&r).len(), 0);
    let r = get(&format!("/{db}/_all_docs?start_key=%7B%7D"));
    assert_eq!(row_ids(&r), ["a", "b"]);
    let r = get(&format!("/{db}/_all_docs?descending=true&start_key=1"));
    assert_eq!((row_ids(&r).len(), r.body["offset"].clone()), (0, json!(2)));
}

fn mango_fixture(tag: &str) -> String {
    let db = new_pdb(tag);
    bulk(
        &db,
        json!([{"_id": "foo:1", "v": 1, "s": "a"}, {"_id": "foo:2", "v": 2, "s": "b"},
               {"_id": "bar:1", "v": 1, "s": "a"}, {"_id": "bar:2", "v": 5, "s": "c"},
               {"_id": "foo:3", "v": 3}]),
    );
    db
}

fn index(db: &str, body: Value) -> Reply {
    post(&format!("/{db}/_index"), &body)
}

#[test]
fn partitioned_indexes() {
    let db = mango_fixture("pidx");
    assert_eq!(
        index(
            &db,
            json!({"index": {"fields": ["v"]}, "name": "v-def", "ddoc": "vdef"})
        )
        .body["result"],
        "created"
    );
    assert_eq!(
        index(
            &db,
            json!({"index": {"fields": ["v"]}, "name": "v-glob", "ddoc": "vglob", "partitioned": false})
        )
        .status,
        200
    );
    assert_eq!(
        get(&format!("/{db}/_design/vglob")).body["options"],
        json!({"partitioned": false})
    );
    assert!(get(&format!("/{db}/_design/vdef"))
        .body
        .get("options")
        .is_none());
    index(&db, json!({"index": {"fields": ["v"]}, "name": "v-glob", "ddoc": "vglob"})).assert_error(
        400,
        "invalid_partitioned_option",
        Some("Requested partitioned option does not match existing value on design document _design/vglob"),
    );
    index(
        &db,
        json!({"index": {"fields": ["v"]}, "name": "v-def", "ddoc": "vdef", "partitioned": true}),
    )
    .assert_error(400, "invalid_partitioned_option", None);
    let again = index(
        &db,
        json!({"index": {"fields": ["v"]}, "name": "v-glob", "ddoc": "vglob", "partitioned": false}),
    );
    assert_eq!(again.body["result"], "exists");
    index(
        &db,
        json!({"index": {"fields": ["s"]}, "partitioned": "yes"}),
    )
    .assert_error(
        500,
        "unknown_error",
        Some("Unknown Error: mango_opts :: {invalid_partitioned_value,<<121,101,115>>}"),
    );
    let listed = get(&format!("/{db}/_index")).body["indexes"].clone();
    let flags: Vec<(Value, Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].clone(), i["partitioned"].clone()))
        .collect();
    assert_eq!(
        flags,
        vec![
            (json!("_all_docs"), Value::Null),
            (json!("v-def"), json!(true)),
            (json!("v-glob"), json!(false))
        ]
    );

    // In a database that is not partitioned, `partitioned: true` cannot
    // be stored.
    let plain = new_db("pidx-plain");
    index(
        &plain,
        json!({"index": {"fields": ["v"]}, "partitioned": true}),
    )
    .assert_error(
        500,
        "error_saving_ddoc",
        Some("Unknown error while saving the design document: invalid_design_doc"),
    );
    put(
        &format!("/{plain}/_design/c"),
        &json!({"options": {"partitioned": true}}),
    )
    .assert_error(
        400,
        "invalid_design_doc",
        Some("partitioned option cannot be true in a non-partitioned database."),
    );
    assert_eq!(
        put(
            &format!("/{plain}/_design/d"),
            &json!({"options": {"partitioned": false}})
        )
        .status,
        201
    );
}

#[test]
fn partition_find_and_explain() {
    let db = mango_fixture("pfind");
    index(
        &db,
        json!({"index": {"fields": ["v"]}, "name": "v-def", "ddoc": "vdef"}),
    );
    index(
        &db,
        json!({"index": {"fields": ["v"]}, "name": "v-glob", "ddoc": "vglob", "partitioned": false}),
    );
    let pfind = |p: &str, q: Value| post(&format!("/{db}/_partition/{p}/_find"), &q);
    let sel = json!({"selector": {"v": {"$gt": 0}}});

    // A partition query reads the partitioned index, the partition only.
    let r = pfind("foo", sel.clone());
    assert_eq!(doc_ids(&r), ["foo:1", "foo:2", "foo:3"]);
    assert!(r.body.get("warning").is_none(), "{}", r.text);
    let r = pfind(
        "bar",
        json!({"selector": {"v": {"$gt": 0}}, "sort": [{"v": "desc"}]}),
    );
    assert_eq!(doc_ids(&r), ["bar:2", "bar:1"]);
    // A global query reads the global index, every partition.
    let r = post(&format!("/{db}/_find"), &sel);
    assert_eq!(doc_ids(&r), ["bar:1", "foo:1", "foo:2", "foo:3", "bar:2"]);
    // `partition` in the body or the query string.
    let r = post(
        &format!("/{db}/_find"),
        &json!({"selector": {"v": {"$gt": 0}}, "partition": "bar"}),
    );
    assert_eq!(doc_ids(&r), ["bar:1", "bar:2"]);
    let r = post(&format!("/{db}/_find?partition=bar"), &sel);
    assert_eq!(doc_ids(&r), ["bar:1", "bar:2"]);
    pfind("foo", json!({"selector": {}, "partition": "foo"})).assert_error(
        500,
        "unknown_error",
        Some("Unknown Error: mango_httpd :: {bad_partition,<<102,111,111>>}"),
    );
    post(
        &format!("/{db}/_find"),
        &json!({"selector": {}, "partition": "_bar"}),
    )
    .assert_error(
        400,
        "illegal_partition",
        Some("Partition must not start with an underscore"),
    );
    post(
        &format!("/{db}/_find"),
        &json!({"selector": {}, "partition": 5}),
    )
    .assert_error(400, "illegal_partition", Some("Partition must be a string"));

    // `_all_docs` within the partition, with its statistics.
    let r = pfind(
        "foo",
        json!({"selector": {"_id": {"$gt": null}}, "execution_stats": true}),
    );
    assert_eq!(doc_ids(&r), ["foo:1", "foo:2", "foo:3"]);
    assert_eq!(r.body["execution_stats"]["total_keys_examined"], 3);
    let r = pfind("foo", json!({"selector": {"_id": {"$gt": "foo:1"}}}));
    assert_eq!(doc_ids(&r), ["foo:2", "foo:3"]);

    // Bookmarks page within the partition.
    let page = pfind("foo", json!({"selector": {"v": {"$gt": 0}}, "limit": 2}));
    assert_eq!(doc_ids(&page), ["foo:1", "foo:2"]);
    let bookmark = page.body["bookmark"].clone();
    let next = pfind(
        "foo",
        json!({"selector": {"v": {"$gt": 0}}, "limit": 2, "bookmark": bookmark}),
    );
    assert_eq!(doc_ids(&next), ["foo:3"]);
    // Another partition's bookmark does not leak documents across.
    let other = pfind(
        "bar",
        json!({"selector": {"v": {"$gt": 0}}, "bookmark": bookmark}),
    );
    assert!(doc_ids(&other).iter().all(|id| id.starts_with("bar:")));

    // No index can sort: CouchDB's partitioned and global messages.
    pfind("foo", json!({"selector": {"x": 1}, "sort": ["x"]})).assert_error(
        400,
        "no_usable_index",
        Some("No partitioned index exists for this sort, try indexing by the sort fields."),
    );
    post(
        &format!("/{db}/_find"),
        &json!({"selector": {"x": 1}, "sort": ["x"]}),
    )
    .assert_error(
        400,
        "no_usable_index",
        Some("No global index exists for this sort, try indexing by the sort fields."),
    );

    // `_explain` shows the scope of each index.
    let e = post(&format!("/{db}/_partition/foo/_explain"), &sel).body;
    assert_eq!(e["index"]["name"], "v-def");
    assert_eq!(e["partitioned"], true);
    assert_eq!(e["opts"]["partition"], "foo");
    assert_eq!(e["mrargs"]["partition"], "foo");
    let glob = e["index_candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["index"]["name"] == "v-glob")
        .unwrap()
        .clone();
    assert_eq!(
        glob["analysis"]["reasons"],
        json!([{"name": "scope_mismatch"}])
    );
    assert_eq!(glob["analysis"]["usable"], false);
    let e = post(&format!("/{db}/_explain"), &sel).body;
    assert_eq!(e["index"]["name"], "v-glob");
    assert_eq!(e["opts"]["partition"], "");
    assert_eq!(e["mrargs"]["partition"], Value::Null);
    let e = post(
        &format!("/{db}/_partition/foo/_explain"),
        &json!({"selector": {"_id": {"$gt": "a"}}}),
    )
    .body;
    assert_eq!(e["index"]["name"], "_all_docs");
    assert_eq!(e["mrargs"]["start_key"], "a");
    // A global index named by `use_index` is not used in a partition.
    let r = pfind(
        "foo",
        json!({"selector": {"v": {"$gt": 0}}, "use_index": "vglob"}),
    );
    assert_eq!(doc_ids(&r), ["foo:1", "foo:2", "foo:3"]);
    assert_eq!(
        r.body["warning"],
        "_design/vglob was not used because it does not contain a valid index for this query."
    );
}

#[test]
fn partition_queries_on_a_plain_database() {
    let db = new_db("pplain");
    bulk(&db, json!([{"_id": "foo:1", "v": 1}, {"_id": "x", "v": 2}]));
    post(
        &format!("/{db}/_find"),
        &json!({"selector": {}, "partition": "foo"}),
    )
    .assert_error(
        400,
        "bad_request",
        Some("partition specified on non-partitioned db"),
    );
    post(
        &format!("/{db}/_find?partition=foo"),
        &json!({"selector": {}}),
    )
    .assert_error(
        400,
        "bad_request",
        Some("partition specified on non-partitioned db"),
    );
    let e = post(
        &format!("/{db}/_explain"),
        &json!({"selector": {}, "partition": "foo"}),
    );
    assert_eq!(e.status, 200);
    assert_eq!(e.body["partitioned"], false);
    assert_eq!(e.body["mrargs"]["partition"], "foo");
    post(
        &format!("/{db}/_partition/foo/_find"),
        &json!({"selector": {}}),
    )
    .assert_error(400, "bad_request", Some("database is not partitioned"));
}

#[test]
fn partition_queries_narrowed_by_a_partitioned_index() {
    // Index [v, s]: CouchDB scans the partition's `_all_docs` for `v > 1`
    // (the index needs `s` too); Settee reads the candidates from the
    // partition's index entries, in the same order. A global query cannot
    // use the partitioned index at all.
    let db = new_pdb("preorder");
    bulk(
        &db,
        json!([{"_id": "foo:1", "v": 1, "s": "a"}, {"_id": "foo:2", "v": 2},
               {"_id": "bar:1", "v": 3, "s": "a"}, {"_id": "foo:3", "v": 3}]),
    );
    index(
        &db,
        json!({"index": {"fields": ["v", "s"]}, "name": "vs", "ddoc": "vs"}),
    );
    let q = json!({"selector": {"v": {"$gt": 1}}});
    let r = post(&format!("/{db}/_partition/foo/_find"), &q);
    assert_eq!(doc_ids(&r), ["foo:2", "foo:3"]);
    let e = post(&format!("/{db}/_partition/foo/_explain"), &q).body;
    assert_eq!(e["index"]["name"], "_all_docs");
    assert_eq!(e["settee_plan"]["strategy"], "reorder_by_id");
    let e = post(&format!("/{db}/_explain"), &q).body;
    assert_eq!(e["settee_plan"]["strategy"], "couchdb");
    let r = post(&format!("/{db}/_find"), &q);
    assert_eq!(doc_ids(&r), ["bar:1", "foo:2", "foo:3"]);
}
