//! Attachments in the write path: how a body of a given type is stored
//! (`[attachments]` settings), inline (`data`) bodies stored before the
//! write, and the revisions a standalone attachment write (`PUT`/`DELETE
//! /{db}/{doc}/{name}`) or a form upload builds on. Bodies stream through
//! `storage::Database::blob_writer`; this module holds the rules.

use serde_json::{Map, Value};

use crate::couch::attachment::{self, AttInput, AttMeta};
use crate::couch::doc::NewDoc;
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::settings::Snapshot;
use crate::storage::blobs::Encoding;
use crate::storage::{Database, DocRecord};

/// How to store a body of this type sent in this encoding, by
/// `[attachments] compressible_types` and `compression_level`.
pub fn storage_encoding(settings: &Snapshot, content_type: &str, gzipped: bool) -> Encoding {
    if gzipped {
        Encoding::Gzipped
    } else {
        match settings.compression_for(content_type) {
            Some(level) => Encoding::Compress(level),
            None => Encoding::Identity,
        }
    }
}

/// Writes the bodies of inline (`data`) attachments and replaces them by
/// their stored metadata, ready for `Database::write_docs`.
pub fn store_inline(settings: &Snapshot, db: &Database, doc: &mut NewDoc) -> Result<()> {
    let Some(atts) = doc.attachments.as_mut() else {
        return Ok(());
    };
    for (_, input) in atts.iter_mut() {
        if let AttInput::Inline {
            content_type,
            data,
            revpos,
        } = input
        {
            let mut writer = db.blob_writer(storage_encoding(settings, content_type, false))?;
            writer.write(data)?;
            let mut meta = writer.finish(content_type)?;
            meta.revpos = revpos.unwrap_or(0);
            *input = AttInput::Uploaded(meta);
        }
    }
    Ok(())
}

/// Reads the revision a request names (or the winner) and its attachments.
pub fn open_revision(
    db: &Database,
    id: &str,
    rev: Option<&Rev>,
) -> Result<(DocRecord, Rev, Map<String, Value>)> {
    let record = db.record(id)?.ok_or_else(|| Error::not_found("missing"))?;
    let rev = match rev {
        Some(r) => r.clone(),
        None => record.open_winner()?,
    };
    let body = db
        .body(id, &rev)?
        .ok_or_else(|| Error::not_found("missing"))?;
    Ok((record, rev, body))
}

pub fn missing_attachment() -> Error {
    Error::not_found("Document is missing attachment")
}

/// A new revision of `base` with `name` replaced (or removed).
pub fn edited_doc(
    id: &str,
    base: Option<(Rev, Map<String, Value>)>,
    name: &str,
    new: Option<AttMeta>,
) -> Result<NewDoc> {
    let (revs, mut body) = match base {
        Some((rev, body)) => (vec![rev], body),
        None => (Vec::new(), Map::new()),
    };
    let current = attachment::stored_atts(&body);
    body.remove("_attachments");
    if new.is_none() && !current.iter().any(|(n, _)| n == name) {
        return Err(missing_attachment());
    }
    let mut atts: Vec<(String, AttInput)> = current
        .into_iter()
        .filter(|(n, _)| n != name)
        .map(|(n, m)| (n, AttInput::Stored(m)))
        .collect();
    if let Some(meta) = new {
        atts.push((name.to_string(), AttInput::Uploaded(meta)));
    }
    Ok(NewDoc {
        id: Some(id.to_string()),
        revs,
        deleted: false,
        body,
        attachments: Some(atts),
    })
}

/// The revision a standalone attachment write builds on.
pub fn base_revision(
    db: &Database,
    id: &str,
    rev: Option<&Rev>,
) -> Result<Option<(Rev, Map<String, Value>)>> {
    match rev {
        None => Ok(None),
        Some(rev) => {
            // As CouchDB: a revision the document lacks (or whose body is
            // gone) is `missing_rev`; one that is not a leaf, a conflict.
            let record = db.record(id)?.ok_or(Error::MissingRev)?;
            let body = db.body(id, rev)?.ok_or(Error::MissingRev)?;
            if !record.tree.is_leaf(rev) {
                return Err(Error::Conflict);
            }
            Ok(Some((rev.clone(), body)))
        }
    }
}
