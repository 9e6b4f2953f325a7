//! Settee throughput benchmark: `cargo bench --bench settee_bench`.
//!
//! Starts the release `settee` binary on a free loopback port with an
//! on-disk temporary `--data-dir` (so durable writes really fsync), drives
//! it over HTTP with async reqwest and 32 concurrent workers, and prints a
//! table next to CouchDB 3.4's reference figures and Settee's targets:
//!
//! 1. `_bulk_docs` insert rate (1000-doc batches of ~250-byte docs),
//! 2. durable single-document PUT rate (32 clients, each PUT a new doc),
//! 3. GET rate (32 clients over existing docs),
//! 4. `_all_docs?include_docs=true` full-scan rate (whole body read),
//! 5. the server's RSS after the run (VmRSS, and VmHWM for the peak),
//! 6. a second table: upload and download rate of one standalone
//!    attachment (`BENCH_ATT_MB`, default 100 MiB of incompressible bytes,
//!    streamed both ways), with the server's RSS before and its peak RSS
//!    during each transfer, sampled from `/proc` every ~50 ms.
//!
//! A peer can be measured with the same workload: `BENCH_PEER_URL=http://…`
//! (loopback only) for a server the caller started, or
//! `BENCH_PEER=pouchdb-server` to start `pouchdb-server --in-memory` here
//! (installed with npm into `target/bench-peer` when `BENCH_INSTALL_PEER=1`).
//! See `benches/README.md` for every knob.

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::File;
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, Client, StatusCode, Url};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use common::{
    chain, env_u64, listening_url, settee_binary, target_dir, Result, LOOPBACK_FREE_PORT,
};

/// Concurrent HTTP clients for the PUT and GET phases.
const CLIENTS: usize = 32;
/// Target size of one serialized document, in bytes.
const DOC_BYTES: usize = 250;
/// Error samples kept per phase.
const MAX_SAMPLES: usize = 5;
/// Longest a single request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest a server may take to answer `GET /` after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest one attachment upload or download may take.
const ATT_TIMEOUT: Duration = Duration::from_secs(600);
/// Size of the pieces the attachment upload is streamed in.
const ATT_CHUNK: usize = 64 * 1024;
/// How often the RSS sampler reads `/proc/<pid>/status`.
const RSS_EVERY: Duration = Duration::from_millis(50);
/// Bytes in a MiB; every "MB" this bench prints is a MiB.
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> ExitCode {
    common::main("settee_bench", run)
}

// ---------------------------------------------------------------- settings

/// Sizes and limits of one run; every one can be overridden from the
/// environment (see `benches/README.md`).
#[derive(Debug, Clone)]
struct Settings {
    bulk_batches: u64,
    batch_size: u64,
    puts: u64,
    gets: u64,
    phase_time: Duration,
    scan_runs: u64,
    /// Size of the attachment phase's body; 0 skips the phase.
    att_bytes: u64,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let settings = Settings {
            bulk_batches: env_u64("BENCH_BULK_BATCHES", 50)?,
            batch_size: env_u64("BENCH_BATCH_SIZE", 1000)?,
            puts: env_u64("BENCH_PUTS", 20_000)?,
            gets: env_u64("BENCH_GETS", 200_000)?,
            phase_time: Duration::from_secs(env_u64("BENCH_PHASE_SECS", 10)?),
            scan_runs: env_u64("BENCH_SCAN_RUNS", 5)?.max(1),
            att_bytes: env_u64("BENCH_ATT_MB", 100)?
                .checked_mul(1024 * 1024)
                .ok_or("BENCH_ATT_MB is too large")?,
        };
        if settings.bulk_batches * settings.batch_size == 0 {
            return Err("BENCH_BULK_BATCHES and BENCH_BATCH_SIZE must be > 0".into());
        }
        Ok(settings)
    }

    fn bulk_docs(&self) -> u64 {
        self.bulk_batches * self.batch_size
    }
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1" | "true" | "yes"))
}

// ------------------------------------------------------------------- main

