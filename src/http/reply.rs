//! Replies to document writes, shared by the handlers that write: the
//! `201` with `ETag` and `Location`, `batch=ok`'s `202`, and CouchDB's
//! encoding of names in `Location`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::request::Query;
use super::response;
use crate::couch::update::Edited;
use crate::storage::Database;

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

/// A document's absolute URL, as CouchDB writes it in `Location`.
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

/// Whether the request asks for more copies than this single node keeps
/// (`w` above 1): CouchDB answers such writes `202 Accepted` (and marks
/// `_bulk_docs` rows `"accepted": true`) rather than 201 (or 200).
pub fn quorum_unmet(req: &HttpRequest) -> bool {
    Query::from_request(req)
        .get("w")
        .and_then(|w| w.parse::<i64>().ok())
        .is_some_and(|w| w > 1)
}

/// A write's status: `ok`, or 202 when the request's `w` is not met.
pub fn write_status(req: &HttpRequest, ok: StatusCode) -> StatusCode {
    if quorum_unmet(req) {
        StatusCode::ACCEPTED
    } else {
        ok
    }
}

/// 201 (202 for an unmet `w`) with `{"ok","id","rev"}`, ETag and Location.
pub fn committed(req: &HttpRequest, db: &Database, id: &str, edited: &Edited) -> HttpResponse {
    let mut res = created(req, db, id, edited);
    *res.status_mut() = write_status(req, StatusCode::CREATED);
    res
}

/// 201 with `{"ok","id","rev"}`, ETag and Location.
pub fn created(req: &HttpRequest, db: &Database, id: &str, edited: &Edited) -> HttpResponse {
    let mut res = written(StatusCode::CREATED, id, edited);
    if let Ok(v) = header::HeaderValue::from_str(&location(req, db, id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// `{"ok","id","rev"}` with the rev as ETag.
pub fn written(status: StatusCode, id: &str, edited: &Edited) -> HttpResponse {
    let rev = edited.rev.to_string();
    let mut res = response::json(status, &json!({"ok": true, "id": id, "rev": rev}));
    if let Ok(v) = header::HeaderValue::from_str(&format!("\"{rev}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// CouchDB's `batch=ok`: 202 `{"ok":true,"id"}` whatever the write's
/// outcome. CouchDB writes in the background and only logs a failure (a
/// conflict, a refused design document, …); Settee writes before answering
/// (without waiting for the disk) and logs it the same way.
pub fn batch_accepted<T>(id: &str, outcome: crate::error::Result<T>) -> HttpResponse {
    if let Err(e) = outcome {
        tracing::info!(doc = %id, error = %e, "batch doc error");
    }
    response::json(StatusCode::ACCEPTED, &json!({"ok": true, "id": id}))
}
