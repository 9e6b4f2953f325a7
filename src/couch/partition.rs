//! Partitioned databases: `partition:docid` ids, as CouchDB's
//! `couch_partition` module and `chttpd_db:parse_partitioned_opt` define
//! them.
//!
//! In a partitioned database every document id but `_design/…` and
//! `_local/…` is `partition:rest`: the partition is the text before the
//! first `:`, must not be empty nor start with `_`, and `rest` must be a
//! valid document id of its own. Documents of one partition are
//! contiguous in id order (from `partition:` to `partition;`), which is
//! what partition queries read.

use crate::couch::names::validate_doc_id as validate_plain_id;
use crate::error::{Error, Result};

/// `couch_partition:extract/1`: the partition and the rest of an id.
pub fn extract(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
}

/// The partition a stored document belongs to in a partitioned
/// database: `None` for design and local documents (they are global).
pub fn of_doc(id: &str) -> Option<&str> {
    if id.starts_with('_') {
        return None;
    }
    extract(id).map(|(p, _)| p)
}

/// `couch_partition:validate_partition/1`.
pub fn validate_partition(partition: &str) -> Result<()> {
    if partition.is_empty() {
        return Err(Error::IllegalPartition(
            "Partition must not be empty".into(),
        ));
    }
    if partition.starts_with('_') {
        return Err(Error::IllegalPartition(
            "Partition must not start with an underscore".into(),
        ));
    }
    if partition.contains(':') {
        return Err(Error::IllegalPartition(
            "Partition must not contain a colon".into(),
        ));
    }
    Ok(())
}

/// A partition given as a JSON value (`_find`'s `partition` member):
/// `None` for `""`, which means no partition.
pub fn from_json(v: &serde_json::Value) -> Result<Option<String>> {
    match v {
        serde_json::Value::String(s) if s.is_empty() => Ok(None),
        serde_json::Value::String(s) => {
            validate_partition(s)?;
            Ok(Some(s.clone()))
        }
        _ => Err(Error::IllegalPartition("Partition must be a string".into())),
    }
}

/// The error of a document id that is not `partition:docid`.
fn not_partitioned() -> Error {
    Error::IllegalDocId("Doc id must be of form partition:id".into())
}

/// `couch_db:validate_docid/2` in a partitioned database: the plain rules
/// first (`couch_doc:validate_docid`), then `couch_partition:validate_docid`
/// (a partition, valid, and a valid id after it). Every write checks it.
pub fn validate_doc_id(id: &str) -> Result<()> {
    validate_plain_id(id)?;
    if id.starts_with("_design/") || id.starts_with("_local/") {
        return Ok(());
    }
    let (partition, rest) = extract(id).ok_or_else(not_partitioned)?;
    validate_partition(partition)?;
    validate_plain_id(rest).map(|_| ())
}

/// What CouchDB requires of an id it only looks up (reads, deletes,
/// `_revs_diff`, `_all_docs` keys): its shard is found by hashing the
/// partition (`couch_partition:hash/1`), which needs a `:` unless the id
/// starts with `_`.
pub fn check_lookup(id: &str) -> Result<()> {
    if id.starts_with('_') || id.contains(':') {
        Ok(())
    } else {
        Err(not_partitioned())
    }
}

/// The first id of a partition (`couch_partition:start_key/1`).
pub fn start_key(partition: &str) -> String {
    format!("{partition}:")
}

/// The id just past a partition (`couch_partition:end_key/1`): every id
/// of the partition sorts below it.
pub fn end_key(partition: &str) -> String {
    format!("{partition};")
}

