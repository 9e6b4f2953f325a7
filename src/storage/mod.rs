//! Storage: the only code that touches sled.
//!
//! [`Store`] owns the sled database, the catalog of CouchDB databases and
//! the group-commit flusher; [`Database`] is one CouchDB database, with a
//! narrow API in CouchDB terms (records, bodies, sequences, local docs).
//! The key layout is in [`keys`]; `design/storage.md` explains it.

pub mod blobs;
pub mod commit;
mod database;
pub mod index;
pub mod keys;
mod seq_counts;
pub mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use commit::GroupCommit;
pub use database::{Database, DbInfo, DocRecord, LiveDoc, LocalDoc, PartitionInfo};

use crate::error::{Error, Result};
use crate::metrics::{Kind, Metrics};

/// Catalog entry of one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbMeta {
    pub id: u64,
    /// Creation time, seconds since the epoch (CouchDB 3.4's instance_start_time).
    pub created: u64,
    pub revs_limit: u64,
    /// The `_security` object as JSON text.
    pub security: String,
    /// Created with `?partitioned=true` (`props.partitioned`). Absent
    /// from catalog entries written before partitioned databases existed.
    pub partitioned: bool,
}

/// A catalog entry as written before [`DbMeta::partitioned`] existed.
#[derive(Deserialize)]
struct DbMetaV1 {
    id: u64,
    created: u64,
    revs_limit: u64,
    security: String,
}

impl DbMeta {
    /// Decodes a catalog entry, of the current form or the older one
    /// without `partitioned` (bincode has no optional trailing fields).
    pub(crate) fn decode(raw: &[u8]) -> Result<DbMeta> {
        decode::<DbMeta>(raw).or_else(|_| {
            decode::<DbMetaV1>(raw).map(|m| DbMeta {
                id: m.id,
                created: m.created,
                revs_limit: m.revs_limit,
                security: m.security,
                partitioned: false,
            })
        })
    }
}

/// The `_security` of a new database: CouchDB 3's `default_security = admin_only`.
pub const DEFAULT_SECURITY: &str =
    r#"{"members":{"roles":["_admin"]},"admins":{"roles":["_admin"]}}"#;

/// sled's log segment size. The default (512 KiB) costs about four times
/// the resident memory under sustained writes for no measurable speed-up.
const SLED_SEGMENT_BYTES: usize = 256 * 1024;

/// How Settee opens sled: under `dir` (or in memory), with a page cache
/// of `cache_mb` MiB.
pub fn sled_config(dir: &std::path::Path, in_memory: bool, cache_mb: u64) -> sled::Config {
    if in_memory {
        sled::Config::new().temporary(true)
    } else {
        sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
    }
    .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
    .segment_size(SLED_SEGMENT_BYTES)
}

/// Default `_revs_limit`.
pub const DEFAULT_REVS_LIMIT: u64 = 1000;

/// The sled database and every CouchDB database in it.
pub struct Store {
    tree: sled::Db,
    commit: GroupCommit,
    /// Where attachment bodies live as files (`None` in memory).
    blob_root: Option<std::path::PathBuf>,
    open: Mutex<HashMap<String, Arc<Database>>>,
    /// Serialises creating and deleting databases.
    catalog_lock: Mutex<()>,
    /// The `_security` of new databases (`[couchdb] default_security`).
    default_security: Mutex<String>,
    /// Index builds and compactions in progress, of every database.
    tasks: Arc<tasks::ActiveTasks>,
    /// The server's metrics (`_stats`): storage counts reads, writes,
    /// commits, index builds and compactions.
    metrics: Arc<Metrics>,
}

impl Store {
    /// Opens (or creates) the store under `dir`, or a purely in-memory one.
    /// `cache_mb` sizes sled's page cache.
    pub fn open(dir: &std::path::Path, in_memory: bool, cache_mb: u64) -> Result<Arc<Store>> {
        let tree = sled_config(dir, in_memory, cache_mb).open()?;
        let metrics = Arc::new(Metrics::new());
        let commit = if in_memory {
            GroupCommit::disabled()
        } else {
            GroupCommit::start_counted(tree.clone(), Arc::clone(&metrics.docs.commits))
                .map_err(|e| Error::Corrupt(e.to_string()))?
        };
        let store = Arc::new(Store {
            tree,
            commit,
            blob_root: (!in_memory).then(|| dir.join("attachments")),
            open: Mutex::new(HashMap::new()),
            catalog_lock: Mutex::new(()),
            default_security: Mutex::new(DEFAULT_SECURITY.into()),
            tasks: Arc::default(),
            metrics,
        });
        let open = Arc::downgrade(&store);
        store.metrics.sampled(
            &["couchdb", "open_databases"],
            Kind::Counter,
            "number of open databases",
            move || {
                open.upgrade()
                    .map_or(0, |s| i64::try_from(s.open_map().len()).unwrap_or(i64::MAX))
            },
        );
        // Databases deleted before a crash or restart: reclaimed without
        // holding up start-up.
        store.reclaim_in_background();
        Ok(store)
    }

