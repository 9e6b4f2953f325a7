//! Authentication cost: `cargo bench --bench auth_bench`.
//!
//! Starts the release `settee` binary (in memory, one server admin, a
//! `_users` user, PBKDF2 at CouchDB 3.4's 600,000 iterations), then with 32
//! concurrent clients measures:
//!
//! 1. `GET /{db}/{doc}` without credentials (the database is public),
//! 2. the same GET with Basic auth as a `_users` user (the cache of verified
//!    passwords keeps PBKDF2 off the hot path),
//! 3. the same GET with an `AuthSession` cookie,
//! 4. `POST /_session` (cookie login) for that user,
//! 5. the first Basic request of a new user (one full PBKDF2), sequentially.
//!
//! Each phase runs up to `AUTH_BENCH_REQUESTS` requests (default 100,000)
//! or `AUTH_BENCH_SECS` seconds (default 5). Errors are counted, never fatal.

mod common;
#[path = "common/server.rs"]
mod server;

use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use serde_json::json;

use common::{env_u64, settee_binary, BoxError, LOOPBACK_FREE_PORT};
use server::Server;

const CLIENTS: usize = 32;
const PASSWORD: &str = "bench-password";

fn main() -> ExitCode {
    common::main("auth_bench", run)
}

/// The release settee in memory with server admin `admin`.
fn start() -> Result<Server, BoxError> {
    let mut command = Command::new(settee_binary()?);
    command
        .args(LOOPBACK_FREE_PORT)
        .args(["--in-memory", "--admin"])
        .arg(format!("admin:{PASSWORD}"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::inherit());
    Server::start(command)
}

/// Requests per second of `make` run by 32 clients.
async fn phase<F>(name: &str, max: u64, secs: u64, make: F) -> (f64, u64)
where
    F: Fn() -> RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (make, done, errors) = (Arc::clone(&make), Arc::clone(&done), Arc::clone(&errors));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline && done.fetch_add(1, Ordering::Relaxed) < max {
                match make().send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed).min(max);
    let rate = n as f64 / elapsed;
    let errs = errors.load(Ordering::Relaxed);
    println!("  {name:<44} {rate:>10.0} req/s  ({n} requests, {errs} errors)");
    (rate, errs)
}

fn run() -> Result<(), BoxError> {
    let max = env_u64("AUTH_BENCH_REQUESTS", 100_000)?;
    let secs = env_u64("AUTH_BENCH_SECS", 5)?;
    let server = start()?;
    let url = server.url.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
        let admin = |rb: RequestBuilder| rb.basic_auth("admin", Some(PASSWORD));
        admin(client.put(format!("{url}/bench")))
            .send()
            .await?
            .error_for_status()?;
        admin(client.put(format!("{url}/bench/_security")))
            .json(&json!({}))
            .send()
            .await?
            .error_for_status()?;
        admin(client.put(format!("{url}/bench/doc")))
            .json(&json!({"value": "x".repeat(200)}))
            .send()
            .await?
            .error_for_status()?;
        for user in ["bench", "fresh"] {
            admin(client.put(format!("{url}/_users/org.couchdb.user:{user}")))
                .json(&json!({"type": "user", "name": user, "roles": [], "password": PASSWORD}))
                .send()
                .await?
                .error_for_status()?;
        }
        let login = client
            .post(format!("{url}/_session"))
            .json(&json!({"name": "bench", "password": PASSWORD}))
            .send()
            .await?
            .error_for_status()?;
        let cookie = login
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .ok_or("no cookie")?
            .to_string();

        println!(
            "auth_bench: {CLIENTS} clients, up to {max} requests or {secs} s per phase, {url}"
        );
        let doc = format!("{url}/bench/doc");
        let (c, d) = (client.clone(), doc.clone());
        let (plain, _) = phase("GET, no credentials", max, secs, move || c.get(&d)).await;
        let (c, d) = (client.clone(), doc.clone());
        let (basic, _) = phase("GET, Basic auth (_users user)", max, secs, move || {
            c.get(&d).basic_auth("bench", Some(PASSWORD))
        })
        .await;
        let (c, d, k) = (client.clone(), doc.clone(), cookie.clone());
        let (cookie_rate, _) = phase("GET, AuthSession cookie", max, secs, move || {
            c.get(&d).header("Cookie", &k)
        })
        .await;
        let (c, u) = (client.clone(), url.clone());
        let (session, _) = phase("POST /_session", max, secs, move || {
            c.post(format!("{u}/_session"))
                .json(&json!({"name": "bench", "password": PASSWORD}))
        })
        .await;
        let started = Instant::now();
        let first = client
            .get(&doc)
            .basic_auth("fresh", Some(PASSWORD))
            .send()
            .await?;
        let cold = started.elapsed();
        println!(
            "  {:<44} {:>10.1} ms    (status {}, 600,000 PBKDF2-SHA256 iterations)",
            "first Basic request of a user (cold)",
            cold.as_secs_f64() * 1000.0,
            first.status()
        );
        println!(
            "  Basic auth costs {:.1}% of the unauthenticated GET rate; cookies {:.1}%",
            (1.0 - basic / plain) * 100.0,
            (1.0 - cookie_rate / plain) * 100.0
        );
        println!("  POST /_session: {session:.0} logins/s");
        Ok::<(), BoxError>(())
    })?;
    drop(server);
    Ok(())
}
