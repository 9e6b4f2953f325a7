//! `POST /{db}/_bulk_get`: many documents (or revisions) in one request,
//! as replicators fetch what `_revs_diff` said is missing.
//!
//! Mirrors `chttpd_db`'s `_bulk_get`: each requested item is parsed on
//! its own (a bad item becomes an error entry, never a failed request),
//! `rev` names one revision (all leaves without it), `latest` follows a
//! revision to its leaves, `atts_since` sends attachment data only for
//! attachments newer than the revisions the client has. The answer is
//! JSON, or `multipart/mixed` (one part per revision, a document with
//! attachment data being itself `multipart/related`) when the client
//! accepts multipart but not JSON.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::request::{self, Query};
use super::response::{self, ChunkWriter};
use super::{blocking, multipart, AppState};
use crate::couch::names::validate_doc_id;
use crate::couch::rev::Rev;
use crate::error::{Error, Result};
use crate::service::read::{render_full, ReadOpts, Rendered};
use crate::storage::Database;

/// Query parameters `_bulk_get` refuses (they belong in the body).
const REFUSED: [&str; 5] = ["open_revs", "new_edits", "w", "rev", "atts_since"];

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    for bad in REFUSED {
        if q.has(bad) {
            return Err(Error::bad_request(format!(
                "\"{bad}\" query parameter is not acceptable"
            )));
        }
    }
    let opts = request::read_opts(&q)?;
    let latest = q.bool("latest", false)?;
    let mut body =
        request::json_object_body(req, payload, state.snapshot().max_http_request_size).await?;
    let Some(Value::Array(docs)) = body.remove("docs") else {
        return Err(Error::bad_request("Missing JSON list of 'docs'."));
    };
    let partitioned = db.partitioned();
    let items: Vec<Item> = docs.iter().map(|d| Item::parse(d, partitioned)).collect();
    if !wants_multipart(req) {
        let results = blocking(move || {
            items
                .iter()
                .map(|item| json_result(&db, item, latest, opts))
                .collect::<Result<Vec<Value>>>()
        })
        .await?;
        return Ok(response::ok(&json!({"results": results})));
    }
    let mixed = request::accepts(req, "multipart/mixed");
    let boundary = format!("--{}", multipart::boundary());
    let ctype = format!(
        "{}; boundary=\"{boundary}\"",
        if mixed {
            "multipart/mixed"
        } else {
            "multipart/related"
        }
    );
    Ok(response::stream_typed(
        StatusCode::OK,
        ctype,
        move |sender| {
            let mut out = ChunkWriter::new(sender);
            for item in &items {
                if !write_item(&mut out, &db, item, latest, opts, &boundary)? {
                    return Ok(());
                }
            }
            if !items.is_empty() {
                out.write(format!("\r\n--{boundary}--\r\n").as_bytes());
            }
            out.flush();
            Ok(())
        },
    ))
}

/// CouchDB answers in multipart only to clients that take it and do not
/// take JSON.
fn wants_multipart(req: &HttpRequest) -> bool {
    !request::accepts(req, "application/json")
        && (request::accepts(req, "multipart/mixed") || request::accepts(req, "multipart/related"))
}

/// One requested item, parsed; an item CouchDB would refuse carries its
/// error (and the `id`/`rev` its error entry shows).
enum Item {
    Bad {
        id: Value,
        rev: Value,
        error: &'static str,
        reason: String,
    },
    Doc {
        id: String,
        rev: Option<Rev>,
        atts_since: Option<Vec<Rev>>,
    },
}

impl Item {
    /// `bulk_get_parse_doc_id`: the id is checked as a write would check
    /// it (`couch_db:validate_docid/2`), before the revisions.
    fn parse(value: &Value, partitioned: bool) -> Item {
        let bad = |id: Value, rev: Value, error: &'static str, reason: &str| Item::Bad {
            id,
            rev,
            error,
            reason: reason.to_string(),
        };
        let props = match value {
            Value::Object(m) if !m.is_empty() => m,
            _ => {
                return bad(
                    Value::Null,
                    Value::Null,
                    "bad_request",
                    "document must be a JSON object",
                )
            }
        };
        let Some(id_value) = props.get("id") else {
            return bad(
                Value::Null,
                Value::Null,
                "bad_request",
                "document id missed",
            );
        };
        let Some(id) = id_value.as_str() else {
            return bad(
                id_value.clone(),
                Value::Null,
                "illegal_docid",
                "Document id must be a string",
            );
        };
        let checked = validate_doc_id(id).and_then(|_| match partitioned {
            true => crate::couch::partition::validate_doc_id(id),
            false => Ok(()),
        });
        if let Err(e) = checked {
            let (_, name) = e.status_and_name();
            return bad(id_value.clone(), Value::Null, name, &e.to_string());
        }
        let rev = match props.get("rev") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_str().map(Rev::parse) {
                Some(Ok(r)) => Some(r),
                _ => {
                    return bad(
                        id_value.clone(),
                        v.clone(),
                        "bad_request",
                        "Invalid rev format",
                    )
                }
            },
        };
        let atts_since = match props.get("atts_since") {
            None | Some(Value::Null) => None,
            Some(Value::Array(list)) if list.is_empty() => None,
            Some(Value::Array(list)) => {
                let mut revs = Vec::with_capacity(list.len());
                for v in list {
                    match v.as_str().map(Rev::parse) {
                        Some(Ok(r)) => revs.push(r),
                        _ => {
                            return bad(
                                id_value.clone(),
                                v.clone(),
                                "bad_request",
                                "Invalid rev format",
                            )
                        }
                    }
                }
                Some(revs)
            }
            Some(other) => {
                return bad(
                    id_value.clone(),
                    other.clone(),
                    "bad_request",
                    "att_since value must be array of revs.",
                )
            }
        };
        Item::Doc {
            id: id.to_string(),
            rev,
            atts_since,
        }
    }
}

