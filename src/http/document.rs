//! Document endpoints: `GET/HEAD/PUT/DELETE/COPY /{db}/{docid}` and
//! `POST /{db}`. Reads render through `service::read`, writes go through
//! the document service (`AppState::docs`).

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::auth::current_user;
use super::multipart;
use super::reply::{batch_accepted, committed, created, write_status, written};
use super::request::{self, Query};
use super::response::ChunkWriter;
use super::{blocking, point_op, response, AppState};
use crate::couch::attachment;
use crate::couch::doc::{self, NewDoc};
use crate::couch::names::validate_doc_id;
use crate::couch::rev::{parse_rev_list, Rev};
use crate::error::{Error, Result};
use crate::service::read::{
    self, open_revs_list, read_rendered, render_json, resolve_rev, ReadOpts, RevRead,
};
use crate::service::WriteOptions;
use crate::service::{check_lookup_id, check_write_id, copy_of};
use crate::storage::Database;

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    validate_doc_id(&id)?;
    match req.method().as_str() {
        "PUT" => check_write_id(&db, &id).map(|_| ())?,
        _ => check_lookup_id(&db, &id)?,
    };
    match req.method().as_str() {
        "GET" | "HEAD" => get(req, db, id).await,
        "PUT" => put(state, req, payload, db, id).await,
        "DELETE" => delete(state, req, db, id).await,
        "COPY" => copy(state, req, db, id).await,
        _ => Err(Error::MethodNotAllowed(
            "DELETE,GET,HEAD,POST,PUT,COPY".into(),
        )),
    }
}

async fn get(req: &HttpRequest, db: Arc<Database>, id: String) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let opts = request::read_opts(&q)?;
    let latest = q.bool("latest", false)?;
    let atts_since = parse_atts_since(&q)?;
    // `atts_since` asks for the data of newer attachments (CouchDB adds
    // `attachments` with it).
    let opts = ReadOpts {
        attachments: opts.attachments || atts_since.is_some(),
        ..opts
    };
    if let Some(open_revs) = q.get("open_revs") {
        let spec = open_revs.to_string();
        // `chttpd_db`: multipart unless the client does not take it
        // (mochiweb's `accepts_content_type`: no Accept, `*/*`, …, take it).
        if !request::accepts(req, "multipart/mixed") {
            let parts = blocking(move || {
                let parts =
                    read::open_revs(&db, &id, &spec, latest, opts, atts_since.as_deref(), false)?;
                Ok(parts
                    .into_iter()
                    .map(|p| match p {
                        RevRead::Found(r) => json!({"ok": r.doc}),
                        RevRead::Missing(rev) => json!({"missing": rev.to_string()}),
                    })
                    .collect::<Vec<Value>>())
            })
            .await?;
            return Ok(response::ok(&parts));
        }
        // Resolve before streaming, so a bad request still gets its error status.
        let reader = db.clone();
        let doc_id = id.clone();
        blocking(move || open_revs_list(&reader, &doc_id, &spec, latest)).await?;
        let spec = open_revs.to_string();
        let outer = multipart::boundary();
        let ctype = format!("multipart/mixed; boundary=\"{outer}\"");
        return Ok(response::stream_typed(
            StatusCode::OK,
            ctype,
            move |sender| {
                let mut out = ChunkWriter::new(sender);
                let parts =
                    read::open_revs(&db, &id, &spec, latest, opts, atts_since.as_deref(), true)?;
                for (i, part) in parts.iter().enumerate() {
                    if !multipart::write_mixed_part(&mut out, &db, &outer, i == 0, part)? {
                        return Ok(());
                    }
                }
                multipart::end_mixed(&mut out, &outer);
                Ok(())
            },
        ));
    }
    let rev = q.rev()?;
    if !opts.attachments {
        // No attachment bodies: a point read whose stored text is spliced
        // into the reply, not parsed and re-serialised (`render_json`).
        let (rev, mut json) = point_op(|| {
            let record = db.record(&id)?.ok_or_else(|| Error::not_found("missing"))?;
            let rev = resolve_rev(&record, rev, latest)?;
            let json = render_json(&db, &id, &record, &rev, opts)?
                .ok_or_else(|| Error::not_found("missing"))?;
            Ok((rev, json))
        })?;
        json.push(b'\n');
        return Ok(with_etag(req, &rev.to_string(), || {
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "must-revalidate"))
                .content_type("application/json")
                .body(json)
        }));
    }
    // CouchDB sends attachments as multipart/related to every client that
    // takes it, curl's `*/*` included (`send_doc_efficiently`).
    let wants_multipart = request::accepts(req, "multipart/related");
    let rendered = blocking(move || {
        read_rendered(
            &db,
            &id,
            rev,
            latest,
            opts,
            atts_since.as_deref(),
            wants_multipart,
        )
        .map(|rendered| (db, rendered))
    })
    .await;
    let (db, rendered) = rendered?;
    let rev = rendered
        .doc
        .get("_rev")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(with_etag(req, &rev, move || {
        if wants_multipart && !rendered.follows.is_empty() {
            // CouchDB sends this body with its length, not chunked.
            let boundary = multipart::boundary();
            let ctype = format!("multipart/related; boundary=\"{boundary}\"");
            let len = multipart::Related::new(&boundary, &rendered).len();
            response::stream_sized(StatusCode::OK, ctype, len, move |sender| {
                let mut out = ChunkWriter::new(sender);
                if multipart::Related::new(&boundary, &rendered).write(&mut out, &db)? {
                    out.flush();
                }
                Ok(())
            })
        } else {
            response::ok(&rendered.doc)
        }
    }))
}

