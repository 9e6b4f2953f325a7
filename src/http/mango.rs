//! Mango endpoints: `GET/POST /{db}/_index`, `DELETE
//! /{db}/_index/{ddoc}/json/{name}`, `POST /{db}/_index/_bulk_delete`,
//! `POST /{db}/_find` and `POST /{db}/_explain`.
//!
//! Index definitions are ordinary `_design/…` documents (`"language":
//! "query"`) written through the document path, so they get revisions
//! and replicate; the model is `couch::mango`, the stored entries
//! `storage::index`. `_find` plans on the blocking pool, brings the chosen
//! index up to date (unless `update: false`), then streams the rows in
//! CouchDB's response layout.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::current_user;
use super::request::{self, Query};
use super::response::{self, ChunkWriter};
use super::{blocking, AppState};
use crate::couch::attachment;
use crate::couch::doc::parse_doc;
use crate::couch::mango::error::{bad, mango};
use crate::couch::mango::field::parse_field;
use crate::couch::mango::index::{check_language, remove_from, IndexDef, IndexKind, IndexRequest};
use crate::couch::mango::plan::{self, end_key, id_bounds, scan_bounds, start_key, Plan, Strategy};
use crate::couch::mango::query::{decode_bookmark, encode_bookmark, extract_fields, FindRequest};
use crate::couch::mango::Selector;
use crate::couch::range::{max_lower, min_upper};
use crate::error::{Error, Result};
use crate::service::read::{render, ReadOpts};
use crate::service::WriteOptions;
use crate::storage::{Database, LiveDoc};

/// Every JSON index defined by the database's `query` design documents
/// (cached until the next write).
pub fn list_indexes(db: &Database) -> Result<Arc<Vec<IndexDef>>> {
    if let Some(defs) = db.cached_index_defs() {
        return Ok(defs);
    }
    let seq = db.update_seq();
    let defs = Arc::new(read_indexes(db)?);
    db.cache_index_defs(seq, Arc::clone(&defs));
    Ok(defs)
}

fn read_indexes(db: &Database) -> Result<Vec<IndexDef>> {
    let mut out = Vec::new();
    for item in db.docs_range(
        Bound::Included("_design/"),
        Bound::Excluded("_design0"),
        false,
    ) {
        let (id, record) = item?;
        let Some(rev) = record.live_winner() else {
            continue;
        };
        if let Some(body) = db.body(&id, &rev)? {
            out.extend(IndexDef::from_ddoc(&id, &body, db.partitioned()));
        }
    }
    Ok(out)
}

/// `/{db}/_index…` (or `/{db}/_partition/{p}/_index…`, the same): the
/// segments after `_index` decide the operation; `before` is how many
/// path segments come up to and including `_index`.
pub async fn index(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    before: usize,
) -> Result<HttpResponse> {
    let plus_to_space = state.snapshot().decode_plus_to_space;
    let segs: Vec<String> = req
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .skip(before)
        .map(|s| super::router::unquote_with(s, plus_to_space))
        .collect();
    let method = req.method().as_str();
    match (segs.as_slice(), method) {
        ([], "GET" | "HEAD") => list(req, db).await,
        ([], "POST") => create(state, req, payload, db).await,
        ([], _) => Err(Error::MethodNotAllowed("GET,POST".into())),
        ([bulk], "POST") if bulk == "_bulk_delete" => bulk_delete(state, req, payload, db).await,
        ([bulk], _) if bulk == "_bulk_delete" => Err(Error::MethodNotAllowed("POST".into())),
        ([design, ddoc, ty, name], m) if design == "_design" => {
            delete_one(state, db, m, &format!("_design/{ddoc}"), ty, name).await
        }
        ([ddoc, ty, name], m) => delete_one(state, db, m, ddoc, ty, name).await,
        _ => Err(Error::not_found("missing")),
    }
}

