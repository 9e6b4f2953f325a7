//! Database endpoints: create, info, delete, `POST /{db}`, `_security`,
//! `_revs_limit`, `_ensure_full_commit` and `_compact`.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::request::{self, Query};
use super::{blocking, response, AppState};
use crate::couch::names::validate_db_name;
use crate::couch::partition;
use crate::error::{Error, Result};
use crate::storage::Database;

pub async fn handle(state: &AppState, req: &HttpRequest, name: &str) -> Result<HttpResponse> {
    match req.method().as_str() {
        "PUT" => {
            let partitioned = create_options(&Query::from_request(req))?;
            validate_db_name(name)?;
            if partitioned {
                partition::validate_db_name(name)?;
            }
            let store = state.store.clone();
            let owned = name.to_string();
            let db = blocking(move || store.create_db(&owned, partitioned)).await?;
            // A (re)created authentication database gets its `_design/_auth`.
            state.docs.db_created(&db)?;
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
            state.docs.db_deleted(name)?;
            state.store.commit().sync().await?;
            Ok(response::ok(&json!({"ok": true})))
        }
        _ => {
            let db = state.db(name)?;
            Ok(response::ok(&crate::service::info::db_info(&db)))
        }
    }
}

/// Another `/_…` path: a database name Settee does not serve. A `PUT`
/// checks its options first, and `?partitioned=true` on one of CouchDB's
/// system database names says so, as CouchDB does.
pub fn unknown_server(req: &HttpRequest, name: String) -> Result<HttpResponse> {
    if req.method() == "PUT" && create_options(&Query::from_request(req))? {
        partition::validate_db_name(&name)?;
    }
    Err(Error::IllegalDatabaseName(name))
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

/// The options of `PUT /{db}`, checked in CouchDB's order
/// (`chttpd_db:create_db_req`): `n` and `q` (accepted, a single node has
/// one copy of one shard), `placement`, `engine` (only `couch`), and
/// `partitioned`, which is returned.
pub fn create_options(q: &Query) -> Result<bool> {
    for name in ["n", "q"] {
        if let Some(v) = q.get(name) {
            if !is_positive_int(v) {
                return Err(Error::bad_request(format!(
                    "The `{name}` value should be a positive integer."
                )));
            }
        }
    }
    if let Some(v) = q.get("placement") {
        // `string:tokens/2` drops empty tokens; each rule is `zone:n`.
        let valid = !v.is_empty()
            && v.split(',').filter(|r| !r.is_empty()).all(|rule| {
                let parts: Vec<&str> = rule.split(':').filter(|p| !p.is_empty()).collect();
                matches!(parts.as_slice(), [_, n] if is_positive_int(n))
            });
        if !valid {
            return Err(Error::bad_request(
                "The `placement` value should be in a format `zone:n`.",
            ));
        }
    }
    if q.get("engine").is_some_and(|e| e != "couch") {
        return Err(Error::bad_request("invalid_engine_extension"));
    }
    match q.get("partitioned") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Error::bad_request("Invalid `partitioned` parameter")),
    }
}

/// `couch_util:validate_positive_int/1` on a string: Erlang's
/// `list_to_integer` (an optional sign, then digits) above zero.
fn is_positive_int(v: &str) -> bool {
    let (negative, digits) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !negative
        && digits.bytes().any(|b| b != b'0')
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
        super::reply::encode_segment(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(qs: &str) -> std::result::Result<bool, String> {
        create_options(&Query::parse(qs)).map_err(|e| e.to_string())
    }

    #[test]
    fn create_options_as_couchdb_checks_them() {
        assert_eq!(options(""), Ok(false));
        assert_eq!(options("partitioned=true&q=1&n=3"), Ok(true));
        assert_eq!(options("partitioned=false"), Ok(false));
        assert_eq!(options("q=%2B3&n=03"), Ok(false));
        let q_err = Err("The `q` value should be a positive integer.".to_string());
        // `+` in a query string is a space.
        for bad in ["q=0", "q=-1", "q=1.5", "q=abc", "q=", "q=-0", "q=+3"] {
            assert_eq!(options(bad), q_err, "{bad}");
        }
        // `n` is checked first, then `q`, then the rest.
        assert_eq!(
            options("q=x&n=y&partitioned=x"),
            Err("The `n` value should be a positive integer.".to_string())
        );
        assert_eq!(
            options("placement="),
            Err("The `placement` value should be in a format `zone:n`.".to_string())
        );
        assert_eq!(options("placement=a:1,b:2"), Ok(false));
        assert_eq!(options("engine=couch"), Ok(false));
        assert_eq!(
            options("engine=x"),
            Err("invalid_engine_extension".to_string())
        );
        assert_eq!(
            options("partitioned=True"),
            Err("Invalid `partitioned` parameter".to_string())
        );
    }
}
