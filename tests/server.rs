//! Server-level endpoints.

use reqwest::Method;
use serde_json::json;

use crate::common::*;

#[test]
fn welcome() {
    let r = get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["couchdb"], "Welcome");
    assert_eq!(r.body["vendor"]["name"], "Settee");
    assert!(r.body["version"].as_str().unwrap().starts_with("3."));
    assert!(r.body["features"].is_array());
    assert_eq!(r.body["uuid"].as_str().unwrap().len(), 32);
}

#[test]
fn up_and_method_not_allowed() {
    assert_eq!(get("/_up").body["status"], "ok");
    let r = req(Method::POST, "/", Some(&json!({})));
    r.assert_error(405, "method_not_allowed", None);
    assert!(r.header("allow").unwrap().contains("GET"));
    let r = req(Method::GET, "/_all_dbs", None);
    assert_eq!(r.status, 200);
    let r = req(Method::HEAD, "/", None);
    assert_eq!(r.status, 200);
}

#[test]
fn uuids() {
    let r = get("/_uuids?count=5");
    let list = r.body["uuids"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|u| u.as_str().unwrap().len() == 32));
    assert_ne!(list[0], list[1]);
    get("/_uuids?count=1001").assert_error(400, "bad_request", Some("count parameter too large"));
    for bad in ["abc", "-1", "1.5", ""] {
        get(&format!("/_uuids?count={bad}")).assert_error(
            400,
            "bad_request",
            Some("count must be a positive integer"),
        );
    }
    assert_eq!(get("/_uuids?count=0").body["uuids"], json!([]));
}

#[test]
fn all_dbs_paging_must_be_positive_integers() {
    get("/_all_dbs?limit=-1").assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for positive integer: \"-1\""),
    );
    get("/_all_dbs?skip=x").assert_error(
        400,
        "query_parse_error",
        Some("Invalid value for integer: \"x\""),
    );
}

