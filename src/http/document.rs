//! Document endpoints: `GET/HEAD/PUT/DELETE/COPY /{db}/{docid}` and
//! `POST /{db}`, plus the read and write helpers `_all_docs` and the bulk
//! endpoints share.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::multipart::{self, RevPart};
use super::request::{self, Query};
use super::response::ChunkWriter;
use super::{blocking, point_op, response, AppState};
use crate::couch::attachment;
use crate::couch::attachment::AttMeta;
use crate::couch::doc::{self, DocView, NewDoc, RevStatus};
use crate::couch::names::{validate_doc_id, DocIdKind};
use crate::couch::rev::{parse_rev_list, Rev};
use crate::couch::revtree::RevInfo;
use crate::couch::update::Edited;
use crate::error::{Error, Result};
use crate::storage::{Database, DocRecord};

/// Characters kept as they are in `Location` headers: CouchDB's
/// `couch_util:url_encode` keeps letters, digits and `_ . - :`.
const PATH_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b':');

/// Percent-encodes a name for a `Location` header, as CouchDB's
/// `couch_util:url_encode` (every other byte is `%XX`, `/` included).
pub fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SAFE).to_string()
}

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

    pub fn from_query(q: &Query) -> Result<ReadOpts> {
        let meta = q.bool("meta", false)?;
        Ok(ReadOpts {
            revs: q.bool("revs", false)?,
            revs_info: q.bool("revs_info", false)? || meta,
            conflicts: q.bool("conflicts", false)? || meta,
            deleted_conflicts: q.bool("deleted_conflicts", false)? || meta,
            local_seq: q.bool("local_seq", false)?,
            attachments: q.bool("attachments", false)?,
            att_encoding_info: q.bool("att_encoding_info", false)?,
        })
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

/// Writes documents and waits until they are durable (unless `batch`).
/// Callers whose documents carry attachment bodies hold
/// [`Database::blob_guard`] around this call.
pub async fn save(
    state: &AppState,
    db: Arc<Database>,
    docs: Vec<NewDoc>,
    new_edits: bool,
    batch: bool,
) -> Result<Vec<Result<Edited>>> {
    // per-document write rules (design docs, the users database)
    let (docs, screened) = super::guard::screen(state, &db, docs, new_edits).await?;
    let point = is_point_write(&docs);
    let settings = state.snapshot();
    let write = move || {
        let mut docs = docs;
        for doc in &mut docs {
            super::attachment::store_inline(&settings, &db, doc)?;
        }
        db.write_docs(docs, new_edits)
    };
    let results = if point {
        point_op(write)?
    } else {
        blocking(write).await?
    };
    let commit = state.store.commit();
    let ticket = commit.ticket();
    if !batch {
        commit.durable(ticket).await?;
    }
    Ok(screened.merge(results))
}

/// Checks a document's size against `max_document_size`.
pub fn check_size(state: &AppState, id: &str, len: usize) -> Result<()> {
    if len as u64 > state.snapshot().max_document_size {
        return Err(Error::DocumentTooLarge(id.to_string()));
    }
    Ok(())
}

/// The id rules of a write (`couch_db:validate_docid/2`): CouchDB's, and
/// in a partitioned database `partition:docid` as well.
pub fn check_write_id(db: &Database, id: &str) -> Result<DocIdKind> {
    let kind = validate_doc_id(id)?;
    if db.partitioned() {
        crate::couch::partition::validate_doc_id(id)?;
    }
    Ok(kind)
}

/// What an id must be to be looked up: in a partitioned database CouchDB
/// finds a document's shard by its partition, so an id without one (and
/// not starting with `_`) is refused.
pub fn check_lookup_id(db: &Database, id: &str) -> Result<()> {
    if db.partitioned() {
        crate::couch::partition::check_lookup(id)?;
    }
    Ok(())
}

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    let kind = validate_doc_id(&id)?;
    match req.method().as_str() {
        "PUT" | "POST" => check_write_id(&db, &id)?,
        _ => {
            check_lookup_id(&db, &id)?;
            kind
        }
    };
    match req.method().as_str() {
        "GET" | "HEAD" => get(req, db, id).await,
        "PUT" => put(state, req, payload, db, id).await,
        "POST" => super::form::post(state, req, payload, db, id, kind).await,
        "DELETE" => delete(state, req, db, id).await,
        "COPY" => copy(state, req, db, id).await,
        _ => Err(Error::MethodNotAllowed(
            "DELETE,GET,HEAD,POST,PUT,COPY".into(),
        )),
    }
}

