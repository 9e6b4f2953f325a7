//! What CouchDB shows of the server and of a database: the welcome of
//! `GET /` and the database information of `GET /{db}` (also listed by
//! `_dbs_info`).

use serde_json::{json, Map, Value};

use crate::couch::seq;
use crate::settings::Snapshot;
use crate::storage::Database;

/// The CouchDB version Settee speaks.
pub const COUCHDB_VERSION: &str = "3.4.2";

/// `GET /`: `uuid` is `[couchdb] uuid` (else the store's) and `vendor` the
/// `[vendor]` section, as CouchDB reads them from its configuration.
pub fn welcome(settings: &Snapshot, store_uuid: &str) -> Value {
    let uuid = settings.get("couchdb", "uuid").unwrap_or(store_uuid);
    let vendor: Map<String, Value> = settings
        .values
        .get("vendor")
        .map(|keys| {
            keys.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "couchdb": "Welcome",
        "version": COUCHDB_VERSION,
        "git_sha": "settee",
        "uuid": uuid,
        // CouchDB 3.4's list without what Settee does not serve:
        // "reshard" (`/_reshard`), "scheduler" (`/_scheduler`).
        "features": ["access-ready", "partitioned", "pluggable-storage-engines"],
        "vendor": vendor,
    })
}

/// `GET /{db}` as CouchDB 3.4 shapes it.
pub fn db_info(db: &Database) -> Value {
    let info = db.info();
    // All databases share one sled file: each reports its live data plus
    // a header's worth, so `file` >= `active` as clients expect.
    let file = info.active.max(1) + 4096;
    json!({
        "instance_start_time": info.created.to_string(),
        "db_name": info.name,
        "purge_seq": seq::encode(0),
        "update_seq": seq::encode(info.update_seq),
        "sizes": {"file": file, "external": info.external, "active": info.active},
        "props": if info.partitioned { json!({"partitioned": true}) } else { json!({}) },
        "doc_del_count": info.doc_del_count,
        "doc_count": info.doc_count,
        "disk_format_version": 8,
        "compact_running": info.compact_running,
        "cluster": {"q": 1, "n": 1, "w": 1, "r": 1},
    })
}
