//! `/_node/{node}/_prometheus`: the metrics in Prometheus' text format,
//! named and grouped as CouchDB 3.4's `couch_prometheus` renders them.
//!
//! Every metric is `couchdb_` and its path joined with `_` (a leading
//! `couchdb` group dropped); counters end in `_total`. The exceptions are
//! `couch_prometheus_util:couch_to_prom`'s: request methods and status
//! codes are one family each with a label, success/failure pairs are a
//! total and a failure count, and counters that also go down
//! (`open_databases`, `open_os_files`, `clients_requesting_changes`) are
//! gauges. Each family has its `# HELP` and `# TYPE` lines after a blank
//! line. After the stats come the node figures (`uptime_seconds`,
//! `membership`, …) as `couch_prometheus:get_system_stats` adds them.
//!
//! One deliberate difference: CouchDB 3.4 ends every `# HELP` line with a
//! carriage return before the newline; Settee does not.

use super::{Kind, Sample};

/// The content type CouchDB answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=2.0";

/// A metric family's lines.
struct Family {
    name: String,
    kind: &'static str,
    desc: String,
    /// (labels, value)
    series: Vec<(Vec<(&'static str, String)>, String)>,
}

impl Family {
    fn single(name: String, kind: &'static str, desc: String, value: i64) -> Family {
        Family {
            name,
            kind,
            desc,
            series: vec![(Vec::new(), value.to_string())],
        }
    }
}

/// What the node adds after its stats.
pub struct NodeFigures {
    pub uptime_secs: u64,
    /// Nodes in the cluster (one: this node).
    pub cluster_nodes: u64,
    /// The process's memory by kind (`rss`, `virtual`, …), in bytes.
    pub memory: Vec<(&'static str, u64)>,
}

/// The whole text of a scrape.
pub fn render(samples: &[Sample], node: &NodeFigures) -> String {
    let mut families: Vec<Family> = Vec::new();
    for sample in samples {
        let path: Vec<&str> = sample.path.iter().map(String::as_str).collect();
        match to_family(&path, sample, samples) {
            Some(Grouped::New(family)) => families.push(family),
            Some(Grouped::Series(name, labels, value)) => {
                // a series of a labelled family (methods, codes): joins it
                match families.iter_mut().rev().find(|f| f.name == name) {
                    Some(family) => family.series.push((labels, value.to_string())),
                    None => families.push(Family {
                        name,
                        kind: "counter",
                        desc: labelled_desc(&path),
                        series: vec![(labels, value.to_string())],
                    }),
                }
            }
            None => {}
        }
    }
    families.push(Family::single(
        "uptime_seconds".into(),
        "counter",
        "couchdb uptime".into(),
        i64::try_from(node.uptime_secs).unwrap_or(i64::MAX),
    ));
    families.push(Family::single(
        "internal_replication_jobs".into(),
        "gauge",
        "count of internal replication changes to process".into(),
        0,
    ));
    let nodes = node.cluster_nodes.to_string();
    families.push(Family {
        name: "membership".into(),
        kind: "gauge",
        desc: "count of nodes in the cluster".into(),
        series: vec![
            (vec![("nodes", "cluster_nodes".into())], nodes.clone()),
            (vec![("nodes", "all_nodes".into())], nodes),
        ],
    });
    if !node.memory.is_empty() {
        families.push(Family {
            name: "settee_memory_bytes".into(),
            kind: "gauge",
            desc: "memory of the Settee process (from /proc), in bytes".into(),
            series: node
                .memory
                .iter()
                .map(|(kind, bytes)| (vec![("memory_type", kind.to_string())], bytes.to_string()))
                .collect(),
        });
    }
    let mut out = String::new();
    for family in families {
        let name = format!("couchdb_{}", family.name);
        out.push_str(&format!(
            "\n# HELP {name} {}\n# TYPE {name} {}\n",
            family.desc, family.kind
        ));
        for (labels, value) in family.series {
            if labels.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                let labels: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                out.push_str(&format!("{name}{{{}}} {value}\n", labels.join(", ")));
            }
        }
    }
    out
}

enum Grouped {
    New(Family),
    /// A series of a labelled family: family name, labels, value.
    Series(String, Vec<(&'static str, String)>, i64),
}

fn labelled_desc(path: &[&str]) -> String {
    match path {
        ["couchdb", "httpd_request_methods", ..] => "number of HTTP requests by method".into(),
        ["couchdb", "httpd_status_codes", ..] => "number of HTTP responses by status code".into(),
        _ => "number of logged messages".into(),
    }
}

/// `couch_to_prom/3` for one metric.
fn to_family(path: &[&str], sample: &Sample, all: &[Sample]) -> Option<Grouped> {
    let value_of = |p: &[&str]| {
        all.iter()
            .find(|s| s.path.iter().map(String::as_str).eq(p.iter().copied()))
            .map_or(0, |s| s.value)
    };
    let family = |name: &str, kind: &'static str, desc: &str, value: i64| {
        Some(Grouped::New(Family::single(
            name.to_string(),
            kind,
            desc.to_string(),
            value,
        )))
    };
    let desc = sample.desc.as_str();
    let value = sample.value;
    match path {
        ["couch_log", "level", level] => Some(Grouped::Series(
            "couch_log_requests_total".into(),
            vec![("level", level.to_string())],
            value,
        )),
        ["couch_replicator", pair @ ("checkpoints" | "responses" | "stream_responses"), outcome] => {
            let pair: &str = pair;
            let base = format!("couch_replicator_{pair}");
            match *outcome {
                "failure" => family(&format!("{base}_failure_total"), "counter", desc, value),
                "success" => {
                    let total = value + value_of(&["couch_replicator", pair, "failure"]);
                    let desc = match pair {
                        "checkpoints" => "number of checkpoint saves",
                        "responses" => "number of HTTP responses received by the replicator",
                        _ => "number of streaming HTTP responses received by the replicator",
                    };
                    family(&format!("{base}_total"), "counter", desc, total)
                }
                _ => default_family(path, sample),
            }
        }
        ["couchdb", "auth_cache_hits"] => family(
            "auth_cache_requests_total",
            "counter",
            "number of authentication cache requests",
            value + value_of(&["couchdb", "auth_cache_misses"]),
        ),
        ["couchdb", "auth_cache_misses"] => {
            family("auth_cache_misses_total", "counter", desc, value)
        }
        ["couchdb", "httpd_request_methods", method] => Some(Grouped::Series(
            "httpd_request_methods".into(),
            vec![("method", method.to_string())],
            value,
        )),
        ["couchdb", "httpd_status_codes", code] => Some(Grouped::Series(
            "httpd_status_codes".into(),
            vec![("code", code.to_string())],
            value,
        )),
        ["couchdb", "open_databases"] => family("open_databases", "gauge", desc, value),
        ["couchdb", "open_os_files"] => family("open_os_files", "gauge", desc, value),
        ["couchdb", "httpd", "clients_requesting_changes"] => {
            family("httpd_clients_requesting_changes", "gauge", desc, value)
        }
        ["couchdb", rest @ ..] => default_family(rest, sample),
        _ => default_family(path, sample),
    }
}

/// A counter is `…_total`, a gauge its plain name.
fn default_family(path: &[&str], sample: &Sample) -> Option<Grouped> {
    let name = path.join("_");
    let (name, kind) = match sample.kind {
        Kind::Counter if name.ends_with("_total") => (name, "counter"),
        Kind::Counter => (format!("{name}_total"), "counter"),
        Kind::Gauge => (name, "gauge"),
    };
    Some(Grouped::New(Family::single(
        name,
        kind,
        sample.desc.clone(),
        sample.value,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(path: &[&str], kind: Kind, desc: &str, value: i64) -> Sample {
        Sample {
            path: path.iter().map(|p| p.to_string()).collect(),
            kind,
            desc: desc.into(),
            value,
        }
    }

    #[test]
    fn couchdb_names_and_families() {
        let samples = vec![
            sample(
                &["couch_replicator", "checkpoints", "failure"],
                Kind::Counter,
                "number of failed checkpoint saves",
                2,
            ),
            sample(
                &["couch_replicator", "checkpoints", "success"],
                Kind::Counter,
                "number of checkpoints successfully saves",
                5,
            ),
            sample(
                &["couch_replicator", "jobs", "running"],
                Kind::Gauge,
                "replicator scheduler running jobs",
                1,
            ),
            sample(&["couchdb", "database_reads"], Kind::Counter, "reads", 9),
            sample(&["couchdb", "httpd", "requests"], Kind::Counter, "reqs", 3),
            sample(
                &["couchdb", "httpd_request_methods", "COPY"],
                Kind::Counter,
                "copies",
                0,
            ),
            sample(
                &["couchdb", "httpd_request_methods", "GET"],
                Kind::Counter,
                "gets",
                3,
            ),
            sample(
                &["couchdb", "httpd_status_codes", "200"],
                Kind::Counter,
                "oks",
                2,
            ),
            sample(
                &["couchdb", "httpd_status_codes", "404"],
                Kind::Counter,
                "missing",
                1,
            ),
            sample(&["couchdb", "open_databases"], Kind::Counter, "open", 4),
            sample(&["mango", "docs_examined"], Kind::Counter, "examined", 8),
        ];
        let text = render(
            &samples,
            &NodeFigures {
                uptime_secs: 12,
                cluster_nodes: 1,
                memory: Vec::new(),
            },
        );
        let expected = "
# HELP couchdb_couch_replicator_checkpoints_failure_total number of failed checkpoint saves
# TYPE couchdb_couch_replicator_checkpoints_failure_total counter
couchdb_couch_replicator_checkpoints_failure_total 2

# HELP couchdb_couch_replicator_checkpoints_total number of checkpoint saves
# TYPE couchdb_couch_replicator_checkpoints_total counter
couchdb_couch_replicator_checkpoints_total 7

# HELP couchdb_couch_replicator_jobs_running replicator scheduler running jobs
# TYPE couchdb_couch_replicator_jobs_running gauge
couchdb_couch_replicator_jobs_running 1

# HELP couchdb_database_reads_total reads
# TYPE couchdb_database_reads_total counter
couchdb_database_reads_total 9

# HELP couchdb_httpd_requests_total reqs
# TYPE couchdb_httpd_requests_total counter
couchdb_httpd_requests_total 3

# HELP couchdb_httpd_request_methods number of HTTP requests by method
# TYPE couchdb_httpd_request_methods counter
couchdb_httpd_request_methods{method=\"COPY\"} 0
couchdb_httpd_request_methods{method=\"GET\"} 3

# HELP couchdb_httpd_status_codes number of HTTP responses by status code
# TYPE couchdb_httpd_status_codes counter
couchdb_httpd_status_codes{code=\"200\"} 2
couchdb_httpd_status_codes{code=\"404\"} 1

# HELP couchdb_open_databases open
# TYPE couchdb_open_databases gauge
couchdb_open_databases 4

# HELP couchdb_mango_docs_examined_total examined
# TYPE couchdb_mango_docs_examined_total counter
couchdb_mango_docs_examined_total 8

# HELP couchdb_uptime_seconds couchdb uptime
# TYPE couchdb_uptime_seconds counter
couchdb_uptime_seconds 12

# HELP couchdb_internal_replication_jobs count of internal replication changes to process
# TYPE couchdb_internal_replication_jobs gauge
couchdb_internal_replication_jobs 0

# HELP couchdb_membership count of nodes in the cluster
# TYPE couchdb_membership gauge
couchdb_membership{nodes=\"cluster_nodes\"} 1
couchdb_membership{nodes=\"all_nodes\"} 1
";
        assert_eq!(text, expected);
    }
}