/// A document read's reply with its `ETag` (the rev), or 304 Not Modified
/// when `If-None-Match` names that rev.
fn with_etag(req: &HttpRequest, rev: &str, reply: impl FnOnce() -> HttpResponse) -> HttpResponse {
    let etag = format!("\"{rev}\"");
    if request::etag_matches(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    let mut res = reply();
    if let Ok(value) = header::HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, value);
    }
    res
}

/// `atts_since=["rev", …]`.
fn parse_atts_since(q: &Query) -> Result<Option<Vec<Rev>>> {
    let Some(value) = q.json(&["atts_since"])? else {
        return Ok(None);
    };
    let Value::Array(list) = value else {
        return Err(Error::bad_request(
            "atts_since value must be array of revs.",
        ));
    };
    Ok(Some(parse_rev_list(&list)?))
}

async fn put(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let multipart = multipart::upload::is_multipart(req);
    // Taken before the first body streams in, held until the write lands.
    let uploads = match multipart {
        true => Some(db.blob_guard().await),
        false => None,
    };
    let mut doc = if multipart {
        multipart::upload::read_doc(state, req, payload, &db, &id).await?
    } else {
        let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
        doc::parse_doc(request::parse_json(&raw)?)?
    };
    request::resolve_request_rev(req, &q, &mut doc)?;
    // CouchDB names a too-large document by the `_id` of its body (none: "").
    let body_id = doc.id.replace(id.clone()).unwrap_or_default();
    let replicated = !q.bool("new_edits", true)?;
    let prepared = state
        .docs
        .prepare(&db, doc, replicated)
        .map_err(|e| match e {
            Error::DocumentTooLarge(_) => Error::DocumentTooLarge(body_id),
            e => e,
        })?;
    let user = current_user();
    // CouchDB batches only JSON bodies: a multipart PUT is written at once.
    let batch = !multipart && q.get("batch") == Some("ok");
    let opts = WriteOptions {
        replicated,
        delay_commit: batch || request::delays_commit(req),
        uploads,
    };
    let outcome = state.docs.save_prepared(&user, &db, prepared, opts).await;
    if batch {
        return Ok(batch_accepted(&id, outcome));
    }
    Ok(committed(req, &db, &id, &outcome?))
}

/// `POST /{db}`: a new document (or `_local` document) with the id in its
/// body or a fresh uuid.
pub async fn post_to_db(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    request::require_json_content_type(req)?;
    let q = Query::from_request(req);
    let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
    let doc = doc::parse_doc(request::parse_json(&raw)?)?;
    let prepared = state.docs.prepare(&db, doc, false)?;
    let id = prepared.id().to_string();
    let user = current_user();
    let batch = q.get("batch") == Some("ok");
    let opts = WriteOptions {
        delay_commit: batch,
        ..Default::default()
    };
    let outcome = state
        .docs
        .save(&user, &db, vec![prepared], opts)
        .await
        .and_then(|mut results| results.pop().ok_or(Error::Conflict)?);
    if batch {
        return Ok(batch_accepted(&id, outcome));
    }
    let edited = outcome?;
    if id.starts_with("_local/") {
        // A local document's reply has neither ETag nor Location.
        return Ok(response::json(
            write_status(req, StatusCode::CREATED),
            &json!({"ok": true, "id": id, "rev": edited.rev.to_string()}),
        ));
    }
    Ok(committed(req, &db, &id, &edited))
}

async fn delete(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    // CouchDB opens the document first: a missing or deleted one is 404.
    point_op(|| {
        let record = db.record(&id)?.ok_or_else(|| Error::not_found("missing"))?;
        record.open_winner().map(|_| ())
    })?;
    let Some(rev) = request::rev_param(req, &q)? else {
        return Err(Error::Conflict);
    };
    let doc = NewDoc {
        id: Some(id.clone()),
        revs: vec![rev],
        deleted: true,
        ..Default::default()
    };
    // CouchDB's DELETE ignores `batch=ok`: it always answers with the rev.
    let opts = WriteOptions {
        delay_commit: request::delays_commit(req),
        ..Default::default()
    };
    let edited = state.docs.save_one(&current_user(), &db, doc, opts).await?;
    Ok(written(write_status(req, StatusCode::OK), &id, &edited))
}

/// `COPY /{db}/{src}` with `Destination: dest[?rev=…]`: the source
/// revision's body, its attachments by reference (same digests, no new
/// bodies), written to the destination; a `_local` destination gets the
/// body alone, as local documents carry no attachments.
async fn copy(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let (dest_id, dest_rev) =
        request::copy_destination(req, state.snapshot().decode_plus_to_space)?;
    check_write_id(&db, &dest_id)?;
    let src_rev = request::rev_param(req, &q)?;
    let reader = db.clone();
    let mut body = blocking(move || {
        let record = reader
            .record(&id)?
            .ok_or_else(|| Error::not_found("missing"))?;
        let rev = match src_rev {
            Some(rev) => rev,
            None => record.open_winner()?,
        };
        reader
            .body(&id, &rev)?
            .ok_or_else(|| Error::not_found("missing"))
    })
    .await?;
    let atts = attachment::stored_atts(&body);
    body.remove("_attachments");
    let doc = copy_of(&dest_id, dest_rev.as_deref(), body, atts)?;
    let opts = WriteOptions::default();
    let edited = state.docs.save_one(&current_user(), &db, doc, opts).await?;
    Ok(created(req, &db, &dest_id, &edited))
}
