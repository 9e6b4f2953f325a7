//! Request targets with bytes the `http` crate refuses (raw `"`, `<`,
//! `>`, backtick, UTF-8, …), as curl and Node's http client send
//! CouchDB's documentation examples: answered as their percent-encoded
//! forms are, on keep-alive connections whose requests carry bodies
//! (`Content-Length` and chunked). Sent over a plain `TcpStream`, since
//! reqwest would encode them.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::common::*;

fn put_raw(target: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: settee\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// A chunked POST whose body is cut into pieces of `size` bytes, with a
/// chunk extension and a trailer.
fn post_chunked(target: &str, body: &[u8], size: usize) -> Vec<u8> {
    let mut out = format!(
        "POST {target} HTTP/1.1\r\nHost: settee\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for piece in body.chunks(size) {
        out.extend_from_slice(format!("{:X};piece=\"x\"\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: \"GET /\"\r\n\r\n");
    out
}

/// `GET` asking for JSON (`open_revs` answers multipart otherwise).
fn get_json(target: &[u8]) -> Vec<u8> {
    [
        b"GET ",
        target,
        b" HTTP/1.1\r\nHost: settee\r\nAccept: application/json\r\n\r\n",
    ]
    .concat()
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The raw target and its encoded form get the same status and body.
fn same_answer(conn: &mut RawConn, raw: &str, encoded: &str) -> Value {
    let a = conn.request(&get_json(raw.as_bytes()));
    let b = conn.request(&get_json(encoded.as_bytes()));
    assert_eq!(
        a.status,
        b.status,
        "{raw}: {}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.json(), b.json(), "{raw}");
    assert_ne!(a.json(), Value::Null, "{raw}");
    a.json()
}

fn ids(body: &Value) -> Vec<&str> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("-"))
        .collect()
}

/// The bug: actix-http answered these with an empty 400 ("invalid uri
/// character") where CouchDB answers normally; Settee's README example
/// (`startkey="doc"`) failed. Bodies between the requests must pass
/// untouched, even when they look like request lines.
#[test]
fn raw_targets_on_a_keep_alive_connection() {
    let db = new_db("rawline");
    let mut conn = RawConn::open();

    // A raw `<` `>` document id, and a body holding a request line.
    let tricky = "GET /x?k=\"v\" HTTP/1.1";
    let body = format!("{{\"w\":{},\r\n\"n\":1}}", json!(tricky));
    let r = conn.request(&put_raw(&format!("/{db}/a<b>"), body.as_bytes()));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["id"], "a<b>");

    // A chunked body with quotes, braces and UTF-8 ids.
    let docs = json!({"docs": [
        {"_id": "doc1"}, {"_id": "doc2"}, {"_id": "q\"uote"}, {"_id": "b{r}ace"},
        {"_id": "caf\u{e9}"}, {"_id": "back`tick", "w": tricky},
    ]})
    .to_string();
    let r = conn.request(&post_chunked(
        &format!("/{db}/_bulk_docs"),
        docs.as_bytes(),
        7,
    ));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let rev1 = r.json()[0]["rev"].as_str().unwrap().to_string();

    // The README's example, as curl sends it.
    let readme = format!(r#"/{db}/_all_docs?include_docs=true&startkey="doc"&endkey="doc\ufff0""#);
    let readme_enc = format!(
        "/{db}/_all_docs?include_docs=true&startkey={}&endkey={}",
        enc("\"doc\""),
        enc("\"doc\\ufff0\"")
    );
    let r = same_answer(&mut conn, &readme, &readme_enc);
    assert_eq!(ids(&r), ["doc1", "doc2"]);
    assert_eq!(r["rows"][0]["doc"]["_id"], "doc1");

    let keys = r#"["a<b>","q\"uote","doc1","b{r}ace","nope"]"#;
    let r = same_answer(
        &mut conn,
        &format!("/{db}/_all_docs?keys={keys}"),
        &format!("/{db}/_all_docs?keys={}", enc(keys)),
    );
    assert_eq!(ids(&r), ["a<b>", "q\"uote", "doc1", "b{r}ace", "-"]);
    // reqwest's own encoding agrees
    assert_eq!(get(&format!("/{db}/_all_docs?keys={}", enc(keys))).body, r);

    let open_revs = format!(r#"["{rev1}"]"#);
    let r = same_answer(
        &mut conn,
        &format!("/{db}/doc1?open_revs={open_revs}"),
        &format!("/{db}/doc1?open_revs={}", enc(&open_revs)),
    );
    assert_eq!(r[0]["ok"]["_rev"], rev1.as_str());

    for id in ["a<b>", "q\"uote", "b{r}ace", "caf\u{e9}", "back`tick"] {
        let r = same_answer(
            &mut conn,
            &format!("/{db}/{id}"),
            &format!("/{db}/{}", enc(id)),
        );
        assert_eq!(r["_id"], id);
    }
    let r = same_answer(
        &mut conn,
        &format!("/{db}/a<b>?revs=true&open_revs=[\"{}\"]", "1-x"),
        &format!("/{db}/a%3Cb%3E?revs=true&open_revs={}", enc("[\"1-x\"]")),
    );
    assert_eq!(r[0]["missing"], "1-x");

    // The bodies arrived as sent.
    let r = conn.request(&get_json(format!("/{db}/a<b>").as_bytes()));
    assert_eq!(r.json()["w"], tricky);
    let r = conn.request(&get_json(format!("/{db}/back`tick").as_bytes()));
    assert_eq!(r.json()["w"], tricky);
    assert_eq!(conn.request(&get_json(b"/_up")).status, 200);
}

/// Requests sent in one write (pipelined), with bodies between them.
#[test]
fn pipelined_raw_targets_with_bodies() {
    let db = new_db("pipeline");
    let mut conn = RawConn::open();
    let mut batch = Vec::new();
    batch.extend(put_raw(
        &format!("/{db}/p\"1"),
        br#"{"v":"GET /?k=\"x\" HTTP/1.1"}"#,
    ));
    batch.extend(get_json(
        format!(r#"/{db}/_all_docs?keys=["p\"1"]"#).as_bytes(),
    ));
    batch.extend(post_chunked(
        &format!("/{db}/_bulk_docs"),
        br#"{"docs":[{"_id":"p<2>"},{"_id":"p3"}]}"#,
        5,
    ));
    batch.extend(get_json(
        format!(r#"/{db}/_all_docs?keys=["p<2>","p3"]"#).as_bytes(),
    ));
    batch.extend(get_json(format!("/{db}/p<2>").as_bytes()));
    conn.send(&batch);
    assert_eq!(conn.response().status, 201);
    assert_eq!(ids(&conn.response().json()), ["p\"1"]);
    assert_eq!(conn.response().status, 201);
    assert_eq!(ids(&conn.response().json()), ["p<2>", "p3"]);
    assert_eq!(conn.response().json()["_id"], "p<2>");
}

/// A request line that stays unparseable (a raw space, which CouchDB
/// refuses too) gets CouchDB's JSON 400 instead of actix-http's empty
/// one, and the connection closes; earlier requests on it are answered.
#[test]
fn refused_request_line_gets_a_couchdb_400() {
    let mut conn = RawConn::open();
    assert_eq!(conn.get(b"/_up").status, 200);
    let r = conn.get(b"/db/a b");
    r.assert_error(400, "bad_request");
    assert!(r.json()["reason"].as_str().unwrap().contains("%20"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.header("server").unwrap().starts_with("CouchDB/"));
    assert!(r.header("x-couch-request-id").is_some());
    assert!(conn.closed());

    let mut conn = RawConn::open();
    let r = conn.request(b"GET / HTTP/2.0\r\nHost: settee\r\n\r\n");
    r.assert_error(400, "bad_request");
    assert!(conn.closed());

    // Only Settee's own marker makes a refusal.
    let mut conn = RawConn::open();
    let r = conn.request(b"GET / HTTP/1.1\r\nHost: settee\r\nX-Settee-Refused: x y\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["couchdb"], "Welcome");
}
