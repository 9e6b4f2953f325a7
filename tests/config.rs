//! Runtime configuration (`/_node/{node}/_config`) against servers of
//! their own: changes here must not leak into the shared server. Each test
//! starts one with an ini file in a temporary directory and checks
//! CouchDB 3.4's answers and that the settings take effect at once.

use std::path::PathBuf;

use reqwest::blocking::RequestBuilder;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{client, Reply};

const NODE: &str = "node1@127.0.0.1";

struct Server {
    url: String,
    ini: PathBuf,
    _dir: tempfile::TempDir,
}

/// A server with admin `adm:pass`, node `node1@127.0.0.1` and this ini text.
fn start(ini: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("local.ini");
    std::fs::write(
        &path,
        format!("; kept\n[chttpd_auth]\niterations = 10\n\n[admins]\nadm = pass\n{ini}"),
    )
    .expect("write ini");
    let mut config = settee::config::Config::ephemeral();
    config.config_file = Some(path.clone());
    config.admin_party = false;
    config.node_name = Some(NODE.into());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = settee::Server::start(config).await.expect("server starts");
            tx.send(server.url()).expect("send url");
            server.into_future().await.expect("server runs");
        });
    });
    Server {
        url: rx.recv().expect("server url"),
        ini: path,
        _dir: dir,
    }
}

impl Server {
    fn send(&self, rb: RequestBuilder) -> Reply {
        Reply::from(rb.send().expect("request sent"))
    }

    fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        client()
            .request(method, format!("{}{path}", self.url))
            .basic_auth("adm", Some("pass"))
    }

    fn get(&self, path: &str) -> Reply {
        self.send(self.admin(Method::GET, path))
    }

    fn put_raw(&self, path: &str, body: &str) -> Reply {
        self.send(self.admin(Method::PUT, path).body(body.to_string()))
    }

    /// Sets a value (persisted unless `persist` is false).
    fn set(&self, section: &str, key: &str, value: &str, persist: bool) -> Reply {
        let mut rb = self
            .admin(
                Method::PUT,
                &format!("/_node/_local/_config/{section}/{key}"),
            )
            .body(json!(value).to_string());
        if !persist {
            rb = rb.header("X-Couch-Persist", "false");
        }
        self.send(rb)
    }

    fn delete(&self, section: &str, key: &str) -> Reply {
        self.send(self.admin(
            Method::DELETE,
            &format!("/_node/_local/_config/{section}/{key}"),
        ))
    }

    fn file(&self) -> String {
        std::fs::read_to_string(&self.ini).expect("read ini")
    }
}

#[test]
fn node_name_membership_and_config_reads() {
    let s = start("[test]\nfoo = bar\n");
    assert_eq!(s.get("/_node/_local").body, json!({"name": NODE}));
    assert_eq!(
        s.get("/_membership").body,
        json!({"all_nodes": [NODE], "cluster_nodes": [NODE]})
    );
    let all = s.get(&format!("/_node/{NODE}/_config"));
    assert_eq!(all.status, 200, "{}", all.text);
    assert!(all.body["couchdb"]["database_dir"].is_string());
    assert_eq!(
        all.body["chttpd"]["port"],
        json!(s.url.rsplit(':').next().expect("port"))
    );
    assert!(all.body["admins"]["adm"]
        .as_str()
        .is_some_and(|h| h.starts_with("-pbkdf2:sha256-")));
    assert_eq!(
        s.get("/_node/_local/_config/test").body,
        json!({"foo": "bar"})
    );
    assert_eq!(s.get("/_node/_local/_config/test/foo").body, json!("bar"));
    assert_eq!(s.get("/_node/_local/_config/nope").body, json!({}));
    s.get("/_node/_local/_config/test/nope").assert_error(
        404,
        "not_found",
        Some("unknown_config_value"),
    );
    s.get("/_node/other@host/_config").assert_error(
        404,
        "not_found",
        Some("no such node: other@host"),
    );
    s.get("/_node")
        .assert_error(400, "bad_request", Some("Incomplete path to _node request"));
    s.get("/_node/_local/_config/a/b/c")
        .assert_error(404, "not_found", Some("missing"));
    let r = s.send(s.admin(Method::POST, "/_node/_local/_config"));
    r.assert_error(405, "method_not_allowed", Some("Only GET allowed"));
    assert_eq!(r.header("allow"), Some("GET"));
    let r = s.send(s.admin(Method::POST, "/_node/_local/_config/test/foo"));
    assert_eq!(r.header("allow"), Some("GET,PUT,DELETE"));
    let r = s.get("/_node/_local/_config/_reload");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    // server admins only, 401 for anyone else
    let anon = Reply::from(
        client()
            .get(format!("{}/_node/_local/_config", s.url))
            .send()
            .expect("sent"),
    );
    anon.assert_error(401, "unauthorized", Some("You are not a server admin."));
    // the welcome of GET / names the configured uuid and vendor
    let root = s.get("/");
    assert_eq!(
        root.body["uuid"],
        s.get("/_node/_local/_config/couchdb/uuid").body
    );
    assert_eq!(root.body["vendor"]["name"], "Settee");
}

