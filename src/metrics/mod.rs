//! What the server has done, counted: CouchDB's `couch_stats` metrics
//! under CouchDB's names and descriptions, for `/_node/{node}/_stats` and
//! `/_node/{node}/_prometheus` ([`prometheus`]), and the process figures of
//! `/_node/{node}/_system` ([`system`]).
//!
//! No actix, no sled: like `error.rs` this sits below every layer, so any
//! layer can count. Counting is one relaxed atomic add on a counter the
//! caller holds (`metrics.docs.database_reads.inc()`); the registry's lock
//! is only taken to register a metric or to read them all.
//!
//! Settee counts only what it can count honestly: a CouchDB metric whose
//! subject Settee does not have (Erlang processes, view servers, shards,
//! histograms of timings) is left out rather than reported as zero.
//! Settee's own figures, which CouchDB has no name for, are in the
//! `settee` group.
//!
//! Other parts of the server register their metrics with [`Metrics::counter`],
//! [`Metrics::gauge`] or [`Metrics::sampled`] (the replicator registers
//! CouchDB's `couch_replicator` group that way) and keep the handle.

pub mod prometheus;
pub mod system;

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde_json::{json, Map, Value};

/// A count that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A level that goes up and down (running jobs, open feeds).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The `type` a metric shows in `_stats` (CouchDB's `counter` or `gauge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Where a metric's value comes from.
enum Source {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    /// Read when the metrics are read (open databases, open files).
    Sampled(Box<dyn Fn() -> i64 + Send + Sync>),
}

struct Entry {
    path: Vec<String>,
    kind: Kind,
    desc: String,
    source: Source,
}

/// One metric's value at the time the metrics were read.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: Vec<String>,
    pub kind: Kind,
    pub desc: String,
    pub value: i64,
}

