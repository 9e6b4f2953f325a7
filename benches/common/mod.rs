//! What every bench that starts a `settee` server shares: the `--bench`
//! guard and error report of `main`, `u64` knobs from the environment, the
//! release binary, and reading the server's `Settee listening on` line.
//!
//! Included by `settee_bench`, `mango_bench` and `auth_bench` as
//! `mod common;`; every item here is used by all three, so none is dead in
//! any of them. `server.rs` beside it holds the kill-on-drop server that
//! only `mango_bench` and `auth_bench` use.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::mpsc;
use std::time::Duration;

/// Arguments that put a `settee` on a free port of `127.0.0.1`, the only
/// kind of URL `listening_url` accepts.
pub const LOOPBACK_FREE_PORT: [&str; 4] = ["--bind", "127.0.0.1", "--port", "0"];

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The bench's `main`: runs `run` only under `--bench`, and reports its
/// error (with causes) on stderr as `name: error`.
pub fn main(name: &str, run: fn() -> Result<()>) -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // a load test has no place in a test run.
    if !std::env::args().any(|a| a == "--bench") {
        println!("{name}: not run without --bench (use `cargo bench --bench {name}`)");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {}", chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// An error with its causes, `a: b: c`.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

/// The number in environment variable `name`, or `default` when it is
/// unset or blank; anything else is an error, not a silent default.
pub fn env_u64(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|e| format!("{name}={v:?}: {e}").into()),
        _ => Ok(default),
    }
}

/// `target/` of this workspace (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// The release `settee`: `BENCH_SETTEE_BIN`, else the one cargo built for
/// this bench, else `target/release/settee`, built if missing.
pub fn settee_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("BENCH_SETTEE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    if let Some(bin) = option_env!("CARGO_BIN_EXE_settee") {
        let bin = PathBuf::from(bin);
        if bin.is_file() {
            return Ok(bin);
        }
    }
    let bin = target_dir().join("release").join("settee");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        println!("  building {} ...", bin.display());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "settee"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()?;
        if !status.success() {
            return Err(format!("cargo build --release --bin settee failed: {status}").into());
        }
    }
    Ok(bin)
}

/// Reads the `Settee listening on http://127.0.0.1:PORT` line from the
/// child's piped stdout and returns the URL. The line is read on a thread
/// that then keeps draining stdout, so a silent server cannot hang the
/// bench past `timeout`. The caller owns (and stops) the child.
pub fn listening_url(child: &mut Child, timeout: Duration) -> Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("settee's stdout was not captured")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = rx.recv_timeout(timeout).map_err(|e| {
        let when = match e {
            mpsc::RecvTimeoutError::Timeout => format!("within {timeout:?}"),
            mpsc::RecvTimeoutError::Disconnected => "before closing its stdout".into(),
        };
        format!(
            "settee printed no `Settee listening on` line {when} (exit: {:?})",
            child.try_wait().ok().flatten()
        )
    })?;
    let url = line
        .trim()
        .strip_prefix("Settee listening on ")
        .ok_or_else(|| format!("unexpected first line from settee: {line:?}"))?;
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!("settee is not on loopback: {url}").into());
    }
    Ok(url.trim_end_matches('/').to_string())
}