#[test]
fn put_and_delete_answer_old_values_and_persist_as_couchdb() {
    let s = start("");
    let r = s.set("test", "foo", "bar", true);
    assert_eq!((r.status, r.body.clone()), (200, json!("")));
    // values are trimmed
    assert_eq!(s.set("test", "foo", "  baz ", true).body, json!("bar"));
    assert_eq!(s.get("/_node/_local/_config/test/foo").body, json!("baz"));
    assert_eq!(
        s.file(),
        "; kept\n[chttpd_auth]\niterations = 10\n\n[admins]\nadm = ".to_string()
            + s.get("/_node/_local/_config/admins/adm")
                .body
                .as_str()
                .expect("hash")
            + "\n\n[test]\nfoo = baz\n"
    );
    // X-Couch-Persist: false stays in memory
    s.set("test", "mem", "only", false);
    assert!(!s.file().contains("mem"));
    assert_eq!(s.delete("test", "foo").body, json!("baz"));
    assert!(s.file().ends_with("[test]\n"), "{}", s.file());
    s.delete("test", "foo")
        .assert_error(404, "not_found", Some("unknown_config_value"));
    // reload drops what the file does not have
    let r = s.send(s.admin(Method::POST, "/_node/_local/_config/_reload"));
    assert_eq!((r.status, r.body), (200, json!({"ok": true})));
    s.get("/_node/_local/_config/test/mem").assert_error(
        404,
        "not_found",
        Some("unknown_config_value"),
    );
    // what a request body must be
    let path = "/_node/_local/_config/test/x";
    for body in ["true", "11", "{}", "[\"a\"]"] {
        s.put_raw(path, body)
            .assert_error(400, "bad_request", Some("a JSON string expected"));
    }
    s.put_raw(path, "{")
        .assert_error(400, "bad_request", Some("invalid UTF-8 JSON"));
    s.put_raw(path, "")
        .assert_error(400, "bad_request", Some("Missing request body"));
    s.put_raw(path, "\"a\\nb\"").assert_error(
        400,
        "bad_request",
        Some("Invalid configuration value"),
    );
    s.put_raw("/_node/_local/_config/te%5Bst/x", "\"v\"")
        .assert_error(400, "bad_request", Some("Invalid configuration section"));
    for section in ["query_servers", "native_query_servers", "daemons"] {
        s.put_raw(&format!("/_node/_local/_config/{section}/x"), "\"v\"")
            .assert_error(
                403,
                "forbidden",
                Some("Config section blacklisted for modification over HTTP API."),
            );
    }
}

#[test]
fn admins_are_hashed_and_apply_at_once() {
    let s = start("");
    assert_eq!(s.set("admins", "bob", "s3cret", true).body, json!(""));
    let hash = s.get("/_node/_local/_config/admins/bob").body;
    assert!(
        hash.as_str()
            .is_some_and(|h| h.starts_with("-pbkdf2:sha256-")),
        "{hash}"
    );
    assert!(!s.file().contains("s3cret"));
    let session = |name: &str, pw: &str| {
        s.send(
            client()
                .get(format!("{}/_session", s.url))
                .basic_auth(name, Some(pw)),
        )
    };
    assert_eq!(
        session("bob", "s3cret").body["userCtx"]["roles"],
        json!(["_admin"])
    );
    assert_eq!(s.delete("admins", "bob").body, hash);
    assert_eq!(session("bob", "s3cret").status, 401);
}

#[test]
fn uuid_algorithms_switch_at_once() {
    let s = start("");
    let uuids = |n: u32| -> Vec<String> {
        let r = s.get(&format!("/_uuids?count={n}"));
        assert_eq!(r.status, 200, "{}", r.text);
        serde_json::from_value(r.body["uuids"].clone()).expect("uuids")
    };
    // CouchDB's default: sequential
    let seq = uuids(100);
    assert!(seq
        .windows(2)
        .all(|w| w[0] < w[1] && w[0][..26] == w[1][..26]));
    s.set("uuids", "algorithm", "utc_id", false);
    s.set("uuids", "utc_id_suffix", "frog", false);
    let ids = uuids(10);
    assert!(ids
        .windows(2)
        .all(|w| w[0] < w[1] && w[0].len() == 18 && w[0].ends_with("frog")));
    s.set("uuids", "algorithm", "utc_random", false);
    let ids = uuids(10);
    assert!(ids.iter().all(|u| u.len() == 32));
    assert!(ids[0][..14] < ids[9][..14]);
    s.set("uuids", "algorithm", "random", false);
    assert_eq!(uuids(2)[0].len(), 32);
    s.set("uuids", "max_count", "5", false);
    s.get("/_uuids?count=6")
        .assert_error(400, "bad_request", Some("count parameter too large"));
    // new documents get ids the same way
    s.set("uuids", "algorithm", "utc_id", false);
    s.send(s.admin(Method::PUT, "/ids"));
    let r = s.send(
        s.admin(Method::POST, "/ids")
            .header("Content-Type", "application/json")
            .body("{}"),
    );
    assert!(
        r.body["id"].as_str().is_some_and(|id| id.ends_with("frog")),
        "{}",
        r.text
    );
}

