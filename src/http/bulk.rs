//! `_bulk_docs`, `_revs_diff` and `_missing_revs` (`_bulk_get` has its own
//! module).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::document::{check_lookup_id, check_size, check_write_id, save};
use super::request;
use super::{blocking, response, AppState};
use crate::couch::doc;
use crate::couch::names::{validate_doc_id, DocIdKind};
use crate::couch::rev::{parse_rev_list, Rev};
use crate::error::{Error, Result};
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
    let mut parsed = Vec::with_capacity(docs.len());
    let mut local = Vec::new();
    let mut generated = false;
    for (i, raw) in docs.into_iter().enumerate() {
        let size = if raw.is_object() { json_len(&raw) } else { 0 };
        let mut d = doc::parse_doc(raw)?;
        if let Some(id) = &d.id {
            check_write_id(&db, id)?;
        }
        if !new_edits {
            doc::require_replicated_rev(&d)?;
        }
        generated |= d.id.is_none();
        let id =
            d.id.get_or_insert_with(|| state.settings.new_uuid())
                .clone();
        if validate_doc_id(&id)? == DocIdKind::Local {
            local.push(i);
        }
        check_size(state, &id, size)?;
        parsed.push(d);
    }
    // A generated id has no partition: CouchDB cannot find its shard.
    if generated && db.partitioned() {
        return Err(Error::IllegalDocId(
            "Doc id must be of form partition:id".into(),
        ));
    }
    if new_edits && body.get("all_or_nothing") == Some(&Value::Bool(true)) && !parsed.is_empty() {
        return Ok(all_or_nothing_refused(&parsed));
    }
    // `_local` docs in a bulk request are written through the local-doc path.
    let mut local_results = Vec::new();
    for &i in local.iter().rev() {
        let d = parsed.remove(i);
        local_results.push((i, d));
    }
    let ids: Vec<String> = parsed.iter().filter_map(|d| d.id.clone()).collect();
    let mut results: Vec<(usize, Value)> = Vec::new();
    for (i, d) in local_results {
        let id = d.id.clone().unwrap_or_default();
        let value = match super::local::store(state, db.clone(), &id, d).await {
            Ok(rev) => json!({"ok": true, "id": id, "rev": format!("0-{rev}")}),
            Err(e) => doc_error(&id, &e),
        };
        results.push((i, value));
    }
    let _gc = db.blob_guard().await;
    let outcomes = save(
        state,
        db.clone(),
        parsed,
        new_edits,
        request::delays_commit(req),
    )
    .await?;
    let mut out: Vec<Value> = Vec::with_capacity(outcomes.len() + results.len());
    for (id, outcome) in ids.iter().zip(outcomes) {
        match outcome {
            Ok(edited) if new_edits => {
                out.push(json!({"ok": true, "id": id, "rev": edited.rev.to_string()}))
            }
            Ok(_) => {}
            Err(e) => out.push(doc_error(id, &e)),
        }
    }
    results.sort_by_key(|(i, _)| *i);
    for (i, value) in results {
        if new_edits {
            out.insert(i.min(out.len()), value);
        }
    }
    Ok(response::json(StatusCode::CREATED, &out))
}

/// CouchDB accepts `"all_or_nothing": true` but cannot honour it (fabric's
/// `validate_atomic_update`): 417 with one error per document, naming its
/// id and the rev it was sent with (`0-` for none), and nothing written.
fn all_or_nothing_refused(docs: &[doc::NewDoc]) -> HttpResponse {
    let errors: Vec<Value> = docs
        .iter()
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

/// The length of `value` as compact JSON text, counted without building
/// the text.
fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}
