//! The process figures of `/_node/{node}/_system`, read from Linux's
//! `/proc/self` (elsewhere they are left out).
//!
//! CouchDB's answer describes the Erlang VM (`chttpd_node:get_stats`):
//! memory by Erlang allocator, run queues, reductions, message queues.
//! Settee keeps CouchDB's shape and fills the members that mean the same
//! for a native process — `uptime`, `memory.code` (the program's text),
//! `context_switches` (every thread's, voluntary and not), `io_input` and
//! `io_output` (bytes read and written through system calls, sockets
//! included, as Erlang's port I/O counts them), `os_proc_count` and
//! `stale_proc_count` (no external query servers: 0),
//! `internal_replication_jobs` (single node: 0), `message_queues`,
//! `distribution` and `distribution_events` (none: empty) — and adds its
//! own: `memory.rss`, `memory.virtual`, `memory.data`, `memory.stack`,
//! `memory.libraries`, `memory.swap` and `threads`. Erlang-only members
//! (`run_queue`, `reductions`, `process_count`, `ets_table_count`, …) are
//! left out.

use serde_json::{json, Map, Value};

/// `/proc/self/status` fields, in kB there, as (our name, their name).
const MEMORY: [(&str, &str); 7] = [
    ("code", "VmExe"),
    ("rss", "VmRSS"),
    ("virtual", "VmSize"),
    ("data", "VmData"),
    ("stack", "VmStk"),
    ("libraries", "VmLib"),
    ("swap", "VmSwap"),
];

/// A `Key:   value kB` field of a `/proc/…/status` text, as a number
/// (the unit dropped).
fn status_field(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// The process's memory by kind, in bytes, from a `/proc/self/status` text.
pub fn memory_from_status(status: &str) -> Vec<(&'static str, u64)> {
    MEMORY
        .iter()
        .filter_map(|(ours, theirs)| Some((*ours, status_field(status, theirs)? * 1024)))
        .collect()
}

/// The process's memory by kind, in bytes (empty where `/proc` is not).
pub fn memory() -> Vec<(&'static str, u64)> {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| memory_from_status(&s))
        .unwrap_or_default()
}

/// File descriptors open now.
pub fn open_files() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// Context switches of every thread of the process, voluntary or not.
fn context_switches() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // a thread that just ended
        };
        total += status_field(&status, "voluntary_ctxt_switches").unwrap_or(0)
            + status_field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0);
    }
    Some(total)
}

/// `rchar` and `wchar` of a `/proc/self/io` text.
pub fn io_from(io: &str) -> (Option<u64>, Option<u64>) {
    (status_field(io, "rchar"), status_field(io, "wchar"))
}

/// The `_system` object.
pub fn system_json(uptime_secs: u64) -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = Map::new();
    out.insert("uptime".into(), json!(uptime_secs));
    let memory: Map<String, Value> = memory_from_status(&status)
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    out.insert("memory".into(), Value::Object(memory));
    if let Some(n) = context_switches() {
        out.insert("context_switches".into(), json!(n));
    }
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let (input, output) = io_from(&io);
    if let Some(n) = input {
        out.insert("io_input".into(), json!(n));
    }
    if let Some(n) = output {
        out.insert("io_output".into(), json!(n));
    }
    out.insert("os_proc_count".into(), json!(0));
    out.insert("stale_proc_count".into(), json!(0));
    if let Some(n) = status_field(&status, "Threads") {
        out.insert("threads".into(), json!(n));
    }
    out.insert("message_queues".into(), json!({}));
    out.insert("internal_replication_jobs".into(), json!(0));
    out.insert("distribution".into(), json!({}));
    out.insert("distribution_events".into(), json!({}));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts() {
        let status = "Name:\tsettee\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n\
                      VmExe:\t     100 kB\nThreads:\t9\nvoluntary_ctxt_switches:\t5\n";
        assert_eq!(
            memory_from_status(status),
            vec![
                ("code", 102_400),
                ("rss", 2_097_152),
                ("virtual", 126_418_944)
            ]
        );
        assert_eq!(status_field(status, "Threads"), Some(9));
        assert_eq!(status_field(status, "Missing"), None);
        let io = "rchar: 4096\nwchar: 1024\nsyscr: 10\n";
        assert_eq!(io_from(io), (Some(4096), Some(1024)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process() {
        let system = system_json(3);
        assert_eq!(system["uptime"], 3);
        assert!(system["memory"]["rss"].as_u64().unwrap() > 0);
        assert!(system["threads"].as_u64().unwrap() >= 1);
        assert!(system["io_input"].is_u64());
        assert!(open_files().unwrap() >= 3);
    }
}
