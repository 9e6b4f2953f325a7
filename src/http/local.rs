//! `_local` documents: `GET/HEAD/PUT/DELETE/COPY /{db}/_local/{id}` and
//! `_local_docs`.
//! They are kept apart from the revision-tree store, carry `0-N` revisions
//! and never appear in `_all_docs`, `_changes` or replication.

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::all_docs::{as_ref_bound, Params};
use super::request::{self, Query};
use super::{blocking, point_op, response, AppState};
use crate::couch::doc::{self, NewDoc};
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::storage::Database;

/// Parses a local revision `0-N` into N.
fn parse_local_rev(text: &str) -> Result<u64> {
    text.strip_prefix("0-")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| Error::bad_request("Invalid rev format"))
}

/// A rev as `couch_doc:parse_rev` reads it, local `0-N` ones included;
/// [`store`] then checks a local doc's rev is `0-` and a number.
fn any_rev(text: &str) -> Result<Rev> {
    match text.strip_prefix("0-") {
        Some(id) if !id.is_empty() => Ok(Rev::new(0, id)),
        _ => Ok(Rev::parse(text)?),
    }
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
        // HEAD is GET without the body (the server drops it), as in CouchDB.
        "GET" | "HEAD" => {
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
            let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
            super::document::check_size(state, &id, raw.len())?;
            let mut doc = doc::parse_doc(request::parse_json(&raw)?)?;
            match (doc.revs.first(), q.get("rev")) {
                (Some(in_body), Some(given)) => {
                    if *in_body != any_rev(given)? {
                        return Err(Error::bad_request(
                            "Document rev from request body and query string have different values",
                        ));
                    }
                }
                (None, Some(given)) => {
                    doc.revs = vec![Rev::new(0, parse_local_rev(given)?.to_string())];
                }
                (_, None) => {}
            }
            if q.get("batch") == Some("ok") {
                let outcome = store(state, db, &id, doc).await;
                return Ok(super::document::batch_accepted(&id, outcome));
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
                    .map(|r| Rev::new(0, r.to_string()))
                    .into_iter()
                    .collect(),
                ..Default::default()
            };
            store(state, db, &id, doc).await?;
            Ok(response::ok(&json!({"ok": true, "id": id, "rev": "0-0"})))
        }
        "COPY" => copy(state, req, db, &id).await,
        "POST" => {
            super::form::post(
                state,
                req,
                payload,
                db,
                id,
                crate::couch::names::DocIdKind::Local,
            )
            .await
        }
        _ => Err(Error::MethodNotAllowed(
            "DELETE,GET,HEAD,POST,PUT,COPY".into(),
        )),
    }
}

/// `COPY /{db}/_local/{id}` with `Destination: dest[?rev=…]`: the local
/// doc's body is written to `dest`, a local doc or a normal one, as
/// CouchDB's `db_doc_req` COPY does (the source's own `rev` is not needed:
/// a local doc has just one).
async fn copy(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    id: &str,
) -> Result<HttpResponse> {
    let (dest_id, dest_rev) =
        request::copy_destination(req, state.snapshot().decode_plus_to_space)?;
    let dest_kind = super::document::check_write_id(&db, &dest_id)?;
    let source = point_op(|| db.local_get(id))?.ok_or_else(|| Error::not_found("missing"))?;
    let body: Map<String, Value> =
        serde_json::from_str(&source.body).map_err(|e| Error::Corrupt(e.to_string()))?;
    let dest = (dest_id, dest_rev);
    super::document::copy_to(state, req, db, dest, dest_kind, body, Vec::new()).await
}

/// The end of a COPY whose Destination is a local document: writes `body`
/// there (`rev` as in the Destination) and answers 201 as CouchDB does.
pub async fn copy_to_local(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    dest_id: String,
    rev: Option<&str>,
    body: Map<String, Value>,
) -> Result<HttpResponse> {
    let doc = NewDoc {
        id: Some(dest_id.clone()),
        revs: rev.map(any_rev).transpose()?.into_iter().collect(),
        body,
        ..Default::default()
    };
    let rev = format!("0-{}", store(state, db.clone(), &dest_id, doc).await?);
    let mut res = response::json(
        StatusCode::CREATED,
        &json!({"ok": true, "id": dest_id, "rev": rev}),
    );
    let headers = res.headers_mut();
    if let Ok(v) = header::HeaderValue::from_str(&format!("\"{rev}\"")) {
        headers.insert(header::ETAG, v);
    }
    let location = super::document::location(req, &db, &dest_id);
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    Ok(res)
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

/// `_local_docs`: the local documents in id order, with `_all_docs`'
/// parameters (a POST's body merged with its query string).
pub async fn list(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let params = Params::from_request(state, req, payload).await?;
    let range = params.bounds();
    let limit = params.limit.map_or(usize::MAX, |n| n as usize);
    let skip = params.skip as usize;
    let Params {
        descending,
        include_docs,
        keys,
        ..
    } = params;
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
        let Some((lo, hi)) = range else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in db
            .locals_range(as_ref_bound(&lo), as_ref_bound(&hi), descending)
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
