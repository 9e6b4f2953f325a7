//! Group commit: many writers share one `sled::Db::flush`.
//!
//! A writer applies its batch, takes a ticket, and awaits
//! [`GroupCommit::durable`]. One flusher thread repeatedly flushes
//! everything written so far and publishes the highest ticket it covers,
//! so a burst of concurrent writes costs one fsync, not one each. (sled's
//! `flush_async` is not used: it deadlocks under concurrency, sled #1308.)

use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::metrics::Counter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flushed {
    /// Every ticket up to this one is durable.
    done: u64,
    /// Tickets in (done, failed] belonged to a flush that failed.
    failed: u64,
}

struct Shared {
    /// Highest ticket handed out, and whether the store is shutting down.
    requested: Mutex<(u64, bool)>,
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
}

/// Handle to the flusher; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    shared: Option<Arc<Shared>>,
}

impl GroupCommit {
    /// Starts the flusher thread for `db`.
    pub fn start(db: sled::Db) -> std::io::Result<Self> {
        Self::start_counted(db, Arc::default())
    }

    /// Starts the flusher thread for `db`, counting its flushes in
    /// `commits` (CouchDB's `couchdb/commits`).
    pub fn start_counted(db: sled::Db, commits: Arc<Counter>) -> std::io::Result<Self> {
        let (tx, _) = watch::channel(Flushed::default());
        let shared = Arc::new(Shared {
            requested: Mutex::new((0, false)),
            wake: Condvar::new(),
            flushed: tx,
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("settee-flush".into())
            .spawn(move || flush_loop(&worker, &db, &commits))?;
        Ok(GroupCommit {
            shared: Some(shared),
        })
    }

    /// For in-memory stores: every write counts as durable at once.
    pub fn disabled() -> Self {
        GroupCommit { shared: None }
    }

    /// A ticket for everything written before this call.
    pub fn ticket(&self) -> u64 {
        let Some(shared) = &self.shared else { return 0 };
        let mut guard = shared.requested.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        shared.wake.notify_one();
        guard.0
    }

    /// Resolves once the flush covering `ticket` is on disk.
    pub async fn durable(&self, ticket: u64) -> Result<()> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let mut rx = shared.flushed.subscribe();
        let state = rx
            .wait_for(|f| f.done >= ticket || f.failed >= ticket)
            .await
            .map_err(|_| Error::Corrupt("flusher stopped".into()))?;
        if state.done >= ticket {
            Ok(())
        } else {
            Err(Error::Corrupt("flush to disk failed".into()))
        }
    }

    /// Takes a ticket and waits for it: everything written so far is durable.
    pub async fn sync(&self) -> Result<()> {
        let ticket = self.ticket();
        self.durable(ticket).await
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            // The flusher holds one reference; the last handle stops it.
            if Arc::strong_count(shared) == 2 {
                let mut guard = shared.requested.lock().unwrap_or_else(|p| p.into_inner());
                guard.1 = true;
                shared.wake.notify_one();
            }
        }
    }
}

fn flush_loop(shared: &Shared, db: &sled::Db, commits: &Counter) {
    let mut done = 0u64;
    loop {
        let target = {
            let mut guard = shared.requested.lock().unwrap_or_else(|p| p.into_inner());
            while guard.0 <= done && !guard.1 {
                guard = shared.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
            }
            if guard.1 && guard.0 <= done {
                break;
            }
            guard.0
        };
        match db.flush() {
            Ok(_) => {
                commits.inc();
                done = target;
                shared.flushed.send_modify(|f| f.done = target);
            }
            Err(e) => {
                tracing::error!(error = %e, "flush failed");
                shared.flushed.send_modify(|f| f.failed = target);
                done = target;
            }
        }
    }
    let _ = db.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_flushes() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("db"))
            .unwrap_or_default();
        let db = sled::open(path).ok();
        let Some(db) = db else { panic!("open sled") };
        let commit = GroupCommit::start(db.clone()).ok();
        let Some(commit) = commit else {
            panic!("start flusher")
        };
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let (db, commit) = (db.clone(), commit.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), b"v").map_err(Error::from)?;
                commit.durable(commit.ticket()).await
            }));
        }
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(()))));
        }
    }

    #[tokio::test]
    async fn disabled_is_immediate() {
        let commit = GroupCommit::disabled();
        assert!(commit.sync().await.is_ok());
    }
}
