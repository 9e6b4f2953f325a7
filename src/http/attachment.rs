//! Attachments over HTTP: the standalone API (`GET/HEAD/PUT/DELETE
//! /{db}/{doc}/{name}`): bodies streamed in and out, ranges, encodings.

use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use super::auth::current_user;
use super::reply::{committed, encode_segment, location};
use super::request::{self, Query};
use super::{blocking, AppState};
use crate::couch::attachment::{self, AttMeta};
use crate::couch::names::validate_doc_id;
use crate::error::{Error, Result};
use crate::service::attachments::{
    base_revision, edited_doc, missing_attachment, open_revision, storage_encoding,
};
use crate::service::WriteOptions;
use crate::service::{check_lookup_id, check_write_id};
use crate::storage::Database;

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
    name: String,
) -> Result<HttpResponse> {
    if id.starts_with("_local/") {
        return Err(Error::bad_request(
            "_local documents do not accept attachments.",
        ));
    }
    validate_doc_id(&id)?;
    // A write without `rev` creates the document: its id is checked as a
    // new document's (`db_attachment_req`); otherwise it is looked up.
    let creates = matches!(req.method().as_str(), "PUT" | "DELETE")
        && !Query::from_request(req).has("rev")
        && request::header_str(req, header::IF_MATCH).is_none();
    if creates {
        check_write_id(&db, &id)?;
    } else {
        check_lookup_id(&db, &id)?;
    }
    match req.method().as_str() {
        "GET" | "HEAD" => get(req, db, id, name).await,
        "PUT" => put(state, req, payload, db, id, name).await,
        _ => delete(state, req, db, id, name).await,
    }
}