#[test]
fn all_dbs_and_dbs_info() {
    let prefix = db_name("alldbs");
    for s in ["a", "b", "c"] {
        assert_eq!(put(&format!("/{prefix}-{s}"), &json!({})).status, 201);
    }
    let q = format!("/_all_dbs?startkey=%22{prefix}-a%22&endkey=%22{prefix}-c%22&descending=false");
    let r = get(&q);
    assert_eq!(
        r.body,
        json!([
            format!("{prefix}-a"),
            format!("{prefix}-b"),
            format!("{prefix}-c")
        ])
    );
    let q = format!("/_all_dbs?startkey=%22{prefix}-c%22&endkey=%22{prefix}-a%22&descending=true&limit=2&skip=1");
    assert_eq!(
        get(&q).body,
        json!([format!("{prefix}-b"), format!("{prefix}-a")])
    );
    let r = post(
        "/_dbs_info",
        &json!({"keys": [format!("{prefix}-a"), "nope-nope"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body[0]["info"]["db_name"], format!("{prefix}-a"));
    assert_eq!(r.body[1], json!({"key": "nope-nope", "error": "not_found"}));
}

/// Every response, errors included, carries `Server` and
/// `X-Couch-Request-ID`; a valid client request id is echoed back.
#[test]
fn basic_headers_on_every_response() {
    for path in ["/", "/_all_dbs", "/no-such-db"] {
        let r = get(path);
        let server = r.header("server").unwrap_or_default();
        assert!(server.starts_with("CouchDB/3."), "{path}: {server}");
        let id = r.header("x-couch-request-id").unwrap_or_default();
        assert_eq!(id.len(), 10, "{path}: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: {id}");
    }
    let echoed = |sent: &str| {
        let r = client()
            .get(format!("{}/", url()))
            .header("X-Couch-Request-ID", sent)
            .send()
            .unwrap();
        r.headers()["x-couch-request-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(echoed("my-trace_42"), "my-trace_42");
    assert_ne!(echoed("bad id!"), "bad id!");
    assert_ne!(echoed(&"a".repeat(37)), "a".repeat(37));
}

/// `/_uuids` sends CouchDB's cache-busting headers, with an `ETag` made
/// from the list (base-36 digest, quoted) and an `Expires` in the past.
#[test]
fn uuids_cache_busting_headers() {
    let r = get("/_uuids");
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").unwrap().contains("no-cache"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("expires"), Some("Mon, 01 Jan 1990 00:00:00 GMT"));
    let etag = r.header("etag").unwrap().to_string();
    let inner = etag.strip_prefix('"').and_then(|e| e.strip_suffix('"'));
    assert!(
        inner.is_some_and(|e| !e.is_empty()
            && e.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())),
        "{etag}"
    );
    assert_ne!(get("/_uuids").header("etag"), Some(etag.as_str()));
}

/// Paths below `/_all_dbs` and `/_dbs_info` are 404 `not_found` for the
/// methods the listings take, as `chttpd_misc` answers them.
#[test]
fn below_all_dbs_and_dbs_info_is_not_found() {
    for path in [
        "/_all_dbs/_all_docs",
        "/_dbs_info/_all_docs",
        "/_all_dbs/a/b",
    ] {
        get(path).assert_error(404, "not_found", Some("missing"));
        assert_eq!(req(Method::HEAD, path, None).status, 404, "{path}");
    }
    post("/_dbs_info/_all_docs", &json!({"keys": []})).assert_error(
        404,
        "not_found",
        Some("missing"),
    );
    let r = req(Method::DELETE, "/_dbs_info/x", None);
    r.assert_error(405, "method_not_allowed", None);
    assert_eq!(r.header("allow"), Some("GET,HEAD,POST"));
}

/// `X-CouchDB-Body-Time` (milliseconds spent reading the body, `0` when
/// none was read) is on every response, errors included.
#[test]
fn body_time_header_on_every_response() {
    let db = new_db("bodytime");
    let replies = [
        get("/"),
        get("/no-such-db"),
        put(&format!("/{db}/doc"), &json!({"a": 1})),
        req(Method::HEAD, &format!("/{db}/doc?open_revs=all"), None),
        post(&format!("/{db}/_bulk_docs"), &json!({"docs": [{}]})),
        raw(Method::PUT, &format!("/{db}/bad"), "application/json", "{"),
    ];
    for r in replies {
        let time = r.header("x-couchdb-body-time").unwrap_or_default();
        assert!(time.parse::<u64>().is_ok(), "{time:?} {}", r.text);
        assert!(r.header("x-couch-request-id").is_some());
    }
    assert_eq!(get("/").header("x-couchdb-body-time"), Some("0"));
}

/// A 304 carries `Content-Length: 0`, as mochiweb sends it with every
/// fixed-length response.
#[test]
fn not_modified_has_content_length_zero() {
    let db = new_db("notmod");
    let rev = create(&db, "doc", &json!({}));
    let r = client()
        .get(format!("{}/{db}/doc", url()))
        .header("If-None-Match", format!("\"{rev}\""))
        .send()
        .unwrap();
    let r = Reply::from(r);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("content-length"), Some("0"));
    assert_eq!(r.header("etag"), Some(format!("\"{rev}\"").as_str()));
    assert!(r.header("x-couchdb-body-time").is_some());
    let etag = get(&format!("/{db}/_changes"))
        .header("etag")
        .unwrap()
        .to_string();
    let r = client()
        .get(format!("{}/{db}/_changes", url()))
        .header("If-None-Match", etag)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    assert_eq!(r.headers()["content-length"], "0");
}

/// `X-HTTP-Method-Override` turns a POST into the method it names (one of
/// GET, HEAD, POST, PUT, DELETE, TRACE, CONNECT, COPY) before routing; it
/// is ignored on other methods and for other values.
#[test]
fn method_override_on_post() {
    let db = new_db("override");
    let with = |method: Method, path: &str, header: &str, body: Option<&str>| {
        let mut rb = client()
            .request(method, format!("{}{path}", url()))
            .header("X-HTTP-Method-Override", header);
        if let Some(body) = body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        Reply::from(rb.send().unwrap())
    };
    let r = with(
        Method::POST,
        &format!("/{db}/fnord"),
        "PUT",
        Some(r#"{"bob":"connie"}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let rev = r.body["rev"].as_str().unwrap().to_string();
    assert_eq!(get(&format!("/{db}/fnord")).body["bob"], "connie");

    let r = with(
        Method::POST,
        &format!("/{db}/fnord?rev={rev}"),
        "DELETE",
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ok"], true);
    get(&format!("/{db}/fnord")).assert_error(404, "not_found", Some("deleted"));

    // Not a POST: the header is ignored.
    let r = with(
        Method::GET,
        &format!("/{db}/fnord2"),
        "PUT",
        Some(r#"{"bob":"connie"}"#),
    );
    r.assert_error(404, "not_found", Some("missing"));
    // Not one of the methods (case counts): the request stays a POST, a
    // form upload to a document, which wants a Referer first.
    for value in ["PATCH", "put"] {
        let r = with(Method::POST, &format!("/{db}/fnord3"), value, Some("{}"));
        r.assert_error(400, "bad_request", Some("Referer header required."));
    }
    // The overriding method is what access checks see.
    let r = with(Method::POST, &format!("/{db}"), "GET", None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["db_name"], db.as_str());
}

/// A `%` that does not start a two-hex-digit escape, anywhere in the path
/// or query, is CouchDB's 400 `invalid_url_encoding`, before routing.
#[test]
fn invalid_url_encoding_is_refused() {
    let db = new_db("urlenc");
    for path in [
        format!("/{db}/doc%zz"),
        format!("/{db}/doc%2"),
        format!("/{db}/_all_docs?startkey=%zz"),
        format!("/{db}%zz"),
    ] {
        get(&path).assert_error(400, "bad_request", Some("invalid_url_encoding"));
    }
    assert_eq!(get(&format!("/{db}/a%20b")).status, 404);
}
