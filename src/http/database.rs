//! Database endpoints: create, info, delete, `POST /{db}`, `_security`,
//! `_revs_limit`, `_ensure_full_commit` and `_compact`.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::request::{self, Query};
use super::{blocking, document, response, AppState};
use crate::couch::names::validate_db_name;
use crate::couch::seq;
use crate::error::{Error, Result};
use crate::storage::Database;

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    name: &str,
) -> Result<HttpResponse> {
    match req.method().as_str() {
        "PUT" => {
            check_partitioned(req)?;
            validate_db_name(name)?;
            let store = state.store.clone();
            let owned = name.to_string();
            blocking(move || store.create_db(&owned).map(|_| ())).await?;
            state.store.commit().sync().await?;
            Ok(HttpResponse::Created()
                .insert_header((header::LOCATION, location(req, name)))
                .insert_header((header::CACHE_CONTROL, "must-revalidate"))
                .content_type("application/json")
                .body(response::json_line(&json!({"ok": true}))))
        }
        "DELETE" => {
            if Query::from_request(req).has("rev") {
                return Err(Error::bad_request(
                    "You tried to DELETE a database with a ?=rev parameter. Did you mean to DELETE a document instead?",
                ));
            }
            validate_db_name(name)?;
            let store = state.store.clone();
            let owned = name.to_string();
            blocking(move || store.delete_db(&owned)).await?;
            state.store.commit().sync().await?;
            Ok(response::ok(&json!({"ok": true})))
        }
        "POST" => {
            let db = state.db(name)?;
            document::post_to_db(state, req, payload, db).await
        }
        _ => {
            let db = state.db(name)?;
            Ok(response::ok(&info_json(&db)))
        }
    }
}

/// `GET /{db}` as CouchDB 3.4 shapes it.
pub fn info_json(db: &Database) -> Value {
    let info = db.info();
    // All databases share one sled file: each reports its live data plus
    // a header's worth, so `file` >= `active` as clients expect.
    let file = info.active.max(1) + 4096;
    json!({
        "instance_start_time": info.created.to_string(),
        "db_name": info.name,
        "purge_seq": seq::encode(0),
        "update_seq": seq::encode(info.update_seq),
        "sizes": {"file": file, "external": info.external, "active": info.active},
        "props": {},
        "doc_del_count": info.doc_del_count,
        "doc_count": info.doc_count,
        "disk_format_version": 8,
        "compact_running": info.compact_running,
        "cluster": {"q": 1, "n": 1, "w": 1, "r": 1},
    })
}

pub async fn security(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    if req.method() == "GET" {
        return Ok(response::ok(&*db.security()));
    }
    let body = request::parse_json(
        &request::read_body(payload, state.snapshot().max_http_request_size).await?,
    )?;
    validate_security(&body)?;
    blocking(move || db.set_security(&body)).await?;
    state.store.commit().sync().await?;
    Ok(response::ok(&json!({"ok": true})))
}

/// CouchDB's checks on a `_security` object: admins/members with
/// `names` and `roles` lists of strings.
fn validate_security(sec: &Value) -> Result<()> {
    let Value::Object(map) = sec else {
        return Err(Error::bad_request("Security Object must be an object"));
    };
    for section in ["admins", "members"] {
        let Some(part) = map.get(section) else {
            continue;
        };
        let Value::Object(part) = part else {
            return Err(Error::bad_request(format!(
                "{section} must be a JSON object"
            )));
        };
        for field in ["names", "roles"] {
            match part.get(field) {
                None => {}
                Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
                Some(_) => {
                    return Err(Error::bad_request(format!(
                        "{field} must be a JSON list of strings"
                    )))
                }
            }
        }
    }
    Ok(())
}

pub async fn revs_limit(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    if req.method() == "GET" {
        return Ok(response::ok(&db.revs_limit()));
    }
    let body = request::parse_json(
        &request::read_body(payload, state.snapshot().max_http_request_size).await?,
    )?;
    let limit = body
        .as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::bad_request("Rev limit has to be an integer greater than 0"))?;
    blocking(move || db.set_revs_limit(limit)).await?;
    state.store.commit().sync().await?;
    Ok(response::ok(&json!({"ok": true})))
}

pub async fn ensure_full_commit(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    request::require_json_content_type(req)
        .or_else(|e| if has_body(req) { Err(e) } else { Ok(()) })?;
    state.store.commit().sync().await?;
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"ok": true, "instance_start_time": db.info().created.to_string()}),
    ))
}

pub fn compact(_state: &AppState, req: &HttpRequest, db: Arc<Database>) -> Result<HttpResponse> {
    request::require_json_content_type(req)?;
    std::thread::spawn(move || match db.compact() {
        Ok(Some(bytes)) => {
            tracing::info!(db = %db.name(), reclaimed = bytes, "compaction finished")
        }
        Ok(None) => tracing::info!(db = %db.name(), "compaction already running"),
        Err(e) => tracing::error!(db = %db.name(), error = %e, "compaction failed"),
    });
    Ok(response::json(StatusCode::ACCEPTED, &json!({"ok": true})))
}

/// `?partitioned=` on `PUT /{db}`. Settee has no partitioned databases,
/// so `true` gets CouchDB's answer when the feature is disabled.
fn check_partitioned(req: &HttpRequest) -> Result<()> {
    match Query::from_request(req).get("partitioned") {
        None | Some("false") => Ok(()),
        Some("true") => Err(Error::bad_request("Partitioned feature is not enabled.")),
        Some(_) => Err(Error::bad_request("Invalid `partitioned` parameter")),
    }
}

fn has_body(req: &HttpRequest) -> bool {
    request::header_str(req, header::CONTENT_LENGTH).is_some_and(|l| l != "0")
}

/// A new database's `Location`: the absolute URI of `/{db}` with the name
/// encoded as CouchDB's `couch_util:url_encode` does (`/` is `%2F`).
fn location(req: &HttpRequest, name: &str) -> String {
    let info = req.connection_info();
    format!(
        "{}://{}/{}",
        info.scheme(),
        info.host(),
        document::encode_segment(name)
    )
}
