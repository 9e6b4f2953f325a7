//! The one write path: [`Service::prepare`] checks what CouchDB checks of
//! each document as it reads a request (`couch_doc:from_json_obj_validate`
//! and the uuid it gives an id-less document), [`Service::save`] writes a
//! batch of prepared documents with every per-document rule applied.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::OwnedRwLockReadGuard;

use super::{attachments, blocking, guard, local, point_op, Service};
use crate::auth::UserCtx;
use crate::couch::attachment::{AttInput, AttMeta};
use crate::couch::doc::{self, NewDoc};
use crate::couch::names::{validate_doc_id, DocIdKind};
use crate::couch::partition;
use crate::couch::rev::Rev;
use crate::couch::update::Edited;
use crate::error::{Error, Result};
use crate::storage::Database;

/// A document that passed [`Service::prepare`]: it has an id, valid for
/// its database, and a body within `max_document_size`.
#[derive(Debug)]
pub struct Prepared(NewDoc);

impl Prepared {
    pub fn doc(&self) -> &NewDoc {
        &self.0
    }

    /// The document's id (always set once prepared).
    pub fn id(&self) -> &str {
        self.0.id.as_deref().unwrap_or_default()
    }

    fn is_local(&self) -> bool {
        self.id().starts_with("_local/")
    }
}

/// How a write is applied.
#[derive(Default)]
pub struct WriteOptions {
    /// `new_edits=false`: the revisions are stored as given, with their
    /// history (replication); otherwise each edit makes a new revision.
    pub replicated: bool,
    /// Answer before the write is durable (`batch=ok`,
    /// `X-Couch-Full-Commit: false`); otherwise wait for the group commit.
    pub delay_commit: bool,
    /// The attachment-body guard a caller took before it streamed bodies
    /// into storage, held until the write is done; `save` takes one itself
    /// when the documents carry inline bodies.
    pub uploads: Option<OwnedRwLockReadGuard<()>>,
}

impl Service {
    /// What CouchDB checks of a document as it reads it, each failure for
    /// the whole request: a replicated write names its revision, a given
    /// id is valid for the database (`partition:docid` in a partitioned
    /// one), a missing id gets a fresh uuid (refused in a partitioned
    /// database, where it names no partition), and the body is within
    /// `[couchdb] max_document_size`.
    pub fn prepare(&self, db: &Database, mut doc: NewDoc, replicated: bool) -> Result<Prepared> {
        if let Some(id) = &doc.id {
            check_write_id(db, id)?;
        }
        if replicated {
            doc::require_replicated_rev(&doc)?;
        }
        if doc.id.is_none() && db.partitioned() {
            return Err(Error::IllegalDocId(
                "Doc id must be of form partition:id".into(),
            ));
        }
        let id = doc.id.get_or_insert_with(|| self.new_uuid()).clone();
        if doc::encoded_size(&doc.body) as u64 > self.snapshot().max_document_size {
            return Err(Error::DocumentTooLarge(id));
        }
        Ok(Prepared(doc))
    }

    /// Writes `docs` as `user`: one result per document, in order (a
    /// conflict, a refused design document, …). Fails as a whole where
    /// CouchDB fails the whole request: a users-database document of
    /// another user, an attachment stub that cannot be resolved, storage.
    pub async fn save(
        &self,
        user: &UserCtx,
        db: &Arc<Database>,
        docs: Vec<Prepared>,
        opts: WriteOptions,
    ) -> Result<Vec<Result<Edited>>> {
        let WriteOptions {
            replicated,
            delay_commit,
            uploads,
        } = opts;
        let new_edits = !replicated;
        // `_local` documents are written to their own store first.
        let mut local_results = Vec::new();
        let mut docs_left = Vec::with_capacity(docs.len());
        for (i, prepared) in docs.into_iter().enumerate() {
            if prepared.is_local() {
                let outcome = point_op(|| local::put(db, prepared.id(), prepared.doc()));
                local_results.push((
                    i,
                    outcome.map(|rev| Edited {
                        rev,
                        store_body: true,
                    }),
                ));
            } else {
                docs_left.push(prepared.0);
            }
        }
        if !local_results.is_empty() {
            self.store.commit().sync().await?;
        }
        let outcomes = if docs_left.is_empty() {
            Vec::new()
        } else {
            self.write_docs(user, db, docs_left, new_edits, delay_commit, uploads)
                .await?
        };
        Ok(merge_in_place(outcomes, local_results))
    }

    /// [`Service::prepare`] and [`Service::save`] for one document; its
    /// outcome as the request's.
    pub async fn save_one(
        &self,
        user: &UserCtx,
        db: &Arc<Database>,
        doc: NewDoc,
        opts: WriteOptions,
    ) -> Result<Edited> {
        let prepared = self.prepare(db, doc, opts.replicated)?;
        self.save_prepared(user, db, prepared, opts).await
    }