async fn get(
    req: &HttpRequest,
    db: Arc<Database>,
    id: String,
    name: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let rev = q.rev()?;
    let reader_db = db.clone();
    let meta = blocking(move || {
        let (_, _, body) = open_revision(&reader_db, &id, rev.as_ref())?;
        attachment::stored_atts(&body)
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| m)
            .ok_or_else(missing_attachment)
    })
    .await?;
    let md5 = meta
        .md5()
        .ok_or_else(|| Error::Corrupt("attachment digest".into()))?;
    let etag = format!("\"{}\"", B64.encode(md5));
    if request::etag_matches(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let send_gzip = meta.is_gzip() && accepts_gzip(req);
    let total = if send_gzip {
        meta.encoded_length.unwrap_or(meta.length)
    } else {
        meta.length
    };
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "must-revalidate"))
        .insert_header((header::CONTENT_TYPE, meta.content_type.clone()))
        .insert_header((
            header::ACCEPT_RANGES,
            if meta.is_gzip() { "none" } else { "bytes" },
        ));
    if send_gzip {
        builder.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    let ranges = match (meta.is_gzip(), request::header_str(req, header::RANGE)) {
        (false, Some(r)) => parse_ranges(r, total)?.filter(|r| r.len() < 10),
        _ => None,
    };
    if let Some(ranges) = ranges.as_ref().filter(|r| r.len() > 1) {
        return Ok(multipart_ranges(db, meta, ranges.clone(), total));
    }
    let (from, to) = match ranges.and_then(|r| r.first().copied()) {
        Some((from, to)) => {
            builder.status(StatusCode::PARTIAL_CONTENT);
            builder.insert_header((header::CONTENT_RANGE, format!("bytes {from}-{to}/{total}")));
            (from, to + 1)
        }
        None => (0, total),
    };
    if req.method() == "HEAD" {
        let nothing = futures::stream::empty::<Result<Bytes, Error>>();
        return Ok(builder.body(SizedStream::new(to - from, nothing)));
    }
    let reader = db
        .blob_reader(&meta, !send_gzip)?
        .ok_or_else(|| Error::Corrupt("attachment body missing".into()))?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, Error>>(4);
    tokio::task::spawn_blocking(move || {
        let sent = copy_range(reader, from, to, |piece| {
            tx.blocking_send(Ok(Bytes::copy_from_slice(piece))).is_ok()
        });
        if let Err(e) = sent {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(builder.body(SizedStream::new(to - from, stream)))
}

/// Several ranges at once: 206 `multipart/byteranges`, as CouchDB sends them.
fn multipart_ranges(
    db: Arc<Database>,
    meta: AttMeta,
    ranges: Vec<(u64, u64)>,
    total: u64,
) -> HttpResponse {
    let boundary = super::multipart::boundary();
    let ctype = format!("multipart/byteranges; boundary=\"{boundary}\"");
    super::response::stream_typed(StatusCode::PARTIAL_CONTENT, ctype, move |sender| {
        let mut out = super::response::ChunkWriter::new(sender);
        if !out.write(format!("--{boundary}").as_bytes()) {
            return Ok(());
        }
        for (from, to) in ranges {
            let head = format!(
                "\r\nContent-Type: {}\r\nContent-Range: bytes {from}-{to}/{total}\r\n\r\n",
                meta.content_type
            );
            if !out.write(head.as_bytes()) {
                return Ok(());
            }
            let reader = db
                .blob_reader(&meta, true)?
                .ok_or_else(|| Error::Corrupt("attachment body missing".into()))?;
            if !copy_range(reader, from, to + 1, |piece| out.write(piece))? {
                return Ok(());
            }
            if !out.write(format!("\r\n--{boundary}").as_bytes()) {
                return Ok(());
            }
        }
        out.write(b"--");
        out.flush();
        Ok(())
    })
}

/// Passes bytes `from..to` of a body to `emit`; false once `emit` refuses
/// (the client went away).
fn copy_range(
    mut reader: crate::storage::blobs::BlobReader,
    from: u64,
    to: u64,
    mut emit: impl FnMut(&[u8]) -> bool,
) -> Result<bool> {
    let mut pos = 0u64;
    while let Some(chunk) = reader.next_chunk()? {
        let (start, end) = (pos, pos + chunk.len() as u64);
        pos = end;
        if end <= from {
            continue;
        }
        if start >= to {
            break;
        }
        let lo = from.saturating_sub(start) as usize;
        let hi = (to.min(end) - start) as usize;
        if !emit(&chunk[lo..hi]) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    request::header_str(req, header::ACCEPT_ENCODING).is_some_and(|v| {
        v.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| p.trim().replace(' ', "") == "q=0");
            coding.eq_ignore_ascii_case("gzip") && !q_zero
        })
    })
}

/// CouchDB's reading of a `Range` header (`chttpd_db:parse_ranges`):
/// `None` to send the whole body (no header, a malformed one, or one
/// starting at `0-`), else inclusive `(from, to)` ranges; a range ending
/// before it starts, or starting past the end, is 416.
fn parse_ranges(header: &str, total: u64) -> Result<Option<Vec<(u64, u64)>>> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    let mut raw = Vec::new();
    for item in spec.split(',') {
        let Some((a, b)) = item.trim().split_once('-') else {
            return Ok(None);
        };
        let (a, b) = (a.trim(), b.trim());
        let from = if a.is_empty() {
            None
        } else {
            Some(a.parse::<u64>().ok())
        };
        let to = if b.is_empty() {
            None
        } else {
            Some(b.parse::<u64>().ok())
        };
        match (from, to) {
            (Some(None), _) | (_, Some(None)) | (None, None) => return Ok(None),
            (f, t) => raw.push((f.flatten(), t.flatten())),
        }
    }
    if matches!(raw.first(), Some((Some(0), None))) {
        return Ok(None);
    }
    let last = total.saturating_sub(1);
    let mut out = Vec::with_capacity(raw.len());
    for (from, to) in raw {
        let (from, to) = match (from, to) {
            (Some(f), Some(t)) => (f, t.min(last)),
            (Some(f), None) => (f, last),
            (None, Some(n)) => (total.saturating_sub(n), last),
            (None, None) => return Ok(None),
        };
        if to < from || total == 0 {
            return Err(Error::RangeNotSatisfiable);
        }
        out.push((from, to));
    }
    Ok(Some(out))
}

