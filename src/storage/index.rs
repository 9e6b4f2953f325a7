//! Mango index entries on sled, kept up to date from the by-sequence index.
//!
//! Each index (identified by the signature of its columns and partial
//! filter, [`IndexDef::signature`]) stores one entry per document it
//! admits, under the database's `D`+id prefix (so deleting the database
//! reclaims it):
//!
//! - `i` sig key docid → the column values (JSON), where `key` is the
//!   collation-ordered encoding of the values: a range scan returns rows
//!   in CouchDB view order, ties by doc id;
//! - `j` sig docid → the entry's key, to replace it when the doc changes
//!   (empty: the doc has no entry, whatever a page says);
//! - `p` sig first-docid → a [`BackPage`]: what `j` would hold for a run of
//!   consecutive documents, written by an initial build. A sled insert is
//!   most of a build's cost, and a page takes one per [`PAGE`] documents
//!   instead of one each. A `j` key, written when a doc changes later,
//!   overrides its page;
//! - `k` sig → [`IndexMeta`]: the update sequence the index is built to.
//!
//! [`Database::update_index`] catches an index up the way CouchDB's
//! indexer does: it reads `changes_since(built_seq)` in batches and
//! applies each batch (entries and the new sequence) atomically, without
//! taking the database's writer lock, so writes are never blocked by an
//! index build. One build runs at a time per index; a query that needs
//! the index waits for it, then sees every write acknowledged before it
//! started. A build is listed in `_active_tasks` as an `indexer` task.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tasks::{TaskHandle, TaskKind};
use super::{decode, encode, keys, remove_prefix, Database};
use crate::couch::attachment;
use crate::couch::doc::rev_list;
use crate::couch::mango::index::IndexDef;
use crate::couch::revtree::RevTree;
use crate::error::{Error, Result};

/// Documents per catch-up batch.
const BATCH: usize = 2000;

/// Entries per writer message during an initial build.
const WRITE_CHUNK: usize = 2000;

/// Documents per back-reference page of an initial build.
const PAGE: usize = 64;

/// The back-references of a run of documents, in id order: each doc id
/// with its entry's key after the index prefix. Built owned, read borrowed
/// (bincode encodes both alike).
type BackPage = Vec<(String, Vec<u8>)>;
type BackPageRef<'a> = Vec<(&'a str, &'a [u8])>;

/// A chunk of index entries and back-reference pages on its way to the
/// writer thread.
type EntryChunk = Vec<(Vec<u8>, Vec<u8>)>;

/// Inserts entries that arrive over `rx`, until the sender is dropped.
/// Plain inserts, not batches: a sled batch takes an exclusive lock and
/// costs the same per key.
fn insert_all(tree: &sled::Db, rx: std::sync::mpsc::Receiver<EntryChunk>) -> Result<()> {
    for chunk in rx {
        for (k, v) in chunk {
            tree.insert(k, v)?;
        }
    }
    Ok(())
}

/// The result of a scoped writer thread; a panic there is an error here.
fn joined(handle: std::thread::ScopedJoinHandle<'_, Result<()>>) -> Result<()> {
    handle
        .join()
        .map_err(|_| Error::Corrupt("index writer thread panicked".into()))?
}

/// Stored per index.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Every change up to this sequence is reflected in the entries.
    pub seq: u64,
}

/// A running build's progress, as its `_active_tasks` entry shows it.
struct Progress {
    task: TaskHandle,
    changes_done: u64,
    total_changes: u64,
}

impl Progress {
    fn report(&mut self, changes_done: u64) {
        self.changes_done = changes_done;
        self.total_changes = self.total_changes.max(changes_done);
        self.task.update(self.changes_done, self.total_changes);
    }
}

/// Per-database state: one lock per index, and the definitions.
#[derive(Default)]
pub struct IndexState {
    locks: Mutex<HashMap<[u8; 16], Arc<Mutex<()>>>>,
    /// The index definitions read from design documents, and the update
    /// sequence they were read at.
    defs: Mutex<Option<(u64, Arc<Vec<IndexDef>>)>>,
}

impl IndexState {
    fn lock_for(&self, sig: [u8; 16]) -> Arc<Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(sig).or_default())
    }
}

/// One index row from a scan.
#[derive(Debug, Clone)]
pub struct IndexRow {
    /// The entry key after the index prefix: encoded values, then doc id.
    pub key: Vec<u8>,
    pub id: String,
    /// The column values (`None` for an absent column).
    pub values: Vec<Option<Value>>,
}

#[derive(Serialize, Deserialize)]
struct StoredRow {
    id: String,
    /// The column values as a JSON array, `null` for absent, with a
    /// presence mask (bit i = column i present).
    values: String,
    present: u64,
}