async fn get(req: &HttpRequest, db: Arc<Database>, id: String) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let opts = ReadOpts::from_query(&q)?;
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
                    open_revs_parts(&db, &id, &spec, latest, opts, atts_since.as_deref(), false)?;
                Ok(parts
                    .into_iter()
                    .map(|p| match p {
                        RevPart::Found(r) => json!({"ok": r.doc}),
                        RevPart::Missing(rev) => json!({"missing": rev}),
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
                    open_revs_parts(&db, &id, &spec, latest, opts, atts_since.as_deref(), true)?;
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

fn read_rendered(
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
fn resolve_rev(record: &DocRecord, rev: Option<Rev>, latest: bool) -> Result<Rev> {
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
fn open_revs_list(
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

/// `open_revs`: each revision rendered (with `_revisions`), or missing.
fn open_revs_parts(
    db: &Database,
    id: &str,
    spec: &str,
    latest: bool,
    opts: ReadOpts,
    atts_since: Option<&[Rev]>,
    multipart: bool,
) -> Result<Vec<RevPart>> {
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
            Some(rendered) => found.push(RevPart::Found(rendered)),
            None => missing.push(RevPart::Missing(r.to_string())),
        }
    }
    found.extend(missing);
    Ok(found)
}

pub fn location(req: &HttpRequest, db: &Database, id: &str) -> String {
    let info = req.connection_info();
    let id_path = match id.strip_prefix("_design/") {
        Some(rest) => format!("_design/{}", encode_segment(rest)),
        None => encode_segment(id),
    };
    format!(
        "{}://{}/{}/{}",
        info.scheme(),
        info.host(),
        encode_segment(db.name()),
        id_path
    )
}

/// 201 with `{"ok","id","rev"}`, ETag and Location.
pub fn created(req: &HttpRequest, db: &Database, id: &str, edited: &Edited) -> HttpResponse {
    let rev = edited.rev.to_string();
    let mut res = response::json(
        StatusCode::CREATED,
        &json!({"ok": true, "id": id, "rev": rev}),
    );
    let headers = res.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&format!("\"{rev}\"")) {
        headers.insert(header::ETAG, v);
    }
    if let Ok(v) = header::HeaderValue::from_str(&location(req, db, id)) {
        headers.insert(header::LOCATION, v);
    }
    res
}

async fn put(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let _gc = db.blob_guard().await;
    let multipart = super::attachment::is_multipart(req);
    let mut doc = if multipart {
        super::attachment::read_multipart_doc(state, req, payload, &db, &id).await?
    } else {
        let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
        check_size(state, &id, raw.len())?;
        doc::parse_doc(request::parse_json(&raw)?)?
    };
    resolve_request_rev(req, &q, &mut doc)?;
    doc.id = Some(id.clone());
    let new_edits = q.bool("new_edits", true)?;
    if !new_edits {
        doc::require_replicated_rev(&doc)?;
    }
    // CouchDB batches only JSON bodies: a multipart PUT is written at once.
    if !multipart && q.get("batch") == Some("ok") {
        let outcome = save(state, db, vec![doc], new_edits, true).await;
        return Ok(batch_accepted(&id, outcome.and_then(first_outcome)));
    }
    let delay = request::delays_commit(req);
    let result = save(state, db.clone(), vec![doc], new_edits, delay).await?;
    let edited = first_outcome(result)?;
    Ok(created(req, &db, &id, &edited))
}

/// CouchDB's `couch_doc_from_req`: the body's rev must match `?rev=`, and
/// whichever names the rev must match `If-Match`; a body without a rev
/// takes theirs.
pub fn resolve_request_rev(req: &HttpRequest, q: &Query, doc: &mut NewDoc) -> Result<()> {
    let query_rev = q.rev()?;
    match doc.revs.first() {
        Some(body_rev) => {
            if query_rev.as_ref().is_some_and(|r| r != body_rev) {
                return Err(Error::bad_request(
                    "Document rev from request body and query string have different values",
                ));
            }
            request::rev_with_etag(req, Some(body_rev.clone()))?;
        }
        None => {
            doc.revs = request::rev_with_etag(req, query_rev)?
                .into_iter()
                .collect()
        }
    }
    Ok(())
}

/// The outcome of a one-document [`save`].
fn first_outcome(results: Vec<Result<Edited>>) -> Result<Edited> {
    results.into_iter().next().ok_or(Error::Conflict)?
}

/// CouchDB's `batch=ok`: 202 `{"ok":true,"id"}` whatever the write's
/// outcome. CouchDB writes in the background and only logs a failure (a
/// conflict, a refused design document, …); Settee writes before answering
/// (without waiting for the disk) and logs it the same way.
pub fn batch_accepted<T>(id: &str, outcome: Result<T>) -> HttpResponse {
    if let Err(e) = outcome {
        tracing::info!(doc = %id, error = %e, "batch doc error");
    }
    response::json(StatusCode::ACCEPTED, &json!({"ok": true, "id": id}))
}

pub async fn post_to_db(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    request::require_json_content_type(req)?;
    let q = Query::from_request(req);
    let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
    let mut doc = doc::parse_doc(request::parse_json(&raw)?)?;
    let _gc = db.blob_guard().await;
    // A given id is checked now; a generated one (no partition) is
    // refused by the write in a partitioned database, as in CouchDB.
    if let Some(id) = &doc.id {
        check_write_id(&db, id)?;
    }
    let id = doc.id.clone().unwrap_or_else(|| state.settings.new_uuid());
    check_size(state, &id, raw.len())?;
    let batch = q.get("batch") == Some("ok");
    if validate_doc_id(&id)? == DocIdKind::Local {
        if batch {
            let outcome = super::local::store(state, db, &id, doc).await;
            return Ok(batch_accepted(&id, outcome));
        }
        return super::local::write(state, db, &id, doc).await;
    }
    doc.id = Some(id.clone());
    if batch {
        let outcome = save(state, db, vec![doc], true, true).await;
        return Ok(batch_accepted(&id, outcome.and_then(first_outcome)));
    }
    let result = save(state, db.clone(), vec![doc], true, false).await?;
    let edited = first_outcome(result)?;
    Ok(created(req, &db, &id, &edited))
}

/// One document with no attachment body to store: a point operation.
fn is_point_write(docs: &[NewDoc]) -> bool {
    match docs {
        [doc] => doc.attachments.as_ref().is_none_or(|atts| {
            atts.iter()
                .all(|(_, input)| !matches!(input, attachment::AttInput::Inline { .. }))
        }),
        _ => false,
    }
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
    let delay = request::delays_commit(req);
    let result = save(state, db, vec![doc], true, delay).await?;
    let edited = result.into_iter().next().ok_or(Error::Conflict)??;
    let rev = edited.rev.to_string();
    let mut res = response::ok(&json!({"ok": true, "id": id, "rev": rev}));
    if let Ok(v) = header::HeaderValue::from_str(&format!("\"{rev}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

/// `COPY /{db}/{src}` with `Destination: dest[?rev=…]`.
async fn copy(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let (dest_id, dest_rev) =
        request::copy_destination(req, state.snapshot().decode_plus_to_space)?;
    let dest_kind = check_write_id(&db, &dest_id)?;
    let src_rev = request::rev_param(req, &q)?;
    let reader = db.clone();
    // The source revision's stored body, attachments included (they are
    // copied by reference: same digests, no new bodies).
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
    copy_to(state, req, db, (dest_id, dest_rev), dest_kind, body, atts).await
}

/// The write half of both COPY handlers: `body` (its attachments by
/// reference: same digests, no new bodies) to the Destination that
/// `request::copy_destination` parsed; a local destination gets a local
/// document, which carries no attachments.
pub async fn copy_to(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    (dest_id, dest_rev): (String, Option<String>),
    dest_kind: DocIdKind,
    body: Map<String, Value>,
    atts: Vec<(String, AttMeta)>,
) -> Result<HttpResponse> {
    if dest_kind == DocIdKind::Local {
        return super::local::copy_to_local(state, req, db, dest_id, dest_rev.as_deref(), body)
            .await;
    }
    let doc = NewDoc {
        id: Some(dest_id.clone()),
        revs: dest_rev
            .as_deref()
            .map(Rev::parse)
            .transpose()?
            .into_iter()
            .collect(),
        body,
        attachments: Some(
            atts.into_iter()
                .map(|(n, m)| (n, attachment::AttInput::Stored(m)))
                .collect(),
        ),
        ..Default::default()
    };
    let _gc = db.blob_guard().await;
    let result = save(state, db.clone(), vec![doc], true, false).await?;
    let edited = result.into_iter().next().ok_or(Error::Conflict)??;
    Ok(created(req, &db, &dest_id, &edited))
}