async fn put(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
    db: Arc<Database>,
    id: String,
    name: String,
) -> Result<HttpResponse> {
    attachment::validate_name(&name)?;
    let att_name = name;
    let q = Query::from_request(req);
    let rev = request::rev_param(req, &q)?;
    let content_type = request::header_str(req, header::CONTENT_TYPE)
        .unwrap_or("application/octet-stream")
        .to_string();
    let gzipped = match request::header_str(req, header::CONTENT_ENCODING)
        .map(|s| s.trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e == "identity" => false,
        Some(e) if e == "gzip" => true,
        Some(_) => {
            return Err(Error::UnsupportedContentEncoding(
                "Only gzip and identity content-encodings are supported".into(),
            ))
        }
    };
    let uploads = db.blob_guard().await;
    let mut writer = db.blob_writer(storage_encoding(&state.snapshot(), &content_type, gzipped))?;
    let limit = state.snapshot().max_http_request_size;
    while let Some(chunk) = payload.next().await {
        let step = match chunk {
            Ok(c) if writer.received() + c.len() as u64 > limit => Err(Error::RequestTooLarge),
            Ok(c) => writer.write(&c),
            Err(_) => Err(Error::bad_request("Invalid request body")),
        };
        if let Err(e) = step {
            writer.discard()?;
            return Err(e);
        }
    }
    let meta = writer.finish(&content_type)?;
    let reader = db.clone();
    let doc_id = id.clone();
    let name_in_doc = att_name.clone();
    let doc = blocking(move || {
        let base = base_revision(&reader, &doc_id, rev.as_ref())?;
        edited_doc(&doc_id, base, &name_in_doc, Some(meta))
    })
    .await?;
    let opts = WriteOptions {
        uploads: Some(uploads),
        ..Default::default()
    };
    let edited = state.docs.save_one(&current_user(), &db, doc, opts).await?;
    let mut res = committed(req, &db, &id, &edited);
    let location = format!("{}/{}", location(req, &db, &id), encode_segment(&att_name));
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, value);
    }
    Ok(res)
}

async fn delete(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    id: String,
    name: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let Some(rev) = request::rev_param(req, &q)? else {
        // CouchDB first checks that the current revision has the attachment.
        let reader = db.clone();
        let has_it = blocking(move || {
            let (_, _, body) = open_revision(&reader, &id, None)?;
            Ok(attachment::stored_atts(&body)
                .iter()
                .any(|(n, _)| *n == name))
        })
        .await?;
        return Err(if has_it {
            Error::Conflict
        } else {
            missing_attachment()
        });
    };
    let reader = db.clone();
    let doc_id = id.clone();
    let doc = blocking(move || {
        let base = base_revision(&reader, &doc_id, Some(&rev))?;
        edited_doc(&doc_id, base, &name, None)
    })
    .await?;
    let opts = WriteOptions::default();
    let edited = state.docs.save_one(&current_user(), &db, doc, opts).await?;
    Ok(super::response::ok(
        &json!({"ok": true, "id": id, "rev": edited.rev.to_string()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_couchdb() {
        let r = |h: &str| parse_ranges(h, 100).map_err(|e| e.to_string());
        assert_eq!(r("bytes=0-9"), Ok(Some(vec![(0, 9)])));
        assert_eq!(r("bytes=90-"), Ok(Some(vec![(90, 99)])));
        assert_eq!(r("bytes=-10"), Ok(Some(vec![(90, 99)])));
        assert_eq!(r("bytes=50-500"), Ok(Some(vec![(50, 99)])));
        assert_eq!(r("bytes=0-1,5-6"), Ok(Some(vec![(0, 1), (5, 6)])));
        assert_eq!(r("bytes=0-"), Ok(None));
        assert_eq!(r("items=0-1"), Ok(None));
        assert_eq!(r("bytes=x-1"), Ok(None));
        assert!(r("bytes=100-200").is_err());
        assert!(r("bytes=10-5").is_err());
    }
}