async fn list(req: &HttpRequest, db: Arc<Database>) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let invalid = || {
        mango(
            500,
            "invalid_list_index_params",
            "Index parameter ranges: limit > 1, skip > 0",
        )
    };
    let int = |name: &str| -> Result<Option<i64>> {
        q.get(name)
            .map(|v| v.parse::<i64>().map_err(|_| invalid()))
            .transpose()
    };
    let (limit, skip) = (int("limit")?, int("skip")?);
    let mut idxs = vec![IndexDef::all_docs()];
    let mut defs = (*blocking(move || list_indexes(&db)).await?).clone();
    defs.sort_by(|a, b| (&a.ddoc, &a.name).cmp(&(&b.ddoc, &b.name)));
    idxs.extend(defs);
    let total = idxs.len() as i64;
    let limit = match limit {
        Some(l) if l < 1 => return Err(invalid()),
        Some(l) => l,
        None => total,
    };
    let skip = match skip {
        Some(s) if s < 0 => return Err(invalid()),
        Some(s) => s.min(total),
        None => 0,
    };
    let page: Vec<Value> = idxs
        .iter()
        .skip(skip as usize)
        .take(limit as usize)
        .map(IndexDef::to_json)
        .collect();
    Ok(response::ok(&json!({"total_rows": total, "indexes": page})))
}

async fn json_body(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Result<Value> {
    let limit = state.snapshot().max_http_request_size;
    Ok(Value::Object(
        request::json_object_body(req, payload, limit).await?,
    ))
}

/// The live body of a design document, or `None` (missing or deleted).
fn ddoc_body(db: &Database, id: &str) -> Result<Option<(String, Map<String, Value>)>> {
    let Some(LiveDoc { rev, mut body, .. }) = db.live_doc(id)? else {
        return Ok(None);
    };
    let atts = attachment::stored_atts(&body);
    if !atts.is_empty() {
        let stubs: Map<String, Value> = atts
            .iter()
            .map(|(n, m)| (n.clone(), m.stub_json(false)))
            .collect();
        body.insert("_attachments".into(), Value::Object(stubs));
    }
    Ok(Some((rev.to_string(), body)))
}

/// Writes a design document through the normal document path.
async fn write_ddoc(
    state: &AppState,
    db: &Arc<Database>,
    id: &str,
    rev: Option<&str>,
    body: Option<Map<String, Value>>,
) -> Result<()> {
    let mut doc = Map::new();
    doc.insert("_id".into(), Value::from(id));
    if let Some(rev) = rev {
        doc.insert("_rev".into(), Value::from(rev));
    }
    match body {
        Some(body) => doc.extend(body),
        None => {
            doc.insert("_deleted".into(), Value::Bool(true));
        }
    }
    let new = parse_doc(Value::Object(doc))?;
    let prepared = state.docs.prepare(db, new, false)?;
    let results = state
        .docs
        .save(&current_user(), db, vec![prepared], WriteOptions::default())
        .await?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err(Error::Conflict)) => Err(mango(
            500,
            "error_saving_ddoc",
            "Encountered a conflict while saving the design document.",
        )),
        Some(Err(e)) => Err(mango(
            500,
            "error_saving_ddoc",
            format!(
                "Unknown error while saving the design document: {}",
                e.status_and_name().1
            ),
        )),
        None => Err(mango(
            500,
            "error_saving_ddoc",
            "Unknown error while saving the design document.",
        )),
    }
}

async fn create(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let body = json_body(state, req, payload).await?;
    let idx = IndexRequest::parse(&body)?;
    crate::couch::names::validate_doc_id(&idx.ddoc)?;
    let (reader, id) = (Arc::clone(&db), idx.ddoc.clone());
    let existing = blocking(move || ddoc_body(&reader, &id)).await?;
    let is_new = existing.is_none();
    let (rev, current) = match existing {
        Some((rev, body)) => {
            check_language(&body)?;
            (Some(rev), body)
        }
        None => {
            let mut fresh = Map::new();
            fresh.insert("language".into(), Value::from("query"));
            (None, fresh)
        }
    };
    let status = match idx.add_to(&current, is_new, &idx.ddoc)? {
        None => "exists",
        Some(new_body) => {
            let defs = IndexDef::from_ddoc(&idx.ddoc, &new_body, db.partitioned());
            write_ddoc(state, &db, &idx.ddoc, rev.as_deref(), Some(new_body)).await?;
            // Build in the background so the first query finds it ready.
            if let Some(def) = defs.into_iter().find(|d| d.name == idx.name) {
                let builder = Arc::clone(&db);
                std::thread::spawn(move || {
                    if let Err(e) = builder.update_index(&def) {
                        tracing::warn!(error = %e, index = %def.name, "background index build failed");
                    }
                });
            }
            "created"
        }
    };
    Ok(response::ok(
        &json!({"result": status, "id": idx.ddoc, "name": idx.name}),
    ))
}

