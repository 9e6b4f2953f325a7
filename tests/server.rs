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
