//! Per-document write rules, applied by [`super::Service::save`] — the one
//! path every document write takes — as CouchDB applies them per document:
//!
//! - a design document may be written only by a database admin (`401`
//!   for the anonymous, `403` otherwise, "You are not a db or server
//!   admin."), a per-document error inside `_bulk_docs`, and must pass
//!   CouchDB's structural checks (`couch::design`, `invalid_design_doc`);
//! - in a partitioned database, every id but `_design/…` and `_local/…`
//!   must be `partition:docid` (`Service::prepare` checks it for the whole
//!   request first, as CouchDB does; this refuses anything else);
//! - in the users database: a user writes only their own document (else
//!   the whole request is `404 missing`), a clear `password` is hashed
//!   (PBKDF2, on a blocking thread), and, while the database has its
//!   `_design/_auth` (`service::users`), those rules run with the previous
//!   revision (a per-document `403`).
//!
//! The user is the writer's, passed in: an HTTP request's, or the user a
//! background writer acts for.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::blocking;
use crate::auth::access::{decide, Access, Security};
use crate::auth::password::Prf;
use crate::auth::users::{self, PasswordError, UserDocWrite};
use crate::auth::{enforce, UserCtx};
use crate::couch::doc::NewDoc;
use crate::couch::update::Edited;
use crate::couch::{design, partition};
use crate::error::{Error, Result};
use crate::settings::Snapshot;
use crate::storage::Database;

/// Documents refused one by one, by their position in the request.
pub struct Screened {
    rejected: Vec<(usize, Error)>,
}

impl Screened {
    /// Puts the refusals back among the storage results, in request order.
    pub fn merge(self, results: Vec<Result<Edited>>) -> Vec<Result<Edited>> {
        if self.rejected.is_empty() {
            return results;
        }
        let mut out = Vec::with_capacity(results.len() + self.rejected.len());
        let mut results = results.into_iter();
        let mut rejected = self.rejected.into_iter().peekable();
        loop {
            match rejected.peek() {
                Some((i, _)) if *i == out.len() => {
                    if let Some((_, e)) = rejected.next() {
                        out.push(Err(e));
                    }
                }
                _ => match results.next() {
                    Some(r) => out.push(r),
                    None => {
                        out.extend(rejected.map(|(_, e)| Err(e)));
                        break;
                    }
                },
            }
        }
        out
    }
}

fn is_design(doc: &NewDoc) -> bool {
    doc.id
        .as_deref()
        .is_some_and(|id| id.starts_with("_design/"))
}

fn is_local(doc: &NewDoc) -> bool {
    doc.id
        .as_deref()
        .is_some_and(|id| id.starts_with("_local/"))
}

/// Screens `docs` before they are written; returns those to write and the
/// refusals to merge back into the results.
pub async fn screen(
    settings: &Snapshot,
    user: &UserCtx,
    db: &Arc<Database>,
    docs: Vec<NewDoc>,
    new_edits: bool,
) -> Result<(Vec<NewDoc>, Screened)> {
    let auth = &settings.auth.settings;
    let users_db = db.name() == auth.authentication_db;
    // Handlers refuse a bad id in a partitioned database for the whole
    // request, as CouchDB does; this catches any writer that did not.
    let bad_partition = |d: &NewDoc| match d.id.as_deref() {
        Some(id) if db.partitioned() && !id.starts_with("_local/") => {
            partition::validate_doc_id(id).err()
        }
        _ => None,
    };
    if !users_db && !docs.iter().any(is_design) && !docs.iter().any(|d| bad_partition(d).is_some())
    {
        return Ok((
            docs,
            Screened {
                rejected: Vec::new(),
            },
        ));
    }
    let ctx = user.clone();
    let sec = Security::from_json(&db.security());
    let is_admin = sec.is_admin(&ctx);
    let mut verdicts: Vec<Option<Error>> = docs
        .iter()
        .map(|d| {
            if let Some(e) = bad_partition(d) {
                return Some(e);
            }
            if !is_design(d) {
                return None;
            }
            enforce(decide(&ctx, Some(&sec), Access::DbAdmin))
                .and_then(|()| match d.deleted {
                    true => Ok(()),
                    false => design::validate(&d.body, db.partitioned()),
                })
                .err()
        })
        .collect();
    let mut docs = docs;
    if users_db {
        for doc in docs.iter().filter(|d| !is_design(d) && !is_local(d)) {
            let id = doc.id.as_deref().unwrap_or("");
            if !users::may_write(id, &ctx, is_admin) {
                return Err(Error::not_found("missing"));
            }
        }
        let hashing = Hashing {
            prf: auth.pbkdf2_prf,
            iterations: auth.iterations,
            password_regexp: auth.password_regexp.clone(),
        };
        let reader = Arc::clone(db);
        let (checked, user_verdicts) =
            blocking(move || screen_users(&reader, docs, &ctx, &sec, &hashing, new_edits)).await?;
        docs = checked;
        for (v, u) in verdicts.iter_mut().zip(user_verdicts) {
            if v.is_none() {
                *v = u;
            }
        }
    }
    let mut keep = Vec::with_capacity(docs.len());
    let mut rejected = Vec::new();
    for (i, (doc, verdict)) in docs.into_iter().zip(verdicts).enumerate() {
        match verdict {
            Some(e) => rejected.push((i, e)),
            None => keep.push(doc),
        }
    }
    Ok((keep, Screened { rejected }))
}