fn run() -> Result<()> {
    let settings = Settings::from_env()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(CLIENTS * 2)
        .tcp_nodelay(true)
        .build()?;

    println!("settee_bench");
    println!(
        "  workload: {} x {}-doc _bulk_docs batches (~{DOC_BYTES} B/doc); \
         {CLIENTS} clients for PUT (<= {}) and GET (<= {}), each <= {} s; \
         {} _all_docs?include_docs=true scans; one {} MB attachment up and down",
        settings.bulk_batches,
        settings.batch_size,
        settings.puts,
        settings.gets,
        settings.phase_time.as_secs(),
        settings.scan_runs,
        settings.att_bytes / (1024 * 1024)
    );

    let bin = settee_binary()?;
    let data_parent = target_dir().join("bench-data");
    std::fs::create_dir_all(&data_parent)?;
    let data_dir = tempfile::Builder::new()
        .prefix("settee-bench-")
        .tempdir_in(&data_parent)?;
    let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "default (info)".into());
    println!("  settee:   {}", bin.display());
    println!(
        "            --data-dir {} (on disk), RUST_LOG={log_level}",
        data_dir.path().display()
    );

    let settee = ServerProcess::start_settee(&bin, data_dir.path())?;
    println!("            listening on {}", settee.url);
    let settee_figures = rt.block_on(workload(
        &client,
        &settee.url,
        &settings,
        Some(settee.pid()),
    ));
    let settee_log = settee.log.clone();
    drop(settee);

    let peer = match run_peer(&rt, &client, &settings) {
        Ok(peer) => peer,
        Err(e) => {
            println!("  peer:     not measured: {}", chain(e.as_ref()));
            None
        }
    };

    println!();
    print_table(&settee_figures, peer.as_ref());
    println!();
    if settings.att_bytes > 0 {
        print_attachment_table(settings.att_bytes, &settee_figures, peer.as_ref());
        println!();
    }
    print_errors("Settee", &settee_figures);
    if settee_figures.errors.is_empty() {
        let _ = std::fs::remove_file(&settee_log);
    } else {
        println!("  (Settee's log is kept: {})", settee_log.display());
    }
    if let Some((label, figures)) = &peer {
        print_errors(label, figures);
    }
    drop(data_dir);
    Ok(())
}

/// Runs the peer chosen by the environment, if any; returns its label and
/// figures.
fn run_peer(
    rt: &Runtime,
    client: &Client,
    settings: &Settings,
) -> Result<Option<(String, Figures)>> {
    if let Ok(url) = std::env::var("BENCH_PEER_URL") {
        let url = loopback_url(&url)?;
        let pid = match std::env::var("BENCH_PEER_PID") {
            Ok(p) => Some(p.trim().parse::<u32>()?),
            Err(_) => None,
        };
        println!("  peer:     {} (BENCH_PEER_URL)", redact(&url));
        rt.block_on(wait_until_up(client, &url, None))?;
        let figures = rt.block_on(workload(client, &url, settings, pid));
        return Ok(Some(("peer".into(), figures)));
    }
    match std::env::var("BENCH_PEER").as_deref() {
        Ok("pouchdb-server") => {
            let peer = ServerProcess::start_pouchdb(rt, client)?;
            println!(
                "  peer:     pouchdb-server --in-memory on {} (writes not durable)",
                peer.url
            );
            let figures = rt.block_on(workload(client, &peer.url, settings, Some(peer.pid())));
            Ok(Some(("pouchdb-server".into(), figures)))
        }
        Ok("") | Err(_) => Ok(None),
        Ok(other) => Err(format!("BENCH_PEER={other:?}: only pouchdb-server is supported").into()),
    }
}