#[test]
fn request_settings_apply_at_once() {
    let s = start("");
    assert_eq!(s.send(s.admin(Method::PUT, "/db")).status, 201);
    let put_doc = |path: &str, body: &str| {
        s.send(
            s.admin(Method::PUT, path)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
    };
    // `+` in a path: a space by default, itself with decode_plus_to_space = false
    assert_eq!(put_doc("/db/a+b", "{}").body["id"], "a b");
    s.set("chttpd", "decode_plus_to_space", "false", false);
    assert_eq!(put_doc("/db/c+d", "{}").body["id"], "c+d");
    // max_document_size
    s.set("couchdb", "max_document_size", "20", false);
    put_doc("/db/big", "{\"a\": \"0123456789012345678901\"}").assert_error(
        413,
        "document_too_large",
        None,
    );
    // max_http_request_size
    s.set("chttpd", "max_http_request_size", "16", false);
    put_doc("/db/big2", "{\"aaaaaaaaaaaaaaaaaa\": 1}").assert_error(413, "too_large", None);
    s.delete("chttpd", "max_http_request_size");
    s.delete("couchdb", "max_document_size");
    assert_eq!(
        put_doc("/db/big", "{\"a\": \"0123456789012345678901\"}").status,
        201
    );
    // require_valid_user and default_security
    let anon = |path: &str| {
        Reply::from(
            client()
                .get(format!("{}{path}", s.url))
                .send()
                .expect("sent"),
        )
    };
    assert_eq!(anon("/").status, 200);
    s.set("chttpd", "require_valid_user", "true", false);
    anon("/").assert_error(401, "unauthorized", Some("Authentication required."));
    s.set("chttpd", "require_valid_user", "false", false);
    s.set("couchdb", "default_security", "everyone", false);
    assert_eq!(s.send(s.admin(Method::PUT, "/open")).status, 201);
    assert_eq!(s.get("/open/_security").body, json!({}));
    assert_eq!(anon("/open").status, 200);
    // a log level change is accepted and taken
    assert_eq!(s.set("log", "level", "warning", false).status, 200);
}

#[test]
fn attachment_compression_follows_the_settings() {
    let s = start("");
    assert_eq!(s.send(s.admin(Method::PUT, "/att")).status, 201);
    let text = "compress me ".repeat(50);
    let put_att = |doc: &str, ctype: &str| {
        let r = s.send(
            s.admin(Method::PUT, &format!("/att/{doc}/a"))
                .header("Content-Type", ctype)
                .body(text.clone()),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let info = s.get(&format!("/att/{doc}?att_encoding_info=true"));
        info.body["_attachments"]["a"]["encoding"].clone()
    };
    assert_eq!(put_att("d1", "text/plain"), json!("gzip"));
    assert_eq!(put_att("d2", "image/x-thing"), Value::Null);
    s.set("attachments", "compressible_types", "image/*", false);
    assert_eq!(put_att("d3", "image/x-thing"), json!("gzip"));
    assert_eq!(put_att("d4", "text/plain"), Value::Null);
    s.set("attachments", "compression_level", "0", false);
    assert_eq!(put_att("d5", "image/x-thing"), Value::Null);
}

/// `[chttpd] allow_jsonp`: off, `?callback=` is ignored; on, JSON answers
/// are wrapped as CouchDB wraps them, streamed ones too, and a callback
/// name with other characters is a 400.
#[test]
fn jsonp_follows_allow_jsonp() {
    let s = start("");
    assert_eq!(s.send(s.admin(Method::PUT, "/db")).status, 201);
    s.send(
        s.admin(Method::PUT, "/db/0")
            .header("Content-Type", "application/json")
            .body("{\"a\":0}"),
    );
    let raw = |path: &str| {
        let r = s.admin(Method::GET, path).send().expect("sent");
        let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
        (r.status().as_u16(), ctype, r.text().unwrap())
    };
    let (_, ctype, body) = raw("/db/0?callback=cb");
    assert_eq!(ctype, "application/json");
    assert!(body.starts_with("{\"_id\""), "{body}");
    s.set("chttpd", "allow_jsonp", "true", false);
    let (status, ctype, body) = raw("/db/0?callback=cb");
    assert_eq!((status, ctype.as_str()), (200, "application/javascript"));
    assert!(
        body.starts_with("/* CouchDB */cb({\"_id\":\"0\"") && body.ends_with("});\n"),
        "{body:?}"
    );
    let (_, ctype, body) = raw("/db/_changes?callback=my.cb");
    assert_eq!(ctype, "application/javascript");
    assert!(
        body.starts_with("/* CouchDB */my.cb({\"results\":[") && body.ends_with("}\n);\n"),
        "{body:?}"
    );
    let (status, _, body) = raw("/db/0?callback=cb'");
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"error": "bad_request", "reason": "invalid_callback"})
    );
}
