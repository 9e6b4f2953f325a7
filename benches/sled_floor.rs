//! The storage floor: `cargo bench --bench sled_floor`.
//!
//! How fast can sled 0.34 itself go on the settee_bench write workloads, with
//! no HTTP, no JSON and no revision trees? It opens sled exactly as Settee
//! does (`storage::sled_config`, on disk under `target/bench-data/`) and
//! writes the same documents with one, two or three sled keys per document:
//!
//! 1. one key: the document record with its body inline (`d`);
//! 2. two keys: plus the by-sequence entry (`s`);
//! 3. three keys: plus the body under its own key (`b`), Settee's layout.
//!
//! For each layout it measures the settee_bench bulk phase (50 batches of
//! 1000 docs, one `apply_batch` + `flush` per batch), durable single-doc
//! writes from 32 concurrent tasks on a two-thread runtime through Settee's
//! own `GroupCommit`, and the process RSS after writing 70,000 docs and
//! reading them all back. Each layout runs in a fresh child process so its
//! RSS is its own.
//!
//! The table puts these ceilings next to Settee's targets: a target above
//! the bare-storage ceiling cannot be met by any server on this storage.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use settee::couch::rev::Rev;
use settee::storage::{keys, sled_config, GroupCommit};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

const BATCHES: u64 = 50;
const BATCH_SIZE: u64 = 1000;
const WRITERS: u64 = 32;
const MAX_DURABLE: u64 = 20_000;
const DURABLE_SECS: u64 = 10;
const DB: u64 = 1;
/// A ~250-byte JSON body and a ~96-byte revision record, as Settee stores.
const BODY: [u8; 250] = [b'x'; 250];
const RECORD: [u8; 96] = [b'r'; 96];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("sled_floor: not run without --bench (use `cargo bench --bench sled_floor`)");
        return ExitCode::SUCCESS;
    }
    let case = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok());
    let outcome = match case {
        Some(layout) => run_case(layout).map(|line| println!("{line}")),
        None => run_all(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sled_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs each layout in a child process and prints the table.
fn run_all() -> Result<()> {
    let exe = std::env::current_exe()?;
    println!("sled_floor: bare sled 0.34 with Settee's configuration, no HTTP/JSON/revision work");
    println!(
        "  bulk: {BATCHES} x {BATCH_SIZE}-doc apply_batch + flush; durable: {WRITERS} tasks, \
         GroupCommit, <= {MAX_DURABLE} writes or {DURABLE_SECS} s; RSS after 70,000 docs + full read\n"
    );
    println!(
        "{:<34} {:>12} {:>14} {:>9}",
        "layout", "bulk docs/s", "durable w/s", "RSS MB"
    );
    println!("{}", "-".repeat(72));
    for layout in 1..=3 {
        let out = Command::new(&exe)
            .args(["--bench", "--case", &layout.to_string()])
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "layout {layout} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    println!("{}", "-".repeat(72));
    println!(
        "{:<34} {:>12} {:>14} {:>9}",
        "Settee targets (settee_bench)", "117500", "12000", "< 30"
    );
    Ok(())
}

/// One layout, in this (fresh) process; returns its table row.
fn run_case(layout: usize) -> Result<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&root)?;
    let dir = tempfile::Builder::new()
        .prefix("sled-floor-")
        .tempdir_in(&root)?;
    let db = sled_config(dir.path(), false, 16).open()?;

    let bulk = bulk_rate(&db, layout)?;
    let durable = durable_rate(&db, layout)?;
    let mut read = 0usize;
    for entry in db.scan_prefix(keys::doc_prefix(DB)) {
        read += entry?.1.len();
    }
    std::hint::black_box(read);
    let rss = rss_mb()?;
    let name = match layout {
        1 => "1 key/doc (record + body)",
        2 => "2 keys/doc (+ by-seq)",
        _ => "3 keys/doc (+ body key; Settee's)",
    };
    Ok(format!(
        "{name:<34} {bulk:>12.0} {durable:>14.0} {rss:>9.1}"
    ))
}

/// Adds one document's keys to `batch`.
fn add_doc(batch: &mut sled::Batch, layout: usize, id: &str, seq: u64, rev: &Rev) {
    if layout == 1 {
        let mut inline = RECORD.to_vec();
        inline.extend_from_slice(&BODY);
        batch.insert(keys::doc_key(DB, id), inline);
        return;
    }
    batch.insert(keys::doc_key(DB, id), &RECORD[..]);
    let mut change = id.as_bytes().to_vec();
    change.extend_from_slice(rev.to_string().as_bytes());
    batch.insert(keys::seq_key(DB, seq), change);
    if layout >= 3 {
        batch.insert(keys::body_key(DB, id, rev), &BODY[..]);
    }
}

fn first_rev() -> Result<Rev> {
    Ok(Rev::parse("1-967a00dff5e02add41819138abb3284d")?)
}

/// settee_bench's bulk phase: docs/s over all batches, flushes included.
fn bulk_rate(db: &sled::Db, layout: usize) -> Result<f64> {
    let rev = first_rev()?;
    let started = Instant::now();
    for b in 0..BATCHES {
        let mut batch = sled::Batch::default();
        for i in 0..BATCH_SIZE {
            let n = b * BATCH_SIZE + i;
            add_doc(&mut batch, layout, &format!("bulk-{n:08}"), n + 1, &rev);
        }
        db.apply_batch(batch)?;
        db.flush()?;
    }
    Ok((BATCHES * BATCH_SIZE) as f64 / started.elapsed().as_secs_f64())
}

/// settee_bench's PUT phase without HTTP: acknowledged durable writes/s.
fn durable_rate(db: &sled::Db, layout: usize) -> Result<f64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let commit = GroupCommit::start(db.clone())?;
    let next_seq = Arc::new(AtomicU64::new(BATCHES * BATCH_SIZE + 1));
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(DURABLE_SECS);
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..WRITERS {
            let (db, commit) = (db.clone(), commit.clone());
            let (next_seq, done) = (Arc::clone(&next_seq), Arc::clone(&done));
            tasks.push(tokio::spawn(async move {
                let rev = first_rev()?;
                while Instant::now() < deadline && done.load(Ordering::Relaxed) < MAX_DURABLE {
                    let seq = next_seq.fetch_add(1, Ordering::Relaxed);
                    let mut batch = sled::Batch::default();
                    add_doc(&mut batch, layout, &format!("put-{seq:08}"), seq, &rev);
                    db.apply_batch(batch)?;
                    commit.durable(commit.ticket()).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

fn rss_mb() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kb / 1024.0)
}