/// Deletes one index; drops its stored entries when no definition uses
/// them any more.
async fn remove_index(state: &AppState, db: &Arc<Database>, def: &IndexDef) -> Result<()> {
    let ddoc = def.ddoc.clone().unwrap_or_default();
    let (reader, id) = (Arc::clone(db), ddoc.clone());
    let Some((rev, body)) = blocking(move || ddoc_body(&reader, &id)).await? else {
        return Err(Error::not_found("missing"));
    };
    let new_body = remove_from(&body, &def.name)?;
    write_ddoc(state, db, &ddoc, Some(&rev), new_body).await?;
    let (cleaner, sig) = (Arc::clone(db), def.signature());
    blocking(move || {
        if !list_indexes(&cleaner)?.iter().any(|d| d.signature() == sig) {
            cleaner.drop_index(&sig)?;
        }
        Ok(())
    })
    .await
}

async fn delete_one(
    state: &AppState,
    db: Arc<Database>,
    method: &str,
    ddoc: &str,
    ty: &str,
    name: &str,
) -> Result<HttpResponse> {
    if method != "DELETE" {
        return Err(Error::MethodNotAllowed("DELETE".into()));
    }
    let ddoc = if ddoc.starts_with("_design/") {
        ddoc.to_string()
    } else {
        format!("_design/{ddoc}")
    };
    let reader = Arc::clone(&db);
    let defs = blocking(move || list_indexes(&reader)).await?;
    let found = defs
        .iter()
        .find(|d| d.ddoc.as_deref() == Some(ddoc.as_str()) && ty == "json" && d.name == name)
        .cloned();
    let Some(def) = found else {
        return Err(Error::not_found("missing"));
    };
    remove_index(state, &db, &def).await?;
    Ok(response::ok(&json!({"ok": true})))
}

async fn bulk_delete(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let body = json_body(state, req, payload).await?;
    let docids = match body.get("docids") {
        None => return Err(bad("missing_required_key", "Missing required key: docids")),
        Some(Value::Array(ids)) => {
            for id in ids {
                crate::couch::mango::query::parse_use_index(id)?;
            }
            ids.clone()
        }
        Some(other) => {
            return Err(bad(
                "invalid_bulk_docs",
                format!(
                    "Bulk Delete requires an array of non-null docids. Docids: {}",
                    crate::couch::mango::error::erl_term(other)
                ),
            ))
        }
    };
    if let Some(key) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| *k != "docids" && *k != "w"))
    {
        return Err(bad(
            "invalid_key",
            format!("Invalid key {key} for this request."),
        ));
    }
    let reader = Arc::clone(&db);
    let defs = blocking(move || list_indexes(&reader)).await?;
    let (mut success, mut fail) = (Vec::new(), Vec::new());
    for id in docids {
        let Some(id) = id.as_str() else { continue };
        let ddoc = if id.starts_with("_design/") {
            id.to_string()
        } else {
            format!("_design/{id}")
        };
        let mine: Vec<&IndexDef> = defs
            .iter()
            .filter(|d| d.ddoc.as_deref() == Some(ddoc.as_str()))
            .collect();
        if mine.is_empty() {
            fail.insert(0, json!({"id": ddoc, "error": "not_found"}));
            continue;
        }
        let mut outcome = Ok(());
        for def in mine {
            outcome = outcome.and(remove_index(state, &db, def).await);
        }
        match outcome {
            Ok(()) => success.insert(0, json!({"id": ddoc, "ok": true})),
            Err(e) => fail.insert(0, json!({"id": ddoc, "error": e.status_and_name().1})),
        }
    }
    Ok(response::ok(&json!({"success": success, "fail": fail})))
}

/// A `_find` / `_explain` body with the query string's (or the path's)
/// partition, as `mango_httpd:maybe_set_partition/1` sets it: added when
/// the body has none; a body naming one as well is refused, whatever it
/// names (CouchDB compares the string with a binary, which never match).
async fn find_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    partition: Option<String>,
) -> Result<FindRequest> {
    let mut body = json_body(state, req, payload).await?;
    let partition = partition.or_else(|| {
        Query::from_request(req)
            .get("partition")
            .map(str::to_string)
    });
    if let (Some(p), Value::Object(members)) = (partition, &mut body) {
        match members.get("partition") {
            None => {
                members.insert("partition".into(), Value::String(p));
            }
            Some(other) => {
                return Err(crate::couch::mango::error::unknown_error(
                    "mango_httpd",
                    "bad_partition",
                    other,
                ))
            }
        }
    }
    let find = FindRequest::parse(&body)?;
    if let Some(b) = &find.bookmark {
        decode_bookmark(b)?;
    }
    Ok(find)
}

