//! `_bulk_docs`, `_revs_diff` and `_missing_revs` (`_bulk_get` has its own
//! module).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::current_user;
use super::reply::{quorum_unmet, write_status};
use super::request;
use super::{blocking, response, AppState};
use crate::couch::doc;
use crate::couch::rev::{parse_rev_list, Rev};
use crate::error::{Error, Result};
use crate::service::{check_lookup_id, Prepared, WriteOptions};
use crate::storage::Database;

pub async fn bulk_docs(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let mut body =
        request::json_object_body(req, payload, state.snapshot().max_http_request_size).await?;
    let docs = match body.remove("docs") {
        None => {
            return Err(Error::bad_request(
                "POST body must include `docs` parameter.",
            ))
        }
        Some(Value::Array(docs)) => docs,
        Some(_) => return Err(Error::bad_request("`docs` parameter must be an array.")),
    };
    let new_edits = match body.get("new_edits") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::bad_request(
                "`new_edits` parameter must be a boolean.",
            ))
        }
    };
    // Each document is parsed and checked in order, as CouchDB reads
    // them: the first bad one fails the request.
    let mut prepared = Vec::with_capacity(docs.len());
    for raw in docs {
        let d = doc::parse_doc(raw)?;
        prepared.push(state.docs.prepare(&db, d, !new_edits)?);
    }
    if new_edits && body.get("all_or_nothing") == Some(&Value::Bool(true)) && !prepared.is_empty() {
        return Ok(all_or_nothing_refused(&prepared));
    }
    let ids: Vec<String> = prepared.iter().map(|p| p.id().to_string()).collect();
    let opts = WriteOptions {
        replicated: !new_edits,
        delay_commit: request::delays_commit(req),
        uploads: None,
    };
    let outcomes = state
        .docs
        .save(&current_user(), &db, prepared, opts)
        .await?;
    let accepted = quorum_unmet(req);
    let mut out: Vec<Value> = Vec::with_capacity(outcomes.len());
    for (id, outcome) in ids.iter().zip(outcomes) {
        match outcome {
            // A replicated write answers only its failures.
            Ok(edited) if new_edits => {
                let mut row = json!({"ok": true, "id": id, "rev": edited.rev.to_string()});
                if accepted {
                    row["accepted"] = Value::Bool(true);
                }
                out.push(row)
            }
            Ok(_) => {}
            Err(e) => out.push(doc_error(id, &e)),
        }
    }
    Ok(response::json(write_status(req, StatusCode::CREATED), &out))
}

/// CouchDB accepts `"all_or_nothing": true` but cannot honour it (fabric's
/// `validate_atomic_update`): 417 with one error per document, naming its
/// id and the rev it was sent with (`0-` for none), and nothing written.
fn all_or_nothing_refused(docs: &[Prepared]) -> HttpResponse {
    let errors: Vec<Value> = docs
        .iter()
        .map(Prepared::doc)
        .map(|d| {
            let rev = d
                .revs
                .first()
                .map_or_else(|| "0-".to_string(), Rev::to_string);
            json!({
                "id": d.id,
                "rev": rev,
                "error": "not_implemented",
                "reason": "all_or_nothing is not supported",
            })
        })
        .collect();
    response::json(StatusCode::EXPECTATION_FAILED, &errors)
}

fn doc_error(id: &str, e: &Error) -> Value {
    let mut v = json!({"id": id});
    if let (Value::Object(m), Value::Object(err)) = (&mut v, e.body()) {
        m.extend(err);
    }
    v
}

/// `_revs_diff` (and the older `_missing_revs`, which answers `missing_revs`).
pub async fn revs_diff(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    legacy: bool,
) -> Result<HttpResponse> {
    let body =
        request::json_object_body(req, payload, state.snapshot().max_http_request_size).await?;
    let mut wanted: Vec<(String, Vec<Rev>)> = Vec::with_capacity(body.len());
    for id in body.keys() {
        check_lookup_id(&db, id)?;
    }
    for (id, revs) in body {
        let Value::Array(list) = revs else {
            return Err(Error::bad_request("Revisions must be a JSON array"));
        };
        wanted.push((id, parse_rev_list(&list)?));
    }
    let result = blocking(move || {
        let mut out = Map::new();
        for (id, revs) in wanted {
            let (missing, ancestors) = match db.record(&id)? {
                Some(record) => record.tree.missing(&revs),
                None => (revs, Vec::new()),
            };
            if missing.is_empty() {
                continue;
            }
            let strs =
                |v: &[Rev]| Value::Array(v.iter().map(|r| Value::String(r.to_string())).collect());
            let entry = if legacy {
                strs(&missing)
            } else {
                let mut e = Map::new();
                e.insert("missing".into(), strs(&missing));
                if !ancestors.is_empty() {
                    e.insert("possible_ancestors".into(), strs(&ancestors));
                }
                Value::Object(e)
            };
            out.insert(id, entry);
        }
        Ok(out)
    })
    .await?;
    if legacy {
        return Ok(response::ok(&json!({"missing_revs": result})));
    }
    Ok(response::ok(&result))
}