/// How clear passwords are checked and hashed (`[chttpd_auth]`).
struct Hashing {
    prf: Prf,
    iterations: u32,
    password_regexp: Option<String>,
}

/// Hashes passwords and runs the users-database validation (blocking: it
/// reads previous revisions and runs PBKDF2).
fn screen_users(
    db: &Database,
    mut docs: Vec<NewDoc>,
    ctx: &UserCtx,
    sec: &Security,
    hashing: &Hashing,
    new_edits: bool,
) -> Result<(Vec<NewDoc>, Vec<Option<Error>>)> {
    for doc in docs.iter_mut().filter(|d| !is_design(d) && !is_local(d)) {
        if users::has_clear_password(&doc.body) {
            let Hashing {
                prf,
                iterations,
                password_regexp,
            } = hashing;
            users::hash_password(&mut doc.body, *prf, *iterations, password_regexp.as_deref())
                .map_err(|e| match e {
                    PasswordError::Refused(reason) => Error::Forbidden(reason),
                    PasswordError::Requirement(reason) => Error::BadRequest(reason),
                })?;
        }
    }
    // The rules live in the database's `_design/_auth` (CouchDB runs its
    // validate_doc_update): without it, user documents are not checked.
    let checked = super::users::has_rules(db)?;
    let mut verdicts = Vec::with_capacity(docs.len());
    for doc in &docs {
        let Some(id) = doc
            .id
            .as_deref()
            .filter(|_| checked && !is_design(doc) && !is_local(doc))
        else {
            verdicts.push(None);
            continue;
        };
        let verdict = match previous_revision(db, id, doc, new_edits)? {
            None => None,
            Some(old) => {
                let write = UserDocWrite {
                    id,
                    deleted: doc.deleted,
                    body: &doc.body,
                };
                users::validate(&write, old.as_ref(), ctx, sec)
                    .err()
                    .map(Error::Forbidden)
            }
        };
        verdicts.push(verdict);
    }
    Ok((docs, verdicts))
}

/// The revision a write builds on, as validation sees it: `Some(None)` for
/// a new document, `Some(Some(body))` for an update (a deleted one's body
/// has no fields), `None` when the write will conflict anyway (CouchDB
/// reports the conflict, not a validation error).
fn previous_revision(
    db: &Database,
    id: &str,
    doc: &NewDoc,
    new_edits: bool,
) -> Result<Option<Option<Map<String, Value>>>> {
    let record = db.record(id)?;
    let body_of = |rev| -> Result<Map<String, Value>> { Ok(db.body(id, rev)?.unwrap_or_default()) };
    if !new_edits {
        let parent = doc.revs.get(1);
        return Ok(Some(match (&record, parent) {
            (Some(rec), Some(p)) if rec.tree.get(p).is_some() => db.body(id, p)?,
            _ => None,
        }));
    }
    Ok(match (record, doc.revs.first()) {
        (None, None) => Some(None),
        (None, Some(_)) => None,
        (Some(rec), Some(rev)) => {
            if rec.tree.is_leaf(rev) {
                Some(Some(body_of(rev)?))
            } else {
                None
            }
        }
        (Some(rec), None) => match rec.tree.winner() {
            Some((rev, info)) if info.deleted => Some(Some(body_of(&rev)?)),
            Some(_) => None,
            None => Some(None),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_go_back_to_their_places() {
        let ok = |n: u64| -> Result<Edited> { Err(Error::PreconditionFailed(n.to_string())) };
        let screened = Screened {
            rejected: vec![
                (0, Error::Conflict),
                (2, Error::FileExists),
                (5, Error::Conflict),
            ],
        };
        let merged = screened.merge(vec![ok(1), ok(3), ok(4)]);
        let names: Vec<String> = merged
            .iter()
            .map(|r| r.as_ref().err().map(|e| e.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(names[0], Error::Conflict.to_string());
        assert_eq!(names[1], "1");
        assert_eq!(names[2], Error::FileExists.to_string());
        assert_eq!(names[3], "3");
        assert_eq!(names[4], "4");
        assert_eq!(names[5], Error::Conflict.to_string());
    }
}
