//! `POST /{db}/{docid}` with `multipart/form-data`: the HTML-form upload
//! CouchDB has kept since Futon (`chttpd_db:db_doc_req` for POST).
//!
//! The form carries either `_doc` (the whole document as JSON) or `_rev`
//! (the revision to add to), and any number of `_attachments` file fields,
//! each stored under its file name with its part's content type. New
//! attachments replace those of the same name and come first; the others
//! are kept by reference. The request must carry a `Referer` naming this
//! host, as CouchDB demands of form posts (a cross-site form cannot).

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::auth::current_user;
use super::reply::{write_status, written};
use super::request::{self, Query};
use super::{blocking, AppState};
use crate::couch::attachment::{self, AttInput, AttMeta};
use crate::couch::doc::{self, NewDoc};
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::service::attachments::{base_revision, storage_encoding};
use crate::service::{check_write_id, WriteOptions};
use crate::storage::Database;

/// What a form post carried.
#[derive(Default)]
struct Form {
    doc: Option<String>,
    rev: Option<String>,
    /// `_attachments` files, stored as they arrived, in form order.
    files: Vec<(String, AttMeta)>,
}

/// Handles the form post for document `id` of `db`.
pub async fn post(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    crate::couch::names::validate_doc_id(&id)?;
    check_write_id(&db, &id)?;
    validate_referer(req)?;
    let boundary = form_boundary(req)?;
    // Taken before the first file streams in, held until the write lands.
    let uploads = db.blob_guard().await;
    let form = read_form(state, payload, &db, boundary).await?;
    let mut doc = match (&form.doc, &form.rev) {
        (Some(json), _) => {
            let mut doc = doc::parse_doc(request::parse_json(json.as_bytes())?)?;
            let q = Query::from_request(req);
            request::resolve_request_rev(req, &q, &mut doc)?;
            doc
        }
        (None, Some(rev)) => {
            let rev = Rev::parse(rev)?;
            let reader = db.clone();
            let doc_id = id.clone();
            let (rev, mut body) = blocking(move || {
                base_revision(&reader, &doc_id, Some(&rev))?.ok_or(Error::MissingRev)
            })
            .await?;
            let atts = attachment::stored_atts(&body)
                .into_iter()
                .map(|(name, meta)| (name, AttInput::Stored(meta)))
                .collect();
            body.remove("_attachments");
            NewDoc {
                revs: vec![rev],
                body,
                attachments: Some(atts),
                ..Default::default()
            }
        }
        (None, None) => {
            return Err(Error::bad_request(
                "A form upload needs a `_doc` or a `_rev` field",
            ))
        }
    };
    doc.id = Some(id.clone());
    if id.starts_with("_local/") {
        // Local documents carry no attachments.
        doc.attachments = None;
    } else {
        let kept = doc.attachments.take().unwrap_or_default();
        let mut atts: Vec<(String, AttInput)> = form
            .files
            .iter()
            .map(|(name, meta)| (name.clone(), AttInput::Uploaded(meta.clone())))
            .collect();
        atts.extend(
            kept.into_iter()
                .filter(|(name, _)| !form.files.iter().any(|(n, _)| n == name)),
        );
        doc.attachments = Some(atts);
    }
    let opts = WriteOptions {
        uploads: Some(uploads),
        ..Default::default()
    };
    let edited = state.docs.save_one(&current_user(), &db, doc, opts).await?;
    // No `Location`, as CouchDB answers a form post.
    Ok(written(
        write_status(req, StatusCode::CREATED),
        &id,
        &edited,
    ))
}

/// `couch_httpd:validate_referer`: a `Referer` whose host (with port) is
/// the request's own.
fn validate_referer(req: &HttpRequest) -> Result<()> {
    let referer = request::header_str(req, header::REFERER)
        .ok_or_else(|| Error::bad_request("Referer header required."))?;
    let host = req.connection_info().host().to_string();
    if referer_host(referer) == Some(host.as_str()) {
        Ok(())
    } else {
        Err(Error::bad_request("Referer header must match host."))
    }
}

/// The `host[:port]` of a URL (`mochiweb_util:urlsplit`'s netloc, without
/// any user info, which a browser never sends in a `Referer`).
fn referer_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let netloc = rest.split(['/', '?', '#']).next()?;
    Some(netloc)
}

/// The boundary of a `multipart/form-data` body, or CouchDB's 415.
fn form_boundary(req: &HttpRequest) -> Result<String> {
    let wrong =
        || Error::UnsupportedContentEncoding("Content-Type must be multipart/form-data".into());
    let ctype = request::header_str(req, header::CONTENT_TYPE).ok_or_else(wrong)?;
    let mime: mime::Mime = ctype.parse().map_err(|_| wrong())?;
    if mime.type_() != mime::MULTIPART || mime.subtype() != mime::FORM_DATA {
        return Err(wrong());
    }
    mime.get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_string())
        .ok_or_else(|| Error::bad_request("Invalid multipart/form-data Content-Type: no boundary"))
}

/// Reads the form: text fields whole, `_attachments` files streamed into
/// storage.
async fn read_form(
    state: &AppState,
    payload: web::Payload,
    db: &Database,
    boundary: String,
) -> Result<Form> {
    // actix's payload is not Send and multer wants a Send stream: pump it
    // through a small channel from a local task.
    let (tx, rx) = mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(4);
    actix_web::rt::spawn(async move {
        let mut payload = payload;
        while let Some(chunk) = payload.next().await {
            let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut parts = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| Error::bad_request(format!("Malformed form body: {e}"));
    let limit = state.snapshot().max_http_request_size;
    let mut form = Form::default();
    while let Some(mut field) = parts.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "_attachments" {
            let Some(file_name) = field.file_name().map(str::to_string) else {
                continue;
            };
            attachment::validate_name(&file_name)?;
            let content_type = field
                .content_type()
                .map_or("application/octet-stream".to_string(), |m| {
                    m.essence_str().to_string()
                });
            let mut writer =
                db.blob_writer(storage_encoding(&state.snapshot(), &content_type, false))?;
            loop {
                let step = match field.chunk().await {
                    Ok(Some(c)) if writer.received() + c.len() as u64 > limit => {
                        Err(Error::RequestTooLarge)
                    }
                    Ok(Some(c)) => writer.write(&c),
                    Ok(None) => break,
                    Err(e) => Err(bad(e)),
                };
                if let Err(e) = step {
                    writer.discard()?;
                    return Err(e);
                }
            }
            form.files.push((file_name, writer.finish(&content_type)?));
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        match name.as_str() {
            "_doc" => {
                // Read whole: bound it before it is parsed.
                if text.len() as u64 > state.snapshot().max_document_size {
                    return Err(Error::DocumentTooLarge("_doc".into()));
                }
                form.doc = Some(text);
            }
            "_rev" => form.rev = Some(text),
            _ => {}
        }
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referer_host_is_the_netloc() {
        assert_eq!(
            referer_host("http://127.0.0.1:5984/_utils/"),
            Some("127.0.0.1:5984")
        );
        assert_eq!(
            referer_host("https://db.example.com"),
            Some("db.example.com")
        );
        assert_eq!(referer_host("db.example.com/x"), None);
    }
}