/// Accepts only URLs on this machine's loopback interface.
fn loopback_url(raw: &str) -> Result<String> {
    let url = Url::parse(raw)?;
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !local {
        return Err(format!("BENCH_PEER_URL {} is not a loopback address", redact(raw)).into());
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// The URL without its password, for printing.
fn redact(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

// ---------------------------------------------------------------- servers

/// A server this bench started; stopped (with its whole process group, for
/// a peer started through npx) when dropped, whatever happened.
struct ServerProcess {
    url: String,
    child: Child,
    /// The child leads its own process group (npx → sh → node).
    group: bool,
    log: PathBuf,
    _workdir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    fn start_settee(bin: &Path, data_dir: &Path) -> Result<Self> {
        let log = data_dir.with_extension("log");
        let child = Command::new(bin)
            .arg("--admin-party")
            .args(LOOPBACK_FREE_PORT)
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let mut server = ServerProcess {
            url: String::new(),
            child,
            group: false,
            log,
            _workdir: None,
        };
        server.url = listening_url(&mut server.child, STARTUP_TIMEOUT)
            .map_err(|e| format!("{e}; log {}", server.log.display()))?;
        Ok(server)
    }

    fn start_pouchdb(rt: &Runtime, client: &Client) -> Result<Self> {
        let (program, prefix) = pouchdb_command()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // pouchdb-server writes config.json and log.txt to its directory.
        let workdir = tempfile::Builder::new().prefix("pouchdb-peer-").tempdir()?;
        let log = workdir.path().join("stdout.log");
        let out = File::create(&log)?;
        let mut command = Command::new(&program);
        command
            .args(&prefix)
            .args(["--in-memory", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .current_dir(workdir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        let mut server = ServerProcess {
            url: format!("http://127.0.0.1:{port}"),
            child,
            group: true,
            log,
            _workdir: None,
        };
        if let Err(e) = rt.block_on(wait_until_up(client, &server.url, Some(&mut server.child))) {
            let tail = std::fs::read_to_string(&server.log).unwrap_or_default();
            let tail: String = tail.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            return Err(format!("pouchdb-server did not come up: {e}\n{tail}").into());
        }
        server._workdir = Some(workdir);
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server: SIGTERM, a grace period, then SIGKILL; the child
    /// is reaped last so its pid (and process group) cannot be reused
    /// before the final signal.
    fn stop(&mut self) {
        let pid = self.child.id();
        let target = if self.group {
            format!("-{pid}")
        } else {
            pid.to_string()
        };
        signal("-TERM", &target);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && live_members(pid, self.group) > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        if live_members(pid, self.group) > 0 {
            signal("-KILL", &target);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Processes still running (not zombies) that are `pid` itself or, for a
/// group, members of process group `pid`.
fn live_members(pid: u32, group: bool) -> usize {
    processes()
        .iter()
        .filter(|p| p.state != 'Z' && (p.pid == pid || (group && p.pgrp == pid)))
        .count()
}

/// How to run pouchdb-server: `node_modules/.bin/pouchdb-server` in the
/// current directory or in `target/bench-peer` (npm-installed there first
/// when `BENCH_INSTALL_PEER=1`), else `npx --no pouchdb-server`.
fn pouchdb_command() -> Result<(PathBuf, Vec<String>)> {
    let cache = target_dir().join("bench-peer");
    let candidates = [
        PathBuf::from("node_modules/.bin/pouchdb-server"),
        cache.join("node_modules/.bin/pouchdb-server"),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok((std::fs::canonicalize(found)?, Vec::new()));
    }
    if env_flag("BENCH_INSTALL_PEER") {
        std::fs::create_dir_all(&cache)?;
        println!(
            "  peer:     npm install pouchdb-server into {} ...",
            cache.display()
        );
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(&cache)
            .arg("pouchdb-server")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("running npm: {e}"))?;
        let bin = cache.join("node_modules/.bin/pouchdb-server");
        if !status.success() || !bin.is_file() {
            return Err(format!("npm install pouchdb-server failed ({status})").into());
        }
        return Ok((bin, Vec::new()));
    }
    // `--no`: never install implicitly (set BENCH_INSTALL_PEER=1 for that).
    Ok((
        PathBuf::from("npx"),
        vec!["--no".into(), "pouchdb-server".into()],
    ))
}

/// Polls `GET /` until it answers 200 (or the child exits, or time's up).
async fn wait_until_up(client: &Client, url: &str, mut child: Option<&mut Child>) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Some(child) = child.as_deref_mut() {
            if let Some(status) = child.try_wait()? {
                return Err(format!("server exited: {status}").into());
            }
        }
        match client
            .get(format!("{url}/"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(resp) if resp.status() == StatusCode::OK => return Ok(()),
            Ok(resp) => last = format!("GET / -> {}", resp.status()),
            Err(e) => last = chain(&e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("no 200 from GET {url}/ within {STARTUP_TIMEOUT:?}: {last}").into())
}

// ----------------------------------------------------------------- /proc

struct Proc {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    state: char,
}

fn processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid pgrp ..."; comm may hold spaces.
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid = fields.next()?.parse().ok()?;
            let pgrp = fields.next()?.parse().ok()?;
            Some(Proc {
                pid,
                ppid,
                pgrp,
                state,
            })
        })
        .collect()
}

/// VmRSS and VmHWM of `root` and all its descendants, in MB.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_mb: f64,
    hwm_mb: f64,
    processes: usize,
}

/// `root` and all its descendants.
fn process_tree(root: u32) -> HashSet<u32> {
    let all = processes();
    let mut tree: HashSet<u32> = HashSet::from([root]);
    loop {
        let before = tree.len();
        for p in &all {
            if tree.contains(&p.ppid) {
                tree.insert(p.pid);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    tree
}

/// A `kB` field such as `VmRSS:` of `/proc/<pid>/status`, in MB.
fn status_mb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024.0)
}

fn memory_of_tree(root: u32) -> Result<Memory> {
    let tree = process_tree(root);
    let mut memory = Memory {
        rss_mb: 0.0,
        hwm_mb: 0.0,
        processes: 0,
    };
    for pid in tree {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if let (Some(rss), Some(hwm)) = (status_mb(&status, "VmRSS:"), status_mb(&status, "VmHWM:"))
        {
            memory.rss_mb += rss;
            memory.hwm_mb += hwm;
            memory.processes += 1;
        }
    }
    if memory.processes == 0 {
        return Err(format!("no /proc/{root}/status").into());
    }
    Ok(memory)
}

// --------------------------------------------------------------- workload

/// Errors of one phase: a count and the first few, verbatim.
#[derive(Debug, Default)]
struct ErrorLog {
    count: u64,
    samples: Vec<String>,
}

impl ErrorLog {
    fn record(&mut self, what: String) {
        self.count += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(what);
        }
    }
}

type SharedLog = Arc<Mutex<ErrorLog>>;

fn record(log: &SharedLog, what: String) {
    log.lock().unwrap_or_else(|p| p.into_inner()).record(what);
}

fn take(log: SharedLog) -> ErrorLog {
    match Arc::try_unwrap(log) {
        Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
        Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner())),
    }
}

/// A measured rate: `count` operations in `elapsed`.
#[derive(Debug, Clone, Copy)]
struct Rate {
    count: u64,
    elapsed: Duration,
}

impl Rate {
    fn per_sec(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (self.count > 0 && secs > 0.0).then(|| self.count as f64 / secs)
    }
}

#[derive(Debug, Default)]
struct Figures {
    bulk: Option<Rate>,
    put: Option<Rate>,
    get: Option<Rate>,
    scan: Option<Rate>,
    memory: Option<Memory>,
    attachment: Option<AttFigures>,
    /// (phase, errors) for every phase that had any.
    errors: Vec<(&'static str, ErrorLog)>,
}

impl Figures {
    fn note(&mut self, phase: &'static str, log: ErrorLog) {
        if log.count > 0 {
            self.errors.push((phase, log));
        }
    }
}

/// Runs every phase against `base`; a failing phase is recorded and the
/// next one still runs.
async fn workload(client: &Client, base: &str, settings: &Settings, pid: Option<u32>) -> Figures {
    let mut figures = Figures::default();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let db_url = format!("{base}/settee_bench_{stamp}");

    let setup = Arc::new(Mutex::new(ErrorLog::default()));
    match request_ok(client.put(&db_url), "PUT /{db}", &[StatusCode::CREATED]).await {
        Ok(_) => {
            let log = Arc::new(Mutex::new(ErrorLog::default()));
            figures.bulk = bulk_phase(client, &db_url, settings, &log).await;
            figures.note("_bulk_docs", take(log));

            let log = Arc::new(Mutex::new(ErrorLog::default()));
            figures.scan = scan_phase(client, &db_url, settings, &log).await;
            figures.note("_all_docs scan", take(log));

            let log = Arc::new(Mutex::new(ErrorLog::default()));
            figures.put = Some(concurrent_phase(client, &db_url, Op::Put, settings, &log).await);
            figures.note("durable PUT", take(log));

            let log = Arc::new(Mutex::new(ErrorLog::default()));
            figures.get = Some(concurrent_phase(client, &db_url, Op::Get, settings, &log).await);
            figures.note("GET", take(log));

            // Measure memory before the database is deleted.
            if let Some(pid) = pid {
                match memory_of_tree(pid) {
                    Ok(m) => figures.memory = Some(m),
                    Err(e) => record(&setup, format!("reading RSS: {e}")),
                }
            }

            // After the RSS reading above, so that figure is unchanged.
            if settings.att_bytes > 0 {
                let log = Arc::new(Mutex::new(ErrorLog::default()));
                figures.attachment =
                    Some(attachment_phase(client, &db_url, settings.att_bytes, pid, &log).await);
                figures.note("attachment", take(log));
            }
            if let Err(e) =
                request_ok(client.delete(&db_url), "DELETE /{db}", &[StatusCode::OK]).await
            {
                record(&setup, e);
            }
        }
        Err(e) => record(&setup, e),
    }
    figures.note("setup", take(setup));
    figures
}

/// Sends a request; `Ok(body)` when its status is one of `ok`, else a
/// printable error with status and body.
async fn request_ok(
    request: reqwest::RequestBuilder,
    what: &str,
    ok: &[StatusCode],
) -> Result<Vec<u8>, String> {
    let resp = request
        .send()
        .await
        .map_err(|e| format!("{what}: {}", chain(&e)))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{what} -> {status}, reading body: {}", chain(&e)))?;
    if ok.contains(&status) {
        Ok(body.to_vec())
    } else {
        Err(format!("{what} -> {status}: {}", snippet(&body)))
    }
}

/// A ~`DOC_BYTES`-byte JSON document; `_id` only when given.
fn document(id: Option<&str>, n: u64) -> String {
    let mut doc = json!({
        "type": "bench",
        "n": n,
        "name": format!("document number {n}"),
        "tags": ["alpha", "beta", "gamma"],
        "created": "2024-05-01T12:00:00Z",
        "nested": {"score": n % 997, "active": n.is_multiple_of(2)},
    });
    if let (Some(id), Some(obj)) = (id, doc.as_object_mut()) {
        obj.insert("_id".into(), Value::String(id.into()));
    }
    let base = doc.to_string().len() + r#","payload":"""#.len();
    let pad = DOC_BYTES.saturating_sub(base);
    let payload: String = (0..pad)
        .map(|i| char::from(b'a' + ((n as usize + i) % 26) as u8))
        .collect();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("payload".into(), Value::String(payload));
    }
    doc.to_string()
}

fn bulk_id(index: u64) -> String {
    format!("bulk-{index:08}")
}

/// `_bulk_docs` in sequential batches; counts docs saved without error.
async fn bulk_phase(
    client: &Client,
    db_url: &str,
    settings: &Settings,
    log: &SharedLog,
) -> Option<Rate> {
    // Bodies are built before the clock starts.
    let bodies: Vec<String> = (0..settings.bulk_batches)
        .map(|b| {
            let docs: Vec<String> = (0..settings.batch_size)
                .map(|i| {
                    let n = b * settings.batch_size + i;
                    document(Some(&bulk_id(n)), n)
                })
                .collect();
            format!("{{\"docs\":[{}]}}", docs.join(","))
        })
        .collect();
    let url = format!("{db_url}/_bulk_docs");
    let deadline = Instant::now() + settings.phase_time * 4;
    let mut saved = 0u64;
    let start = Instant::now();
    for body in bodies {
        if Instant::now() >= deadline {
            record(
                log,
                format!("stopped early: over {:?}", settings.phase_time * 4),
            );
            break;
        }
        let request = client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        match request_ok(request, "POST /{db}/_bulk_docs", &[StatusCode::CREATED]).await {
            Ok(body) => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(results)) => {
                    for r in &results {
                        if r.get("error").is_some() {
                            record(log, format!("POST /{{db}}/_bulk_docs item: {r}"));
                        } else if r.get("ok") == Some(&Value::Bool(true)) || r.get("rev").is_some()
                        {
                            saved += 1;
                        } else {
                            record(log, format!("POST /{{db}}/_bulk_docs odd item: {r}"));
                        }
                    }
                }
                _ => record(
                    log,
                    format!(
                        "POST /{{db}}/_bulk_docs -> 201 but not an array: {}",
                        snippet(&body)
                    ),
                ),
            },
            Err(e) => record(log, e),
        }
    }
    Some(Rate {
        count: saved,
        elapsed: start.elapsed(),
    })
}

/// Full `_all_docs?include_docs=true` reads; the clock stops once the
/// whole (streamed) body is in. Rows are counted after the clock stops.
async fn scan_phase(
    client: &Client,
    db_url: &str,
    settings: &Settings,
    log: &SharedLog,
) -> Option<Rate> {
    let url = format!("{db_url}/_all_docs?include_docs=true");
    let what = "GET /{db}/_all_docs?include_docs=true";
    let expected = settings.bulk_docs();
    let mut total = Rate {
        count: 0,
        elapsed: Duration::ZERO,
    };
    let deadline = Instant::now() + settings.phase_time * 4;
    for run in 0..settings.scan_runs {
        if run > 0 && Instant::now() >= deadline {
            break;
        }
        let start = Instant::now();
        let body = match read_streamed(client, &url).await {
            Ok(body) => body,
            Err(e) => {
                record(log, format!("{what}: {e}"));
                continue;
            }
        };
        let elapsed = start.elapsed();
        let rows = match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v.get("rows").and_then(Value::as_array).map(|rows| {
                rows.iter()
                    .filter(|r| r.get("doc").is_some_and(Value::is_object))
                    .count() as u64
            }),
            Err(e) => {
                record(
                    log,
                    format!("{what}: invalid JSON ({e}) in {} bytes", body.len()),
                );
                continue;
            }
        };
        match rows {
            Some(rows) => {
                if rows != expected {
                    record(
                        log,
                        format!("{what}: {rows} rows with docs, expected {expected}"),
                    );
                }
                total.count += rows;
                total.elapsed += elapsed;
            }
            None => record(log, format!("{what}: no rows: {}", snippet(&body))),
        }
    }
    Some(total)
}

async fn read_streamed(client: &Client, url: &str) -> Result<Vec<u8>, String> {
    let mut resp = client.get(url).send().await.map_err(|e| chain(&e))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("-> {status}, after {} bytes: {}", body.len(), chain(&e)))?
    {
        body.extend_from_slice(&chunk);
    }
    if status != StatusCode::OK {
        return Err(format!("-> {status}: {}", snippet(&body)));
    }
    Ok(body)
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// PUT a new document (durable: the server must fsync before 201).
    Put,
    /// GET an existing `_bulk_docs` document.
    Get,
}

