//! A document uploaded as `multipart/related` (`PUT /{db}/{doc}`, as
//! CouchDB's replicator and soledad send documents with attachments): the
//! JSON part, then one part per `follows` attachment, streamed into
//! storage as it arrives.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest};

use super::read::RelatedReader;
use crate::couch::attachment::AttInput;
use crate::couch::doc::{self, NewDoc};
use crate::error::{Error, Result};
use crate::http::request;
use crate::http::AppState;
use crate::service::attachments::storage_encoding;
use crate::storage::Database;

/// Whether a request body is `multipart/related`.
pub fn is_multipart(req: &HttpRequest) -> bool {
    request::header_str(req, header::CONTENT_TYPE).is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/related")
    })
}

/// Reads a multipart/related document upload: the JSON document first,
/// then one part per `follows` attachment, in the order the JSON lists
/// them. Attachment parts stream into storage. A part sent compressed
/// (`"encoding": "gzip"`, as CouchDB's replicator sends gzip-stored
/// attachments) is stored as it comes, under the digest of those bytes.
pub async fn read_doc(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: &Arc<Database>,
    id: &str,
) -> Result<NewDoc> {
    let ctype = request::header_str(req, header::CONTENT_TYPE).unwrap_or_default();
    let boundary = ctype
        .parse::<mime::Mime>()
        .ok()
        .and_then(|m| m.get_param(mime::BOUNDARY).map(|b| b.as_str().to_string()))
        .ok_or_else(|| Error::bad_request("Invalid multipart/related Content-Type: no boundary"))?;
    let mut parts = RelatedReader::new(payload, &boundary);
    if parts.next_part().await?.is_none() {
        return Err(Error::bad_request("Empty multipart body"));
    }
    let mut json = Vec::new();
    while let Some(chunk) = parts.chunk().await? {
        json.extend_from_slice(&chunk);
        // The JSON part is read whole: bound it before it is parsed.
        if json.len() as u64 > state.snapshot().max_document_size {
            return Err(Error::DocumentTooLarge(id.to_string()));
        }
    }
    let mut doc = doc::parse_doc(request::parse_json(&json)?)?;
    let Some(atts) = doc.attachments.as_mut() else {
        return Ok(doc);
    };
    for (name, input) in atts.iter_mut() {
        let AttInput::Follows {
            content_type,
            length,
            encoding,
            encoded_length,
            revpos,
            ..
        } = input
        else {
            continue;
        };
        if parts.next_part().await?.is_none() {
            return Err(Error::bad_request(format!(
                "Missing multipart part for attachment {name}"
            )));
        }
        let gzipped = encoding.as_deref() == Some("gzip");
        let mut writer =
            db.blob_writer(storage_encoding(&state.snapshot(), content_type, gzipped))?;
        let mut failed = None;
        loop {
            match parts.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = writer.write(&chunk) {
                        failed = Some(e);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let received = writer.received();
        let expected = if gzipped { *encoded_length } else { *length };
        if failed.is_none() && expected.is_some_and(|l| l != received) {
            failed = Some(Error::bad_request(format!(
                "Attachment {name} length mismatch: expected {} bytes, got {received}",
                expected.unwrap_or(0)
            )));
        }
        if let Some(e) = failed {
            writer.discard()?;
            return Err(e);
        }
        let mut meta = writer.finish(content_type)?;
        if gzipped {
            meta.length = length.unwrap_or(meta.length);
        }
        meta.revpos = revpos.unwrap_or(0);
        *input = AttInput::Uploaded(meta);
    }
    Ok(doc)
}
