//! Build script: puts Fauxton, CouchDB's web UI, into the binary.
//!
//! Fauxton is published on the npm registry as `fauxton`; its
//! `dist/release/` folder is the built app. This script gets the package
//! tarball with `npm pack` (npm's own registry settings and cache, so a
//! second build needs no network), checks it against the integrity the
//! registry published for the pinned version, and writes
//! `$OUT_DIR/fauxton.rs`, which `src/fauxton.rs` includes: every file of
//! `dist/release/` as `include_bytes!`.
//!
//! The build never fails for want of Fauxton: without npm, without the
//! registry, or with `SETTEE_FAUXTON=off`, the table is empty, cargo prints
//! a warning, `/_utils/` explains how to get the UI, and the next build
//! tries again. `SETTEE_FAUXTON=/path/to/fauxton-1.2.6.tgz` uses a tarball
//! fetched by hand instead.
//!
//! It also records the version of the ICU collation crate, for
//! `/_node/{node}/_versions`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::Digest;

/// The Fauxton release served at `/_utils` (CouchDB 3.4 ships Fauxton
/// 1.3.2 from its git tag; 1.2.6 is the newest on the npm registry).
const VERSION: &str = "1.2.6";
/// `npm view fauxton@1.2.6 dist.integrity`
const INTEGRITY: &str =
    "sha512-5ZwPKqstwmQclSHifWBmbyzlBOLoBB3gssGaiEFLPcIzHO0Zxz+uPr/D/Fs6DGH7Hfohw7s6zqcjwU9CRcshfw==";
/// How long `npm pack` may take before the build goes on without Fauxton.
const NPM_TIMEOUT: Duration = Duration::from_secs(180);

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SETTEE_FAUXTON");
    println!("cargo:rerun-if-changed=Cargo.lock");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    icu_version();
    let generated = match fauxton(&out) {
        Ok(files) => table(Some(VERSION), "", &files),
        Err(reason) => {
            println!("cargo:warning=Fauxton (/_utils) is not built in: {reason}");
            // a path that never exists: cargo runs this script again next build
            println!(
                "cargo:rerun-if-changed={}",
                out.join("fauxton-not-yet").display()
            );
            table(None, &reason, &[])
        }
    };
    if let Err(e) = std::fs::write(out.join("fauxton.rs"), generated) {
        println!("cargo:warning=cannot write fauxton.rs: {e}");
        std::process::exit(1);
    }
}

/// The `icu_collator` version in Cargo.lock, as `SETTEE_ICU_COLLATOR_VERSION`.
fn icu_version() {
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    let mut version = "unknown".to_string();
    while let Some(line) = lines.next() {
        if line == "name = \"icu_collator\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
            {
                version = v.to_string();
            }
            break;
        }
    }
    println!("cargo:rustc-env=SETTEE_ICU_COLLATOR_VERSION={version}");
}

/// Extracts `dist/release/` into `$OUT_DIR/fauxton/` and returns the
/// relative paths of its files.
fn fauxton(out: &Path) -> Result<Vec<String>, String> {
    let tarball = match std::env::var("SETTEE_FAUXTON") {
        Ok(v) if v == "off" || v == "0" => return Err("SETTEE_FAUXTON=off".into()),
        Ok(v) if !v.is_empty() => PathBuf::from(v),
        _ => npm_pack(out)?,
    };
    let bytes = std::fs::read(&tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
    let digest = sha2::Sha512::digest(&bytes);
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    if integrity != INTEGRITY {
        return Err(format!(
            "{} is not fauxton@{VERSION} (integrity {integrity})",
            tarball.display()
        ));
    }
    let root = out.join("fauxton");
    let _ = std::fs::remove_dir_all(&root);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut files = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the tarball: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the tarball: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("reading the tarball: {e}"))?
            .to_string_lossy()
            .into_owned();
        let Some(rel) = path.strip_prefix("package/dist/release/") else {
            continue;
        };
        if rel.split('/').any(|part| part.is_empty() || part == "..") {
            continue;
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("reading {rel}: {e}"))?;
        let dest = root.join(rel);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&dest, data).map_err(|e| format!("{}: {e}", dest.display()))?;
        files.push(rel.to_string());
    }
    if !files.iter().any(|f| f == "index.html") {
        return Err("the package has no dist/release/index.html".into());
    }
    files.sort();
    Ok(files)
}

/// `npm pack fauxton@VERSION` into `out`; the tarball's path.
fn npm_pack(out: &Path) -> Result<PathBuf, String> {
    let tarball = out.join(format!("fauxton-{VERSION}.tgz"));
    if tarball.is_file() {
        return Ok(tarball);
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let mut child = Command::new(npm)
        .args([
            "pack",
            &format!("fauxton@{VERSION}"),
            "--prefer-offline",
            "--fetch-retries=1",
            "--fetch-timeout=60000",
            "--silent",
            "--pack-destination",
        ])
        .arg(out)
        .current_dir(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run npm ({e}); install Node.js and npm"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > NPM_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "npm pack fauxton@{VERSION} took more than {NPM_TIMEOUT:?}"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("npm pack: {e}")),
        }
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!(
            "npm pack fauxton@{VERSION} failed ({status}): {last}"
        ));
    }
    if tarball.is_file() {
        Ok(tarball)
    } else {
        Err(format!("npm pack made no {}", tarball.display()))
    }
}

/// The generated Rust: the version, why Fauxton is missing, the files.
fn table(version: Option<&str>, missing: &str, files: &[String]) -> String {
    let mut out = String::new();
    out.push_str("/// The Fauxton version built in, if any.\n");
    out.push_str(&format!(
        "pub const FAUXTON_VERSION: Option<&str> = {version:?};\n"
    ));
    out.push_str("/// Why Fauxton is not built in (empty when it is).\n");
    out.push_str(&format!("pub const FAUXTON_MISSING: &str = {missing:?};\n"));
    out.push_str("/// `dist/release/` of the package: path, contents.\n");
    out.push_str("pub static FAUXTON_FILES: &[(&str, &[u8])] = &[\n");
    for rel in files {
        out.push_str(&format!(
            "    ({rel:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/fauxton/\", {rel:?}))),\n"
        ));
    }
    out.push_str("];\n");
    out
}
