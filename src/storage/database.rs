//! One CouchDB database on sled: document records (revision trees),
//! revision bodies, the by-sequence index, local documents and counters.
//!
//! Writes to one database are serialised by a mutex held while the batch
//! is built and applied (the revision-tree edit is read-modify-write);
//! reads take no lock. Every write is a single atomic sled batch, so a
//! crash never leaves a half-applied update.

use std::collections::HashMap;
use std::collections::HashSet;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::blobs::{self, BlobReader, BlobStore, BlobWriter};
use super::seq_counts::SeqCounts;
use super::tasks::{ActiveTasks, TaskHandle, TaskKind};
use super::{decode, encode, keys, DbMeta};
use crate::couch::attachment::{self, AttInput, AttMeta};
use crate::couch::doc::NewDoc;
use crate::couch::partition;
use crate::couch::range::{max_lower, min_upper};
use crate::couch::rev::Rev;
use crate::couch::revid::AttDigest;
use crate::couch::revtree::RevTree;
use crate::couch::update::{self, Edited};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Everything Settee keeps about one document besides its bodies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocRecord {
    pub tree: RevTree,
    /// The update sequence of the document's latest change.
    pub seq: u64,
}

impl DocRecord {
    /// The winning revision of a document a client opens without naming a
    /// revision: 404 `deleted` when it is a tombstone, as CouchDB.
    pub fn open_winner(&self) -> Result<Rev> {
        match self.tree.winner() {
            Some((winner, info)) if !info.deleted => Ok(winner),
            Some(_) => Err(Error::not_found("deleted")),
            None => Err(Error::not_found("missing")),
        }
    }

    /// The winning revision, unless the document is deleted.
    pub fn live_winner(&self) -> Option<Rev> {
        self.tree
            .winner()
            .and_then(|(rev, info)| (!info.deleted).then_some(rev))
    }

    /// Whether the winning revision is a tombstone.
    pub fn deleted(&self) -> bool {
        self.tree.winner().is_some_and(|(_, info)| info.deleted)
    }
}

/// A stored `_security` text as JSON; unreadable text counts as `{}`.
fn parse_security(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// A document that is not deleted: its record, winning revision and that
/// revision's body.
#[derive(Debug, Clone)]
pub struct LiveDoc {
    pub record: DocRecord,
    pub rev: Rev,
    pub body: Map<String, Value>,
}

/// A document record as `write_docs` found it, and as it is being edited.
struct Stored {
    original: Option<DocRecord>,
    /// Bytes of the original record, which `sizes.active` counted.
    original_len: u64,
    working: DocRecord,
}

/// A `_local` document: a body and a plain counter revision (`0-N`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalDoc {
    pub rev: u64,
    /// The body as JSON text (bincode cannot carry `serde_json::Value`).
    pub body: String,
}

/// Counters kept with every write.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct DbStats {
    update_seq: u64,
    doc_count: u64,
    doc_del_count: u64,
    /// Bytes of stored revision bodies and records.
    active: u64,
    /// Bytes of the bodies of current leaf revisions as clients sent them.
    external: u64,
}

/// Counters of one partition of a partitioned database, kept with every
/// write as [`DbStats`] is (the same changes, restricted to the
/// partition's documents), so `GET /{db}/_partition/{p}` is one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct PartStats {
    doc_count: u64,
    doc_del_count: u64,
    active: u64,
    external: u64,
}

/// What one write batch changes in each partition's counters.
#[derive(Default)]
struct PartDeltas(HashMap<String, [i128; 4]>);

impl PartDeltas {
    /// Adds to `partition` what a document's changes did to the database
    /// counters (`before` to `after`).
    fn record(&mut self, partition: &str, before: &DbStats, after: &DbStats) {
        let diff = |a: u64, b: u64| i128::from(b) - i128::from(a);
        let d = self.0.entry(partition.to_string()).or_default();
        d[0] += diff(before.doc_count, after.doc_count);
        d[1] += diff(before.doc_del_count, after.doc_del_count);
        d[2] += diff(before.active, after.active);
        d[3] += diff(before.external, after.external);
    }
}

/// What `GET /{db}/_partition/{p}` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionInfo {
    pub doc_count: u64,
    pub doc_del_count: u64,
    pub active: u64,
    pub external: u64,
}

/// What `GET /{db}` reports.
#[derive(Debug, Clone)]
pub struct DbInfo {
    pub name: String,
    pub doc_count: u64,
    pub doc_del_count: u64,
    pub update_seq: u64,
    pub active: u64,
    pub external: u64,
    pub created: u64,
    pub compact_running: bool,
    pub partitioned: bool,
}

