//! Request bodies sent with `Content-Encoding: gzip`, as the Cloudant SDK
//! (under couchbackup) sends every JSON body: CouchDB inflates them
//! (`chttpd:maybe_decompress`), refuses other encodings with 415 and broken
//! gzip with 400; Settee also holds the inflated body to
//! `max_http_request_size`, so a small body cannot expand without bound.
//! Answers checked against CouchDB 3.4.3.

use std::io::Write;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{client, new_db, start_server, url, Reply};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A JSON request whose body is sent with `encoding`.
fn send(base: &str, method: Method, path: &str, encoding: &str, body: Vec<u8>) -> Reply {
    let r = client()
        .request(method, format!("{base}{path}"))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("Content-Encoding", encoding)
        .body(body)
        .send()
        .expect("request sent");
    Reply::from(r)
}

fn gzipped(method: Method, path: &str, body: &Value) -> Reply {
    send(
        url(),
        method,
        path,
        "gzip",
        gzip(body.to_string().as_bytes()),
    )
}

#[test]
fn gzip_json_bodies_are_inflated_wherever_couchdb_takes_them() {
    let db = new_db("gzip");
    let docs = json!({"docs": [{"_id": "a", "n": 1}, {"_id": "b", "n": 2}]});
    let r = gzipped(Method::POST, &format!("/{db}/_bulk_docs"), &docs);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body[1]["id"], "b");

    let r = gzipped(Method::PUT, &format!("/{db}/c"), &json!({"n": 3}));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = gzipped(Method::POST, &format!("/{db}"), &json!({"_id": "d"}));
    assert_eq!(r.status, 201, "{}", r.text);

    let r = gzipped(
        Method::POST,
        &format!("/{db}/_bulk_get"),
        &json!({"docs": [{"id": "a"}, {"id": "c"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"][1]["docs"][0]["ok"]["n"], 3);

    let r = gzipped(
        Method::POST,
        &format!("/{db}/_all_docs"),
        &json!({"keys": ["b", "d"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["rows"].as_array().map(Vec::len), Some(2));

    let r = gzipped(
        Method::POST,
        &format!("/{db}/_find"),
        &json!({"selector": {"n": {"$gte": 2}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["docs"].as_array().map(Vec::len), Some(2));

    let r = gzipped(
        Method::POST,
        &format!("/{db}/_revs_diff"),
        &json!({"a": ["1-x"]}),
    );
    assert_eq!(r.body["a"]["missing"], json!(["1-x"]), "{}", r.text);

    let r = gzipped(
        Method::PUT,
        &format!("/{db}/_local/chk"),
        &json!({"seq": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text);

    // several gzip members one after another, as zlib:gunzip takes them
    let mut two = gzip(br#"{"_id":"e","#);
    two.extend(gzip(br#""n":5}"#));
    let r = send(url(), Method::POST, &format!("/{db}"), "gzip", two);
    assert_eq!(r.status, 201, "{}", r.text);

    // identity is the plain body
    let r = send(
        url(),
        Method::PUT,
        &format!("/{db}/f"),
        "identity",
        b"{}".to_vec(),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn other_encodings_and_broken_gzip_are_refused_as_couchdb_does() {
    let db = new_db("gzip-bad");
    let path = format!("/{db}/_bulk_docs");
    let body = br#"{"docs":[]}"#.to_vec();
    let r = send(url(), Method::POST, &path, "br", body.clone());
    r.assert_error(
        415,
        "bad_content_type",
        Some("br is not a supported content encoding."),
    );
    let r = send(url(), Method::POST, &path, "gzip", body);
    r.assert_error(
        400,
        "bad_request",
        Some("Request body is not properly gzipped."),
    );
    let zipped = gzip(br#"{"docs":[{"_id":"cut"}]}"#);
    let cut = zipped[..zipped.len() - 4].to_vec();
    let r = send(url(), Method::POST, &path, "gzip", cut);
    r.assert_error(
        400,
        "bad_request",
        Some("Request body is not properly gzipped."),
    );
}

/// A decompression bomb: 64 MiB of JSON in about 64 KiB of gzip, against
/// a server whose request limit is 1 MB. It is refused with CouchDB's 413
/// as soon as the inflated bytes pass the limit; a body under the limit
/// inflated is taken.
#[test]
fn a_body_that_inflates_past_the_limit_is_413() {
    let mut config = settee::config::Config::ephemeral();
    config.max_http_request_size = Some(1_000_000);
    let base = start_server(config);
    let created = client().put(format!("{base}/db")).send().unwrap();
    assert_eq!(created.status(), 201);

    let mut bomb = br#"{"docs":[{"_id":"bomb","pad":""#.to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 64 << 20));
    bomb.extend(br#""}]}"#);
    let zipped = gzip(&bomb);
    assert!(zipped.len() < 200_000, "{}", zipped.len());
    let started = std::time::Instant::now();
    let r = send(&base, Method::POST, "/db/_bulk_docs", "gzip", zipped);
    r.assert_error(413, "too_large", Some("the request entity is too large"));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // 900 KB inflated: under the limit
    let mut fits = br#"{"_id":"fits","pad":""#.to_vec();
    fits.extend(std::iter::repeat_n(b'x', 900_000));
    fits.extend(br#""}"#);
    let r = send(&base, Method::PUT, "/db/fits", "gzip", gzip(&fits));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = client().get(format!("{base}/db/fits")).send().unwrap();
    let doc: Value = r.json().unwrap();
    assert_eq!(doc["pad"].as_str().map(str::len), Some(900_000));
}