    /// [`Service::save`] for one prepared document; its outcome as the
    /// request's.
    pub async fn save_prepared(
        &self,
        user: &UserCtx,
        db: &Arc<Database>,
        prepared: Prepared,
        opts: WriteOptions,
    ) -> Result<Edited> {
        self.save(user, db, vec![prepared], opts)
            .await?
            .into_iter()
            .next()
            .ok_or(Error::Conflict)?
    }

    async fn write_docs(
        &self,
        user: &UserCtx,
        db: &Arc<Database>,
        docs: Vec<NewDoc>,
        new_edits: bool,
        delay_commit: bool,
        uploads: Option<OwnedRwLockReadGuard<()>>,
    ) -> Result<Vec<Result<Edited>>> {
        let settings = self.snapshot();
        let (docs, screened) = guard::screen(&settings, user, db, docs, new_edits).await?;
        let inline = docs.iter().any(has_inline_bodies);
        // One document without bodies to store is a point operation.
        let point = docs.len() == 1 && !inline;
        // Held until the write is done, so compaction never reclaims the
        // bodies this write refers to before it lands.
        let _uploads = match uploads {
            Some(held) => Some(held),
            None if inline => Some(db.blob_guard().await),
            None => None,
        };
        let writer = Arc::clone(db);
        let write = move || {
            let mut docs = docs;
            for doc in &mut docs {
                attachments::store_inline(&settings, &writer, doc)?;
            }
            writer.write_docs(docs, new_edits)
        };
        let results = if point {
            point_op(write)?
        } else {
            blocking(write).await?
        };
        let commit = self.store.commit();
        let ticket = commit.ticket();
        if !delay_commit {
            commit.durable(ticket).await?;
        }
        Ok(screened.merge(results))
    }
}

/// Whether a document carries inline (`data`) attachment bodies, which are
/// stored with the write.
fn has_inline_bodies(doc: &NewDoc) -> bool {
    doc.attachments.as_ref().is_some_and(|atts| {
        atts.iter()
            .any(|(_, input)| matches!(input, AttInput::Inline { .. }))
    })
}

/// Puts the `_local` documents' outcomes back at their places among the
/// others'.
fn merge_in_place(
    others: Vec<Result<Edited>>,
    locals: Vec<(usize, Result<Edited>)>,
) -> Vec<Result<Edited>> {
    if locals.is_empty() {
        return others;
    }
    let mut out = Vec::with_capacity(others.len() + locals.len());
    let mut others = others.into_iter();
    let mut locals = locals.into_iter().peekable();
    loop {
        match locals.peek() {
            Some((i, _)) if *i == out.len() => {
                if let Some((_, outcome)) = locals.next() {
                    out.push(outcome);
                }
            }
            _ => match others.next() {
                Some(outcome) => out.push(outcome),
                None => {
                    out.extend(locals.map(|(_, outcome)| outcome));
                    break;
                }
            },
        }
    }
    out
}

/// The document a COPY writes: `body` with the source's attachments, kept
/// by reference (same digests, no new bodies), at the destination id and on
/// the destination's `rev` when it names one. (A `_local` destination
/// keeps the body alone: local documents carry no attachments.)
pub fn copy_of(
    dest_id: &str,
    dest_rev: Option<&str>,
    body: Map<String, Value>,
    atts: Vec<(String, AttMeta)>,
) -> Result<NewDoc> {
    Ok(NewDoc {
        id: Some(dest_id.to_string()),
        revs: dest_rev.map(Rev::parse).transpose()?.into_iter().collect(),
        body,
        attachments: Some(
            atts.into_iter()
                .map(|(name, meta)| (name, AttInput::Stored(meta)))
                .collect(),
        ),
        ..Default::default()
    })
}

/// The id rules of a write (`couch_db:validate_docid/2`): CouchDB's, and
/// in a partitioned database `partition:docid` as well.
pub fn check_write_id(db: &Database, id: &str) -> Result<DocIdKind> {
    let kind = validate_doc_id(id)?;
    if db.partitioned() {
        partition::validate_doc_id(id)?;
    }
    Ok(kind)
}

/// What an id must be to be looked up: in a partitioned database CouchDB
/// finds a document's shard by its partition, so an id without one (and
/// not starting with `_`) is refused.
pub fn check_lookup_id(db: &Database, id: &str) -> Result<()> {
    if db.partitioned() {
        partition::check_lookup(id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_outcomes_go_back_to_their_places() {
        let ok = |n: u64| -> Result<Edited> {
            Ok(Edited {
                rev: Rev::new(n, "x"),
                store_body: true,
            })
        };
        let merged = merge_in_place(vec![ok(1), ok(3)], vec![(0, ok(0)), (2, ok(2)), (4, ok(4))]);
        let order: Vec<u64> = merged
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|e| e.rev.pos))
            .collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
    }
}