/// `CLIENTS` workers share a counter; each takes the next index until the
/// request budget or the phase time runs out.
async fn concurrent_phase(
    client: &Client,
    db_url: &str,
    op: Op,
    settings: &Settings,
    log: &SharedLog,
) -> Rate {
    let max = match op {
        Op::Put => settings.puts,
        Op::Get => settings.gets,
    };
    let docs = settings.bulk_docs();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + settings.phase_time;
    let mut workers = JoinSet::new();
    for _ in 0..CLIENTS {
        let (client, db_url, next, done, log) = (
            client.clone(),
            db_url.to_string(),
            Arc::clone(&next),
            Arc::clone(&done),
            Arc::clone(log),
        );
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max || Instant::now() >= deadline {
                    break;
                }
                let result = match op {
                    Op::Put => {
                        let request = client
                            .put(format!("{db_url}/put-{i:08}"))
                            .header(CONTENT_TYPE, "application/json")
                            .body(document(None, i));
                        request_ok(request, "PUT /{db}/put-N", &[StatusCode::CREATED]).await
                    }
                    Op::Get => {
                        // A scattered, repeatable walk over the bulk docs.
                        let n = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % docs;
                        let id = bulk_id(n);
                        let what = format!("GET /{{db}}/{id}");
                        match request_ok(
                            client.get(format!("{db_url}/{id}")),
                            &what,
                            &[StatusCode::OK],
                        )
                        .await
                        {
                            Ok(body) if body.starts_with(b"{") => Ok(body),
                            Ok(body) => {
                                Err(format!("{what} -> 200 but not a doc: {}", snippet(&body)))
                            }
                            Err(e) => Err(e),
                        }
                    }
                };
                match result {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => record(&log, e),
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            record(log, format!("worker task failed: {e}"));
        }
    }
    Rate {
        count: done.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    }
}

