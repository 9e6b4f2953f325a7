//! Crash test: kill -9 a writing server, restart it on the same data,
//! and check that every acknowledged write is there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_settee"))
        .args(["--port", "0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn settee");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read banner");
    let url = line.trim().strip_prefix("Settee listening on ").expect("banner").to_string();
    (child, url)
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path());
    let client = reqwest::blocking::Client::new();
    assert_eq!(client.put(format!("{url}/crash")).send().unwrap().status(), 201);
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (acked, stop, url, client) = (acked.clone(), stop.clone(), url.clone(), client.clone());
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
    let info: Value = client.get(format!("{url}/crash")).send().unwrap().json().unwrap();
    assert!(info["doc_count"].as_u64().unwrap() >= acked.len() as u64);
    child.kill().unwrap();
    child.wait().unwrap();
}
