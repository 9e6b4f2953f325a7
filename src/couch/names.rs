//! CouchDB's naming rules for databases and document ids.

use crate::error::{Error, Result};

/// Database names as CouchDB accepts them: `^[a-z][a-z0-9_$()+/-]*$`, at
/// most 238 characters. The system databases `_users` and `_replicator`
/// are accepted too.
pub fn validate_db_name(name: &str) -> Result<()> {
    if matches!(name, "_users" | "_replicator" | "_global_changes") {
        return Ok(());
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-/".contains(c));
    if first_ok && rest_ok && name.len() <= 238 {
        Ok(())
    } else {
        Err(Error::IllegalDatabaseName(name.to_string()))
    }
}

/// The kinds of document id, by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocIdKind {
    Normal,
    Design,
    Local,
}

/// CouchDB's `couch_doc:validate_docid`.
pub fn validate_doc_id(id: &str) -> Result<DocIdKind> {
    match id {
        "" => Err(Error::IllegalDocId("Document id must not be empty".into())),
        "_design/" => Err(Error::IllegalDocId("Illegal document id `_design/`".into())),
        "_local/" => Err(Error::IllegalDocId("Illegal document id `_local/`".into())),
        _ if id.starts_with("_design/") => Ok(DocIdKind::Design),
        _ if id.starts_with("_local/") => Ok(DocIdKind::Local),
        _ if id.starts_with('_') => Err(Error::IllegalDocId(
            "Only reserved document ids may start with underscore.".into(),
        )),
        _ => Ok(DocIdKind::Normal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names_follow_couchdb_rule() {
        for ok in [
            "a",
            "user-0123",
            "a/b",
            "a$()+-_/9",
            "_users",
            "_replicator",
        ] {
            assert!(validate_db_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "1abc",
            "_foo",
            "a b",
            "ab.c",
            "aé",
            &"a".repeat(239),
        ] {
            assert!(validate_db_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doc_ids_follow_couchdb_rule() {
        assert_eq!(validate_doc_id("abc").ok(), Some(DocIdKind::Normal));
        assert_eq!(validate_doc_id("_design/x").ok(), Some(DocIdKind::Design));
        assert_eq!(validate_doc_id("_local/x").ok(), Some(DocIdKind::Local));
        let err = validate_doc_id("_foo").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("Only reserved document ids may start with underscore.")
        );
        assert!(validate_doc_id("").is_err());
        assert!(validate_doc_id("_design/").is_err());
    }
}
