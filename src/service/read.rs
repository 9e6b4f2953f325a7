//! Reading documents as CouchDB renders them: a stored revision with the
//! members the read options ask for (`_revisions`, `_revs_info`,
//! `_conflicts`, …), attachments as stubs, inline data or multipart
//! `follows` entries, and the revisions `rev`, `latest` and `open_revs`
//! name. Every reader (document GETs, `_all_docs`, `_bulk_get`,
//! `_changes`, `_find`) renders through here.

use serde_json::{Map, Value};

use crate::couch::attachment::{self, AttMeta};
use crate::couch::doc::{DocView, RevStatus};
use crate::couch::rev::{parse_rev_list, Rev};
use crate::couch::revtree::RevInfo;
use crate::error::{Error, Result};
use crate::storage::{Database, DocRecord};

/// Options that shape how a revision is rendered.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOpts {
    pub revs: bool,
    pub revs_info: bool,
    pub conflicts: bool,
    pub deleted_conflicts: bool,
    pub local_seq: bool,
    /// Attachment data inline (or as multipart parts) instead of stubs.
    pub attachments: bool,
    /// `encoding` and `encoded_length` on compressed attachments.
    pub att_encoding_info: bool,
}

impl ReadOpts {
    /// These options as CouchDB applies them when it opens revisions by
    /// list (`open_revs`, `_bulk_get`): the members it computes only for a
    /// single-document read (`_revs_info`, `_conflicts`,
    /// `_deleted_conflicts`, `_local_seq`) are left out.
    pub fn revisions_only(self) -> ReadOpts {
        ReadOpts {
            revs_info: false,
            conflicts: false,
            deleted_conflicts: false,
            local_seq: false,
            ..self
        }
    }
}

/// Renders one stored revision as CouchDB JSON; `None` when its body is
/// no longer kept (compacted away, or known only from history).
pub fn render(
    db: &Database,
    id: &str,
    record: &DocRecord,
    rev: &Rev,
    opts: ReadOpts,
) -> Result<Option<Value>> {
    Ok(render_full(db, id, record, rev, opts, None, false)?.map(|r| r.doc))
}