    pub fn commit(&self) -> &GroupCommit {
        &self.commit
    }

    /// The server's uuid, made on first start and kept.
    pub fn server_uuid(&self) -> Result<String> {
        const KEY: &[u8] = b"Uuuid";
        if let Some(raw) = self.tree.get(KEY)? {
            return Ok(String::from_utf8_lossy(&raw).into_owned());
        }
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        self.tree.insert(KEY, fresh.as_bytes())?;
        Ok(fresh)
    }

    /// Sets the `_security` object new databases get (JSON text).
    pub fn set_default_security(&self, security: &str) {
        *self
            .default_security
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = security.to_string();
    }

    /// Index builds and compactions running now (`_active_tasks`).
    pub fn active_tasks(&self) -> Vec<tasks::Task> {
        self.tasks.list()
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Bytes the sled files take on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.tree.size_on_disk().unwrap_or(0)
    }

    /// Creates a database, partitioned or not; `FileExists` if it
    /// already exists.
    pub fn create_db(&self, name: &str, partitioned: bool) -> Result<Arc<Database>> {
        let _guard = self.catalog_lock.lock().unwrap_or_else(|p| p.into_inner());
        let key = keys::catalog_key(name);
        if self.tree.contains_key(&key)? {
            return Err(Error::FileExists);
        }
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let meta = DbMeta {
            id: self.tree.generate_id()?,
            created,
            revs_limit: DEFAULT_REVS_LIMIT,
            security: self
                .default_security
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            partitioned,
        };
        self.tree.insert(key, encode(&meta)?)?;
        let db = self.load(name, meta)?;
        self.open_map().insert(name.to_string(), Arc::clone(&db));
        Ok(db)
    }

    /// Opens an existing database; `not_found` otherwise.
    pub fn get_db(&self, name: &str) -> Result<Arc<Database>> {
        if let Some(db) = self.open_map().get(name) {
            return Ok(Arc::clone(db));
        }
        let _guard = self.catalog_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(raw) = self.tree.get(keys::catalog_key(name))? else {
            return Err(Error::db_not_found());
        };
        let db = self.load(name, DbMeta::decode(&raw)?)?;
        let mut open = self.open_map();
        Ok(Arc::clone(open.entry(name.to_string()).or_insert(db)))
    }

    /// Deletes a database: its catalog entry goes at once, its data is
    /// reclaimed in the background (and after a restart if interrupted).
    pub fn delete_db(self: &Arc<Self>, name: &str) -> Result<()> {
        let _guard = self.catalog_lock.lock().unwrap_or_else(|p| p.into_inner());
        let key = keys::catalog_key(name);
        let Some(raw) = self.tree.get(&key)? else {
            return Err(Error::db_not_found());
        };
        let meta = DbMeta::decode(&raw)?;
        let mut batch = sled::Batch::default();
        batch.remove(key);
        batch.insert(&keys::dropped_key(meta.id), &[]);
        self.tree.apply_batch(batch)?;
        if let Some(db) = self.open_map().remove(name) {
            db.mark_deleted();
        }
        self.reclaim_in_background();
        Ok(())
    }

    /// Names of all databases in byte order, as `_all_dbs` lists them.
    pub fn db_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for item in self.tree.scan_prefix([keys::CATALOG]) {
            let (k, _) = item?;
            if let Ok(name) = std::str::from_utf8(&k[1..]) {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn load(&self, name: &str, meta: DbMeta) -> Result<Arc<Database>> {
        let db = Database::load(
            self.tree.clone(),
            name.to_string(),
            meta,
            self.blob_root.as_deref(),
            Arc::clone(&self.tasks),
            Arc::clone(&self.metrics),
        )?;
        Ok(Arc::new(db))
    }

    fn open_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Database>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reclaim_in_background(self: &Arc<Self>) {
        let store = Arc::clone(self);
        std::thread::spawn(move || store.reclaim_dropped());
    }

    /// Removes the data of every dropped database.
    fn reclaim_dropped(&self) {
        let dropped: Vec<sled::IVec> = self
            .tree
            .scan_prefix([keys::DROPPED])
            .keys()
            .filter_map(|k| k.ok())
            .collect();
        for marker in dropped {
            let Some(id) = marker
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            if let Err(e) = self
                .remove_range(id)
                .and_then(|_| Ok(self.tree.remove(&marker)?))
            {
                tracing::error!(db_id = id, error = %e, "reclaiming a deleted database failed");
            }
        }
    }

    fn remove_range(&self, db: u64) -> Result<()> {
        if let Some(root) = &self.blob_root {
            match std::fs::remove_dir_all(blobs::db_dir(root, db)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Corrupt(format!("removing attachment files: {e}")))
                }
                _ => {}
            }
        }
        remove_prefix(&self.tree, &keys::db_prefix(db))
    }
}

