//! `_local` documents: kept apart from the revision-tree store, with `0-N`
//! revisions, never in `_all_docs`, `_changes` or replication. Writes come
//! through [`super::Service::save`] like every other document's.

use serde_json::{Map, Value};

use crate::couch::doc::NewDoc;
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::storage::{Database, LocalDoc};

/// Parses a local revision `0-N` into N.
pub fn parse_rev(text: &str) -> Result<u64> {
    text.strip_prefix("0-")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| Error::bad_request("Invalid rev format"))
}

/// A rev as `couch_doc:parse_rev` reads it, local `0-N` ones included;
/// [`put`] then checks a local doc's rev is `0-` and a number.
pub fn any_rev(text: &str) -> Result<Rev> {
    match text.strip_prefix("0-") {
        Some(id) if !id.is_empty() => Ok(Rev::new(0, id)),
        _ => Ok(Rev::parse(text)?),
    }
}

/// Writes (or deletes) a local document, not yet durable; its new
/// revision: `0-N`, or `0-0` once deleted. Attachments are not kept.
pub fn put(db: &Database, id: &str, doc: &NewDoc) -> Result<Rev> {
    let given = match doc.revs.first() {
        None => None,
        Some(r) if r.pos == 0 => Some(
            r.id.parse::<u64>()
                .map_err(|_| Error::bad_request("Invalid rev format"))?,
        ),
        Some(_) => return Err(Error::bad_request("Invalid rev format")),
    };
    let rev = db.local_put(id, given, (!doc.deleted).then_some(&doc.body))?;
    Ok(Rev::new(0, if doc.deleted { 0 } else { rev }.to_string()))
}

/// A local document as CouchDB shows it: `_id`, `_rev`, then its body.
pub fn render(id: &str, local: &LocalDoc) -> Map<String, Value> {
    let body: Map<String, Value> = serde_json::from_str(&local.body).unwrap_or_default();
    let mut out = Map::with_capacity(body.len() + 2);
    out.insert("_id".into(), Value::String(id.to_string()));
    out.insert("_rev".into(), Value::String(format!("0-{}", local.rev)));
    out.extend(body);
    out
}
