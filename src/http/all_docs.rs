//! `_all_docs`, `_design_docs` and `POST /{db}/_all_docs/queries`.
//!
//! Ranges are read straight from the id-ordered document records and
//! streamed to the client in chunks, so a result is never built whole in
//! memory. Order is raw code-point order of ids, as CouchDB's `_all_docs`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::params::{as_ref_bound, BeforeStart, KeyPos, Params};
use super::request::{self, Query};
use super::response::{self, ChunkWriter};
use super::router::DbEndpoint;
use super::{blocking, AppState};
use crate::couch::rev::Rev;
use crate::couch::seq;
use crate::error::{Error, Result};
use crate::service::read::render_json;
use crate::storage::{Database, DocRecord};

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    ep: DbEndpoint,
    partition: Option<String>,
) -> Result<HttpResponse> {
    let mut params = Params::from_request(state, req, payload).await?;
    params.design_only = ep == DbEndpoint::DesignDocs;
    if partition.is_some() {
        params.partition = partition;
    }
    params.prepare(&db)?;
    Ok(response::stream_from_blocking(
        StatusCode::OK,
        move |sender| {
            let mut sink = Streamed {
                out: ChunkWriter::new(sender),
                first: true,
            };
            query(&db, &params, &mut sink)
        },
    ))
}

/// Where rows go: a streamed body or an in-memory list.
pub trait RowSink {
    /// Called once before the rows (`offset` is null for `keys` queries,
    /// as in CouchDB); false stops the query.
    fn begin(&mut self, total_rows: u64, offset: Option<u64>, update_seq: Option<u64>) -> bool;
    /// One row; false stops the query (the client went away).
    fn row(&mut self, row: &[u8]) -> bool;
    fn end(&mut self);
}

/// Rows streamed to the client: `{"total_rows":…,"rows":[` row, row `]}`.
struct Streamed<'a> {
    out: ChunkWriter<'a>,
    first: bool,
}

impl RowSink for Streamed<'_> {
    fn begin(&mut self, total_rows: u64, offset: Option<u64>, update_seq: Option<u64>) -> bool {
        let offset = offset.map_or_else(|| "null".to_string(), |o| o.to_string());
        let mut head = format!("{{\"total_rows\":{total_rows},\"offset\":{offset},");
        if let Some(seq) = update_seq {
            head.push_str(&format!("\"update_seq\":\"{}\",", seq::encode(seq)));
        }
        head.push_str("\"rows\":[\r\n");
        self.out.write(head.as_bytes())
    }

    fn row(&mut self, row: &[u8]) -> bool {
        let mut text = Vec::with_capacity(row.len() + 3);
        if !self.first {
            text.extend_from_slice(b",\r\n");
        }
        self.first = false;
        text.extend_from_slice(row);
        self.out.write(&text)
    }

    fn end(&mut self) {
        self.out.write(b"\r\n]}\n");
        self.out.flush();
    }
}

/// Rows collected in memory, for `_all_docs/queries`.
#[derive(Default)]
struct Collected {
    head: Map<String, Value>,
    rows: Vec<Value>,
}

impl RowSink for Collected {
    fn begin(&mut self, total_rows: u64, offset: Option<u64>, update_seq: Option<u64>) -> bool {
        self.head.insert("total_rows".into(), total_rows.into());
        self.head
            .insert("offset".into(), offset.map_or(Value::Null, Value::from));
        if let Some(s) = update_seq {
            self.head.insert("update_seq".into(), seq::encode(s).into());
        }
        true
    }
    fn row(&mut self, row: &[u8]) -> bool {
        self.rows
            .push(serde_json::from_slice(row).unwrap_or(Value::Null));
        true
    }
    fn end(&mut self) {}
}

pub fn query<S: RowSink>(db: &Database, p: &Params, sink: &mut S) -> Result<()> {
    let total = db.doc_count();
    let update_seq = p.update_seq.then(|| db.update_seq());
    let mut rows = RowCounter {
        sink,
        emitted: 0,
        limit: p.limit.unwrap_or(u64::MAX),
    };
    if let Some(keys) = &p.keys {
        if !rows.sink.begin(total, None, update_seq) {
            return Ok(());
        }
        let ordered: Box<dyn Iterator<Item = &Value>> = if p.descending {
            Box::new(keys.iter().rev())
        } else {
            Box::new(keys.iter())
        };
        for key in ordered.skip(usize::try_from(p.skip).unwrap_or(usize::MAX)) {
            if rows.full() {
                break;
            }
            let row = key_row(db, key, p)?;
            if !rows.push(&row) {
                return Ok(());
            }
        }
        rows.sink.end();
        return Ok(());
    }
    let before = match p.before_start() {
        BeforeStart::Nothing => 0,
        BeforeStart::Everything => total,
        BeforeStart::Range(lo, hi) => db.count_live(as_ref_bound(&lo), as_ref_bound(&hi))?,
    };
    let offset = (before + p.skip).min(total);
    let Some((lo, hi)) = p.bounds() else {
        if rows.sink.begin(total, Some(offset), update_seq) {
            rows.sink.end();
        }
        return Ok(());
    };
    if !rows.sink.begin(total, Some(offset), update_seq) {
        return Ok(());
    }
    let mut to_skip = p.skip;
    for item in db.docs_range(as_ref_bound(&lo), as_ref_bound(&hi), p.descending) {
        if rows.full() {
            break;
        }
        let (id, record) = item?;
        let Some(winner) = record.live_winner() else {
            continue;
        };
        if to_skip > 0 {
            to_skip -= 1;
            continue;
        }
        let row = doc_row(db, &id, &record, &winner, p)?;
        if !rows.push(&row) {
            return Ok(());
        }
    }
    rows.sink.end();
    Ok(())
}

