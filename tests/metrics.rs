//! `/_node/{node}/_stats`, `_prometheus`, `_system`, `_versions` and `/_up`,
//! against a server of their own so that every count is exact; shapes as
//! CouchDB 3.4.3 answers them.

use reqwest::blocking::RequestBuilder;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{client, start_server, Reply};

struct Server {
    url: String,
}

impl Server {
    fn start() -> Server {
        Server {
            url: start_server(settee::config::Config::ephemeral()),
        }
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        client()
            .request(method, format!("{}{path}", self.url))
            .header("Accept", "application/json")
    }

    fn send(&self, rb: RequestBuilder) -> Reply {
        Reply::from(rb.send().expect("request sent"))
    }

    fn get(&self, path: &str) -> Reply {
        self.send(self.req(Method::GET, path))
    }

    fn json(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.send(
            self.req(method, path)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
    }

    /// The `value` of one metric.
    fn value(&self, path: &str) -> i64 {
        let r = self.get(&format!("/_node/_local/_stats/{path}"));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["value"]
            .as_i64()
            .unwrap_or_else(|| panic!("{path}: {}", r.text))
    }
}

#[test]
fn requests_reads_and_writes_are_counted() {
    let s = Server::start();
    assert_eq!(s.value("couchdb/httpd/requests"), 0);
    let writes = s.value("couchdb/document_writes");
    assert_eq!(s.json(Method::PUT, "/db", &json!({})).status, 201);
    assert_eq!(s.json(Method::PUT, "/db/a", &json!({"x": 1})).status, 201);
    assert_eq!(s.get("/db/a").status, 200);
    assert_eq!(s.get("/db/missing").status, 404);
    let bulk = json!({"docs": [{"_id": "b"}, {"_id": "c"}]});
    assert_eq!(s.json(Method::POST, "/db/_bulk_docs", &bulk).status, 201);
    assert_eq!(s.send(s.req(Method::HEAD, "/db/a")).status, 200);
    assert_eq!(s.send(s.req(Method::DELETE, "/nope")).status, 404);
    let local = json!({"seq": 1});
    assert_eq!(s.json(Method::PUT, "/db/_local/x", &local).status, 201);
    // a request is counted once answered: the two stats reads above and
    // these 8, not this one
    assert_eq!(s.value("couchdb/httpd/requests"), 10);
    let methods = s.get("/_node/_local/_stats/couchdb/httpd_request_methods");
    let counts: Vec<(String, i64)> = methods
        .body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["value"].as_i64().unwrap()))
        .collect();
    let count = |m: &str| counts.iter().find(|(k, _)| k == m).map(|(_, v)| *v);
    assert_eq!(count("PUT"), Some(3));
    assert_eq!(count("POST"), Some(1));
    assert_eq!(count("HEAD"), Some(1));
    assert_eq!(count("DELETE"), Some(1));
    assert_eq!(count("COPY"), Some(0));
    assert_eq!(count("OPTIONS"), Some(0));
    // 2 GETs of documents, 3 stats reads
    assert_eq!(count("GET"), Some(5));
    assert_eq!(
        methods.body["GET"]["desc"],
        json!("number of HTTP GET requests")
    );
    assert_eq!(s.value("couchdb/httpd_status_codes/201"), 4);
    assert_eq!(s.value("couchdb/httpd_status_codes/404"), 2);
    assert_eq!(
        s.get("/_node/_local/_stats/couchdb/httpd_status_codes/409")
            .body,
        json!({"value": 0, "type": "counter", "desc": "number of HTTP 409 Conflict responses"})
    );
    assert_eq!(s.value("couchdb/httpd/bulk_requests"), 1);
    // reads: GET and HEAD of `a` (a missing document is not read)
    assert_eq!(s.value("couchdb/database_reads"), 2);
    // writes: the PUT and the _bulk_docs
    assert_eq!(s.value("couchdb/database_writes"), 2);
    assert_eq!(s.value("couchdb/document_writes") - writes, 3);
    assert_eq!(s.value("couchdb/local_document_writes"), 1);
    // _users and db
    assert_eq!(s.value("couchdb/open_databases"), 2);
    assert!(s.value("couchdb/open_os_files") > 0);
    // a missing path is null, as CouchDB answers it; a metric's members
    // can be named too
    let missing = s.get("/_node/_local/_stats/couchdb/nope");
    assert_eq!((missing.status, missing.text.trim()), (200, "null"));
    assert_eq!(
        s.get("/_node/nonode@nohost/_stats/couchdb/httpd_status_codes/404/type")
            .body,
        json!("counter")
    );
}