/// `couch_partition:validate_dbname/2`: system databases cannot be
/// partitioned (the names CouchDB lists, and any whose last path segment
/// is `_users` or `_replicator`).
pub fn validate_db_name(name: &str) -> Result<()> {
    const SYSTEM: [&str; 6] = [
        "_dbs",
        "_global_changes",
        "_metadata",
        "_nodes",
        "_replicator",
        "_users",
    ];
    let suffix = name.rsplit('/').next().unwrap_or(name);
    if SYSTEM.contains(&name) || suffix == "_users" || suffix == "_replicator" {
        return Err(Error::bad_request("Cannot partition a system database"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<()>) -> (String, String) {
        match r {
            Ok(()) => ("ok".into(), String::new()),
            Err(e) => {
                let body = e.body();
                (
                    body["error"].as_str().unwrap_or("").to_string(),
                    body["reason"].as_str().unwrap_or("").to_string(),
                )
            }
        }
    }

    #[test]
    fn doc_ids_as_couch_partition_checks_them() {
        let ok = [
            "foo:bar",
            "foo:bar:baz",
            "é:x",
            "a:_design/x",
            "_design/d",
            "_local/l",
        ];
        for id in ok {
            assert_eq!(reason(validate_doc_id(id)).0, "ok", "{id}");
        }
        let table = [
            (
                "foo",
                "illegal_docid",
                "Doc id must be of form partition:id",
            ),
            (":bar", "illegal_partition", "Partition must not be empty"),
            (
                "_foo:bar",
                "illegal_docid",
                "Only reserved document ids may start with underscore.",
            ),
            ("foo:", "illegal_docid", "Document id must not be empty"),
            (
                "foo:_bar",
                "illegal_docid",
                "Only reserved document ids may start with underscore.",
            ),
            (
                "a:_design/",
                "illegal_docid",
                "Illegal document id `_design/`",
            ),
            ("", "illegal_docid", "Document id must not be empty"),
            (
                "_design/",
                "illegal_docid",
                "Illegal document id `_design/`",
            ),
        ];
        for (id, error, why) in table {
            assert_eq!(
                reason(validate_doc_id(id)),
                (error.to_string(), why.to_string()),
                "{id}"
            );
        }
    }

    #[test]
    fn partitions_as_couch_partition_checks_them() {
        assert_eq!(reason(validate_partition("foo")).0, "ok");
        assert_eq!(
            reason(validate_partition("_foo")).1,
            "Partition must not start with an underscore"
        );
        assert_eq!(
            reason(validate_partition("a:b")).1,
            "Partition must not contain a colon"
        );
        assert_eq!(
            reason(validate_partition("")).1,
            "Partition must not be empty"
        );
        assert_eq!(
            reason(from_json(&serde_json::json!(5)).map(|_| ())).1,
            "Partition must be a string"
        );
        assert_eq!(from_json(&serde_json::json!("")).ok(), Some(None));
    }

    #[test]
    fn lookups_need_a_partition_unless_reserved() {
        assert!(check_lookup("a:b").is_ok());
        assert!(check_lookup(":b").is_ok());
        assert!(check_lookup("_foo").is_ok());
        assert_eq!(
            reason(check_lookup("foo")).1,
            "Doc id must be of form partition:id"
        );
    }

    #[test]
    fn partition_ranges_hold_exactly_their_ids() {
        let (lo, hi) = (start_key("foo"), end_key("foo"));
        for inside in ["foo:", "foo:1", "foo:\u{10ffff}", "foo:zzz"] {
            assert!(lo.as_str() <= inside && inside < hi.as_str(), "{inside}");
        }
        for outside in ["fo:1", "foo", "foo0:1", "fop:1", "foo;"] {
            assert!(
                !(lo.as_str() <= outside && outside < hi.as_str()),
                "{outside}"
            );
        }
        assert_eq!(of_doc("foo:1"), Some("foo"));
        assert_eq!(of_doc("_design/x"), None);
    }

    #[test]
    fn system_databases_cannot_be_partitioned() {
        for name in [
            "_users",
            "_replicator",
            "_dbs",
            "_nodes",
            "a/_users",
            "b/_replicator",
        ] {
            assert!(validate_db_name(name).is_err(), "{name}");
        }
        for name in ["foo_users", "db", "a/b"] {
            assert!(validate_db_name(name).is_ok(), "{name}");
        }
    }
}