// ------------------------------------------------------------- attachment

/// One standalone attachment sent up and read back.
#[derive(Debug, Clone, Copy, Default)]
struct AttFigures {
    /// Upload time, from the request's start to the server's 201.
    upload: Option<Duration>,
    /// Download time, from the request's start to the last byte; only
    /// when length and checksum matched what was uploaded.
    download: Option<Duration>,
    /// Server RSS just before the upload, MB.
    rss_before_mb: Option<f64>,
    upload_peak: Option<Peak>,
    download_peak: Option<Peak>,
    /// Server VmHWM (lifetime peak) before and after the phase, MB: a
    /// spike shorter than the sampling interval still shows here.
    hwm_before_mb: Option<f64>,
    hwm_after_mb: Option<f64>,
    /// Server RSS once the download is complete, MB.
    rss_after_mb: Option<f64>,
}

/// The highest RSS seen by a sampler, and how many samples it took.
#[derive(Debug, Clone, Copy)]
struct Peak {
    mb: f64,
    samples: u64,
}

/// Total VmRSS and VmHWM of `pids` in MB; `None` when none is readable.
fn rss_of(pids: &[u32]) -> Option<(f64, f64)> {
    let mut found = None;
    for pid in pids {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        if let (Some(rss), Some(hwm)) = (status_mb(&status, "VmRSS:"), status_mb(&status, "VmHWM:"))
        {
            let (r, h) = found.unwrap_or((0.0, 0.0));
            found = Some((r + rss, h + hwm));
        }
    }
    found
}