/// Parses an `_explain` body and plans it on the blocking pool.
async fn prepare(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: &Arc<Database>,
    partition: Option<String>,
) -> Result<(FindRequest, std::result::Result<Plan, Vec<Value>>)> {
    let find = find_body(state, req, payload, partition).await?;
    let reader = Arc::clone(db);
    let f = find.clone();
    let plan = blocking(move || {
        let defs = list_indexes(&reader)?;
        Ok(match plan::plan(&f, &defs, true, reader.partitioned())? {
            Some(p) => Ok(p),
            None => Err(plan::candidates_without_plan(&f, &defs)),
        })
    })
    .await?;
    Ok((find, plan))
}

pub async fn explain(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    partition: Option<String>,
) -> Result<HttpResponse> {
    let (find, planned) = prepare(state, req, payload, &db, partition).await?;
    let sel = find.selector.root();
    // What CouchDB would report; Settee's own choice is in `settee_plan`.
    let (plan, shown, candidates) = match &planned {
        Ok(p) => (
            Some(p),
            Some(p.as_couchdb()),
            p.as_couchdb().candidates.clone(),
        ),
        Err(candidates) => (None, None, candidates.clone()),
    };
    let mut out = Map::new();
    out.insert("dbname".into(), Value::from(db.name()));
    out.insert(
        "index".into(),
        shown.map_or(Value::Null, |p| p.index.to_json()),
    );
    out.insert("partitioned".into(), Value::Bool(db.partitioned()));
    out.insert("selector".into(), find.selector.to_json());
    out.insert("opts".into(), find.opts_json());
    out.insert("limit".into(), json!(find.limit));
    out.insert("skip".into(), json!(find.skip));
    out.insert(
        "fields".into(),
        json!(find.fields.clone().unwrap_or_default()),
    );
    out.insert("index_candidates".into(), Value::Array(candidates));
    out.insert("selector_hints".into(), plan::selector_hints(sel));
    if let (Some(p), Some(shown)) = (plan, shown) {
        out.insert("mrargs".into(), mrargs(shown, &find));
        out.insert("covering".into(), Value::Bool(shown.covering));
        let (strategy, description) = match p.strategy {
            Strategy::CouchDb => ("couchdb", "The index CouchDB would choose, read as CouchDB reads it."),
            Strategy::ReorderById => (
                "reorder_by_id",
                "CouchDB would scan _all_docs; this index narrows the candidates, which are read in _all_docs order.",
            ),
        };
        out.insert(
            "settee_plan".into(),
            json!({"strategy": strategy, "index": p.index.to_json(), "description": description}),
        );
    }
    Ok(response::ok(&Value::Object(out)))
}

fn mrargs(p: &Plan, find: &FindRequest) -> Value {
    let max = Value::from("<MAX>");
    let (start, end) = match (&p.ranges, p.index.kind) {
        (None, _) => (Value::Null, Value::Null),
        (Some(r), IndexKind::AllDocs) => {
            let (s, e) = id_bounds(r);
            (
                s.map_or(Value::Null, Value::from),
                e.map_or(max.clone(), Value::from),
            )
        }
        (Some(r), IndexKind::Json) => (
            Value::Array(start_key(r)),
            Value::Array(
                end_key(r)
                    .into_iter()
                    .map(|v| v.unwrap_or_else(|| max.clone()))
                    .collect(),
            ),
        ),
    };
    let (start, end) = if p.descending {
        (end, start)
    } else {
        (start, end)
    };
    json!({
        "include_docs": !p.covering && find.r <= 1,
        "view_type": "map",
        "reduce": false,
        "partition": find.partition,
        "start_key": start,
        "end_key": end,
        "direction": if p.descending { "rev" } else { "fwd" },
        "stable": find.stable,
        "update": find.update,
        "conflicts": if find.conflicts { Value::Bool(true) } else { Value::from("undefined") }
    })
}

/// Results up to this many rows are built in one blocking task and sent
/// whole; larger ones are streamed.
const BUFFERED_LIMIT: u64 = 1000;