/// One CouchDB database.
pub struct Database {
    tree: sled::Db,
    name: String,
    id: u64,
    /// Whether document ids are `partition:docid` (fixed at creation).
    partitioned: bool,
    meta: RwLock<DbMeta>,
    /// `meta.security`, parsed once: every request to the database reads it.
    security: RwLock<Arc<Value>>,
    stats: Mutex<DbStats>,
    deleted: AtomicBool,
    /// Publishes the update sequence after every write; `_changes` feeds
    /// wait on it instead of polling (one cheap receiver per listener).
    updates: tokio::sync::watch::Sender<u64>,
    /// Writes that store attachment bodies hold this shared while their
    /// bodies are unreferenced (between upload and document write);
    /// compaction's attachment sweep holds it exclusively.
    blob_gc: Arc<tokio::sync::RwLock<()>>,
    /// Attachment bodies (files on disk, chunks in memory).
    blobs: BlobStore,
    /// By-sequence entries per block of sequences, for `_changes`'
    /// `pending`; built on first use (see [`SeqCounts`]).
    seq_counts: Mutex<Option<SeqCounts>>,
    /// Mango index build state (one build at a time per index).
    mango: super::index::IndexState,
    /// Where index builds and compactions register (server-wide).
    tasks: Arc<ActiveTasks>,
    /// Set while a compaction runs: a second request does not start another.
    compacting: AtomicBool,
    /// The server's metrics (reads, writes, index builds, compactions).
    metrics: Arc<Metrics>,
    /// A system database (`_users`, `_replicator`, …): CouchDB does not
    /// count its reads and writes in `database_reads`/`database_writes`.
    system: bool,
}

impl Database {
    pub(super) fn load(
        tree: sled::Db,
        name: String,
        meta: DbMeta,
        blob_root: Option<&std::path::Path>,
        tasks: Arc<ActiveTasks>,
        metrics: Arc<Metrics>,
    ) -> Result<Database> {
        let blobs = BlobStore::new(tree.clone(), meta.id, blob_root);
        let stats = match tree.get(keys::stats_key(meta.id))? {
            Some(raw) => decode(&raw)?,
            None => DbStats::default(),
        };
        let (updates, _) = tokio::sync::watch::channel(stats.update_seq);
        let system = name.starts_with('_');
        Ok(Database {
            tree,
            name,
            id: meta.id,
            partitioned: meta.partitioned,
            security: RwLock::new(Arc::new(parse_security(&meta.security))),
            meta: RwLock::new(meta),
            stats: Mutex::new(stats),
            deleted: AtomicBool::new(false),
            updates,
            blob_gc: Arc::default(),
            blobs,
            seq_counts: Mutex::new(None),
            mango: super::index::IndexState::default(),
            tasks,
            compacting: AtomicBool::new(false),
            metrics,
            system,
        })
    }

    pub(super) fn mark_deleted(&self) {
        // Under the writer lock: a write that passed `lock_stats` finishes
        // before the flag is set, so the reclaimer sees all its keys.
        let _writer = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        self.deleted.store(true, Ordering::SeqCst);
        // Wake listeners so they notice the database is gone.
        self.updates.send_modify(|_| {});
    }