/// A background thread reading the RSS of a process tree every
/// `RSS_EVERY` until stopped; keeps the highest value.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<Peak>>,
}

impl RssSampler {
    fn start(pids: Vec<u32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak: Option<Peak> = None;
            loop {
                // Checked before sampling, so a final sample is taken
                // after `finish` asked to stop.
                let last = flag.load(Ordering::Acquire);
                if let Some((rss, _)) = rss_of(&pids) {
                    peak = Some(match peak {
                        Some(p) => Peak {
                            mb: p.mb.max(rss),
                            samples: p.samples + 1,
                        },
                        None => Peak {
                            mb: rss,
                            samples: 1,
                        },
                    });
                }
                if last {
                    return peak;
                }
                std::thread::park_timeout(RSS_EVERY);
            }
        });
        RssSampler { stop, thread }
    }

    fn finish(self) -> Option<Peak> {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        self.thread.join().ok().flatten()
    }
}

/// A cheap order-sensitive checksum over 8-byte words (not a hash for
/// anything but spotting a corrupted or reordered transfer).
#[derive(Debug, Clone, Copy, Default)]
struct Checksum {
    state: u64,
    len: u64,
    tail: [u8; 8],
    tail_len: usize,
}

impl Checksum {
    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word)
            .wrapping_mul(0x0000_0100_0000_01B3)
            .rotate_left(29);
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            self.mix(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.mix(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// (length, checksum) of everything seen.
    fn finish(mut self) -> (u64, u64) {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        self.mix(u64::from_le_bytes(last));
        self.mix(self.len);
        (self.len, self.state)
    }
}

/// Incompressible pseudo-random bytes (xorshift64*), `ATT_CHUNK` at a
/// time; the stream also checksums what it hands out.
struct RandomBody {
    state: u64,
    left: u64,
    sum: Arc<Mutex<Checksum>>,
}

impl RandomBody {
    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let size = self.left.min(ATT_CHUNK as u64) as usize;
        let mut chunk = Vec::with_capacity(size + 8);
        while chunk.len() < size {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let word = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
            chunk.extend_from_slice(&word.to_le_bytes());
        }
        chunk.truncate(size);
        self.left -= size as u64;
        self.sum
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update(&chunk);
        Some(Bytes::from(chunk))
    }
}