pub async fn find(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
    partition: Option<String>,
) -> Result<HttpResponse> {
    let started = Instant::now();
    let find = find_body(state, req, payload, partition).await?;
    if find.limit <= BUFFERED_LIMIT {
        // Plan, catch the index up and run in one blocking task.
        let out = blocking(move || {
            let plan = ready_plan(&db, &find)?;
            let mut out: Vec<u8> = Vec::with_capacity(4096);
            run(&db, &find, &plan, started, &mut out)?;
            Ok(out)
        })
        .await?;
        return Ok(HttpResponse::Ok()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "must-revalidate"))
            .content_type("application/json")
            .body(out));
    }
    let (reader, f) = (Arc::clone(&db), find.clone());
    let plan = blocking(move || ready_plan(&reader, &f)).await?;
    Ok(response::stream_from_blocking(StatusCode::OK, move |tx| {
        let mut out = ChunkWriter::new(tx);
        run(&db, &find, &plan, started, &mut out)?;
        out.flush();
        Ok(())
    }))
}

/// Plans a `_find` and brings the chosen index up to date (unless the
/// request says `update: false` or `stale: "ok"`).
fn ready_plan(db: &Database, find: &FindRequest) -> Result<Plan> {
    let defs = list_indexes(db)?;
    let Some(plan) = plan::plan(find, &defs, false, db.partitioned())? else {
        return Err(mango(
            400,
            "no_usable_index",
            "No index exists for this sort, try indexing by the sort fields.",
        ));
    };
    // `fabric_view:get_shards/2`, as the query starts.
    if find.partition.is_some() && !db.partitioned() {
        return Err(Error::bad_request(
            "partition specified on non-partitioned db",
        ));
    }
    if plan.index.kind == IndexKind::Json && find.update {
        db.update_index(&plan.index)?;
    }
    Ok(plan)
}

/// Where `_find` output goes: a streamed body or a buffer.
trait Output {
    /// Appends bytes; false once the client has gone away.
    fn put(&mut self, bytes: &[u8]) -> bool;
}

impl Output for ChunkWriter<'_> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        self.write(bytes)
    }
}

impl Output for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> bool {
        self.extend_from_slice(bytes);
        true
    }
}

/// Counters of one execution.
#[derive(Default)]
struct Stats {
    keys: u64,
    docs: u64,
    /// Documents read by a quorum read (`r` > 1): CouchDB reads them at
    /// the coordinator, not with the index rows.
    quorum_docs: u64,
    results: u64,
}

/// Receives matching documents in order; applies skip and limit and
/// writes rows.
struct Sink<'a> {
    out: &'a mut dyn Output,
    skip: u64,
    limit: u64,
    fields: Option<&'a [String]>,
    bookmark: Option<Vec<u8>>,
    stats: Stats,
    /// `r` > 1: documents are counted as quorum reads.
    quorum: bool,
    /// With `execution_stats`, the scan goes on after the last wanted
    /// result until one more match (or its end), as CouchDB's cursor stops
    /// only on the row after its limit: the counters are then CouchDB's.
    /// Without it, the scan stops at the limit.
    look_past_limit: bool,
    gone: bool,
}

impl Sink<'_> {
    /// Reads one candidate document, counts it in the execution stats and
    /// offers it if it matches; false once no more are wanted.
    fn examine(&mut self, db: &Database, id: &str, opts: ReadOpts, sel: &Selector) -> Result<bool> {
        self.stats.keys += 1;
        let Some(doc) = load(db, id, opts)? else {
            return Ok(true);
        };
        self.count_doc();
        Ok(!sel.matches(&doc) || self.offer(&doc, id.as_bytes()))
    }

    /// Counts one document read.
    fn count_doc(&mut self) {
        if self.quorum {
            self.stats.quorum_docs += 1;
        } else {
            self.stats.docs += 1;
        }
    }

    /// Offers a matching document; false once no more are wanted.
    fn offer(&mut self, doc: &Value, position: &[u8]) -> bool {
        if self.limit == 0 {
            return false;
        }
        self.bookmark = Some(position.to_vec());
        if self.skip > 0 {
            self.skip -= 1;
            return true;
        }
        let doc = match self.fields {
            Some(f) => extract_fields(doc, f),
            None => doc.clone(),
        };
        let prefix: &[u8] = if self.stats.results == 0 {
            b"\r\n"
        } else {
            b",\r\n"
        };
        let text = serde_json::to_vec(&doc).unwrap_or_default();
        if !(self.out.put(prefix) && self.out.put(&text)) {
            self.gone = true;
            return false;
        }
        self.stats.results += 1;
        self.limit -= 1;
        self.limit > 0 || self.look_past_limit
    }
}

