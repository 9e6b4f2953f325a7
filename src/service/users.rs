//! The authentication database (`[chttpd_auth] authentication_db`):
//! created at start when missing, and given its `_design/_auth` document as
//! CouchDB's auth cache gives it: the cache follows one database; when that
//! database is created, or deleted (the cache then moves to the database
//! configured now), the followed database gets the design document. A
//! change of the setting alone moves nothing, as in CouchDB. The design
//! document carries the rules as a `validate_doc_update` function; Settee
//! applies the same rules natively (`auth::users`) wherever it is present.

use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::couch::doc::NewDoc;
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::storage::{Database, Store};

use super::Service;

/// The database the users rules follow (CouchDB's auth cache listener).
pub struct Watch(Mutex<String>);

impl Watch {
    pub fn new(db: &str) -> Watch {
        Watch(Mutex::new(db.to_string()))
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, db: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = db.to_string();
    }
}

impl Service {
    /// A database was created: the followed one gets `_design/_auth`.
    pub fn db_created(&self, db: &Database) -> Result<()> {
        if db.name() == self.users_watch.get() {
            ensure_design(db)?;
        }
        Ok(())
    }

    /// A database was deleted: if the rules followed it, they now follow
    /// the configured authentication database, which gets `_design/_auth`
    /// when it exists.
    pub fn db_deleted(&self, name: &str) -> Result<()> {
        if name != self.users_watch.get() {
            return Ok(());
        }
        let configured = self.snapshot().auth.settings.authentication_db.clone();
        self.users_watch.set(&configured);
        match self.store.get_db(&configured) {
            Ok(db) => ensure_design(&db),
            Err(Error::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The design document that holds the users database's rules.
pub const AUTH_DDOC: &str = "_design/_auth";

/// Its `validate_doc_update`: Settee's own rendering of CouchDB's rules.
pub const VALIDATE_DOC_UPDATE: &str = include_str!("auth_ddoc.js");

/// Creates the authentication database if it is missing (CouchDB's
/// `ensure_users_db_exists`), with the default `_security` of new
/// databases, and its `_design/_auth`.
pub fn ensure_db(store: &Store, name: &str) -> Result<()> {
    let db = match store.get_db(name) {
        Ok(db) => db,
        Err(Error::NotFound(_)) => match store.create_db(name, false) {
            Ok(db) => db,
            Err(Error::FileExists) => store.get_db(name)?,
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    ensure_design(&db)
}

/// Writes `_design/_auth` when it is missing, or when its
/// `validate_doc_update` is not the standard one (CouchDB's
/// `ensure_auth_ddoc_exists` puts the function back).
pub fn ensure_design(db: &Database) -> Result<()> {
    let (rev, mut body) = match db.live_doc(AUTH_DDOC)? {
        Some(live) => {
            let current = live.body.get("validate_doc_update").and_then(Value::as_str);
            if current == Some(VALIDATE_DOC_UPDATE) {
                return Ok(());
            }
            (Some(live.rev), live.body)
        }
        None => (None, Map::new()),
    };
    body.remove("_attachments");
    body.entry("language")
        .or_insert_with(|| Value::from("javascript"));
    body.insert(
        "validate_doc_update".into(),
        Value::from(VALIDATE_DOC_UPDATE),
    );
    let doc = NewDoc {
        id: Some(AUTH_DDOC.to_string()),
        revs: rev.into_iter().collect::<Vec<Rev>>(),
        body,
        ..Default::default()
    };
    // A concurrent writer may have got there first: that is fine.
    match db.write_docs(vec![doc], true)?.into_iter().next() {
        Some(Ok(_)) | Some(Err(Error::Conflict)) | None => Ok(()),
        Some(Err(e)) => Err(e),
    }
}

/// Whether the database has its users rules (`_design/_auth`, live).
pub fn has_rules(db: &Database) -> Result<bool> {
    Ok(db.live_doc(AUTH_DDOC)?.is_some())
}