/// `PUT /{db}/{doc}/{name}` (no rev: creates the doc) with a streamed
/// `application/octet-stream` body of `bytes` bytes, then `GET` it back
/// streamed, checking length and checksum; the server's RSS is sampled
/// in the background during each transfer.
async fn attachment_phase(
    client: &Client,
    db_url: &str,
    bytes: u64,
    pid: Option<u32>,
    log: &SharedLog,
) -> AttFigures {
    let url = format!("{db_url}/attachment-bench/blob.bin");
    let pids: Vec<u32> = pid
        .map(|p| process_tree(p).into_iter().collect())
        .unwrap_or_default();
    let mut figures = AttFigures::default();
    if let Some((rss, hwm)) = rss_of(&pids) {
        figures.rss_before_mb = Some(rss);
        figures.hwm_before_mb = Some(hwm);
    }

    let sum = Arc::new(Mutex::new(Checksum::default()));
    let body = RandomBody {
        state: 0x9E37_79B9_7F4A_7C15,
        left: bytes,
        sum: Arc::clone(&sum),
    };
    let stream = futures::stream::unfold(body, |mut body| async move {
        body.next_chunk()
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), body))
    });
    let request = client
        .put(&url)
        .timeout(ATT_TIMEOUT)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, bytes)
        .body(Body::wrap_stream(stream));
    let what = "PUT /{db}/{doc}/{attachment}";
    let sampler = (!pids.is_empty()).then(|| RssSampler::start(pids.clone()));
    let start = Instant::now();
    let put = request_ok(request, what, &[StatusCode::CREATED, StatusCode::ACCEPTED]).await;
    let elapsed = start.elapsed();
    figures.upload_peak = sampler.and_then(RssSampler::finish);
    if let Err(e) = put {
        record(log, e);
        return figures;
    }
    figures.upload = Some(elapsed);
    let sent = sum.lock().unwrap_or_else(|p| p.into_inner()).finish();

    let what = "GET /{db}/{doc}/{attachment}";
    let sampler = (!pids.is_empty()).then(|| RssSampler::start(pids.clone()));
    let start = Instant::now();
    let got = read_checksummed(client, &url).await;
    let elapsed = start.elapsed();
    figures.download_peak = sampler.and_then(RssSampler::finish);
    match got {
        Ok(got) if got == sent => figures.download = Some(elapsed),
        Ok((len, sum)) => record(
            log,
            format!(
                "{what}: got {len} bytes (checksum {sum:016x}), sent {} bytes (checksum {:016x})",
                sent.0, sent.1
            ),
        ),
        Err(e) => record(log, format!("{what}: {e}")),
    }
    if let Some((rss, hwm)) = rss_of(&pids) {
        figures.rss_after_mb = Some(rss);
        figures.hwm_after_mb = Some(hwm);
    }
    figures
}

/// GETs `url`, checksumming the streamed body without keeping it.
async fn read_checksummed(client: &Client, url: &str) -> Result<(u64, u64), String> {
    let mut resp = client
        .get(url)
        .timeout(ATT_TIMEOUT)
        .send()
        .await
        .map_err(|e| chain(&e))?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.bytes().await.unwrap_or_default();
        return Err(format!("-> {status}: {}", snippet(&body)));
    }
    let mut sum = Checksum::default();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("-> {status}, after {} bytes: {}", sum.len, chain(&e)))?
    {
        sum.update(&chunk);
    }
    Ok(sum.finish())
}

// ----------------------------------------------------------------- output

/// CouchDB 3.4's figures for the same workload, and Settee's target.
struct Reference {
    label: &'static str,
    unit: &'static str,
    couch: f64,
    goal: Goal,
}

#[derive(Clone, Copy)]
enum Goal {
    /// At least this many times CouchDB's rate.
    Times(f64),
    /// Below this many MB.
    BelowMb(f64),
}

const REFERENCES: [Reference; 6] = [
    Reference {
        label: "_bulk_docs insert (1000/batch)",
        unit: "docs/s",
        couch: 23_500.0,
        goal: Goal::Times(5.0),
    },
    Reference {
        label: "durable PUT, 32 clients",
        unit: "PUT/s",
        couch: 1_200.0,
        goal: Goal::Times(10.0),
    },
    Reference {
        label: "GET, 32 clients",
        unit: "GET/s",
        couch: 1_400.0,
        goal: Goal::Times(20.0),
    },
    Reference {
        label: "_all_docs include_docs scan",
        unit: "docs/s",
        couch: 21_700.0,
        goal: Goal::Times(10.0),
    },
    Reference {
        label: "RSS after run (VmRSS)",
        unit: "MB",
        couch: 126.0,
        goal: Goal::BelowMb(30.0),
    },
    Reference {
        label: "peak RSS (VmHWM)",
        unit: "MB",
        couch: 126.0,
        goal: Goal::BelowMb(30.0),
    },
];

fn values(f: &Figures) -> [Option<f64>; 6] {
    [
        f.bulk.and_then(|r| r.per_sec()),
        f.put.and_then(|r| r.per_sec()),
        f.get.and_then(|r| r.per_sec()),
        f.scan.and_then(|r| r.per_sec()),
        f.memory.map(|m| m.rss_mb),
        f.memory.map(|m| m.hwm_mb),
    ]
}