/// The winning revision of a live document, rendered; `None` when missing
/// or deleted.
fn load(db: &Database, id: &str, opts: ReadOpts) -> Result<Option<Value>> {
    let Some(record) = db.record(id)? else {
        return Ok(None);
    };
    let Ok(rev) = record.open_winner() else {
        return Ok(None);
    };
    render(db, id, &record, &rev, opts)
}

/// A document built from an index entry alone (covering indexes).
fn derived_doc(def: &IndexDef, id: &str, values: &[Option<Value>]) -> Value {
    let mut doc = json!({"_id": id});
    for (col, v) in def.columns.iter().zip(values) {
        let (Some(v), Ok(path)) = (v, parse_field(col)) else {
            continue;
        };
        let mut target = &mut doc;
        for (i, seg) in path.iter().enumerate() {
            let Some(obj) = target.as_object_mut() else {
                break;
            };
            if i + 1 == path.len() {
                obj.insert(seg.clone(), v.clone());
                break;
            }
            target = obj.entry(seg.clone()).or_insert_with(|| json!({}));
        }
    }
    doc
}

/// An `_all_docs` id range, narrowed to a partition's ids for a partition
/// query (`couch_mrview_util:apply_all_docs_partition/2`).
fn partition_ids(
    lo: Bound<String>,
    hi: Bound<String>,
    partition: Option<&str>,
) -> (Bound<String>, Bound<String>) {
    match partition {
        None => (lo, hi),
        Some(p) => (
            max_lower(lo, Bound::Included(crate::couch::partition::start_key(p))),
            min_upper(hi, Bound::Excluded(crate::couch::partition::end_key(p))),
        ),
    }
}

/// The index scan bounds for the ranges, within the partition's entries
/// for a partition query on a partitioned index.
fn prefixed_bounds(
    def: &IndexDef,
    ranges: &[plan::Range],
    partition: Option<&str>,
) -> (Vec<u8>, Vec<u8>) {
    let (lo, hi) = scan_bounds(ranges);
    let prefix = def.scan_prefix(partition);
    (
        [prefix.as_slice(), &lo].concat(),
        [prefix.as_slice(), &hi].concat(),
    )
}