/// What one item resolves to: its revisions, each found or missing; or
/// an error for the whole item.
enum Outcome {
    Error {
        id: Value,
        rev: Value,
        error: &'static str,
        reason: String,
    },
    Revs(Vec<(Rev, Option<Rendered>)>),
}

fn resolve(
    db: &Database,
    item: &Item,
    latest: bool,
    opts: ReadOpts,
    multipart: bool,
) -> Result<Outcome> {
    let (id, rev, atts_since) = match item {
        Item::Bad {
            id,
            rev,
            error,
            reason,
        } => {
            return Ok(Outcome::Error {
                id: id.clone(),
                rev: rev.clone(),
                error,
                reason: reason.clone(),
            })
        }
        Item::Doc {
            id,
            rev,
            atts_since,
        } => (id, rev, atts_since),
    };
    let opts = ReadOpts {
        // Multipart answers always carry attachment data; `atts_since`
        // asks for it too (CouchDB adds `attachments` for both).
        attachments: opts.attachments || multipart || atts_since.is_some(),
        ..opts.revisions_only()
    };
    let record = db.record(id)?;
    let revs: Vec<Rev> = match (rev, &record) {
        // `fabric_open_revs` answers in `get_all_leafs` order
        (None, Some(rec)) => rec
            .tree
            .leaves_in_tree_order()
            .into_iter()
            .map(|(r, _)| r)
            .collect(),
        (Some(r), Some(rec)) if latest => rec.tree.latest(r),
        (Some(r), _) => vec![r.clone()],
        (None, None) => Vec::new(),
    };
    if revs.is_empty() {
        let rev = rev
            .as_ref()
            .map_or_else(|| "undefined".to_string(), Rev::to_string);
        return Ok(Outcome::Error {
            id: Value::String(id.clone()),
            rev: Value::String(rev),
            error: "not_found",
            reason: "missing".into(),
        });
    }
    let mut out = Vec::with_capacity(revs.len());
    for r in revs {
        let rendered = match &record {
            Some(rec) => render_full(db, id, rec, &r, opts, atts_since.as_deref(), multipart)?,
            None => None,
        };
        out.push((r, rendered));
    }
    Ok(Outcome::Revs(out))
}

fn error_map(id: &Value, rev: &Value, error: &str, reason: &str) -> Value {
    json!({"id": id, "rev": rev, "error": error, "reason": reason})
}

/// `{"id": …, "docs": [{"ok": doc} | {"error": {…}}]}`
fn json_result(db: &Database, item: &Item, latest: bool, opts: ReadOpts) -> Result<Value> {
    let id_of = |item: &Item| match item {
        Item::Bad { id, .. } => id.clone(),
        Item::Doc { id, .. } => Value::String(id.clone()),
    };
    let docs: Vec<Value> = match resolve(db, item, latest, opts, false)? {
        Outcome::Error { id, rev, error, reason } => vec![json!({"error": error_map(&id, &rev, error, &reason)})],
        Outcome::Revs(revs) => revs
            .into_iter()
            .map(|(rev, rendered)| match rendered {
                Some(r) => json!({"ok": r.doc}),
                None => json!({"error": error_map(&id_of(item), &Value::String(rev.to_string()), "not_found", "missing")}),
            })
            .collect(),
    };
    let mut entry = Map::new();
    entry.insert("id".into(), id_of(item));
    entry.insert("docs".into(), Value::Array(docs));
    Ok(Value::Object(entry))
}

/// Writes one item's parts of a multipart answer; false once the client
/// has gone away.
fn write_item(
    out: &mut ChunkWriter<'_>,
    db: &Database,
    item: &Item,
    latest: bool,
    opts: ReadOpts,
    boundary: &str,
) -> Result<bool> {
    let error_part = |json: Value| {
        format!("\r\n--{boundary}\r\nContent-Type: application/json; error=\"true\"\r\n\r\n{json}")
    };
    match resolve(db, item, latest, opts, true)? {
        Outcome::Error {
            id,
            rev,
            error,
            reason,
        } => Ok(out.write(error_part(error_map(&id, &rev, error, &reason)).as_bytes())),
        Outcome::Revs(revs) => {
            for (rev, rendered) in revs {
                let ok = match rendered {
                    None => out.write(
                        error_part(json!({"rev": rev.to_string(), "error": "not_found", "reason": "missing"})).as_bytes(),
                    ),
                    Some(r) if r.follows.is_empty() => out.write(
                        format!("\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n{}", r.doc).as_bytes(),
                    ),
                    Some(r) => {
                        let id = r.doc.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
                        let inner = format!("--{}", multipart::boundary());
                        let head = format!(
                            "\r\n--{boundary}\r\nX-Doc-Id: {id}\r\nX-Rev-Id: {rev}\r\nContent-Type: multipart/related; boundary={inner}\r\n\r\n"
                        );
                        out.write(head.as_bytes()) && multipart::write_related(out, db, &inner, &r)?
                    }
                };
                if !ok {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}
