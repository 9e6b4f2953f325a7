//! The document service: every rule a document write or read obeys, in one
//! layer between the callers that speak a protocol and [`storage`].
//!
//! A writer — an HTTP handler, a background task, a test — prepares each
//! document ([`Service::prepare`]: ids, sizes, replicated revisions) and
//! hands them with the writing user to [`Service::save`], the one write
//! path: `_local` documents go to their store, the per-document rules run
//! (design documents, the users database — [`guard`]), inline attachment
//! bodies are stored ([`attachments`]), the revision trees are merged by
//! `storage::Database::write_docs` (conflicts, CouchDB's edit rules), and
//! the write waits for its group commit unless told not to. Readers render
//! stored revisions as CouchDB does ([`read`]).
//!
//! No actix here: HTTP parses requests and shapes replies, nothing more.
//!
//! [`storage`]: crate::storage

pub mod attachments;
mod guard;
pub mod info;
pub mod local;
pub mod read;
pub mod users;
mod write;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::settings::{Runtime, Snapshot};
use crate::storage::Store;

pub use write::{check_lookup_id, check_write_id, copy_of, Prepared, WriteOptions};

/// The document service of one server.
pub struct Service {
    store: Arc<Store>,
    settings: Arc<Runtime>,
    /// The database whose `_design/_auth` is kept (`users`).
    users_watch: users::Watch,
}

impl Service {
    pub fn new(store: Arc<Store>, settings: Arc<Runtime>) -> Service {
        let users_watch = users::Watch::new(&settings.snapshot().auth.settings.authentication_db);
        Service {
            store,
            settings,
            users_watch,
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The settings in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.settings.snapshot()
    }

    /// A new document id by `[uuids] algorithm`.
    pub fn new_uuid(&self) -> String {
        self.settings.new_uuid()
    }
}

/// Runs storage work that may take a while off the async executor:
/// scans, batches, attachment bodies, password hashing.
pub async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Corrupt(format!("worker failed: {e}")))?
}

/// Runs a point operation (a few key reads, or one document write that
/// carries no attachment bodies) on the calling worker. Such an operation
/// takes microseconds, less than the two thread switches a hop to the
/// blocking pool costs; it was measured to lift GET and durable PUT
/// throughput by about 10%. Anything that can take longer goes through
/// [`blocking`].
pub fn point_op<T>(op: impl FnOnce() -> Result<T>) -> Result<T> {
    op()
}