/// [`render`] straight to JSON text. Plain revisions (no attachments, no
/// options asking for more members) are spliced from the stored text
/// without parsing it: `_all_docs?include_docs=true` spends its time here.
pub fn render_json(
    db: &Database,
    id: &str,
    record: &DocRecord,
    rev: &Rev,
    opts: ReadOpts,
) -> Result<Option<Vec<u8>>> {
    let plain = !(opts.revs
        || opts.revs_info
        || opts.conflicts
        || opts.deleted_conflicts
        || opts.local_seq
        || opts.attachments);
    if plain {
        let Some(info) = record.tree.get(rev) else {
            return Ok(None);
        };
        let Some(raw) = db.body_raw(id, rev)? else {
            return Ok(None);
        };
        if !contains(&raw, b"\"_attachments\"") && raw.len() >= 2 {
            let inner = raw[1..raw.len() - 1].trim_ascii();
            let id_json = serde_json::to_string(id).map_err(|e| Error::Corrupt(e.to_string()))?;
            let mut out = Vec::with_capacity(raw.len() + id.len() + 64);
            out.extend_from_slice(b"{\"_id\":");
            out.extend_from_slice(id_json.as_bytes());
            out.extend_from_slice(format!(",\"_rev\":\"{rev}\"").as_bytes());
            if !inner.is_empty() {
                out.push(b',');
                out.extend_from_slice(inner);
            }
            if info.deleted {
                out.extend_from_slice(b",\"_deleted\":true");
            }
            out.push(b'}');
            return Ok(Some(out));
        }
    }
    match render(db, id, record, rev, opts)? {
        Some(doc) => serde_json::to_vec(&doc)
            .map(Some)
            .map_err(|e| Error::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A rendered revision, and the attachments whose bodies must follow it
/// in a multipart response.
pub struct Rendered {
    pub doc: Value,
    pub follows: Vec<(String, AttMeta)>,
}

/// [`render`] with `atts_since` (data only for attachments changed after
/// the newest of those revisions this one descends from) and, for
/// multipart responses, `follows` markers instead of inline data.
pub fn render_full(
    db: &Database,
    id: &str,
    record: &DocRecord,
    rev: &Rev,
    opts: ReadOpts,
    atts_since: Option<&[Rev]>,
    multipart: bool,
) -> Result<Option<Rendered>> {
    let Some(info) = record.tree.get(rev) else {
        return Ok(None);
    };
    let Some(mut body) = db.body(id, rev)? else {
        return Ok(None);
    };
    let history = || record.tree.history(rev).unwrap_or_default();
    let stored = attachment::stored_atts(&body);
    body.remove("_attachments");
    // `couch_db:apply_open_options2`: with `atts_since`, data only for
    // attachments newer than the newest of those revisions this one
    // descends from (0 when none: a revpos-0 attachment, which replicated
    // writes keep, is then a stub, as in CouchDB); without it, all data.
    let known_pos = atts_since.map(|since| {
        let ancestors = history();
        since
            .iter()
            .filter(|r| ancestors.iter().any(|(a, _)| a == *r))
            .map(|r| r.pos)
            .max()
            .unwrap_or(0)
    });
    // Multipart answers send attachments as stored, so their entries say
    // how (CouchDB adds `att_encoding_info` to every multipart answer).
    let encoding_info = opts.att_encoding_info || multipart;
    let mut atts = Map::new();
    let mut follows = Vec::new();
    for (name, meta) in stored {
        let with_data = opts.attachments && known_pos.is_none_or(|known| meta.revpos > known);
        let entry = match (with_data, multipart) {
            (false, _) => meta.stub_json(encoding_info),
            (true, true) => {
                let entry = meta.follows_json(encoding_info);
                follows.push((name.clone(), meta));
                entry
            }
            (true, false) => meta.data_json(&db.attachment_data(&meta)?, opts.att_encoding_info),
        };
        atts.insert(name, entry);
    }
    let view = DocView {
        id: id.to_string(),
        rev: Some(rev.clone()),
        deleted: info.deleted,
        body,
        // CouchDB's `make_doc` reads a revision's path cut to the
        // database's `_revs_limit`, which may have been lowered since the
        // tree was last stemmed.
        revisions: opts.revs.then(|| {
            let limit = usize::try_from(db.revs_limit()).unwrap_or(usize::MAX);
            history().into_iter().take(limit).map(|(r, _)| r).collect()
        }),
        revs_info: opts
            .revs_info
            .then(|| history().into_iter().map(|(r, i)| (r, status(i))).collect()),
        conflicts: opts.conflicts.then(|| record.tree.conflicts()),
        deleted_conflicts: opts
            .deleted_conflicts
            .then(|| record.tree.deleted_conflicts()),
        local_seq: opts.local_seq.then_some(record.seq),
        attachments: Some(atts),
    };
    Ok(Some(Rendered {
        doc: view.into_json(),
        follows,
    }))
}

fn status(info: RevInfo) -> RevStatus {
    match (info.deleted, info.available) {
        (true, _) => RevStatus::Deleted,
        (false, true) => RevStatus::Available,
        (false, false) => RevStatus::Missing,
    }
}

/// One revision an `open_revs` read names.
pub enum RevRead {
    Found(Rendered),
    Missing(Rev),
}

/// Reads the winner, or a named revision, of a document.
pub fn read_doc(
    db: &Database,
    id: &str,
    rev: Option<Rev>,
    latest: bool,
    opts: ReadOpts,
) -> Result<Value> {
    read_rendered(db, id, rev, latest, opts, None, false).map(|r| r.doc)
}

pub fn read_rendered(
    db: &Database,
    id: &str,
    rev: Option<Rev>,
    latest: bool,
    opts: ReadOpts,
    atts_since: Option<&[Rev]>,
    multipart: bool,
) -> Result<Rendered> {
    let record = db.record(id)?.ok_or_else(|| Error::not_found("missing"))?;
    let rev = resolve_rev(&record, rev, latest)?;
    render_full(db, id, &record, &rev, opts, atts_since, multipart)?
        .ok_or_else(|| Error::not_found("missing"))
}

/// The revision a read opens: the named one (with `latest`, the first
/// leaf under it), else the winner.
pub fn resolve_rev(record: &DocRecord, rev: Option<Rev>, latest: bool) -> Result<Rev> {
    match rev {
        Some(rev) if latest => record
            .tree
            .leaves_under(&rev)
            .into_iter()
            .next()
            .map(|(r, _)| r)
            .ok_or_else(|| Error::not_found("missing")),
        Some(rev) => Ok(rev),
        None => record.open_winner(),
    }
}

/// The revisions an `open_revs` parameter names: `all` leaves, or a JSON list.
pub fn open_revs_list(
    db: &Database,
    id: &str,
    spec: &str,
    latest: bool,
) -> Result<(Option<DocRecord>, Vec<Rev>)> {
    let record = db.record(id)?;
    let revs: Vec<Rev> = if spec == "all" {
        let Some(record) = &record else {
            return Err(Error::not_found("missing"));
        };
        record.tree.leaves().into_iter().map(|(r, _)| r).collect()
    } else {
        let list: Vec<Value> = serde_json::from_str(spec).map_err(|_| {
            Error::bad_request("Invalid `open_revs` parameter. Must be a JSON array or \"all\".")
        })?;
        parse_rev_list(&list)?
    };
    let mut resolved = Vec::with_capacity(revs.len());
    for rev in revs {
        match (&record, latest) {
            (Some(rec), true) => resolved.extend(rec.tree.latest(&rev)),
            _ => resolved.push(rev),
        }
    }
    Ok((record, resolved))
}

/// `open_revs`: each revision rendered (with `_revisions`), or missing,
/// in CouchDB's order.
pub fn open_revs(
    db: &Database,
    id: &str,
    spec: &str,
    latest: bool,
    opts: ReadOpts,
    atts_since: Option<&[Rev]>,
    multipart: bool,
) -> Result<Vec<RevRead>> {
    let (record, mut revs) = open_revs_list(db, id, spec, latest)?;
    // `fabric_doc_open_revs` sorts its answer: found revisions first, by
    // position then id, then the missing ones in the same order.
    revs.sort_by(|a, b| a.couch_cmp(b));
    revs.dedup();
    let mut found = Vec::with_capacity(revs.len());
    let mut missing = Vec::new();
    for r in revs {
        let rendered = match &record {
            Some(rec) => render_full(
                db,
                id,
                rec,
                &r,
                // As `chttpd_db:send_docs_multipart/3`: a multipart answer
                // carries attachment data (newer than `atts_since`).
                ReadOpts {
                    attachments: opts.attachments || multipart,
                    ..opts.revisions_only()
                },
                atts_since,
                multipart,
            )?,
            None => None,
        };
        match rendered {
            Some(rendered) => found.push(RevRead::Found(rendered)),
            None => missing.push(RevRead::Missing(r)),
        }
    }
    found.extend(missing);
    Ok(found)
}
