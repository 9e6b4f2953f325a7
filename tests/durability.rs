//! Crash test: kill -9 a writing server, restart it on the same data,
//! and check that every acknowledged write is there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_settee"))
        .args(["--admin-party", "--port", "0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn settee");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read banner");
    let url = line
        .trim()
        .strip_prefix("Settee listening on ")
        .expect("banner")
        .to_string();
    (child, url)
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path());
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        client.put(format!("{url}/crash")).send().unwrap().status(),
        201
    );
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (acked, stop, url, client) =
                (acked.clone(), stop.clone(), url.clone(), client.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("w{w}-{i}");
                    let r = client
                        .put(format!("{url}/crash/{id}"))
                        .header("Content-Type", "application/json")
                        .body(json!({"w": w, "i": i}).to_string())
                        .send();
                    match r {
                        Ok(r) if r.status() == 201 => {
                            let body: Value = r.json().unwrap_or(Value::Null);
                            let rev = body["rev"].as_str().unwrap_or_default().to_string();
                            acked.lock().unwrap().push((id, rev));
                        }
                        _ => break,
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "only {} writes acknowledged", acked.len());

    let (mut child, url) = start(dir.path());
    let keys: Vec<&String> = acked.iter().map(|(id, _)| id).collect();
    let r: Value = client
        .post(format!("{url}/crash/_all_docs"))
        .header("Content-Type", "application/json")
        .body(json!({"keys": keys}).to_string())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rows = r["rows"].as_array().unwrap();
    for ((id, rev), row) in acked.iter().zip(rows) {
        assert_eq!(row["id"], id.as_str(), "acknowledged doc {id} lost: {row}");
        assert_eq!(row["value"]["rev"], rev.as_str());
    }
    let info: Value = client
        .get(format!("{url}/crash"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(info["doc_count"].as_u64().unwrap() >= acked.len() as u64);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Attachment bodies live in files on disk: they survive kill -9, are
/// shared between documents with the same content, and compaction and
/// database deletion remove them.
#[test]
fn attachment_files_survive_kill_9_and_are_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path());
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        client.put(format!("{url}/atts")).send().unwrap().status(),
        201
    );
    let body: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut revs = Vec::new();
    for doc in ["a", "b"] {
        let r = client
            .put(format!("{url}/atts/{doc}/big.bin"))
            .header("Content-Type", "application/octet-stream")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().unwrap();
        revs.push(v["rev"].as_str().unwrap().to_string());
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let files = |root: &std::path::Path| -> usize {
        walk(&root.join("attachments"))
            .iter()
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("tmp-"))
            })
            .count()
    };
    // identical bodies are stored once
    assert_eq!(files(dir.path()), 1);
    let (mut child, url) = start(dir.path());
    let got = client
        .get(format!("{url}/atts/a/big.bin"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(
        got.as_ref() == body.as_slice(),
        "attachment differs after restart"
    );
    for (doc, rev) in ["a", "b"].iter().zip(&revs) {
        let r = client
            .delete(format!("{url}/atts/{doc}/big.bin?rev={rev}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client
        .post(format!("{url}/atts/_compact"))
        .header("Content-Type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut reclaimed = false;
    for _ in 0..200 {
        if files(dir.path()) == 0 {
            reclaimed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(reclaimed, "compaction left the attachment file");
    client
        .put(format!("{url}/atts/c/x.bin"))
        .header("Content-Type", "application/octet-stream")
        .body(vec![1u8; 1000])
        .send()
        .unwrap();
    assert_eq!(files(dir.path()), 1);
    assert_eq!(
        client
            .delete(format!("{url}/atts"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let mut removed = false;
    for _ in 0..200 {
        if files(dir.path()) == 0 {
            removed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(removed, "deleting the database left its attachment files");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// An attachment whose file is gone (say, removed by a sweep whose entry
/// removal a crash undid) is stored again by the next upload of the same
/// bytes, not de-duplicated against the stale entry.
#[test]
fn an_upload_restores_a_missing_attachment_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path());
    let client = reqwest::blocking::Client::new();
    assert_eq!(
        client.put(format!("{url}/lost")).send().unwrap().status(),
        201
    );
    let body = vec![7u8; 10_000];
    let upload = |doc: &str| {
        client
            .put(format!("{url}/lost/{doc}/f.bin"))
            .header("Content-Type", "application/octet-stream")
            .body(body.clone())
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(upload("a"), 201);
    let stored: Vec<_> = walk(&dir.path().join("attachments"))
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("tmp-"))
        })
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    std::fs::remove_file(&stored[0]).unwrap();
    assert_eq!(upload("b"), 201);
    for doc in ["a", "b"] {
        let r = client
            .get(format!("{url}/lost/{doc}/f.bin"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{doc}");
        assert_eq!(r.bytes().unwrap().as_ref(), body.as_slice(), "{doc}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A partitioned database's per-partition counters are written in the
/// same batch as the documents: after a kill -9, every partition's
/// `doc_count` is exactly the number of its documents, and the database
/// is still partitioned.
#[test]
fn partition_counters_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path());
    let client = reqwest::blocking::Client::new();
    let created = client
        .put(format!("{url}/parts?partitioned=true"))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, stop, url, client) =
                (acked.clone(), stop.clone(), url.clone(), client.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    // Bulk writes touching several partitions at once.
                    let docs: Vec<Value> = (0..5)
                        .map(|k| json!({"_id": format!("p{k}:w{w}-{i}"), "i": i}))
                        .collect();
                    let r = client
                        .post(format!("{url}/parts/_bulk_docs"))
                        .header("Content-Type", "application/json")
                        .body(json!({ "docs": docs }).to_string())
                        .send();
                    match r {
                        Ok(r) if r.status() == 201 => {
                            let mut acked = acked.lock().unwrap();
                            acked.extend(docs.iter().map(|d| d["_id"].to_string()));
                        }
                        _ => break,
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().len() as u64;
    assert!(acked > 50, "only {acked} writes acknowledged");

    let (mut child, url) = start(dir.path());
    let get = |path: &str| -> Value {
        client
            .get(format!("{url}{path}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(get("/parts")["props"], json!({"partitioned": true}));
    let mut total = 0;
    for k in 0..5 {
        let info = get(&format!("/parts/_partition/p{k}"));
        let rows = get(&format!("/parts/_partition/p{k}/_all_docs"))["rows"]
            .as_array()
            .unwrap()
            .len() as u64;
        assert_eq!(info["doc_count"].as_u64(), Some(rows), "partition p{k}");
        total += rows;
    }
    assert!(total >= acked, "{total} documents, {acked} acknowledged");
    assert_eq!(get("/parts")["doc_count"].as_u64(), Some(total));
    child.kill().unwrap();
    child.wait().unwrap();
}
