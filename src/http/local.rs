//! `_local` documents: `GET/PUT/DELETE /{db}/_local/{id}` and `_local_docs`.
//! They are kept apart from the revision-tree store, carry `0-N` revisions
//! and never appear in `_all_docs`, `_changes` or replication.

use std::ops::Bound;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::request::{self, Query};
use super::{blocking, point_op, response, AppState};
use crate::couch::doc::{self, NewDoc};
use crate::error::{Error, Result};
use crate::storage::Database;

/// Parses a local revision `0-N` into N.
fn parse_local_rev(text: &str) -> Result<u64> {
    text.strip_prefix("0-")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| Error::bad_request("Invalid rev format"))
}

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    id: String,
) -> Result<HttpResponse> {
    crate::couch::names::validate_doc_id(&id)?;
    let q = Query::from_request(req);
    match req.method().as_str() {
        "GET" => {
            let found = point_op(|| db.local_get(&id))?;
            let Some(local) = found else {
                return Err(Error::not_found("missing"));
            };
            let body: Map<String, Value> = serde_json::from_str(&local.body).unwrap_or_default();
            let mut out = Map::new();
            out.insert("_id".into(), Value::String(id));
            out.insert("_rev".into(), Value::String(format!("0-{}", local.rev)));
            out.extend(body);
            Ok(response::ok(&out))
        }
        "PUT" => {
            let raw = request::read_body(payload, state.config.max_http_request_size).await?;
            super::document::check_size(state, &id, raw.len())?;
            let mut doc = doc::parse_doc(request::parse_json(&raw)?)?;
            if doc.revs.is_empty() {
                if let Some(rev) = q.get("rev") {
                    doc.revs = vec![crate::couch::rev::Rev::new(
                        0,
                        parse_local_rev(rev)?.to_string(),
                    )];
                }
            }
            write(state, db, &id, doc).await
        }
        "DELETE" => {
            let rev = q.get("rev").map(parse_local_rev).transpose()?;
            let exists = point_op(|| db.local_get(&id))?;
            if exists.is_none() {
                return Err(Error::not_found("missing"));
            }
            let doc = NewDoc {
                deleted: true,
                revs: rev
                    .map(|r| crate::couch::rev::Rev::new(0, r.to_string()))
                    .into_iter()
                    .collect(),
                ..Default::default()
            };
            store(state, db, &id, doc).await?;
            Ok(response::ok(&json!({"ok": true, "id": id, "rev": "0-0"})))
        }
        _ => Err(Error::MethodNotAllowed("GET,PUT,DELETE".into())),
    }
}

/// Writes a local doc and answers as `PUT` does.
pub async fn write(
    state: &AppState,
    db: Arc<Database>,
    id: &str,
    doc: NewDoc,
) -> Result<HttpResponse> {
    let deleted = doc.deleted;
    let rev = store(state, db, id, doc).await?;
    let rev = if deleted {
        "0-0".to_string()
    } else {
        format!("0-{rev}")
    };
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"ok": true, "id": id, "rev": rev}),
    ))
}

/// Stores a local doc durably; returns its new revision number.
pub async fn store(state: &AppState, db: Arc<Database>, id: &str, doc: NewDoc) -> Result<u64> {
    let given = match doc.revs.first() {
        None => None,
        Some(r) if r.pos == 0 => Some(
            r.id.parse::<u64>()
                .map_err(|_| Error::bad_request("Invalid rev format"))?,
        ),
        Some(_) => return Err(Error::bad_request("Invalid rev format")),
    };
    let key = id.to_string();
    let rev = point_op(|| db.local_put(&key, given, (!doc.deleted).then_some(&doc.body)))?;
    state.store.commit().sync().await?;
    Ok(rev)
}

/// `_local_docs`: the local documents in id order, with `_all_docs`' range options.
pub async fn list(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let mut keys: Option<Vec<Value>> = q.json(&["keys"])?.and_then(|v| v.as_array().cloned());
    if req.method() == "POST" {
        request::require_json_content_type(req)?;
        let body = request::parse_json(
            &request::read_body(payload, state.config.max_http_request_size).await?,
        )?;
        keys = body.get("keys").and_then(Value::as_array).cloned().or(keys);
    }
    let text = |names: &[&str]| -> Result<Option<String>> {
        Ok(q.json(names)?.and_then(|v| v.as_str().map(str::to_string)))
    };
    let start = text(&["startkey", "start_key"])?;
    let end = text(&["endkey", "end_key"])?;
    let descending = q.bool("descending", false)?;
    let inclusive_end = q.bool("inclusive_end", true)?;
    let include_docs = q.bool("include_docs", false)?;
    let limit = q.u64("limit")?.unwrap_or(u64::MAX) as usize;
    let skip = q.u64("skip")?.unwrap_or(0) as usize;
    let rows = blocking(move || {
        let row = |id: &str, local: &crate::storage::LocalDoc| {
            let rev = format!("0-{}", local.rev);
            let mut r = json!({"id": id, "key": id, "value": {"rev": rev}});
            if include_docs {
                let mut doc = Map::new();
                doc.insert("_id".into(), Value::String(id.to_string()));
                doc.insert("_rev".into(), Value::String(format!("0-{}", local.rev)));
                doc.extend(
                    serde_json::from_str::<Map<String, Value>>(&local.body).unwrap_or_default(),
                );
                r["doc"] = Value::Object(doc);
            }
            r
        };
        if let Some(keys) = keys {
            let mut out = Vec::new();
            for key in keys.iter().skip(skip).take(limit) {
                let found = match key.as_str() {
                    Some(id) => db.local_get(id)?.map(|l| row(id, &l)),
                    None => None,
                };
                out.push(found.unwrap_or_else(|| json!({"key": key, "error": "not_found"})));
            }
            return Ok(out);
        }
        let (lo, hi) = if descending {
            (end.as_deref(), start.as_deref())
        } else {
            (start.as_deref(), end.as_deref())
        };
        let lo = match lo {
            Some(s) if descending && !inclusive_end => Bound::Excluded(s),
            Some(s) => Bound::Included(s),
            None => Bound::Unbounded,
        };
        let hi = match hi {
            Some(s) if !descending && !inclusive_end => Bound::Excluded(s),
            Some(s) => Bound::Included(s),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in db
            .locals_range(lo, hi, descending)
            .into_iter()
            .skip(skip)
            .take(limit)
        {
            let (id, local) = item?;
            out.push(row(&id, &local));
        }
        Ok(out)
    })
    .await?;
    Ok(response::ok(
        &json!({"total_rows": null, "offset": null, "rows": rows}),
    ))
}
