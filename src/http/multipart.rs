//! Writing CouchDB's multipart response bodies: a document with its
//! attachments as `multipart/related`, and `open_revs` answers as
//! `multipart/mixed` (one part per revision, itself `multipart/related`
//! when it carries attachments), as CouchDB's replicator reads them.

use serde_json::{json, Value};

use super::document::Rendered;
use super::response::ChunkWriter;
use crate::error::{Error, Result};
use crate::storage::Database;

/// A fresh boundary string.
pub fn boundary() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// One revision for a `multipart/mixed` answer.
pub enum RevPart {
    Found(Rendered),
    Missing(String),
}

/// Writes `rendered` as a `multipart/related` body. Returns false once the
/// client has gone away.
pub fn write_related(
    out: &mut ChunkWriter<'_>,
    db: &Database,
    boundary: &str,
    rendered: &Rendered,
) -> Result<bool> {
    let head = format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n");
    if !out.write(head.as_bytes()) || !out.write(rendered.doc.to_string().as_bytes()) {
        return Ok(false);
    }
    for (name, meta) in &rendered.follows {
        let part = format!(
            "\r\n--{boundary}\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            name.replace('"', "\\\""),
            meta.content_type,
            meta.length
        );
        if !out.write(part.as_bytes()) {
            return Ok(false);
        }
        let mut reader = db
            .blob_reader(meta, true)?
            .ok_or_else(|| Error::Corrupt(format!("attachment body {} is missing", meta.digest)))?;
        while let Some(chunk) = reader.next_chunk()? {
            if !out.write(&chunk) {
                return Ok(false);
            }
        }
    }
    Ok(out.write(format!("\r\n--{boundary}--").as_bytes()))
}

/// Writes one part of a `multipart/mixed` `open_revs` answer.
pub fn write_mixed_part(
    out: &mut ChunkWriter<'_>,
    db: &Database,
    outer: &str,
    first: bool,
    part: &RevPart,
) -> Result<bool> {
    let sep = if first {
        format!("--{outer}\r\n")
    } else {
        format!("\r\n--{outer}\r\n")
    };
    if !out.write(sep.as_bytes()) {
        return Ok(false);
    }
    match part {
        RevPart::Missing(rev) => {
            let body: Value = json!({"missing": rev});
            let text = format!("Content-Type: application/json; error=\"true\"\r\n\r\n{body}");
            Ok(out.write(text.as_bytes()))
        }
        RevPart::Found(rendered) if rendered.follows.is_empty() => {
            let text = format!("Content-Type: application/json\r\n\r\n{}", rendered.doc);
            Ok(out.write(text.as_bytes()))
        }
        RevPart::Found(rendered) => {
            let inner = boundary();
            let head = format!("Content-Type: multipart/related; boundary=\"{inner}\"\r\n\r\n");
            if !out.write(head.as_bytes()) {
                return Ok(false);
            }
            write_related(out, db, &inner, rendered)
        }
    }
}

/// Closes a `multipart/mixed` body.
pub fn end_mixed(out: &mut ChunkWriter<'_>, outer: &str) -> bool {
    out.write(format!("\r\n--{outer}--").as_bytes()) && out.flush()
}