/// The row for one requested key: found, deleted, or `not_found`.
fn key_row(db: &Database, key: &Value, p: &Params) -> Result<Vec<u8>> {
    let not_found = || serde_json::to_vec(&json!({"key": key, "error": "not_found"}));
    let Some(id) = key.as_str() else {
        return not_found().map_err(|e| Error::Corrupt(e.to_string()));
    };
    let record: Option<DocRecord> = db.record(id)?;
    let Some((record, (winner, info))) = record.and_then(|r| r.tree.winner().map(|w| (r, w)))
    else {
        return not_found().map_err(|e| Error::Corrupt(e.to_string()));
    };
    if info.deleted {
        let mut row =
            json!({"id": id, "key": id, "value": {"rev": winner.to_string(), "deleted": true}});
        if p.include_docs {
            row["doc"] = Value::Null;
        }
        return serde_json::to_vec(&row).map_err(|e| Error::Corrupt(e.to_string()));
    }
    doc_row(db, id, &record, &winner, p)
}

/// `{"id","key","value":{"rev"}[,"doc"]}` for a live document, as JSON text.
fn doc_row(
    db: &Database,
    id: &str,
    record: &DocRecord,
    winner: &Rev,
    p: &Params,
) -> Result<Vec<u8>> {
    let id_json = serde_json::to_string(id).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut row =
        format!("{{\"id\":{id_json},\"key\":{id_json},\"value\":{{\"rev\":\"{winner}\"}}")
            .into_bytes();
    if p.include_docs {
        row.extend_from_slice(b",\"doc\":");
        match render_json(db, id, record, winner, p.opts)? {
            Some(doc) => row.extend_from_slice(&doc),
            None => row.extend_from_slice(b"null"),
        }
    }
    row.push(b'}');
    Ok(row)
}

/// Applies `limit` and writes the separators between rows.
struct RowCounter<'a, S: RowSink> {
    sink: &'a mut S,
    emitted: u64,
    limit: u64,
}

impl<S: RowSink> RowCounter<'_, S> {
    fn full(&self) -> bool {
        self.emitted >= self.limit
    }

    fn push(&mut self, row: &[u8]) -> bool {
        self.emitted += 1;
        self.sink.row(row)
    }
}

pub async fn queries(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    partition: Option<String>,
) -> Result<HttpResponse> {
    request::require_json_content_type(req)?;
    let body = request::parse_json(
        &request::read_body(payload, state.snapshot().max_http_request_size).await?,
    )?;
    // The query string's `partition` (or the path's) applies to every query.
    let partition = partition.or_else(|| {
        Query::from_request(req)
            .get("partition")
            .map(str::to_string)
    });
    if let Some(p) = &partition {
        crate::couch::partition::validate_partition(p)?;
    }
    let Some(Value::Array(list)) = body.get("queries") else {
        return Err(Error::bad_request("`queries` member must be an array."));
    };
    let params: Vec<Params> = list
        .iter()
        .map(|q| match q {
            Value::Object(m) => {
                let mut p = Params::from_json(m)?;
                // A query of one key is that key's range here (CouchDB
                // answers it with an offset, and within a partition).
                if let Some([only]) = p.keys.as_deref() {
                    p.start = Some(KeyPos::of(only));
                    p.end = p.start.clone();
                    p.inclusive_end = true;
                    p.keys = None;
                }
                if partition.is_some() {
                    p.partition = partition.clone();
                }
                p.prepare(&db)?;
                Ok(p)
            }
            _ => Err(Error::bad_request("Each query must be a JSON object")),
        })
        .collect::<Result<_>>()?;
    let results = blocking(move || {
        let mut out = Vec::with_capacity(params.len());
        for p in &params {
            let mut c = Collected::default();
            query(&db, p, &mut c)?;
            let mut obj = c.head;
            obj.insert("rows".into(), Value::Array(c.rows));
            out.push(Value::Object(obj));
        }
        Ok(out)
    })
    .await?;
    Ok(response::ok(&json!({"results": results})))
}