/// A document as the indexer sees it: `_id`, `_rev`, the body,
/// `_conflicts` and `_deleted_conflicts` (CouchDB's index updater opens
/// documents with both, so an index on `_conflicts` finds conflicted
/// documents), and attachment stubs.
fn doc_value(id: &str, rev: &str, tree: &RevTree, mut body: Map<String, Value>) -> Value {
    let atts = attachment::stored_atts(&body);
    body.shift_remove("_attachments");
    let mut doc = Map::with_capacity(body.len() + 5);
    doc.insert("_id".into(), Value::from(id));
    doc.insert("_rev".into(), Value::from(rev));
    doc.extend(body);
    let conflicts = tree.conflicts();
    if !conflicts.is_empty() {
        doc.insert("_conflicts".into(), rev_list(&conflicts));
    }
    let deleted_conflicts = tree.deleted_conflicts();
    if !deleted_conflicts.is_empty() {
        doc.insert("_deleted_conflicts".into(), rev_list(&deleted_conflicts));
    }
    if !atts.is_empty() {
        let stubs: Map<String, Value> = atts
            .iter()
            .map(|(n, m)| (n.clone(), m.stub_json(false)))
            .collect();
        doc.insert("_attachments".into(), Value::Object(stubs));
    }
    Value::Object(doc)
}

/// A document's entry in an index: the full sled key (index prefix,
/// collation key, id) and the stored row; `None` when the index leaves the
/// document out.
fn index_entry(
    def: &IndexDef,
    prefix: &[u8],
    id: &str,
    doc: &Value,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let Some((collation_key, values)) = def.entry(id, doc) else {
        return Ok(None);
    };
    let mut key = prefix.to_vec();
    key.extend_from_slice(&collation_key);
    key.extend_from_slice(id.as_bytes());
    Ok(Some((key, encode(&stored_row(id, values))?)))
}

/// The sled entry of a (non-empty) back-reference page: keyed by its first
/// doc id.
fn page_entry(db: u64, sig: &[u8; 16], page: &BackPage) -> Result<(Vec<u8>, Vec<u8>)> {
    let first = page.first().map_or("", |(id, _)| id.as_str());
    Ok((keys::index_page_key(db, sig, first), encode(page)?))
}

fn stored_row(id: &str, values: Vec<Option<Value>>) -> StoredRow {
    let present = values.iter().enumerate().fold(0u64, |m, (i, v)| {
        if v.is_some() && i < 64 {
            m | (1 << i)
        } else {
            m
        }
    });
    let json: Vec<Value> = values
        .into_iter()
        .map(|v| v.unwrap_or(Value::Null))
        .collect();
    StoredRow {
        id: id.to_string(),
        values: Value::Array(json).to_string(),
        present,
    }
}

impl Database {
    /// The winning revision of a live, non-design document as the
    /// indexer sees it: its body with `_id`, `_rev` and attachment stubs.
    pub fn index_doc(&self, id: &str) -> Result<Option<Value>> {
        if id.starts_with("_design/") {
            return Ok(None);
        }
        Ok(self
            .stored_live_doc(id)?
            .map(|live| doc_value(id, &live.rev.to_string(), &live.record.tree, live.body)))
    }

    /// The cached index definitions, if read at the current sequence.
    pub fn cached_index_defs(&self) -> Option<Arc<Vec<IndexDef>>> {
        let seq = self.update_seq();
        let cache = self
            .mango_state()
            .defs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .as_ref()
            .filter(|(s, _)| *s == seq)
            .map(|(_, d)| Arc::clone(d))
    }

    /// Caches index definitions read at sequence `seq`.
    pub fn cache_index_defs(&self, seq: u64, defs: Arc<Vec<IndexDef>>) {
        *self
            .mango_state()
            .defs
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((seq, defs));
    }

    /// The sequence an index is built to.
    pub fn index_seq(&self, sig: &[u8; 16]) -> Result<u64> {
        let (tree, db) = self.raw();
        Ok(match tree.get(keys::index_meta_key(db, sig))? {
            Some(raw) => decode::<IndexMeta>(&raw)?.seq,
            None => 0,
        })
    }

