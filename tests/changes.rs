//! `_changes`: the normal, longpoll, continuous and eventsource feeds,
//! their parameters, filters and errors.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::*;

/// Rows of a normal feed.
fn results(r: &Reply) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["results"].as_array().cloned().unwrap_or_default()
}

fn ids(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

/// The integer prefix of a sequence.
fn seq_num(v: &Value) -> u64 {
    v.as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn rev_of(db: &str, id: &str) -> String {
    get(&format!("/{db}/{id}")).body["_rev"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A database with a, b, c created, then a updated and b deleted: the
/// feed lists c (seq 3), a (seq 4), b (seq 5, deleted).
fn sample_db(tag: &str) -> String {
    let db = new_db(tag);
    for id in ["a", "b", "c"] {
        create(&db, id, &json!({"name": id}));
    }
    let a = rev_of(&db, "a");
    assert_eq!(
        put(&format!("/{db}/a?rev={a}"), &json!({"name": "a2"})).status,
        201
    );
    let b = rev_of(&db, "b");
    assert_eq!(delete(&format!("/{db}/b?rev={b}")).status, 200);
    db
}

#[test]
fn normal_feed_lists_each_doc_once_at_its_latest_seq() {
    let db = sample_db("chg-normal");
    let r = get(&format!("/{db}/_changes"));
    let rows = results(&r);
    assert_eq!(ids(&rows), ["c", "a", "b"]);
    assert_eq!(
        rows.iter().map(|r| seq_num(&r["seq"])).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(rows[1]["changes"], json!([{"rev": rev_of(&db, "a")}]));
    assert_eq!(rows[2]["deleted"], true);
    assert!(rows[0].get("deleted").is_none());
    assert_eq!(seq_num(&r.body["last_seq"]), 5);
    assert_eq!(r.body["pending"], 0);
    // CouchDB's exact framing.
    assert!(
        r.text.starts_with("{\"results\":[\n{\"seq\":"),
        "{}",
        r.text
    );
    assert!(r.text.contains("]},\r\n{\"seq\":"), "{}", r.text);
    assert!(
        r.text
            .ends_with("}\n],\n\"last_seq\":\"5-g1AAAAA\",\"pending\":0}\n"),
        "{}",
        r.text
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("etag").is_some());
}

#[test]
fn empty_feed() {
    let db = new_db("chg-empty");
    let r = get(&format!("/{db}/_changes"));
    assert_eq!(
        r.text,
        "{\"results\":[\n\n],\n\"last_seq\":\"0-g1AAAAA\",\"pending\":0}\n"
    );
    get("/no-such-db-for-changes/_changes").assert_error(
        404,
        "not_found",
        Some("Database does not exist."),
    );
}

#[test]
fn since_limit_pending_and_descending() {
    let db = sample_db("chg-since");
    let rows = results(&get(&format!("/{db}/_changes?since=3")));
    assert_eq!(ids(&rows), ["a", "b"]);
    // An opaque sequence from an earlier answer works as `since`.
    let first = get(&format!("/{db}/_changes?limit=1"));
    assert_eq!(ids(&results(&first)), ["c"]);
    assert_eq!(first.body["pending"], 2);
    let since = first.body["last_seq"].as_str().unwrap().to_string();
    let next = get(&format!("/{db}/_changes?since={since}&limit=1"));
    assert_eq!(ids(&results(&next)), ["a"]);
    assert_eq!(next.body["pending"], 1);
    let now = get(&format!("/{db}/_changes?since=now"));
    assert!(results(&now).is_empty());
    assert_eq!(seq_num(&now.body["last_seq"]), 5);
    let desc = get(&format!("/{db}/_changes?descending=true"));
    assert_eq!(ids(&results(&desc)), ["b", "a", "c"]);
    assert_eq!(seq_num(&desc.body["last_seq"]), 3);
    let desc1 = get(&format!("/{db}/_changes?descending=true&limit=1&since=1"));
    assert_eq!(
        ids(&results(&desc1)),
        ["b"],
        "since is ignored when descending"
    );
    assert_eq!(desc1.body["pending"], 2);
    let zero = get(&format!("/{db}/_changes?limit=0"));
    assert!(results(&zero).is_empty());
    assert_eq!(zero.body["pending"], 3);
}

#[test]
fn pending_counts_across_many_documents() {
    let db = new_db("chg-pending");
    let docs: Vec<Value> = (0..2500)
        .map(|i| json!({"_id": format!("d{i:05}")}))
        .collect();
    assert_eq!(
        post(&format!("/{db}/_bulk_docs"), &json!({"docs": docs})).status,
        201
    );
    // Update every tenth document: the feed moves them to the end.
    let all = get(&format!("/{db}/_all_docs"));
    let updates: Vec<Value> = all.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .step_by(10)
        .map(|r| json!({"_id": r["id"], "_rev": r["value"]["rev"], "v": 2}))
        .collect();
    assert_eq!(
        post(&format!("/{db}/_bulk_docs"), &json!({"docs": updates})).status,
        201
    );
    let mut since = "0".to_string();
    let mut seen = 0;
    loop {
        let r = get(&format!("/{db}/_changes?since={since}&limit=700"));
        let rows = results(&r);
        seen += rows.len();
        assert_eq!(r.body["pending"], 2500 - seen, "after {seen}");
        if rows.is_empty() {
            break;
        }
        since = r.body["last_seq"].as_str().unwrap().to_string();
    }
    assert_eq!(seen, 2500);
    let desc = get(&format!("/{db}/_changes?descending=true&limit=100"));
    assert_eq!(desc.body["pending"], 2400);
}

#[test]
fn include_docs_conflicts_and_styles() {
    let db = new_db("chg-docs");
    create(&db, "plain", &json!({"k": 1}));
    // A conflict made the way replicators make them.
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "twin", "_rev": "1-aaaa", "side": "a"},
            {"_id": "twin", "_rev": "1-bbbb", "side": "b"},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let live = rev_of(&db, "plain");
    let gone = delete(&format!("/{db}/plain?rev={live}")).body["rev"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = results(&get(&format!(
        "/{db}/_changes?include_docs=true&conflicts=true"
    )));
    let twin = rows.iter().find(|r| r["id"] == "twin").unwrap();
    assert_eq!(
        twin["doc"],
        json!({"_id": "twin", "_rev": "1-bbbb", "side": "b", "_conflicts": ["1-aaaa"]})
    );
    assert_eq!(twin["changes"], json!([{"rev": "1-bbbb"}]));
    let plain = rows.iter().find(|r| r["id"] == "plain").unwrap();
    assert_eq!(plain["deleted"], true);
    assert_eq!(
        plain["doc"],
        json!({"_id": "plain", "_rev": gone, "_deleted": true})
    );
    let rows = results(&get(&format!("/{db}/_changes?style=all_docs")));
    let twin = rows.iter().find(|r| r["id"] == "twin").unwrap();
    assert_eq!(
        twin["changes"],
        json!([{"rev": "1-bbbb"}, {"rev": "1-aaaa"}])
    );
    let no_conflicts = results(&get(&format!("/{db}/_changes?include_docs=true")));
    let twin = no_conflicts.iter().find(|r| r["id"] == "twin").unwrap();
    assert!(twin["doc"].get("_conflicts").is_none());
}

#[test]
fn doc_ids_and_design_filters() {
    let db = sample_db("chg-filters");
    create(&db, "_design/app", &json!({"views": {}}));
    let r = post(
        &format!("/{db}/_changes?filter=_doc_ids"),
        &json!({"doc_ids": ["b", "c", "nope"]}),
    );
    assert_eq!(ids(&results(&r)), ["c", "b"]);
    assert_eq!(seq_num(&r.body["last_seq"]), 6);
    let q = "filter=_doc_ids&doc_ids=%5B%22a%22%5D";
    assert_eq!(ids(&results(&get(&format!("/{db}/_changes?{q}")))), ["a"]);
    let limited = post(
        &format!("/{db}/_changes?filter=_doc_ids&limit=1"),
        &json!({"doc_ids": ["b", "c"]}),
    );
    assert_eq!(ids(&results(&limited)), ["c"]);
    assert_eq!(seq_num(&limited.body["last_seq"]), 3);
    let design = get(&format!("/{db}/_changes?filter=_design"));
    assert_eq!(ids(&results(&design)), ["_design/app"]);
    // Many ids: the index is scanned instead of looked up; same answer.
    let mut many: Vec<String> = (0..1500).map(|i| format!("x{i}")).collect();
    many.push("a".into());
    let r = post(
        &format!("/{db}/_changes?filter=_doc_ids"),
        &json!({ "doc_ids": many }),
    );
    assert_eq!(ids(&results(&r)), ["a"]);
    // Errors, as CouchDB words them.
    let not_list = "`doc_ids` filter parameter is not a list of doc ids.";
    get(&format!("/{db}/_changes?filter=_doc_ids")).assert_error(
        400,
        "bad_request",
        Some(not_list),
    );
    post(
        &format!("/{db}/_changes?filter=_doc_ids"),
        &json!({"doc_ids": "a"}),
    )
    .assert_error(400, "bad_request", Some(not_list));
    get(&format!("/{db}/_changes?filter=_selector")).assert_error(
        400,
        "bad_request",
        Some("Selector must be specified in POST payload"),
    );
    post(
        &format!("/{db}/_changes?filter=_selector"),
        &json!({"selector": []}),
    )
    .assert_error(
        400,
        "bad_request",
        Some("Selector error: expected a JSON object"),
    );
    get(&format!("/{db}/_changes?filter=_bogus")).assert_error(
        400,
        "bad_request",
        Some("unknown builtin filter name"),
    );
    get(&format!("/{db}/_changes?filter=nofilter")).assert_error(
        400,
        "bad_request",
        Some("`filter` must be of the form `designname/filtername`"),
    );
    get(&format!("/{db}/_changes?filter=_view")).assert_error(
        400,
        "bad_request",
        Some("`view` filter parameter is not provided."),
    );
    get(&format!("/{db}/_changes?filter=nodoc/f")).assert_error(404, "not_found", Some("missing"));
    get(&format!("/{db}/_changes?filter=app/f")).assert_error(
        404,
        "not_found",
        Some("missing json key: filters"),
    );
    create(
        &db,
        "_design/js",
        &json!({"filters": {"f": "function(doc) { return true; }"}}),
    );
    get(&format!("/{db}/_changes?filter=js/f")).assert_error(501, "not_implemented", None);
}

#[test]
fn parameter_errors() {
    let db = new_db("chg-errors");
    let bad = |qs: &str, reason: &str| {
        get(&format!("/{db}/_changes?{qs}")).assert_error(400, "bad_request", Some(reason));
    };
    bad(
        "limit=-1",
        "The limit value should be a non-negative integer",
    );
    bad(
        "limit=abc",
        "The limit parameter should be a non-negative integer",
    );
    bad(
        "heartbeat=0",
        "The heartbeat value should be a positive integer (in milliseconds).",
    );
    bad(
        "heartbeat=x",
        "Invalid heartbeat value. Expecting a positive integer value (in milliseconds).",
    );
    bad(
        "timeout=-5",
        "The timeout value should be a non-negative integer",
    );
    bad(
        "timeout=x",
        "The timeout parameter should be a non-negative integer",
    );
    bad("seq_interval=0", "invalid_seq_interval");
    bad(
        "feed=sometimes",
        "Supported `feed` types: normal, continuous, live, longpoll, eventsource",
    );
    bad(
        "since=garbage",
        "Malformed sequence supplied in 'since' parameter.",
    );
    raw(Method::POST, &format!("/{db}/_changes"), "text/plain", "{}").assert_error(
        415,
        "bad_content_type",
        None,
    );
    req(Method::PUT, &format!("/{db}/_changes"), None).assert_error(
        405,
        "method_not_allowed",
        None,
    );
}

#[test]
fn post_without_body_and_etag() {
    let db = sample_db("chg-post");
    let r = raw(
        Method::POST,
        &format!("/{db}/_changes"),
        "application/json",
        "",
    );
    assert_eq!(ids(&results(&r)), ["c", "a", "b"]);
    let first = get(&format!("/{db}/_changes"));
    let etag = first.header("etag").unwrap().to_string();
    let again = client()
        .get(format!("{}/{db}/_changes", url()))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    create(&db, "d", &json!({}));
    let changed = client()
        .get(format!("{}/{db}/_changes", url()))
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(changed.status().as_u16(), 200);
}

#[test]
fn seq_interval_shows_some_sequences() {
    let db = new_db("chg-interval");
    for i in 0..6 {
        create(&db, &format!("d{i}"), &json!({}));
    }
    let rows = results(&get(&format!("/{db}/_changes?seq_interval=2&limit=6")));
    let shown: Vec<bool> = rows.iter().map(|r| !r["seq"].is_null()).collect();
    assert_eq!(shown, [true, false, true, false, true, false]);
}

#[test]
fn longpoll_waits_for_the_next_change() {
    let db = sample_db("chg-longpoll");
    // Changes already there: answered at once.
    let r = get(&format!("/{db}/_changes?feed=longpoll&since=4"));
    assert_eq!(ids(&results(&r)), ["b"]);
    // Nothing new: the request waits until a write arrives.
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        create(&writer_db, "late", &json!({}));
    });
    let started = Instant::now();
    let r = get(&format!("/{db}/_changes?feed=longpoll&since=now"));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for the write"
    );
    writer.join().unwrap();
    assert_eq!(ids(&results(&r)), ["late"]);
    assert_eq!(seq_num(&r.body["last_seq"]), 6);
    // No write: the timeout ends it with no rows.
    let r = get(&format!(
        "/{db}/_changes?feed=longpoll&since=now&timeout=100"
    ));
    assert!(results(&r).is_empty());
    assert_eq!(
        r.text,
        "{\"results\":[\n\n\n],\n\"last_seq\":\"6-g1AAAAA\",\"pending\":0}\n"
    );
}

#[test]
fn continuous_feed_lines_heartbeats_and_end() {
    let db = sample_db("chg-continuous");
    let r = get(&format!("/{db}/_changes?feed=continuous&timeout=100"));
    let lines: Vec<&str> = r.text.split('\n').collect();
    let rows: Vec<Value> = lines
        .iter()
        .filter(|l| l.starts_with("{\"seq\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(&rows), ["c", "a", "b"]);
    assert!(
        r.text
            .ends_with("{\"last_seq\":\"5-g1AAAAA\",\"pending\":0}\n"),
        "{}",
        r.text
    );
    // `live` is `continuous`; a limit ends the feed.
    let r = get(&format!("/{db}/_changes?feed=live&limit=2"));
    assert_eq!(
        r.text.lines().filter(|l| l.starts_with("{\"seq\"")).count(),
        2
    );
    assert!(
        r.text
            .ends_with("{\"last_seq\":\"4-g1AAAAA\",\"pending\":1}\n"),
        "{}",
        r.text
    );
}

#[test]
fn continuous_feed_streams_new_writes_as_they_happen() {
    let db = new_db("chg-stream");
    let res = client()
        .get(format!(
            "{}/{db}/_changes?feed=continuous&since=now&heartbeat=50&include_docs=true",
            url()
        ))
        .timeout(Duration::from_secs(20))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut lines = BufReader::new(res).lines();
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..3 {
            std::thread::sleep(Duration::from_millis(120));
            create(&writer_db, &format!("w{i}"), &json!({"i": i}));
        }
    });
    let mut rows = Vec::new();
    let mut heartbeats = 0;
    while rows.len() < 3 {
        let line = lines.next().unwrap().unwrap();
        if line.is_empty() {
            heartbeats += 1;
        } else {
            rows.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    }
    writer.join().unwrap();
    assert_eq!(ids(&rows), ["w0", "w1", "w2"]);
    assert_eq!(rows[2]["doc"]["i"], 2);
    assert!(heartbeats >= 2, "heartbeats while idle: {heartbeats}");
}

#[test]
fn deleting_the_database_ends_a_live_feed() {
    let db = new_db("chg-dbgone");
    let feed_db = db.clone();
    let reader = std::thread::spawn(move || {
        client()
            .get(format!(
                "{}/{feed_db}/_changes?feed=continuous&since=now",
                url()
            ))
            .timeout(Duration::from_secs(30))
            .send()
            .unwrap()
            .text()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(delete(&format!("/{db}")).status, 200);
    let text = reader.join().unwrap();
    assert!(
        text.ends_with("{\"last_seq\":\"0-g1AAAAA\",\"pending\":0}\n"),
        "{text:?}"
    );
}

#[test]
fn eventsource_feed() {
    let db = sample_db("chg-events");
    let r = get(&format!(
        "/{db}/_changes?feed=eventsource&timeout=100&since=3"
    ));
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let events: Vec<&str> = r
        .text
        .split("\n\n")
        .filter(|e| e.starts_with("data: "))
        .collect();
    assert_eq!(events.len(), 2);
    let (data, id) = events[0].split_once('\n').unwrap();
    let row: Value = serde_json::from_str(data.trim_start_matches("data: ")).unwrap();
    assert_eq!(row["id"], "a");
    assert_eq!(id, "id: \"4-g1AAAAA\"");
    // A reconnecting browser sends Last-Event-ID, which wins over `since`.
    let resumed = client()
        .get(format!(
            "{}/{db}/_changes?feed=eventsource&timeout=100&since=0",
            url()
        ))
        .header("Last-Event-ID", "4-g1AAAAA")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(resumed.matches("data: ").count(), 1);
    assert!(resumed.contains("\"id\":\"b\""));
}

#[test]
fn selector_filter_uses_mango() {
    let db = new_db("chg-selector");
    let docs: Vec<Value> = (0..10)
        .map(|i| json!({"_id": format!("s{i}"), "n": i, "kind": if i % 2 == 0 { "even" } else { "odd" }, "deep": {"v": i * 10}}))
        .collect();
    assert_eq!(
        post(&format!("/{db}/_bulk_docs"), &json!({"docs": docs})).status,
        201
    );
    let r = post(
        &format!("/{db}/_changes?filter=_selector&include_docs=true"),
        &json!({"selector": {"kind": "even", "n": {"$gte": 4}}, "fields": ["_id", "deep.v"]}),
    );
    let rows = results(&r);
    assert_eq!(ids(&rows), ["s4", "s6", "s8"]);
    assert_eq!(rows[0]["doc"], json!({"_id": "s4", "deep": {"v": 40}}));
    assert_eq!(seq_num(&r.body["last_seq"]), 10);
    // Deleted documents match on their tombstone body.
    let rev = rev_of(&db, "s6");
    delete(&format!("/{db}/s6?rev={rev}"));
    let r = post(
        &format!("/{db}/_changes?filter=_selector"),
        &json!({"selector": {"_deleted": true}}),
    );
    assert_eq!(ids(&results(&r)), ["s6"]);
    // style=all_docs lists the leaves that match.
    let r = post(
        &format!("/{db}/_bulk_docs"),
        &json!({"new_edits": false, "docs": [
            {"_id": "t", "_rev": "1-aaaa", "color": "red"},
            {"_id": "t", "_rev": "1-bbbb", "color": "blue"},
        ]}),
    );
    assert_eq!(r.status, 201);
    let r = post(
        &format!("/{db}/_changes?filter=_selector&style=all_docs"),
        &json!({"selector": {"color": "red"}}),
    );
    let rows = results(&r);
    assert_eq!(ids(&rows), ["t"]);
    assert_eq!(rows[0]["changes"], json!([{"rev": "1-aaaa"}]));
    let main_only = post(
        &format!("/{db}/_changes?filter=_selector"),
        &json!({"selector": {"color": "red"}}),
    );
    assert!(
        results(&main_only).is_empty(),
        "the winner (1-bbbb) is blue"
    );
    post(
        &format!("/{db}/_changes?filter=_selector"),
        &json!({"selector": {"n": {"$nope": 1}}}),
    )
    .assert_error(400, "bad_request", Some("Invalid operator: $nope"));
}