fn print_table(settee: &Figures, peer: Option<&(String, Figures)>) {
    let mut header = vec!["figure".to_string(), "unit".into(), "Settee".into()];
    if let Some((label, _)) = peer {
        header.push(label.clone());
        header.push(format!("Settee/{label}"));
    }
    header.extend([
        "CouchDB 3.4".into(),
        "Settee/CouchDB".into(),
        "target".into(),
        "met".into(),
    ]);
    let mut rows = vec![header];
    let ours = values(settee);
    let theirs = peer.map(|(_, f)| values(f));
    for (i, reference) in REFERENCES.iter().enumerate() {
        let value = ours[i];
        let mut row = vec![
            reference.label.to_string(),
            reference.unit.to_string(),
            number(value),
        ];
        if let Some(theirs) = &theirs {
            row.push(number(theirs[i]));
            row.push(ratio(value, theirs[i]));
        }
        let (target, met) = match reference.goal {
            Goal::Times(k) => (
                format!(">= {k}x ({})", number(Some(reference.couch * k))),
                value.map(|v| v >= reference.couch * k),
            ),
            Goal::BelowMb(mb) => (format!("< {mb} MB"), value.map(|v| v < mb)),
        };
        row.push(number(Some(reference.couch)));
        row.push(ratio(value, Some(reference.couch)));
        row.push(target);
        row.push(match met {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "-".into(),
        });
        rows.push(row);
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    // Text columns left-aligned, figures right-aligned.
    print_grid(&rows, |c| c < 2 || c + 2 >= columns);
    let detail = |name: &str, f: &Figures| {
        let part = |label: &str, r: Option<Rate>| match r {
            Some(r) => format!("{label} {} in {:.2} s", r.count, r.elapsed.as_secs_f64()),
            None => format!("{label} -"),
        };
        let memory = match f.memory {
            Some(m) if m.processes > 1 => format!("; memory summed over {} processes", m.processes),
            _ => String::new(),
        };
        println!(
            "  {name}: {}; {}; {}; {}{memory}",
            part("bulk", f.bulk),
            part("PUT", f.put),
            part("GET", f.get),
            part("scanned", f.scan),
        );
    };
    println!();
    detail("Settee", settee);
    if let Some((label, f)) = peer {
        detail(label, f);
    }
    println!(
        "  CouchDB 3.4 column: reference figures for this workload, not measured here; \
         the load generator shares the machine's cores with the server."
    );
}

/// Prints `rows` in aligned columns, the first row as a header;
/// `left(column)` says which columns hold text (left-aligned).
fn print_grid(rows: &[Vec<String>], left: impl Fn(usize) -> bool) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (r, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let w = widths[c];
            if left(c) {
                let _ = write!(line, "{cell:<w$}  ");
            } else {
                let _ = write!(line, "{cell:>w$}  ");
            }
        }
        println!("{}", line.trim_end());
        if r == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (columns.saturating_sub(1));
            println!("{}", "-".repeat(total));
        }
    }
}

/// The attachment phase's table: one row per server.
fn print_attachment_table(bytes: u64, settee: &Figures, peer: Option<&(String, Figures)>) {
    let mb = bytes as f64 / MIB;
    let mut rows = vec![vec![
        format!("attachment, {mb:.0} MB"),
        "upload MB/s".into(),
        "download MB/s".into(),
        "RSS before MB".into(),
        "peak RSS upload MB".into(),
        "peak RSS download MB".into(),
    ]];
    let mut servers = vec![("Settee", settee)];
    if let Some((label, f)) = peer {
        servers.push((label.as_str(), f));
    }
    let rate = |d: Option<Duration>| d.map(|d| mb / d.as_secs_f64().max(f64::EPSILON));
    for (name, f) in &servers {
        let a = f.attachment.unwrap_or_default();
        rows.push(vec![
            name.to_string(),
            number(rate(a.upload)),
            number(rate(a.download)),
            number(a.rss_before_mb),
            number(a.upload_peak.map(|p| p.mb)),
            number(a.download_peak.map(|p| p.mb)),
        ]);
    }
    print_grid(&rows, |c| c == 0);
    println!();
    for (name, f) in &servers {
        let a = f.attachment.unwrap_or_default();
        let secs = |d: Option<Duration>| match d {
            Some(d) => format!("{:.2} s", d.as_secs_f64()),
            None => "failed".into(),
        };
        let samples = |p: Option<Peak>| p.map_or(0, |p| p.samples);
        println!(
            "  {name}: upload {}, download {} (length and checksum {}); \
             RSS samples {} + {}; VmRSS after {} MB; VmHWM {} -> {} MB",
            secs(a.upload),
            secs(a.download),
            if a.download.is_some() {
                "match"
            } else {
                "not verified"
            },
            samples(a.upload_peak),
            samples(a.download_peak),
            number(a.rss_after_mb),
            number(a.hwm_before_mb),
            number(a.hwm_after_mb),
        );
    }
    println!(
        "  Streamed application/octet-stream body of pseudo-random bytes; PUT without \
         rev creates the doc. RSS summed over the server's process tree, sampled every \
         {} ms; MB = MiB.",
        RSS_EVERY.as_millis()
    );
}

fn print_errors(name: &str, figures: &Figures) {
    if figures.errors.is_empty() {
        println!("{name}: no errors");
        return;
    }
    for (phase, log) in &figures.errors {
        println!("{name}: {phase}: {} error(s)", log.count);
        for sample in &log.samples {
            println!("    {sample}");
        }
    }
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 1000.0 => format!("{v:.1}"),
        Some(v) => {
            let digits = format!("{:.0}", v);
            let mut out = String::new();
            for (i, ch) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(ch);
            }
            out
        }
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// The first 300 characters of a body, on one line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim().replace('\n', " ");
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}
