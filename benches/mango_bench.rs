//! Mango benchmark: `cargo bench --bench mango_bench`.
//!
//! Starts the release `settee` binary on a free loopback port with an
//! on-disk temporary data directory and measures, over HTTP:
//!
//! 1. index build time: a two-field JSON index (`[type, n]`) over 20,000
//!    documents (CouchDB 3.4: ~1.2 s) and over 100,000 documents;
//! 2. indexed `_find` throughput on 100,000 documents: equality + range
//!    (`{"type": …, "n": {"$gt": …}}`, limit 10) with 32 concurrent
//!    clients (CouchDB 3.4: ~400 finds/s);
//! 3. an unindexed `_find` (a full scan of 100,000 documents).
//!
//! Sizes: `MANGO_BENCH_DOCS` (default 100000), `MANGO_BENCH_SECS` (seconds
//! of the throughput phase, default 10), `BENCH_SETTEE_BIN` (binary).

mod common;
#[path = "common/server.rs"]
mod server;

use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

use common::{env_u64, settee_binary, Result, LOOPBACK_FREE_PORT};
use server::Server;

const CLIENTS: usize = 32;
const TYPES: u64 = 10;

fn main() -> ExitCode {
    common::main("mango_bench", run)
}

/// The release settee, admin party, on disk under `dir`.
fn start(dir: &tempfile::TempDir) -> Result<Server> {
    let mut command = Command::new(settee_binary()?);
    command
        .arg("--admin-party")
        .args(LOOPBACK_FREE_PORT)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stderr(Stdio::null());
    Server::start(command)
}

async fn post(client: &Client, url: &str, body: &Value) -> Result<Value> {
    let r = client.post(url).json(body).send().await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {v}").into());
    }
    Ok(v)
}

async fn load(client: &Client, base: &str, db: &str, docs: u64) -> Result<()> {
    let r = client.put(format!("{base}/{db}")).send().await?;
    if !r.status().is_success() {
        return Err(format!("create {db}: {}", r.status()).into());
    }
    let mut i = 0;
    while i < docs {
        let batch: Vec<Value> = (i..(i + 1000).min(docs))
            .map(|n| {
                json!({"_id": format!("doc-{n:07}"), "type": format!("t{}", n % TYPES), "n": (n * 7919) % 100_000,
                       "name": format!("user {n}"), "tags": ["a", "b"], "active": n % 2 == 0})
            })
            .collect();
        post(
            client,
            &format!("{base}/{db}/_bulk_docs"),
            &json!({ "docs": batch }),
        )
        .await?;
        i += 1000;
    }
    Ok(())
}

/// Creates the two-field index and runs one query, which waits for the
/// build: the elapsed time is the build time.
async fn build(client: &Client, base: &str, db: &str) -> Result<Duration> {
    let started = Instant::now();
    post(
        client,
        &format!("{base}/{db}/_index"),
        &json!({"index": {"fields": ["type", "n"]}, "name": "type-n", "ddoc": "bench"}),
    )
    .await?;
    let r = post(
        client,
        &format!("{base}/{db}/_find"),
        &json!({"selector": {"type": "t1", "n": {"$gt": 0}}, "limit": 1}),
    )
    .await?;
    if r["docs"].as_array().map_or(0, Vec::len) != 1 {
        return Err(format!("unexpected first find: {r}").into());
    }
    Ok(started.elapsed())
}

fn run() -> Result<()> {
    let docs = env_u64("MANGO_BENCH_DOCS", 100_000)?;
    let secs = env_u64("MANGO_BENCH_SECS", 10)?;
    // Declared before the server, so removed after it is killed.
    let dir = tempfile::Builder::new().prefix("mango-bench-").tempdir()?;
    let server = start(&dir)?;
    let base = server.url.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    rt.block_on(async move {
        println!("mango_bench: {docs} docs, {CLIENTS} clients, {secs} s phases");
        let t = Instant::now();
        load(&client, &base, "small", 20_000).await?;
        load(&client, &base, "big", docs).await?;
        println!("  loaded in {:.1} s", t.elapsed().as_secs_f64());

        let small = build(&client, &base, "small").await?;
        let big = build(&client, &base, "big").await?;

        // Indexed equality + range, limit 10, 32 clients.
        let done = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for c in 0..CLIENTS as u64 {
            let (client, base, done, errors) = (client.clone(), base.clone(), done.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = c;
                while Instant::now() < deadline {
                    i = (i * 6364136223846793005).wrapping_add(1442695040888963407);
                    let q = json!({"selector": {"type": format!("t{}", (i >> 33) % TYPES), "n": {"$gt": (i >> 40) % 99_000}}, "limit": 10});
                    match post(&client, &format!("{base}/big/_find"), &q).await {
                        Ok(v) if v["docs"].as_array().is_some_and(|d| !d.is_empty()) => done.fetch_add(1, Ordering::Relaxed),
                        _ => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        let started = Instant::now();
        for t in tasks {
            t.await?;
        }
        let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

        // Unindexed: a full scan of every document.
        let scan_started = Instant::now();
        let runs = 3;
        for _ in 0..runs {
            let r = post(&client, &format!("{base}/big/_find"), &json!({"selector": {"name": "user 0"}, "execution_stats": true})).await?;
            if r["execution_stats"]["total_docs_examined"].as_u64() != Some(docs) {
                return Err(format!("full scan examined {}", r["execution_stats"]).into());
            }
        }
        let scan = scan_started.elapsed().as_secs_f64() / runs as f64;

        println!();
        println!("  {:<52} {:>12} {:>12} {:>8}", "measure", "settee", "couchdb 3.4", "ratio");
        println!("  {:<52} {:>12.3} {:>12} {:>7.1}x", "index build, 2 fields, 20,000 docs (s)", small.as_secs_f64(), "1.2", 1.2 / small.as_secs_f64());
        println!("  {:<52} {:>12.3} {:>12} {:>8}", format!("index build, 2 fields, {docs} docs (s)"), big.as_secs_f64(), "-", "");
        println!("  {:<52} {:>12.0} {:>12} {:>7.1}x", "indexed _find eq+range limit 10, 32 clients (/s)", rate, "400", rate / 400.0);
        println!("  {:<52} {:>12.3} {:>12} {:>8}", format!("full-scan _find over {docs} docs (s)"), scan, "-", "");
        println!("  {:<52} {:>12.0}", "full-scan docs examined per second", docs as f64 / scan);
        println!("  errors: {}", errors.load(Ordering::Relaxed));
        Ok(())
    })
}
