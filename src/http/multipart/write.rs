//! Writing CouchDB's multipart response bodies: a document with its
//! attachments as `multipart/related`, and `open_revs` answers as
//! `multipart/mixed` (one part per revision, itself `multipart/related`
//! when it carries attachments), as CouchDB's replicator reads them.
//!
//! As in every multipart answer CouchDB sends (`doc_to_multi_part_stream`
//! with `SendEncodedAtts = true`), attachments go as stored: a gzip-stored
//! one still compressed, its part marked `Content-Encoding: gzip` and its
//! JSON entry carrying `encoding` and `encoded_length`. A replicator then
//! writes the same bytes, and the same digest, to its target.

use serde_json::{json, Value};

use crate::couch::attachment::AttMeta;
use crate::error::{Error, Result};
use crate::http::response::ChunkWriter;
use crate::service::read::{Rendered, RevRead};
use crate::storage::Database;

/// A fresh boundary string.
pub fn boundary() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A rendered document laid out as a `multipart/related` body
/// (`couch_httpd_multipart:encode_multipart_stream`): the JSON part, then
/// one part per attachment whose data follows.
pub struct Related<'a> {
    boundary: &'a str,
    json: String,
    /// Each attachment's part headers (from the `\r\n` after the previous
    /// delimiter to the blank line) and its stored metadata.
    parts: Vec<(String, &'a AttMeta)>,
}

impl<'a> Related<'a> {
    pub fn new(boundary: &'a str, rendered: &'a Rendered) -> Related<'a> {
        let parts = rendered
            .follows
            .iter()
            .map(|(name, meta)| {
                let mut head = format!(
                    "\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Type: {}\r\nContent-Length: {}",
                    name.replace('"', "\\\""),
                    meta.content_type,
                    meta.stored_len()
                );
                if let Some(encoding) = &meta.encoding {
                    head.push_str("\r\nContent-Encoding: ");
                    head.push_str(encoding);
                }
                head.push_str("\r\n\r\n");
                (head, meta)
            })
            .collect();
        Related {
            boundary,
            json: rendered.doc.to_string(),
            parts,
        }
    }

    /// The body's length in bytes, known before any attachment is read.
    pub fn len(&self) -> u64 {
        let delimiter = 4 + self.boundary.len() as u64; // "\r\n--B"
        let first = 2 + self.boundary.len() as u64 + 36; // "--B\r\nContent-Type: application/json\r\n\r\n"
        let atts: u64 = self
            .parts
            .iter()
            .map(|(head, meta)| head.len() as u64 + meta.stored_len() + delimiter)
            .sum();
        first + self.json.len() as u64 + delimiter + atts + 2
    }

    /// Writes the body; false once the client has gone away.
    pub fn write(&self, out: &mut ChunkWriter<'_>, db: &Database) -> Result<bool> {
        let b = self.boundary;
        let head = format!("--{b}\r\nContent-Type: application/json\r\n\r\n");
        if !out.write(head.as_bytes()) || !out.write(self.json.as_bytes()) {
            return Ok(false);
        }
        let delimiter = format!("\r\n--{b}");
        if !out.write(delimiter.as_bytes()) {
            return Ok(false);
        }
        for (head, meta) in &self.parts {
            if !out.write(head.as_bytes()) {
                return Ok(false);
            }
            let mut reader = db.blob_reader(meta, false)?.ok_or_else(|| {
                Error::Corrupt(format!("attachment body {} is missing", meta.digest))
            })?;
            while let Some(chunk) = reader.next_chunk()? {
                if !out.write(&chunk) {
                    return Ok(false);
                }
            }
            if !out.write(delimiter.as_bytes()) {
                return Ok(false);
            }
        }
        Ok(out.write(b"--"))
    }
}

/// Writes `rendered` as a `multipart/related` body. Returns false once the
/// client has gone away.
pub fn write_related(
    out: &mut ChunkWriter<'_>,
    db: &Database,
    boundary: &str,
    rendered: &Rendered,
) -> Result<bool> {
    Related::new(boundary, rendered).write(out, db)
}

/// Writes one part of a `multipart/mixed` `open_revs` answer.
pub fn write_mixed_part(
    out: &mut ChunkWriter<'_>,
    db: &Database,
    outer: &str,
    first: bool,
    part: &RevRead,
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
        RevRead::Missing(rev) => {
            let body: Value = json!({"missing": rev.to_string()});
            let text = format!("Content-Type: application/json; error=\"true\"\r\n\r\n{body}");
            Ok(out.write(text.as_bytes()))
        }
        RevRead::Found(rendered) if rendered.follows.is_empty() => {
            let text = format!("Content-Type: application/json\r\n\r\n{}", rendered.doc);
            Ok(out.write(text.as_bytes()))
        }
        RevRead::Found(rendered) => {
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