    /// Brings an index up to date with every change committed so far.
    pub fn update_index(&self, def: &IndexDef) -> Result<()> {
        let sig = def.signature();
        let lock = self.mango_state().lock_for(sig);
        let _build = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (tree, db) = self.raw();
        let mut seq = self.index_seq(&sig)?;
        let target = self.update_seq();
        if seq >= target {
            return Ok(());
        }
        let design_document = def.ddoc.clone().unwrap_or_default();
        let mut progress = Progress {
            task: self.start_task(TaskKind::Indexer { design_document }, target - seq),
            changes_done: 0,
            total_changes: target - seq,
        };
        if seq == 0 {
            // A new index: read the documents in id order (sequential
            // reads), then catch up from the sequence taken before.
            self.initial_build(def, &sig, target, &mut progress)?;
            seq = target;
        }
        let prefix = keys::index_prefix(db, &sig);
        loop {
            let changes: Vec<(u64, String)> =
                self.changes_since(seq).take(BATCH).collect::<Result<_>>()?;
            let Some(&(last, _)) = changes.last() else {
                break;
            };
            let mut batch = sled::Batch::default();
            for (_, id) in &changes {
                let back = keys::index_back_key(db, &sig, id);
                let old = self.entry_key(&sig, &prefix, id)?;
                let new = match self.index_doc(id)? {
                    Some(doc) => index_entry(def, &prefix, id, &doc)?,
                    None => None,
                };
                if let Some(old) = &old {
                    if new.as_ref().map(|(key, _)| key) != Some(old) {
                        batch.remove(old.as_slice());
                    }
                }
                match new {
                    Some((key, row)) => {
                        batch.insert(key.clone(), row);
                        batch.insert(back, key);
                    }
                    // The build's page still names the old entry: say it is gone.
                    None if old.is_some() && self.paged_entry_key(&sig, &prefix, id)?.is_some() => {
                        batch.insert(back, Vec::new())
                    }
                    None if old.is_some() => batch.remove(back),
                    None => {}
                }
            }
            seq = last;
            batch.insert(keys::index_meta_key(db, &sig), encode(&IndexMeta { seq })?);
            if self.is_deleted() {
                return Err(Error::db_not_found());
            }
            tree.apply_batch(batch)?;
            progress.report(progress.changes_done + changes.len() as u64);
            if changes.len() < BATCH {
                break;
            }
        }
        if progress.changes_done > 0 {
            let own = &self.metrics().own;
            own.index_builds.inc();
            own.index_changes.add(progress.changes_done);
        }
        Ok(())
    }

    /// The key of a document's entry in an index, if it has one: its `j`
    /// back-reference, or else the initial build's page that covers it.
    fn entry_key(&self, sig: &[u8; 16], prefix: &[u8], id: &str) -> Result<Option<Vec<u8>>> {
        let (tree, db) = self.raw();
        match tree.get(keys::index_back_key(db, sig, id))? {
            Some(key) => Ok((!key.is_empty()).then(|| key.to_vec())),
            None => self.paged_entry_key(sig, prefix, id),
        }
    }

    /// The key the initial build recorded for a document, if it did.
    fn paged_entry_key(&self, sig: &[u8; 16], prefix: &[u8], id: &str) -> Result<Option<Vec<u8>>> {
        let (tree, db) = self.raw();
        let pages = keys::index_page_prefix(db, sig)..=keys::index_page_key(db, sig, id);
        let Some(item) = tree.range(pages).next_back() else {
            return Ok(None);
        };
        let (_, raw) = item?;
        let page: BackPageRef = decode(&raw)?;
        let found = page
            .binary_search_by(|(other, _)| (*other).cmp(id))
            .ok()
            .and_then(|i| page.get(i));
        Ok(found.map(|(_, suffix)| [prefix, suffix].concat()))
    }