    /// Whether the database has been deleted since this handle was opened.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::SeqCst)
    }

    /// A receiver that changes whenever a write commits a new update
    /// sequence (call `changed().await` on it).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.updates.subscribe()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sled tree and this database's id, for the Mango index store.
    pub(super) fn raw(&self) -> (&sled::Db, u64) {
        (&self.tree, self.id)
    }

    /// Mango index build state.
    pub(super) fn mango_state(&self) -> &super::index::IndexState {
        &self.mango
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts a document read by a client (`couchdb/database_reads`).
    fn count_read(&self) {
        if !self.system {
            self.metrics.docs.database_reads.inc();
        }
    }

    /// Registers a task of this database in `_active_tasks`.
    pub(super) fn start_task(&self, kind: TaskKind, total_changes: u64) -> TaskHandle {
        self.tasks.start(kind, &self.name, total_changes)
    }

    fn meta(&self) -> DbMeta {
        self.meta.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock_stats(&self) -> Result<std::sync::MutexGuard<'_, DbStats>> {
        let guard = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        if self.deleted.load(Ordering::SeqCst) {
            return Err(Error::db_not_found());
        }
        Ok(guard)
    }

    pub fn info(&self) -> DbInfo {
        let stats = *self.stats.lock().unwrap_or_else(|p| p.into_inner());
        DbInfo {
            name: self.name.clone(),
            doc_count: stats.doc_count,
            doc_del_count: stats.doc_del_count,
            update_seq: stats.update_seq,
            active: stats.active,
            external: stats.external,
            created: self.meta().created,
            compact_running: self.compacting.load(Ordering::SeqCst),
            partitioned: self.partitioned,
        }
    }

    /// Whether the database was created partitioned.
    pub fn partitioned(&self) -> bool {
        self.partitioned
    }

    /// The partition whose counters a document's changes go to: `None` in
    /// a database that is not partitioned, and for design documents.
    fn partition_of<'a>(&self, id: &'a str) -> Option<&'a str> {
        if self.partitioned {
            partition::of_doc(id)
        } else {
            None
        }
    }

    /// One partition's counters (zero for a partition with no documents).
    pub fn partition_info(&self, name: &str) -> Result<PartitionInfo> {
        let stats: PartStats = match self.tree.get(keys::part_stats_key(self.id, name))? {
            Some(raw) => decode(&raw)?,
            None => PartStats::default(),
        };
        Ok(PartitionInfo {
            doc_count: stats.doc_count,
            doc_del_count: stats.doc_del_count,
            active: stats.active,
            external: stats.external,
        })
    }

    /// Adds a batch's partition changes to the partitions' stored counters,
    /// in the same batch. Called under the writer lock.
    fn apply_part_deltas(&self, batch: &mut sled::Batch, deltas: PartDeltas) -> Result<()> {
        let apply = |v: u64, d: i128| u64::try_from((i128::from(v) + d).max(0)).unwrap_or(u64::MAX);
        for (name, d) in deltas.0 {
            if d == [0; 4] {
                continue;
            }
            let key = keys::part_stats_key(self.id, &name);
            let old: PartStats = match self.tree.get(&key)? {
                Some(raw) => decode(&raw)?,
                None => PartStats::default(),
            };
            let new = PartStats {
                doc_count: apply(old.doc_count, d[0]),
                doc_del_count: apply(old.doc_del_count, d[1]),
                active: apply(old.active, d[2]),
                external: apply(old.external, d[3]),
            };
            if new == PartStats::default() {
                batch.remove(key);
            } else {
                batch.insert(key, encode(&new)?);
            }
        }
        Ok(())
    }

    pub fn update_seq(&self) -> u64 {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update_seq
    }

    pub fn doc_count(&self) -> u64 {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .doc_count
    }

    pub fn revs_limit(&self) -> u64 {
        self.meta
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .revs_limit
    }

    pub fn security(&self) -> Arc<Value> {
        Arc::clone(&self.security.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_revs_limit(&self, limit: u64) -> Result<()> {
        self.update_meta(|m| m.revs_limit = limit)
    }

    pub fn set_security(&self, security: &Value) -> Result<()> {
        let text = security.to_string();
        self.update_meta(|m| m.security = text)
    }

    fn update_meta(&self, change: impl FnOnce(&mut DbMeta)) -> Result<()> {
        let _writer = self.lock_stats()?;
        let mut meta = self.meta.write().unwrap_or_else(|p| p.into_inner());
        let mut next = meta.clone();
        change(&mut next);
        self.tree
            .insert(keys::catalog_key(&self.name), encode(&next)?)?;
        if next.security != meta.security {
            // Under the writer lock, so the cache follows the stored order.
            *self.security.write().unwrap_or_else(|p| p.into_inner()) =
                Arc::new(parse_security(&next.security));
        }
        *meta = next;
        Ok(())
    }

    /// The record of a document, deleted or not.
    pub fn record(&self, id: &str) -> Result<Option<DocRecord>> {
        match self.tree.get(keys::doc_key(self.id, id))? {
            Some(raw) => Ok(Some(decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// The stored body of one revision as JSON text, unparsed (a read
    /// that `_stats` counts).
    pub fn body_raw(&self, id: &str, rev: &Rev) -> Result<Option<sled::IVec>> {
        self.count_read();
        self.stored_body_raw(id, rev)
    }

    /// [`Database::body_raw`] for the server's own use (writes, index
    /// builds): not counted as a read.
    pub(super) fn stored_body_raw(&self, id: &str, rev: &Rev) -> Result<Option<sled::IVec>> {
        Ok(self.tree.get(keys::body_key(self.id, id, rev))?)
    }

    /// The stored body of one revision, if it is still kept.
    pub fn body(&self, id: &str, rev: &Rev) -> Result<Option<Map<String, Value>>> {
        self.count_read();
        self.stored_body(id, rev)
    }

    /// [`Database::body`], not counted as a read.
    pub(super) fn stored_body(&self, id: &str, rev: &Rev) -> Result<Option<Map<String, Value>>> {
        let Some(raw) = self.stored_body_raw(id, rev)? else {
            return Ok(None);
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| Error::Corrupt(e.to_string()))
    }

    /// A live document as of now; `None` when it is missing or deleted.
    pub fn live_doc(&self, id: &str) -> Result<Option<LiveDoc>> {
        self.count_read();
        self.stored_live_doc(id)
    }

    /// [`Database::live_doc`], not counted as a read.
    pub(super) fn stored_live_doc(&self, id: &str) -> Result<Option<LiveDoc>> {
        let Some(record) = self.record(id)? else {
            return Ok(None);
        };
        let Some(rev) = record.live_winner() else {
            return Ok(None);
        };
        Ok(self
            .stored_body(id, &rev)?
            .map(|body| LiveDoc { record, rev, body }))
    }

    /// Applies a batch of document edits atomically, in order: later edits
    /// of the same id see earlier ones. Returns one result per document.
    pub fn write_docs(&self, docs: Vec<NewDoc>, new_edits: bool) -> Result<Vec<Result<Edited>>> {
        let revs_limit = usize::try_from(self.revs_limit()).unwrap_or(usize::MAX);
        if !self.system {
            self.metrics.docs.database_writes.inc();
        }
        let mut stats_guard = self.lock_stats()?;
        let mut stats = *stats_guard;
        let mut touched: Vec<String> = Vec::new();
        let mut records: HashMap<String, Stored> = HashMap::new();
        let mut batch = sled::Batch::default();
        let mut parts = PartDeltas::default();
        let mut results = Vec::with_capacity(docs.len());
        for mut doc in docs {
            let Some(id) = doc.id.clone() else {
                results.push(Err(Error::bad_request("Document id must be a string")));
                continue;
            };
            if !records.contains_key(&id) {
                let raw = self.tree.get(keys::doc_key(self.id, &id))?;
                let original: Option<DocRecord> = raw.as_deref().map(decode).transpose()?;
                let stored = Stored {
                    working: original.clone().unwrap_or_default(),
                    original,
                    original_len: raw.map_or(0, |r| r.len() as u64),
                };
                records.insert(id.clone(), stored);
                touched.push(id.clone());
            }
            let Some(Stored { working, .. }) = records.get_mut(&id) else {
                continue;
            };
            // CouchDB's order (`prep_and_validate_update`): an edit of a
            // revision that is not a leaf is a conflict before its stubs
            // are looked at; a stub that cannot be resolved then fails the
            // whole request (412 missing_stub), and nothing is written.
            if let (true, Some(parent)) = (new_edits, doc.revs.first()) {
                if !working.tree.is_empty() && !working.tree.is_leaf(parent) {
                    results.push(Err(Error::Conflict));
                    continue;
                }
            }
            let mut atts = self.resolve_attachments(&id, &doc, new_edits)?;
            let outcome = if new_edits {
                let digests: Vec<AttDigest> = atts
                    .iter()
                    .filter_map(|(name, meta)| {
                        meta.md5().map(|md5| AttDigest {
                            name: name.clone(),
                            content_type: meta.content_type.clone(),
                            md5,
                        })
                    })
                    .collect();
                update::interactive(&mut working.tree, &doc, &digests, revs_limit)
            } else {
                update::replicated(&mut working.tree, &doc, revs_limit)
            };
            if let Ok(edited) = &outcome {
                if edited.store_body {
                    let mut body = std::mem::take(&mut doc.body);
                    if !atts.is_empty() {
                        // CouchDB's `set_new_att_revpos`: an interactive
                        // edit stamps the bodies uploaded with it with its
                        // generation; a replicated one keeps the revpos
                        // each was sent with (0 when none), and attachments
                        // kept by reference keep theirs.
                        if let (true, Some(inputs)) = (new_edits, &doc.attachments) {
                            for ((_, meta), (_, input)) in atts.iter_mut().zip(inputs) {
                                if matches!(input, AttInput::Uploaded(_)) {
                                    meta.revpos = edited.rev.pos;
                                }
                            }
                        }
                        body.insert("_attachments".into(), attachment::stored_json(&atts));
                    }
                    let body =
                        serde_json::to_vec(&body).map_err(|e| Error::Corrupt(e.to_string()))?;
                    let before = stats;
                    stats.active += body.len() as u64;
                    stats.external += body.len() as u64;
                    if let Some(p) = self.partition_of(&id) {
                        parts.record(p, &before, &stats);
                    }
                    batch.insert(keys::body_key(self.id, &id, &edited.rev), body);
                }
            }
            results.push(outcome);
        }
        let mut moved = Vec::new();
        for id in touched {
            let Some(Stored {
                original,
                original_len,
                mut working,
            }) = records.remove(&id)
            else {
                continue;
            };
            if original.as_ref().map(|r| &r.tree) == Some(&working.tree) || working.tree.is_empty()
            {
                continue;
            }
            let before = stats;
            match &original {
                Some(old) if old.deleted() => {
                    stats.doc_del_count = stats.doc_del_count.saturating_sub(1)
                }
                Some(_) => stats.doc_count = stats.doc_count.saturating_sub(1),
                None => {}
            }
            if working.deleted() {
                stats.doc_del_count += 1;
            } else {
                stats.doc_count += 1;
            }
            if let Some(old) = &original {
                batch.remove(keys::seq_key(self.id, old.seq));
                // `external` counts leaf bodies: a leaf this edit extended
                // no longer counts.
                let leaves_now: HashSet<Rev> =
                    working.tree.leaves().into_iter().map(|(r, _)| r).collect();
                for (rev, _) in old.tree.leaves() {
                    if !leaves_now.contains(&rev) {
                        if let Some(body) = self.stored_body_raw(&id, &rev)? {
                            stats.external = stats.external.saturating_sub(body.len() as u64);
                        }
                    }
                }
            }
            stats.update_seq += 1;
            working.seq = stats.update_seq;
            moved.push((original.as_ref().map(|o| o.seq), working.seq));
            let record = encode(&working)?;
            stats.active = stats.active.saturating_sub(original_len) + record.len() as u64;
            batch.insert(keys::seq_key(self.id, working.seq), id.as_bytes());
            batch.insert(keys::doc_key(self.id, &id), record);
            if let Some(p) = self.partition_of(&id) {
                parts.record(p, &before, &stats);
            }
        }
        self.apply_part_deltas(&mut batch, parts)?;
        batch.insert(keys::stats_key(self.id), encode(&stats)?);
        self.tree.apply_batch(batch)?;
        let advanced = stats.update_seq != stats_guard.update_seq;
        *stats_guard = stats;
        self.count_moves(&moved);
        let docs = &self.metrics.docs;
        docs.document_writes.add(moved.len() as u64);
        docs.document_inserts
            .add(moved.iter().filter(|(old, _)| old.is_none()).count() as u64);
        if advanced {
            self.updates.send_replace(stats.update_seq);
        }
        Ok(results)
    }

    /// The attachments a new revision will carry: bodies already stored
    /// by the caller, plus stubs resolved against the revision being
    /// edited (or, for replicated edits, its nearest stored ancestor).
    fn resolve_attachments(
        &self,
        id: &str,
        doc: &NewDoc,
        new_edits: bool,
    ) -> Result<Vec<(String, AttMeta)>> {
        let Some(inputs) = &doc.attachments else {
            return Ok(Vec::new());
        };
        let mut previous: Option<Vec<(String, AttMeta)>> = None;
        let mut out = Vec::with_capacity(inputs.len());
        for (name, input) in inputs {
            match input {
                AttInput::Stored(meta) | AttInput::Uploaded(meta) => {
                    out.push((name.clone(), meta.clone()))
                }
                AttInput::Stub { revpos, .. } => {
                    if previous.is_none() {
                        previous = Some(self.previous_attachments(id, doc, new_edits)?);
                    }
                    // `couch_att:merge_stubs`: a stub's revpos, when given,
                    // must be the stored attachment's.
                    let found = previous
                        .iter()
                        .flatten()
                        .find(|(n, m)| n == name && revpos.is_none_or(|p| p == m.revpos));
                    match found {
                        Some((_, meta)) => out.push((name.clone(), meta.clone())),
                        None => {
                            return Err(Error::MissingStub(format!(
                                "Invalid attachment stub in {id} for {name}"
                            )))
                        }
                    }
                }
                AttInput::Inline { .. } | AttInput::Follows { .. } => {
                    return Err(Error::Corrupt(format!(
                        "attachment {name} was not stored before the write"
                    )));
                }
            }
        }
        Ok(out)
    }

    fn previous_attachments(
        &self,
        id: &str,
        doc: &NewDoc,
        new_edits: bool,
    ) -> Result<Vec<(String, AttMeta)>> {
        let candidates = if new_edits {
            doc.revs.get(..1)
        } else {
            doc.revs.get(1..)
        };
        for rev in candidates.unwrap_or_default() {
            if let Some(body) = self.stored_body(id, rev)? {
                return Ok(attachment::stored_atts(&body));
            }
        }
        Ok(Vec::new())
    }

    /// Held from the first attachment body a request stores until its
    /// document write is done, so compaction never reclaims those bodies.
    pub async fn blob_guard(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        Arc::clone(&self.blob_gc).read_owned().await
    }

    /// Starts streaming a new attachment body into storage.
    pub fn blob_writer(&self, encoding: blobs::Encoding) -> Result<BlobWriter> {
        self.blobs.writer(encoding)
    }

    /// Opens a stored attachment body; `decode` un-gzips compressed ones.
    pub fn blob_reader(&self, meta: &AttMeta, decode: bool) -> Result<Option<BlobReader>> {
        match meta.md5() {
            Some(md5) => self.blobs.reader(&md5, decode),
            None => Ok(None),
        }
    }

    /// An attachment's identity bytes, whole (for inline base64 output).
    pub fn attachment_data(&self, meta: &AttMeta) -> Result<Vec<u8>> {
        match self.blob_reader(meta, true)? {
            Some(reader) => reader.read_all(),
            None => Err(Error::Corrupt(format!(
                "attachment body {} is missing",
                meta.digest
            ))),
        }
    }

    /// Document records with ids in the given range, in id order (or reversed).
    pub fn docs_range(
        &self,
        start: Bound<&str>,
        end: Bound<&str>,
        descending: bool,
    ) -> impl Iterator<Item = Result<(String, DocRecord)>> + Send + 'static {
        let map = |b: Bound<&str>, open_end: bool| match b {
            Bound::Included(id) => Bound::Included(keys::doc_key(self.id, id)),
            Bound::Excluded(id) => Bound::Excluded(keys::doc_key(self.id, id)),
            Bound::Unbounded if open_end => {
                Bound::Excluded(keys::prefix_end(&keys::doc_prefix(self.id)))
            }
            Bound::Unbounded => Bound::Included(keys::doc_prefix(self.id)),
        };
        let range = (map(start, false), map(end, true));
        let valid = match (&range.0, &range.1) {
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a <= b
            }
            _ => true,
        };
        let iter = valid.then(|| self.tree.range(range));
        let decode_item =
            |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<(String, DocRecord)> {
                let (k, v) = item?;
                let id = keys::doc_id_of(&k)
                    .ok_or_else(|| Error::Corrupt("doc key".into()))?
                    .to_string();
                Ok((id, decode(&v)?))
            };
        let boxed: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send> =
            match (iter, descending) {
                (None, _) => Box::new(std::iter::empty()),
                (Some(it), false) => Box::new(it),
                (Some(it), true) => Box::new(it.rev()),
            };
        boxed.map(decode_item)
    }

    /// How many live documents have ids in the range (`_all_docs`'
    /// `offset`). A database that is not partitioned is counted record by
    /// record; a partitioned one from its partitions' counters, reading
    /// records only for ids starting with `_` (design documents) and for
    /// the partitions the range's ends cut through.
    pub fn count_live(&self, lo: Bound<&str>, hi: Bound<&str>) -> Result<u64> {
        let count_records = |lo: Bound<&str>, hi: Bound<&str>| -> Result<u64> {
            let mut n = 0;
            for item in self.docs_range(lo, hi, false) {
                if !item?.1.deleted() {
                    n += 1;
                }
            }
            Ok(n)
        };
        if !self.partitioned {
            return count_records(lo, hi);
        }
        // Ids starting with `_` never belong to a partition.
        let (reserved_lo, reserved_hi) = (Bound::Included("_"), Bound::Excluded("`"));
        let mut n = count_records(max_lower(lo, reserved_lo), min_upper(hi, reserved_hi))?;
        // The partitions that can hold ids of the range: from the one
        // holding `lo` (its counter key is `lo`'s prefix up to `:`) on.
        let first = match lo {
            Bound::Included(s) | Bound::Excluded(s) => match s.find(':') {
                Some(i) => &s[..=i],
                None => s,
            },
            Bound::Unbounded => "",
        };
        let prefix = keys::part_stats_prefix(self.id);
        let mut start = prefix.clone();
        start.extend_from_slice(first.as_bytes());
        for item in self.tree.range(start..keys::prefix_end(&prefix)) {
            let (k, v) = item?;
            let part_lo = keys::part_prefix_of(&k)
                .ok_or_else(|| Error::Corrupt("partition counter key".into()))?;
            let part_hi = format!("{};", part_lo.trim_end_matches(':'));
            let past_end = match hi {
                Bound::Included(h) => part_lo > h,
                Bound::Excluded(h) => part_lo >= h,
                Bound::Unbounded => false,
            };
            if past_end {
                break;
            }
            let from_start = match lo {
                Bound::Included(s) => s <= part_lo,
                Bound::Excluded(s) => s < part_lo,
                Bound::Unbounded => true,
            };
            let to_end = match hi {
                Bound::Included(h) | Bound::Excluded(h) => h >= part_hi.as_str(),
                Bound::Unbounded => true,
            };
            if from_start && to_end {
                n += decode::<PartStats>(&v)?.doc_count;
            } else {
                let part = (Bound::Included(part_lo), Bound::Excluded(part_hi.as_str()));
                n += count_records(max_lower(lo, part.0), min_upper(hi, part.1))?;
            }
        }
        Ok(n)
    }

    /// `(seq, doc id)` pairs up to and including `upto`, newest first
    /// (`_changes?descending=true`).
    pub fn changes_down_from(
        &self,
        upto: u64,
    ) -> impl Iterator<Item = Result<(u64, String)>> + Send + 'static {
        let start = keys::seq_key(self.id, 0);
        let end = keys::seq_key(self.id, upto);
        self.tree.range(start..=end).rev().map(|item| {
            let (k, v) = item?;
            let seq = keys::seq_of(&k).ok_or_else(|| Error::Corrupt("seq key".into()))?;
            Ok((seq, String::from_utf8_lossy(&v).into_owned()))
        })
    }

    /// How many documents changed after `seq` (`_changes`' `pending`), or
    /// before it when `before` is set (descending feeds).
    pub fn pending(&self, seq: u64, before: bool) -> Result<u64> {
        let whole = {
            let mut counts = self.seq_counts.lock().unwrap_or_else(|p| p.into_inner());
            if counts.is_none() {
                drop(counts);
                self.build_seq_counts()?;
                counts = self.seq_counts.lock().unwrap_or_else(|p| p.into_inner());
            }
            let counts = counts.get_or_insert_with(SeqCounts::default);
            if before {
                counts.before_block_of(seq)
            } else {
                counts.after_block_of(seq)
            }
        };
        let (lo, hi) = if before {
            (SeqCounts::block_start(seq), seq.saturating_sub(1))
        } else {
            (seq.saturating_add(1), SeqCounts::block_end(seq))
        };
        let mut partial = 0;
        if lo <= hi && !(before && seq == 0) {
            for key in self
                .tree
                .range(keys::seq_key(self.id, lo)..=keys::seq_key(self.id, hi))
                .keys()
            {
                key?;
                partial += 1;
            }
        }
        Ok(whole + partial)
    }

    /// Counts the by-sequence index once, with writers held off so no
    /// write is counted twice or missed.
    fn build_seq_counts(&self) -> Result<()> {
        let _writer = self.lock_stats()?;
        let mut slot = self.seq_counts.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return Ok(());
        }
        let mut counts = SeqCounts::default();
        // Keys only: the sequence is in the key.
        for key in self.tree.scan_prefix(keys::seq_prefix(self.id)).keys() {
            if let Some(seq) = keys::seq_of(&key?) {
                counts.add(seq);
            }
        }
        *slot = Some(counts);
        Ok(())
    }

    /// Keeps [`SeqCounts`] in step with a write: each document left its
    /// old sequence (if any) for a new one. Called under the writer lock.
    fn count_moves(&self, moved: &[(Option<u64>, u64)]) {
        let mut slot = self.seq_counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(counts) = slot.as_mut() {
            for &(old, new) in moved {
                if let Some(old) = old {
                    counts.remove(old);
                }
                counts.add(new);
            }
        }
    }

    /// `(seq, doc id)` pairs after `since`, in sequence order.
    pub fn changes_since(
        &self,
        since: u64,
    ) -> impl Iterator<Item = Result<(u64, String)>> + Send + 'static {
        let start = keys::seq_key(self.id, since.saturating_add(1));
        let end = keys::prefix_end(&keys::seq_prefix(self.id));
        self.tree.range(start..end).map(|item| {
            let (k, v) = item?;
            let seq = keys::seq_of(&k).ok_or_else(|| Error::Corrupt("seq key".into()))?;
            Ok((seq, String::from_utf8_lossy(&v).into_owned()))
        })
    }

    pub fn local_get(&self, id: &str) -> Result<Option<LocalDoc>> {
        match self.tree.get(keys::local_key(self.id, id))? {
            Some(raw) => Ok(Some(decode(&raw)?)),
            None => Ok(None),
        }
    }

    /// Writes a local document as CouchDB does: the new revision is the
    /// given one plus one (1 without a rev); a deletion removes it and
    /// answers rev 0. No conflict checking, as in CouchDB.
    pub fn local_put(
        &self,
        id: &str,
        given_rev: Option<u64>,
        body: Option<&Map<String, Value>>,
    ) -> Result<u64> {
        let _writer = self.lock_stats()?;
        let key = keys::local_key(self.id, id);
        self.metrics.docs.local_document_writes.inc();
        match body {
            None => {
                self.tree.remove(key)?;
                Ok(0)
            }
            Some(body) => {
                let rev = given_rev
                    .unwrap_or(0)
                    .checked_add(1)
                    .ok_or(crate::couch::rev::InvalidRev)?;
                let doc = LocalDoc {
                    rev,
                    body: serde_json::to_string(body).map_err(|e| Error::Corrupt(e.to_string()))?,
                };
                self.tree.insert(key, encode(&doc)?)?;
                Ok(rev)
            }
        }
    }

    /// Local documents with ids in the range, in id order (or reversed).
    pub fn locals_range(
        &self,
        start: Bound<&str>,
        end: Bound<&str>,
        descending: bool,
    ) -> Vec<Result<(String, LocalDoc)>> {
        let prefix = keys::local_prefix(self.id);
        let lo = match start {
            Bound::Included(id) => Bound::Included(keys::local_key(self.id, id)),
            Bound::Excluded(id) => Bound::Excluded(keys::local_key(self.id, id)),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let hi = match end {
            Bound::Included(id) => Bound::Included(keys::local_key(self.id, id)),
            Bound::Excluded(id) => Bound::Excluded(keys::local_key(self.id, id)),
            Bound::Unbounded => Bound::Excluded(keys::prefix_end(&prefix)),
        };
        let decode_item =
            |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<(String, LocalDoc)> {
                let (k, v) = item?;
                let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((id, decode(&v)?))
            };
        let iter = self.tree.range((lo, hi));
        if descending {
            iter.rev().map(decode_item).collect()
        } else {
            iter.map(decode_item).collect()
        }
    }

    /// Drops the bodies of revisions that are no longer leaves, and marks
    /// them unavailable in their trees, then the attachment bodies nothing
    /// refers to. Returns the bytes reclaimed, or `None` when a compaction
    /// of this database is already running (CouchDB starts no second one).
    /// Listed in `_active_tasks` while it runs, with documents visited as
    /// its changes.
    pub fn compact(&self) -> Result<Option<u64>> {
        /// Clears the flag however compaction ends.
        struct Running<'a>(&'a AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        if self.compacting.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        let _running = Running(&self.compacting);
        self.compact_now().map(Some)
    }

    fn compact_now(&self) -> Result<u64> {
        let total = {
            let stats = self.lock_stats()?;
            stats.doc_count + stats.doc_del_count
        };
        let task = self.start_task(TaskKind::DatabaseCompaction, total);
        self.metrics.own.compactions.inc();
        let mut visited = 0u64;
        let mut reclaimed = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            // Work in slices so writers are never blocked for long.
            let mut stats_guard = self.lock_stats()?;
            let mut stats = *stats_guard;
            let mut batch = sled::Batch::default();
            let mut parts = PartDeltas::default();
            let start = cursor.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let mut seen = 0u64;
            let revs_limit = usize::try_from(self.revs_limit()).unwrap_or(usize::MAX);
            for item in self.docs_range(start, Bound::Unbounded, false).take(500) {
                let (id, mut record) = item?;
                let original_len = encode(&record)?.len() as u64;
                let before = stats;
                seen += 1;
                let leaves: Vec<Rev> = record.tree.leaves().into_iter().map(|(r, _)| r).collect();
                let mut changed = false;
                for (rev, mut info) in record.tree.all_revs() {
                    if info.available && !leaves.contains(&rev) {
                        let key = keys::body_key(self.id, &id, &rev);
                        if let Some(old) = self.tree.get(&key)? {
                            reclaimed += old.len() as u64;
                            // (`external` already dropped it when it
                            // stopped being a leaf.)
                            stats.active = stats.active.saturating_sub(old.len() as u64);
                        }
                        batch.remove(key);
                        info.available = false;
                        record.tree.set_info(&rev, info);
                        changed = true;
                    }
                }
                // As CouchDB's compactor, stem every tree to the current
                // `_revs_limit` (it may have been lowered since the last
                // write of this document).
                let unstemmed = record.tree.clone();
                record.tree.stem(revs_limit);
                if changed || record.tree != unstemmed {
                    let encoded = encode(&record)?;
                    stats.active = stats.active.saturating_sub(original_len) + encoded.len() as u64;
                    batch.insert(keys::doc_key(self.id, &id), encoded);
                }
                if let Some(p) = self.partition_of(&id) {
                    parts.record(p, &before, &stats);
                }
                cursor = Some(id);
            }
            self.apply_part_deltas(&mut batch, parts)?;
            batch.insert(keys::stats_key(self.id), encode(&stats)?);
            self.tree.apply_batch(batch)?;
            *stats_guard = stats;
            drop(stats_guard);
            visited += seen;
            task.update(visited, total);
            if seen < 500 {
                return Ok(reclaimed + self.sweep_blobs()?);
            }
        }
    }

    /// Deletes attachment bodies no stored revision refers to any more,
    /// and chunks of uploads that never completed.
    fn sweep_blobs(&self) -> Result<u64> {
        let _exclusive = self.blob_gc.blocking_write();
        // Compaction's body removals are durable before files are judged
        // unreferenced by them.
        self.tree.flush()?;
        let mut referenced: HashSet<[u8; 16]> = HashSet::new();
        for item in self.tree.scan_prefix(keys::body_table_prefix(self.id)) {
            let (_, raw) = item?;
            // A body that cannot be read may still refer to a file: keep
            // them all rather than guess.
            let body: Map<String, Value> =
                serde_json::from_slice(&raw).map_err(|e| Error::Corrupt(e.to_string()))?;
            referenced.extend(
                attachment::stored_atts(&body)
                    .iter()
                    .filter_map(|(_, m)| m.md5()),
            );
        }
        self.blobs.sweep(&referenced)
    }
}