#[test]
fn auth_failures_index_builds_and_compactions_are_counted() {
    let s = Server::start();
    let wrong = s.send(s.req(Method::GET, "/").basic_auth("nobody", Some("x")));
    assert_eq!(wrong.status, 401);
    let form = s.send(
        s.req(Method::POST, "/_session")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("name=nobody&password=x"),
    );
    assert_eq!(form.status, 401);
    assert_eq!(s.value("settee/auth_failures"), 2);
    assert_eq!(s.value("couchdb/httpd_status_codes/401"), 2);

    assert_eq!(s.json(Method::PUT, "/idx", &json!({})).status, 201);
    let docs: Vec<Value> = (0..30).map(|i| json!({"n": i})).collect();
    let r = s.json(Method::POST, "/idx/_bulk_docs", &json!({ "docs": docs }));
    assert_eq!(r.status, 201);
    let index = json!({"index": {"fields": ["n"]}, "ddoc": "by-n"});
    assert_eq!(s.json(Method::POST, "/idx/_index", &index).status, 200);
    let find = json!({"selector": {"n": {"$gt": 25}}});
    let r = s.json(Method::POST, "/idx/_find", &find);
    assert_eq!(
        r.body["docs"].as_array().map(Vec::len),
        Some(4),
        "{}",
        r.text
    );
    assert!(s.value("settee/index_builds") >= 1);
    // the 30 documents and the index's design document
    assert_eq!(s.value("settee/index_changes"), 31);
    assert_eq!(s.value("mango/results_returned"), 4);
    assert_eq!(s.value("mango/unindexed_queries"), 0);
    // the counts are what the query's execution_stats say
    let examined = s.value("mango/docs_examined");
    let unindexed = json!({"selector": {"m": 1}, "execution_stats": true});
    let r = s.json(Method::POST, "/idx/_find", &unindexed);
    assert_eq!(r.status, 200);
    assert_eq!(s.value("mango/unindexed_queries"), 1);
    let stats = &r.body["execution_stats"];
    assert_eq!(
        s.value("mango/docs_examined") - examined,
        stats["total_docs_examined"].as_i64().unwrap()
    );
    assert!(stats["total_docs_examined"].as_i64().unwrap() >= 30);

    let r = s.json(Method::POST, "/idx/_compact", &json!({}));
    assert_eq!(r.status, 202, "{}", r.text);
    for _ in 0..100 {
        if s.value("settee/compactions") == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(s.value("settee/compactions"), 1);
}

#[test]
fn prometheus_text_as_couchdb_renders_it() {
    let s = Server::start();
    assert_eq!(s.get("/db-that-is-missing").status, 404);
    let r = s.send(s.req(Method::GET, "/_node/_local/_prometheus"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=2.0"));
    let text = &r.text;
    for family in [
        "\n# HELP couchdb_httpd_request_methods number of HTTP requests by method\n\
         # TYPE couchdb_httpd_request_methods counter\n\
         couchdb_httpd_request_methods{method=\"COPY\"} 0\n\
         couchdb_httpd_request_methods{method=\"DELETE\"} 0\n\
         couchdb_httpd_request_methods{method=\"GET\"} 1\n",
        "\n# HELP couchdb_httpd_status_codes number of HTTP responses by status code\n\
         # TYPE couchdb_httpd_status_codes counter\n\
         couchdb_httpd_status_codes{code=\"200\"} 0\n\
         couchdb_httpd_status_codes{code=\"201\"} 0\n",
        "couchdb_httpd_status_codes{code=\"404\"} 1\n",
        "\n# HELP couchdb_httpd_requests_total number of HTTP requests\n\
         # TYPE couchdb_httpd_requests_total counter\n\
         couchdb_httpd_requests_total 1\n",
        "\n# HELP couchdb_open_databases number of open databases\n\
         # TYPE couchdb_open_databases gauge\n\
         couchdb_open_databases 1\n",
        "\n# HELP couchdb_database_reads_total number of times a document was read from a database\n\
         # TYPE couchdb_database_reads_total counter\n",
        "# TYPE couchdb_uptime_seconds counter\n",
        "couchdb_membership{nodes=\"cluster_nodes\"} 1\ncouchdb_membership{nodes=\"all_nodes\"} 1\n",
    ] {
        assert!(text.contains(family), "missing:\n{family}\nin:\n{text}");
    }
    // every sample line is `name[{labels}] integer`, each family typed
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line.rsplit_once(' ').expect(line);
        assert!(value.parse::<i64>().is_ok(), "{line}");
        let family = name.split('{').next().unwrap();
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} has no TYPE"
        );
        assert!(family.starts_with("couchdb_"), "{line}");
    }
    let families = text.matches("# TYPE ").count();
    assert_eq!(families, text.matches("# HELP ").count());
}