    /// Fills an empty index from the document records in id order; every
    /// change up to `upto` is covered (later ones by the caller's catch-up).
    ///
    /// Reading and writing overlap: this thread reads documents and
    /// computes their entries, a second one inserts them (index entries and
    /// back-reference pages, in chunks over a bounded channel, so memory
    /// stays flat).
    /// The index's metadata is written last: an index without it is built
    /// again from scratch.
    fn initial_build(
        &self,
        def: &IndexDef,
        sig: &[u8; 16],
        upto: u64,
        progress: &mut Progress,
    ) -> Result<()> {
        let (tree, db) = self.raw();
        // Entries of a build a crash interrupted (no IndexMeta was
        // written) may be stale: start from an empty index.
        self.clear_index_entries(sig)?;
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel(4);
            let writer = scope.spawn(move || insert_all(tree, rx));
            let read = self.read_for_build(def, sig, progress, &tx);
            drop(tx);
            joined(writer).and(read)
        })?;
        tree.insert(
            keys::index_meta_key(db, sig),
            encode(&IndexMeta { seq: upto })?,
        )?;
        Ok(())
    }

    /// The reading half of [`Database::initial_build`]: every live
    /// document's index entry, and a back-reference page per [`PAGE`]
    /// entries, sent to the writer in chunks.
    fn read_for_build(
        &self,
        def: &IndexDef,
        sig: &[u8; 16],
        progress: &mut Progress,
        tx: &std::sync::mpsc::SyncSender<EntryChunk>,
    ) -> Result<()> {
        let (_, db) = self.raw();
        let prefix = keys::index_prefix(db, sig);
        let writer_gone = || Error::Corrupt("index writer thread stopped".into());
        let mut chunk = Vec::with_capacity(WRITE_CHUNK);
        let mut page: BackPage = Vec::with_capacity(PAGE);
        let mut read = 0u64;
        for item in self.docs_range(Bound::Unbounded, Bound::Unbounded, false) {
            let (id, record) = item?;
            read += 1;
            if read.is_multiple_of(BATCH as u64) {
                if self.is_deleted() {
                    return Err(Error::db_not_found());
                }
                progress.report(read);
            }
            let Some(rev) = record.live_winner() else {
                continue;
            };
            if id.starts_with("_design/") {
                continue;
            }
            let Some(body) = self.stored_body(&id, &rev)? else {
                continue;
            };
            let doc = doc_value(&id, &rev.to_string(), &record.tree, body);
            let Some((key, row)) = index_entry(def, &prefix, &id, &doc)? else {
                continue;
            };
            page.push((id, key.get(prefix.len()..).unwrap_or_default().to_vec()));
            chunk.push((key, row));
            if page.len() >= PAGE {
                chunk.push(page_entry(db, sig, &page)?);
                page.clear();
            }
            if chunk.len() >= WRITE_CHUNK {
                let full_chunk = std::mem::replace(&mut chunk, Vec::with_capacity(WRITE_CHUNK));
                tx.send(full_chunk).map_err(|_| writer_gone())?;
            }
        }
        if self.is_deleted() {
            return Err(Error::db_not_found());
        }
        if !page.is_empty() {
            chunk.push(page_entry(db, sig, &page)?);
        }
        tx.send(chunk).map_err(|_| writer_gone())?;
        progress.report(read);
        Ok(())
    }

    /// Index rows with keys in `[lo, hi]` (bytes after the index prefix),
    /// ascending or descending; `after` resumes past an earlier row key
    /// (exclusive, in scan direction).
    pub fn index_scan(
        &self,
        sig: &[u8; 16],
        lo: &[u8],
        hi: &[u8],
        descending: bool,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<IndexRow>> + Send + 'static {
        let (tree, db) = self.raw();
        let prefix = keys::index_prefix(db, sig);
        let join = |k: &[u8]| {
            let mut full = prefix.clone();
            full.extend_from_slice(k);
            full
        };
        let (mut start, mut end) = (Bound::Included(join(lo)), Bound::Included(join(hi)));
        // A bookmark only narrows the range (one from another query, or
        // another partition, must not widen it).
        if let Some(after) = after {
            if descending {
                end = crate::couch::range::min_upper(end, Bound::Excluded(join(after)));
            } else {
                start = crate::couch::range::max_lower(start, Bound::Excluded(join(after)));
            }
        }
        let valid = match (&start, &end) {
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
                a <= b
            }
            _ => true,
        };
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + Send> =
            match (valid, descending) {
                (false, _) => Box::new(std::iter::empty()),
                (true, false) => Box::new(tree.range((start, end))),
                (true, true) => Box::new(tree.range((start, end)).rev()),
            };
        let plen = prefix.len();
        iter.map(move |item| {
            let (k, v) = item?;
            let row: StoredRow = decode(&v)?;
            let values: Vec<Value> =
                serde_json::from_str(&row.values).map_err(|e| Error::Corrupt(e.to_string()))?;
            let values = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    if i >= 64 || row.present & (1 << i) != 0 {
                        Some(v)
                    } else {
                        None
                    }
                })
                .collect();
            Ok(IndexRow {
                key: k.get(plen..).unwrap_or_default().to_vec(),
                id: row.id,
                values,
            })
        })
    }

    /// Removes every stored entry of an index (after its last definition
    /// is gone).
    pub fn drop_index(&self, sig: &[u8; 16]) -> Result<()> {
        let lock = self.mango_state().lock_for(*sig);
        let _build = lock.lock().unwrap_or_else(|p| p.into_inner());
        self.clear_index_entries(sig)?;
        let (tree, db) = self.raw();
        tree.remove(keys::index_meta_key(db, sig))?;
        Ok(())
    }

    /// Removes every entry, back-reference and page of an index.
    fn clear_index_entries(&self, sig: &[u8; 16]) -> Result<()> {
        let (tree, db) = self.raw();
        remove_prefix(tree, &keys::index_prefix(db, sig))?;
        remove_prefix(tree, &keys::index_back_prefix(db, sig))?;
        remove_prefix(tree, &keys::index_page_prefix(db, sig))
    }
}