/// Removes every key under `prefix`, in batches of 10,000 so a large range
/// never builds one huge batch.
pub(crate) fn remove_prefix(tree: &sled::Db, prefix: &[u8]) -> Result<()> {
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in tree.scan_prefix(prefix).keys().take(10_000) {
            batch.remove(k?);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        tree.apply_batch(batch)?;
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serialize(value).map_err(|e| Error::Corrupt(e.to_string()))
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_entries_from_before_partitions_still_decode() {
        #[derive(Serialize)]
        struct Old {
            id: u64,
            created: u64,
            revs_limit: u64,
            security: String,
        }
        let old = Old {
            id: 7,
            created: 1,
            revs_limit: 1000,
            security: "{}".into(),
        };
        let meta = encode(&old).and_then(|raw| DbMeta::decode(&raw));
        let Ok(meta) = meta else { panic!("decode") };
        assert_eq!((meta.id, meta.partitioned), (7, false));
        let new = DbMeta {
            partitioned: true,
            ..meta
        };
        let back = encode(&new).and_then(|raw| DbMeta::decode(&raw));
        assert!(back.is_ok_and(|m| m.partitioned));
    }

    #[test]
    fn partition_counters_follow_writes_and_count_offsets() {
        let Ok(store) = Store::open(std::path::Path::new("unused"), true, 8) else {
            panic!("open")
        };
        let Ok(db) = store.create_db("p", true) else {
            panic!("create")
        };
        let docs = ["b:1", "b:2", "a0:1", "a:1", "_design/d", "c:1"]
            .iter()
            .map(|id| crate::couch::doc::parse_doc(serde_json::json!({"_id": id, "x": 1})))
            .collect::<Result<Vec<_>>>();
        let written = docs.and_then(|d| db.write_docs(d, true));
        assert!(written.is_ok_and(|r| r.iter().all(Result::is_ok)));
        let count = |lo, hi| db.count_live(lo, hi).unwrap_or(u64::MAX);
        use std::ops::Bound::{Excluded, Included, Unbounded};
        assert_eq!(count(Unbounded, Unbounded), 6);
        // Ids in order: _design/d, a0:1, a:1, b:1, b:2, c:1.
        assert_eq!(count(Unbounded, Excluded("b:")), 3);
        assert_eq!(count(Unbounded, Excluded("b:2")), 4);
        assert_eq!(count(Unbounded, Included("b:2")), 5);
        assert_eq!(count(Excluded("a0:1"), Unbounded), 4);
        assert_eq!(count(Included("a"), Excluded("b;")), 4);
        assert_eq!(count(Excluded("b:1"), Excluded("c")), 1);
        let b = db.partition_info("b").ok();
        assert_eq!(b.map(|i| i.doc_count), Some(2));
        assert_eq!(db.partition_info("z").ok(), Some(PartitionInfo::default()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// The counter-based count of a partitioned database is the count
        /// of its records, whatever the range.
        #[test]
        fn partitioned_counts_match_record_counts(
            ids in proptest::collection::btree_set("(_design/[ab]|[aAb0]{1,2}:[ab:]{1,2})", 1..24),
            deleted in proptest::collection::vec(proptest::bool::ANY, 24),
            lo in proptest::option::of(("[_aAb0:;]{0,4}", proptest::bool::ANY)),
            hi in proptest::option::of(("[_aAb0:;]{0,4}", proptest::bool::ANY)),
        ) {
            use std::ops::Bound;
            let Ok(store) = Store::open(std::path::Path::new("unused"), true, 8) else {
                panic!("open")
            };
            let Ok(db) = store.create_db("p", true) else { panic!("create") };
            let docs = ids
                .iter()
                .map(|id| crate::couch::doc::parse_doc(serde_json::json!({"_id": id})))
                .collect::<Result<Vec<_>>>();
            let written = docs.and_then(|d| db.write_docs(d, true));
            let Ok(written) = written else { panic!("write") };
            let mut live: Vec<&String> = Vec::new();
            let mut dels = Vec::new();
            for ((id, result), del) in ids.iter().zip(&written).zip(&deleted) {
                let Ok(edited) = result else { panic!("{id}") };
                if *del {
                    dels.push(crate::couch::doc::NewDoc {
                        id: Some(id.clone()),
                        revs: vec![edited.rev.clone()],
                        deleted: true,
                        ..Default::default()
                    });
                } else {
                    live.push(id);
                }
            }
            let Ok(_) = db.write_docs(dels, true) else { panic!("delete") };
            fn bound(b: &Option<(String, bool)>) -> Bound<&str> {
                match b {
                    None => Bound::Unbounded,
                    Some((s, true)) => Bound::Included(s.as_str()),
                    Some((s, false)) => Bound::Excluded(s.as_str()),
                }
            }
            let (lo, hi) = (bound(&lo), bound(&hi));
            let expected = live
                .iter()
                .filter(|id| std::ops::RangeBounds::<&str>::contains(&(lo, hi), &id.as_str()))
                .count() as u64;
            proptest::prop_assert_eq!(db.count_live(lo, hi).ok(), Some(expected));
        }
    }
}
