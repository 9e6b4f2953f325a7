//! `_local` documents: `GET/HEAD/PUT/DELETE/COPY /{db}/_local/{id}` and
//! `_local_docs`.
//! They are kept apart from the revision-tree store, carry `0-N` revisions
//! and never appear in `_all_docs`, `_changes` or replication.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::auth::current_user;
use super::params::{as_ref_bound, Params};
use super::reply::{batch_accepted, created, write_status};
use super::request::{self, Query};
use super::{blocking, point_op, response, AppState};
use crate::couch::doc::{self, NewDoc};
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::service::local::{self as local_docs, parse_rev};
use crate::service::WriteOptions;
use crate::service::{check_write_id, copy_of};
use crate::storage::Database;

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
            Ok(response::ok(&local_docs::render(&id, &local)))
        }
        "PUT" => {
            let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
            let mut doc = doc::parse_doc(request::parse_json(&raw)?)?;
            match (doc.revs.first(), q.get("rev")) {
                (Some(in_body), Some(given)) => {
                    if *in_body != Rev::parse(given)? {
                        return Err(Error::bad_request(
                            "Document rev from request body and query string have different values",
                        ));
                    }
                }
                (None, Some(given)) => {
                    doc.revs = vec![Rev::new(0, parse_rev(given)?.to_string())];
                }
                (_, None) => {}
            }
            doc.id = Some(id.clone());
            let user = current_user();
            let opts = WriteOptions::default();
            let outcome = state.docs.save_one(&user, &db, doc, opts).await;
            if q.get("batch") == Some("ok") {
                return Ok(batch_accepted(&id, outcome));
            }
            let edited = outcome?;
            Ok(response::json(
                write_status(req, StatusCode::CREATED),
                &json!({"ok": true, "id": id, "rev": edited.rev.to_string()}),
            ))
        }
        "DELETE" => {
            let rev = q.get("rev").map(parse_rev).transpose()?;
            let exists = point_op(|| db.local_get(&id))?;
            if exists.is_none() {
                return Err(Error::not_found("missing"));
            }
            let doc = NewDoc {
                id: Some(id.clone()),
                deleted: true,
                revs: rev
                    .map(|r| Rev::new(0, r.to_string()))
                    .into_iter()
                    .collect(),
                ..Default::default()
            };
            let edited = state
                .docs
                .save_one(&current_user(), &db, doc, WriteOptions::default())
                .await?;
            Ok(response::ok(
                &json!({"ok": true, "id": id, "rev": edited.rev.to_string()}),
            ))
        }
        "COPY" => copy(state, req, db, &id).await,
        _ => Err(Error::MethodNotAllowed(
            "DELETE,GET,HEAD,POST,PUT,COPY".into(),
        )),
    }
}

/// `COPY /{db}/_local/{id}` with `Destination: dest[?rev=…]`: the local
/// doc's body is written to `dest`, a local doc or a normal one, as
/// CouchDB's `db_doc_req` COPY does (the source's own `rev` is not needed:
/// a local doc has just one); 201 with ETag and Location.
async fn copy(
    state: &AppState,
    req: &HttpRequest,
    db: Arc<Database>,
    id: &str,
) -> Result<HttpResponse> {
    let (dest_id, dest_rev) =
        request::copy_destination(req, state.snapshot().decode_plus_to_space)?;
    check_write_id(&db, &dest_id)?;
    let source = point_op(|| db.local_get(id))?.ok_or_else(|| Error::not_found("missing"))?;
    let body = serde_json::from_str(&source.body).map_err(|e| Error::Corrupt(e.to_string()))?;
    let doc = copy_of(&dest_id, dest_rev.as_deref(), body, Vec::new())?;
    let opts = WriteOptions::default();
    let edited = state.docs.save_one(&current_user(), &db, doc, opts).await?;
    Ok(created(req, &db, &dest_id, &edited))
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
                r["doc"] = Value::Object(local_docs::render(id, local));
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