#[test]
fn system_versions_and_up() {
    let s = Server::start();
    let system = s.get("/_node/_local/_system");
    assert_eq!(system.status, 200);
    let b = &system.body;
    assert!(b["uptime"].is_u64());
    assert!(b["memory"]["rss"].as_u64().unwrap() > 0, "{}", system.text);
    assert!(b["memory"]["code"].as_u64().unwrap() > 0);
    assert!(b["io_input"].is_u64() && b["io_output"].is_u64());
    assert!(b["context_switches"].is_u64());
    assert_eq!(b["os_proc_count"], 0);
    assert_eq!(b["internal_replication_jobs"], 0);
    assert_eq!(b["message_queues"], json!({}));
    assert_eq!(b["distribution"], json!({}));
    // CouchDB's Erlang-only members are left out rather than made up
    assert!(b.get("reductions").is_none() && b.get("run_queue").is_none());

    let versions = s.get("/_node/_local/_versions");
    assert_eq!(versions.status, 200);
    assert_eq!(versions.body["collation_driver"]["name"], "icu4x");
    assert!(versions.body["collation_driver"]["library_version"].is_string());

    for path in ["_stats", "_prometheus", "_system", "_versions"] {
        let other = s.get(&format!("/_node/other@node/{path}"));
        other.assert_error(404, "not_found", Some("no such node: other@node"));
        let post = s.send(s.req(Method::POST, &format!("/_node/_local/{path}")));
        post.assert_error(405, "method_not_allowed", None);
        assert_eq!(post.header("allow"), Some("GET"));
    }

    let up = s.get("/_up");
    assert_eq!(
        (up.status, up.body.clone()),
        (200, json!({"status": "ok", "seeds": {}}))
    );
    let set = |value: &str| {
        let r = s.send(
            s.req(
                Method::PUT,
                "/_node/_local/_config/couchdb/maintenance_mode",
            )
            .body(json!(value).to_string()),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    };
    set("true");
    let up = s.get("/_up");
    assert_eq!(
        (up.status, up.body),
        (404, json!({"status": "maintenance_mode"}))
    );
    set("nolb");
    let up = s.get("/_up");
    assert_eq!((up.status, up.body), (404, json!({"status": "nolb"})));
    set("false");
    assert_eq!(s.get("/_up").status, 200);
    assert_eq!(
        s.send(s.req(Method::POST, "/_up")).status,
        405,
        "_up takes GET and HEAD"
    );
}

/// Waits up to 2 s for a metric to reach `want`.
fn wait_for(s: &Server, path: &str, want: i64) {
    for _ in 0..100 {
        if s.value(path) == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(s.value(path), want, "{path}");
}

#[test]
fn waiting_changes_feeds_are_counted_while_open() {
    let s = Server::start();
    assert_eq!(s.json(Method::PUT, "/db", &json!({})).status, 201);
    let path = "couchdb/httpd/clients_requesting_changes";
    assert_eq!(s.value(path), 0);
    let feed = format!(
        "{}/db/_changes?feed=longpoll&since=now&timeout=10000",
        s.url
    );
    let waiting = std::thread::spawn(move || client().get(feed).send().unwrap().text().unwrap());
    wait_for(&s, path, 1);
    // a write ends the feed
    assert_eq!(s.json(Method::PUT, "/db/doc", &json!({})).status, 201);
    let answer = waiting.join().unwrap();
    assert!(answer.contains("\"doc\""), "{answer}");
    wait_for(&s, path, 0);
    // a normal feed is not a waiting client
    assert_eq!(s.get("/db/_changes").status, 200);
    assert_eq!(s.value(path), 0);
}