/// The HTTP methods CouchDB counts (`httpd_request_methods`).
const METHODS: [&str; 7] = ["COPY", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// The status codes CouchDB counts (`httpd_status_codes`) and their
/// descriptions; a response with another code is not counted by code.
const STATUSES: [(u16, &str); 25] = [
    (200, "number of HTTP 200 OK responses"),
    (201, "number of HTTP 201 Created responses"),
    (202, "number of HTTP 202 Accepted responses"),
    (204, "number of HTTP 204 No Content responses"),
    (206, "number of HTTP 206 Partial Content"),
    (301, "number of HTTP 301 Moved Permanently responses"),
    (302, "number of HTTP 302 Found responses"),
    (304, "number of HTTP 304 Not Modified responses"),
    (400, "number of HTTP 400 Bad Request responses"),
    (401, "number of HTTP 401 Unauthorized responses"),
    (403, "number of HTTP 403 Forbidden responses"),
    (404, "number of HTTP 404 Not Found responses"),
    (405, "number of HTTP 405 Method Not Allowed responses"),
    (406, "number of HTTP 406 Not Acceptable responses"),
    (409, "number of HTTP 409 Conflict responses"),
    (412, "number of HTTP 412 Precondition Failed responses"),
    (413, "number of HTTP 413 Request Entity Too Long responses"),
    (414, "number of HTTP 414 Request URI Too Long responses"),
    (415, "number of HTTP 415 Unsupported Media Type responses"),
    (
        416,
        "number of HTTP 416 Requested Range Not Satisfiable responses",
    ),
    (417, "number of HTTP 417 Expectation Failed responses"),
    (500, "number of HTTP 500 Internal Server Error responses"),
    (501, "number of HTTP 501 Not Implemented responses"),
    (503, "number of HTTP 503 Service unavailable responses"),
    (507, "number of HTTP 507 Insufficient Storage responses"),
];

/// `couchdb/httpd*`: requests and responses.
pub struct Http {
    pub requests: Arc<Counter>,
    /// `_bulk_docs` and `_bulk_get` requests.
    pub bulk_requests: Arc<Counter>,
    pub partition_all_docs_requests: Arc<Counter>,
    pub partition_find_requests: Arc<Counter>,
    pub partition_explain_requests: Arc<Counter>,
    /// Continuous and long-polling `_changes` feeds open now.
    pub clients_requesting_changes: Arc<Gauge>,
    methods: [Arc<Counter>; METHODS.len()],
    statuses: [Arc<Counter>; STATUSES.len()],
}

impl Http {
    /// Counts one answered request: its method and its status code.
    pub fn request(&self, method: &str, status: u16) {
        self.requests.inc();
        if let Some(i) = METHODS.iter().position(|m| *m == method) {
            self.methods[i].inc();
        }
        if let Ok(i) = STATUSES.binary_search_by_key(&status, |(code, _)| *code) {
            self.statuses[i].inc();
        }
    }
}

/// `couchdb/…`: documents read and written, commits.
pub struct Docs {
    /// Document reads from a database (system databases not counted).
    pub database_reads: Arc<Counter>,
    /// Write requests to a database (system databases not counted).
    pub database_writes: Arc<Counter>,
    /// Documents written that the database did not have.
    pub document_inserts: Arc<Counter>,
    /// Document revisions written.
    pub document_writes: Arc<Counter>,
    pub local_document_writes: Arc<Counter>,
    /// Group commits: flushes to disk that made writes durable.
    pub commits: Arc<Counter>,
}

/// `mango/…`: Mango queries.
pub struct Mango {
    pub unindexed_queries: Arc<Counter>,
    pub query_invalid_index: Arc<Counter>,
    pub too_many_docs_scanned: Arc<Counter>,
    pub keys_examined: Arc<Counter>,
    pub docs_examined: Arc<Counter>,
    pub results_returned: Arc<Counter>,
}

/// `settee/…`: what Settee counts and CouchDB has no metric for.
pub struct Own {
    /// Failed authentications: wrong names, passwords or tokens.
    pub auth_failures: Arc<Counter>,
    /// Mango index builds and catch-ups that indexed changes.
    pub index_builds: Arc<Counter>,
    /// Changes those builds indexed.
    pub index_changes: Arc<Counter>,
    /// Database compactions run.
    pub compactions: Arc<Counter>,
}

/// The metrics of one server.
pub struct Metrics {
    started: Instant,
    entries: RwLock<Vec<Entry>>,
    pub http: Http,
    pub docs: Docs,
    pub mango: Mango,
    pub own: Own,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// CouchDB's metrics that Settee counts, and Settee's own, all at zero.
    pub fn new() -> Metrics {
        let registry = Registry::default();
        let c = |path: &[&str], desc: &str| registry.counter(path, desc);
        let http = Http {
            requests: c(&["couchdb", "httpd", "requests"], "number of HTTP requests"),
            bulk_requests: c(
                &["couchdb", "httpd", "bulk_requests"],
                "number of bulk requests",
            ),
            partition_all_docs_requests: c(
                &["couchdb", "httpd", "partition_all_docs_requests"],
                "number of partition HTTP _all_docs requests",
            ),
            partition_find_requests: c(
                &["couchdb", "httpd", "partition_find_requests"],
                "number of partition HTTP _find requests",
            ),
            partition_explain_requests: c(
                &["couchdb", "httpd", "partition_explain_requests"],
                "number of partition HTTP _explain requests",
            ),
            // CouchDB counts it up and down and calls it a counter
            clients_requesting_changes: registry.gauge_as(
                &["couchdb", "httpd", "clients_requesting_changes"],
                Kind::Counter,
                "number of clients for continuous _changes",
            ),
            methods: METHODS.map(|m| {
                c(
                    &["couchdb", "httpd_request_methods", m],
                    &format!("number of HTTP {m} requests"),
                )
            }),
            statuses: STATUSES
                .map(|(code, desc)| c(&["couchdb", "httpd_status_codes", &code.to_string()], desc)),
        };
        let docs = Docs {
            database_reads: c(
                &["couchdb", "database_reads"],
                "number of times a document was read from a database",
            ),
            database_writes: c(
                &["couchdb", "database_writes"],
                "number of times a database was changed",
            ),
            document_inserts: c(
                &["couchdb", "document_inserts"],
                "number of documents inserted",
            ),
            document_writes: c(
                &["couchdb", "document_writes"],
                "number of document write operations",
            ),
            local_document_writes: c(
                &["couchdb", "local_document_writes"],
                "number of _local document write operations",
            ),
            commits: c(&["couchdb", "commits"], "number of commits performed"),
        };
        let mango = Mango {
            unindexed_queries: c(
                &["mango", "unindexed_queries"],
                "number of mango queries that could not use an index",
            ),
            query_invalid_index: c(
                &["mango", "query_invalid_index"],
                "number of mango queries that generated an invalid index warning",
            ),
            too_many_docs_scanned: c(
                &["mango", "too_many_docs_scanned"],
                "number of mango queries that generated an index scan warning",
            ),
            keys_examined: c(
                &["mango", "keys_examined"],
                "number of keys examined by mango queries coordinated by this node",
            ),
            docs_examined: c(
                &["mango", "docs_examined"],
                "number of documents examined by mango queries coordinated by this node",
            ),
            results_returned: c(
                &["mango", "results_returned"],
                "number of rows returned by mango queries",
            ),
        };
        let own = Own {
            auth_failures: c(
                &["settee", "auth_failures"],
                "number of failed authentications (wrong name, password or token)",
            ),
            index_builds: c(
                &["settee", "index_builds"],
                "number of Mango index builds and updates that indexed changes",
            ),
            index_changes: c(
                &["settee", "index_changes"],
                "number of changes indexed by Mango index builds and updates",
            ),
            compactions: c(
                &["settee", "compactions"],
                "number of database compactions run",
            ),
        };
        registry.sampled(
            &["couchdb", "open_os_files"],
            Kind::Counter,
            "number of file descriptors CouchDB has open",
            || system::open_files().map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        );
        Metrics {
            started: Instant::now(),
            entries: registry.entries,
            http,
            docs,
            mango,
            own,
        }
    }

    /// Seconds since the metrics were made (the server's start).
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The counter at `path`, registered now unless it already is (then
    /// the same counter is returned).
    pub fn counter(&self, path: &[&str], desc: &str) -> Arc<Counter> {
        register_counter(&mut self.write(), path, desc)
    }

    /// The gauge at `path` (shown with `type` `gauge`), registered now
    /// unless it already is.
    pub fn gauge(&self, path: &[&str], desc: &str) -> Arc<Gauge> {
        register_gauge(&mut self.write(), path, Kind::Gauge, desc)
    }

    /// A metric whose value `read` gives whenever the metrics are read
    /// (say, the number of jobs in a table); replaces any metric at `path`.
    pub fn sampled(
        &self,
        path: &[&str],
        kind: Kind,
        desc: &str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) {
        register(
            &mut self.write(),
            path,
            kind,
            desc,
            Source::Sampled(Box::new(read)),
        );
    }

    /// Every metric's value now, in CouchDB's order (paths compared part by
    /// part, numbers before names, as Erlang sorts them).
    pub fn samples(&self) -> Vec<Sample> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut samples: Vec<Sample> = entries
            .iter()
            .map(|e| Sample {
                path: e.path.clone(),
                kind: e.kind,
                desc: e.desc.clone(),
                value: match &e.source {
                    Source::Counter(c) => i64::try_from(c.get()).unwrap_or(i64::MAX),
                    Source::Gauge(g) => g.get(),
                    Source::Sampled(read) => read(),
                },
            })
            .collect();
        samples.sort_by(|a, b| compare_paths(&a.path, &b.path));
        samples
    }

    /// `/_node/{node}/_stats`: the metrics nested by path, each
    /// `{"value": …, "type": …, "desc": …}`.
    pub fn stats_json(&self) -> Value {
        let mut root = Map::new();
        for sample in self.samples() {
            let leaf = json!({
                "value": sample.value,
                "type": sample.kind.name(),
                "desc": sample.desc,
            });
            insert_at(&mut root, &sample.path, leaf);
        }
        Value::Object(root)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Puts `leaf` at `path` below `node`, making the groups on the way.
fn insert_at(node: &mut Map<String, Value>, path: &[String], leaf: Value) {
    match path {
        [] => {}
        [name] => {
            node.insert(name.clone(), leaf);
        }
        [group, rest @ ..] => {
            let entry = node
                .entry(group.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(next) = entry {
                insert_at(next, rest, leaf);
            }
        }
    }
}

/// `/_node/{node}/_stats/{a}/{b}/…`: the part of the stats at that path,
/// `null` where there is none (`couch_stats_httpd:extract_path`; it goes
/// into a metric's own members too, so `…/requests/value` is the number).
pub fn extract_path<'a>(stats: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(stats, |node, key| node.as_object().and_then(|o| o.get(key)))
}

/// Erlang's order of stat paths: part by part, a number (status codes)
/// before a name, numbers by value, names by bytes; a prefix first.
pub fn compare_paths(a: &[String], b: &[String]) -> CmpOrdering {
    for (x, y) in a.iter().zip(b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => CmpOrdering::Less,
            (Err(_), Ok(_)) => CmpOrdering::Greater,
            (Err(_), Err(_)) => x.as_bytes().cmp(y.as_bytes()),
        };
        if order != CmpOrdering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Registration before the [`Metrics`] exists.
#[derive(Default)]
struct Registry {
    entries: RwLock<Vec<Entry>>,
}

impl Registry {
    fn counter(&self, path: &[&str], desc: &str) -> Arc<Counter> {
        register_counter(&mut self.write(), path, desc)
    }

    fn gauge_as(&self, path: &[&str], kind: Kind, desc: &str) -> Arc<Gauge> {
        register_gauge(&mut self.write(), path, kind, desc)
    }

    fn sampled(
        &self,
        path: &[&str],
        kind: Kind,
        desc: &str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) {
        register(
            &mut self.write(),
            path,
            kind,
            desc,
            Source::Sampled(Box::new(read)),
        );
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn find<'a>(entries: &'a [Entry], path: &[&str]) -> Option<&'a Entry> {
    entries.iter().find(|e| e.path.iter().eq(path.iter()))
}

fn register_counter(entries: &mut Vec<Entry>, path: &[&str], desc: &str) -> Arc<Counter> {
    if let Some(Source::Counter(c)) = find(entries, path).map(|e| &e.source) {
        return Arc::clone(c);
    }
    let counter = Arc::new(Counter::default());
    let source = Source::Counter(Arc::clone(&counter));
    register(entries, path, Kind::Counter, desc, source);
    counter
}

fn register_gauge(entries: &mut Vec<Entry>, path: &[&str], kind: Kind, desc: &str) -> Arc<Gauge> {
    if let Some(Source::Gauge(g)) = find(entries, path).map(|e| &e.source) {
        return Arc::clone(g);
    }
    let gauge = Arc::new(Gauge::default());
    register(entries, path, kind, desc, Source::Gauge(Arc::clone(&gauge)));
    gauge
}

/// Adds a metric, replacing any other at its path.
fn register(entries: &mut Vec<Entry>, path: &[&str], kind: Kind, desc: &str, source: Source) {
    entries.retain(|e| !e.path.iter().eq(path.iter()));
    entries.push(Entry {
        path: path.iter().map(|p| p.to_string()).collect(),
        kind,
        desc: desc.to_string(),
        source,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn requests_are_counted_by_method_and_status() {
        let m = Metrics::new();
        m.http.request("GET", 200);
        m.http.request("GET", 404);
        m.http.request("PUT", 201);
        m.http.request("PATCH", 299);
        let stats = m.stats_json();
        let value = |path: &[&str]| extract_path(&stats, &s(path)).cloned();
        assert_eq!(
            value(&["couchdb", "httpd", "requests", "value"]),
            Some(json!(4))
        );
        assert_eq!(
            value(&["couchdb", "httpd_request_methods", "GET"]),
            Some(json!({"value": 2, "type": "counter", "desc": "number of HTTP GET requests"}))
        );
        assert_eq!(
            value(&["couchdb", "httpd_status_codes", "404", "value"]),
            Some(json!(1))
        );
        assert_eq!(value(&["couchdb", "httpd_status_codes", "299"]), None);
        assert_eq!(value(&["couchdb", "nope"]), None);
        assert_eq!(value(&["couchdb", "httpd", "requests", "value", "x"]), None);
    }

    #[test]
    fn registering_twice_gives_the_same_counter() {
        let m = Metrics::new();
        let a = m.counter(&["couch_replicator", "jobs", "starts"], "jobs started");
        let b = m.counter(&["couch_replicator", "jobs", "starts"], "jobs started");
        a.inc();
        b.add(2);
        let running = m.gauge(&["couch_replicator", "jobs", "running"], "running");
        running.inc();
        running.inc();
        running.dec();
        m.sampled(
            &["couch_replicator", "jobs", "total"],
            Kind::Gauge,
            "all",
            || 7,
        );
        let stats = m.stats_json();
        let jobs = &stats["couch_replicator"]["jobs"];
        assert_eq!(jobs["starts"]["value"], 3);
        assert_eq!(
            jobs["running"],
            json!({"value": 1, "type": "gauge", "desc": "running"})
        );
        assert_eq!(jobs["total"]["value"], 7);
    }

    #[test]
    fn paths_sort_as_erlang_terms() {
        let mut paths = [
            s(&["couchdb", "httpd_status_codes", "500"]),
            s(&["couchdb", "httpd_status_codes", "201"]),
            s(&["couchdb", "httpd", "requests"]),
            s(&["couch_log", "level", "info"]),
            s(&["couchdb", "httpd_request_methods", "GET"]),
            s(&["couchdb", "httpd_request_methods", "COPY"]),
            s(&["mango", "docs_examined"]),
        ];
        paths.sort_by(|a, b| compare_paths(a, b));
        assert_eq!(paths[0], s(&["couch_log", "level", "info"]));
        assert_eq!(paths[1], s(&["couchdb", "httpd", "requests"]));
        assert_eq!(paths[2][2], "COPY");
        assert_eq!(paths[4][2], "201");
        assert_eq!(paths[5][2], "500");
        assert_eq!(paths[6][0], "mango");
    }
}