fn bound_str(b: &Bound<String>) -> Bound<&str> {
    match b {
        Bound::Included(s) => Bound::Included(s.as_str()),
        Bound::Excluded(s) => Bound::Excluded(s.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn run(
    db: &Database,
    find: &FindRequest,
    plan: &Plan,
    started: Instant,
    out: &mut dyn Output,
) -> Result<()> {
    out.put(b"{\"docs\":[");
    let after = find.bookmark.as_deref().map(decode_bookmark).transpose()?;
    let mut sink = Sink {
        out,
        skip: find.skip,
        limit: find.limit,
        fields: find.fields.as_deref(),
        bookmark: None,
        stats: Stats::default(),
        quorum: find.r > 1,
        look_past_limit: find.execution_stats,
        gone: false,
    };
    let opts = ReadOpts {
        conflicts: find.conflicts,
        ..ReadOpts::default()
    };
    let sel = &find.selector;
    let part = find.partition.as_deref();
    if let Some(ranges) = &plan.ranges {
        match (plan.index.kind, plan.strategy) {
            (IndexKind::AllDocs, _) => {
                let (s, e) = id_bounds(ranges);
                let after_id = after
                    .as_ref()
                    .map(|a| String::from_utf8_lossy(a).into_owned());
                let bound = |b: Option<String>| b.map_or(Bound::Unbounded, Bound::Included);
                let (mut lo, mut hi) = partition_ids(bound(s), bound(e), part);
                if let Some(a) = after_id {
                    if plan.descending {
                        hi = min_upper(hi, Bound::Excluded(a));
                    } else {
                        lo = max_lower(lo, Bound::Excluded(a));
                    }
                }
                for item in db.docs_range(bound_str(&lo), bound_str(&hi), plan.descending) {
                    let (id, record) = item?;
                    if record.deleted() {
                        continue;
                    }
                    if id.starts_with("_design/") {
                        // CouchDB's shard reads and counts design
                        // documents; its coordinator then drops them.
                        sink.stats.keys += 1;
                        sink.count_doc();
                        continue;
                    }
                    if !sink.examine(db, &id, opts, sel)? {
                        break;
                    }
                }
            }
            (IndexKind::Json, Strategy::ReorderById) => {
                let (lo, hi) = prefixed_bounds(&plan.index, ranges, part);
                let sig = plan.index.signature();
                let (start, end) = plan.id_range.clone().unwrap_or((None, None));
                let bound = |b: Option<String>| b.map_or(Bound::Unbounded, Bound::Included);
                let (start, end) = partition_ids(bound(start), bound(end), part);
                let mut ids: Vec<String> = Vec::new();
                for row in db.index_scan(&sig, &lo, &hi, false, None) {
                    let row = row?;
                    let range = (bound_str(&start), bound_str(&end));
                    if std::ops::RangeBounds::<&str>::contains(&range, &row.id.as_str()) {
                        ids.push(row.id);
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                if plan.descending {
                    ids.reverse();
                }
                for id in ids {
                    if let Some(a) = &after {
                        let past = if plan.descending {
                            id.as_bytes() < &a[..]
                        } else {
                            id.as_bytes() > &a[..]
                        };
                        if !past {
                            continue;
                        }
                    }
                    if !sink.examine(db, &id, opts, sel)? {
                        break;
                    }
                }
            }
            (IndexKind::Json, _) => {
                let (lo, hi) = prefixed_bounds(&plan.index, ranges, part);
                let sig = plan.index.signature();
                for row in db.index_scan(&sig, &lo, &hi, plan.descending, after.as_deref()) {
                    let row = row?;
                    // Settee's index also holds documents lacking a
                    // trailing column; CouchDB's view has no such rows.
                    if row.values.iter().any(Option::is_none) {
                        continue;
                    }
                    sink.stats.keys += 1;
                    let doc = if plan.covering {
                        derived_doc(&plan.index, &row.id, &row.values)
                    } else {
                        let Some(doc) = load(db, &row.id, opts)? else {
                            continue;
                        };
                        sink.count_doc();
                        doc
                    };
                    if sel.matches(&doc) && !sink.offer(&doc, &row.key) {
                        break;
                    }
                }
            }
        }
    }
    if sink.gone {
        return Ok(());
    }
    let bookmark = match &sink.bookmark {
        Some(pos) => encode_bookmark(pos),
        None => find.bookmark.clone().unwrap_or_else(|| "nil".into()),
    };
    let mut tail = String::from("\r\n],\r\n\"bookmark\": ");
    tail.push_str(&Value::from(bookmark).to_string());
    if find.execution_stats {
        let stats = json!({
            "total_keys_examined": sink.stats.keys,
            "total_docs_examined": sink.stats.docs,
            "total_quorum_docs_examined": sink.stats.quorum_docs,
            "results_returned": sink.stats.results,
            "execution_time_ms": started.elapsed().as_secs_f64() * 1000.0,
        });
        tail.push_str(",\r\n\"execution_stats\": ");
        tail.push_str(&stats.to_string());
    }
    let mut warnings: Vec<String> = Vec::new();
    if let Some(w) = &plan.ignored_use_index {
        warnings.push(w.clone());
    }
    if plan.as_couchdb().index.kind == IndexKind::AllDocs {
        warnings.push("No matching index found, create an index to optimize query time.".into());
    }
    let ratio = if sink.stats.results == 0 {
        sink.stats.docs as f64
    } else {
        sink.stats.docs as f64 / sink.stats.results as f64
    };
    if ratio > 10.0 {
        warnings.push(
            "The number of documents examined is high in proportion to the number of results returned. \
             Consider adding a more specific index to improve this."
                .into(),
        );
    }
    let counted = &db.metrics().mango;
    counted.keys_examined.add(sink.stats.keys);
    counted.docs_examined.add(sink.stats.docs);
    counted.results_returned.add(sink.stats.results);
    if plan.as_couchdb().index.kind == IndexKind::AllDocs {
        counted.unindexed_queries.inc();
    }
    if plan.ignored_use_index.is_some() {
        counted.query_invalid_index.inc();
    }
    if ratio > 10.0 {
        counted.too_many_docs_scanned.inc();
    }
    if !warnings.is_empty() {
        tail.push_str(",\r\n\"warning\": ");
        tail.push_str(&Value::from(warnings.join("\n")).to_string());
    }
    tail.push_str("}\r\n");
    sink.out.put(tail.as_bytes());
    Ok(())
}
