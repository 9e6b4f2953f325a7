//! `GET/POST /{db}/_changes`: the normal, longpoll, continuous and
//! eventsource feeds.
//!
//! A feed is an async stream driven by a small state machine
//! ([`Feed`]): it reads the by-sequence index in slices on the blocking
//! pool, each slice rendered straight into response bytes, and between
//! slices of a live feed it waits on the database's update channel
//! (`Database::subscribe`) — a write wakes every listener at once, and an
//! idle listener costs one parked future, no thread and no polling. When
//! the client goes away actix drops the stream, which ends the feed.
//!
//! Output is byte-for-byte CouchDB's (`chttpd_db:changes_callback/2`):
//! `{"results":[` rows joined by `,\r\n` `],"last_seq":…,"pending":…}` for
//! normal and longpoll feeds, one JSON line per row and a final
//! `{"last_seq","pending"}` line for continuous feeds, `data:`/`id:`
//! events for eventsource.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde_json::{Map, Value};

use super::request;
use super::{blocking, AppState};
use crate::couch::changes::{self as model, Feed as FeedType, Filter, FilterInput, Params};
use crate::couch::mango::query::extract_fields;
use crate::couch::rev::Rev;
use crate::couch::seq;
use crate::error::{Error, Result};
use crate::service::read::{read_doc, render, render_json, ReadOpts};
use crate::storage::{Database, DocRecord};

/// Output gathered before a slice is handed to the client.
const SLICE_BYTES: usize = 64 * 1024;
/// Index entries examined per slice when few of them pass the filter.
const SLICE_ENTRIES: usize = 20_000;
/// Feed reads on the blocking pool at once. A write wakes every listener;
/// their reads queue here instead of each taking a pool thread.
const CONCURRENT_READS: usize = 8;

fn read_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(CONCURRENT_READS))
}

pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    db: Arc<Database>,
) -> Result<HttpResponse> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let mut params = Params::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let post = req.method() == Method::POST;
    let body = if post {
        post_body(state, req, payload).await?
    } else {
        None
    };
    let filter = Filter::configure(&FilterInput {
        name: &params.filter,
        post,
        body: body.as_ref(),
        doc_ids_query: params.doc_ids.as_deref(),
        view_query: params.view.as_deref(),
    })?;
    check_filter(&db, &filter).await?;
    let mut feed = FeedType::parse(&params.feed)?;
    if req.method() == Method::HEAD {
        feed = FeedType::Normal;
    }
    if feed == FeedType::EventSource {
        if let Some(id) = request::header_str(req, header::HeaderName::from_static("last-event-id"))
        {
            params.since = Some(id.to_string());
        }
    }
    let update_seq = db.update_seq();
    let start = params.start()?.unwrap_or(update_seq);
    let job = Arc::new(Job::new(params, feed, filter));
    if feed == FeedType::Normal {
        let etag = etag(&db, req.query_string());
        if request::etag_matches(req, &etag) {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish());
        }
        return Ok(respond(feed, Feed::new(db, job, start), Some(etag)));
    }
    // continuous, longpoll and eventsource feeds are counted while open
    // (`clients_requesting_changes`), as chttpd_db counts them
    let client = ChangesClient::open(&state.store.metrics().http.clients_requesting_changes);
    let mut body = Feed::new(db, job, start);
    body.client = Some(client);
    Ok(respond(feed, body, None))
}

/// One open waiting feed, counted in `_stats` until the feed is dropped
/// (it ends, or its client leaves).
struct ChangesClient(Arc<crate::metrics::Gauge>);

impl ChangesClient {
    fn open(gauge: &Arc<crate::metrics::Gauge>) -> ChangesClient {
        gauge.inc();
        ChangesClient(Arc::clone(gauge))
    }
}

impl Drop for ChangesClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn respond(feed: FeedType, body: Feed, etag: Option<String>) -> HttpResponse {
    let stream = futures::stream::unfold(body, |mut feed| async move {
        feed.next().await.map(|item| (item, feed))
    });
    let mut res = HttpResponse::build(StatusCode::OK);
    if feed == FeedType::EventSource {
        res.content_type("text/event-stream")
            .insert_header((header::CACHE_CONTROL, "no-cache"));
    } else {
        res.content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "must-revalidate"));
    }
    if let Some(etag) = etag {
        res.insert_header((header::ETAG, etag));
    }
    res.streaming(stream)
}

/// The body of a POST: JSON (CouchDB checks the content type even when
/// the body is empty); `None` when empty.
async fn post_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<Map<String, Value>>> {
    request::require_json_content_type(req)?;
    let raw = request::read_body(payload, state.snapshot().max_http_request_size).await?;
    if raw.is_empty() {
        return Ok(None);
    }
    request::json_object(request::parse_json(&raw)?).map(Some)
}

/// A design-document function named as a filter must exist; Settee then
/// refuses it, as it runs no JavaScript.
async fn check_filter(db: &Arc<Database>, filter: &Filter) -> Result<()> {
    match filter {
        Filter::DesignFunction { ddoc, member } => {
            let db = Arc::clone(db);
            let (ddoc, member) = (ddoc.clone(), member.clone());
            blocking(move || {
                let doc = read_doc(&db, &ddoc, None, false, ReadOpts::default())?;
                let mut at = &doc;
                for key in &member {
                    at = at
                        .get(key.as_str())
                        .ok_or_else(|| Error::not_found(format!("missing json key: {key}")))?;
                }
                Err(Error::NotImplemented(format!(
                    "Settee does not run JavaScript: the {} function {}/{} cannot be used",
                    if member[0] == "views" {
                        "view"
                    } else {
                        "filter"
                    },
                    ddoc.trim_start_matches("_design/"),
                    member[1]
                )))
            })
            .await
        }
        _ => Ok(()),
    }
}

/// A quoted ETag for a normal feed: changes whenever the database or the
/// query does.
fn etag(db: &Database, query: &str) -> String {
    use md5::{Digest, Md5};
    let info = db.info();
    let mut h = Md5::new();
    h.update(db.name().as_bytes());
    h.update(info.update_seq.to_be_bytes());
    h.update(info.doc_count.to_be_bytes());
    h.update(info.doc_del_count.to_be_bytes());
    h.update(query.as_bytes());
    super::response::base36_etag(h.finalize().into())
}

/// Everything about a feed that does not change while it runs.
struct Job {
    params: Params,
    feed: FeedType,
    filter: Filter,
    /// `doc_ids` as a set, for scans.
    id_set: Option<HashSet<String>>,
    /// Few `doc_ids`, or `_design`: look the documents up instead of
    /// scanning the index (CouchDB's optimisation).
    lookup: bool,
    /// How `include_docs` renders documents.
    opts: ReadOpts,
}

impl Job {
    fn new(params: Params, feed: FeedType, filter: Filter) -> Job {
        let (id_set, lookup) = match &filter {
            Filter::DocIds(ids) => (
                Some(ids.iter().cloned().collect()),
                ids.len() <= model::DOC_IDS_LOOKUP_MAX,
            ),
            Filter::Design => (None, true),
            _ => (None, false),
        };
        let opts = ReadOpts {
            conflicts: params.conflicts,
            attachments: params.attachments,
            att_encoding_info: params.att_encoding_info,
            ..ReadOpts::default()
        };
        Job {
            params,
            feed,
            filter,
            id_set,
            lookup,
            opts,
        }
    }

    /// Whether rows are written as members of a `results` array.
    fn in_array(&self) -> bool {
        matches!(self.feed, FeedType::Normal | FeedType::Longpoll)
    }
}

/// Where a running feed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Read,
    Wait,
    Finish,
    Done,
}

/// A running feed: the cursor into the by-sequence index and what has
/// been sent so far.
struct Feed {
    db: Arc<Database>,
    job: Arc<Job>,
    phase: Phase,
    /// The last sequence examined: `last_seq` when the feed ends.
    cursor: u64,
    /// Descending feeds: the next sequence to examine, inclusive.
    down_from: Option<u64>,
    limit_left: u64,
    /// Rows sent in the body so far (separators, longpoll's stop rule).
    rows_sent: u64,
    /// Rows sent since the last wait.
    rows_this_round: u64,
    /// Anything at all sent after the opening (CouchDB sends one newline
    /// before a first wait when nothing has been sent).
    sent_anything: bool,
    updates: tokio::sync::watch::Receiver<u64>,
    /// A waiting feed's place in `clients_requesting_changes`.
    client: Option<ChangesClient>,
}

impl Feed {
    fn new(db: Arc<Database>, job: Arc<Job>, start: u64) -> Feed {
        let mut updates = db.subscribe();
        // Anything written from here on wakes the feed, even a write that
        // lands between its first read and its first wait.
        updates.borrow_and_update();
        let descending = job.params.descending;
        let limit_left = job.params.limit;
        Feed {
            db,
            job,
            phase: Phase::Start,
            cursor: start,
            down_from: descending.then_some(start),
            limit_left,
            rows_sent: 0,
            rows_this_round: 0,
            sent_anything: false,
            updates,
            client: None,
        }
    }

    /// The next piece of the body, `None` at its end.
    async fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            match self.phase {
                Phase::Start => {
                    self.phase = Phase::Read;
                    if self.job.in_array() {
                        return Some(Ok(Bytes::from_static(b"{\"results\":[\n")));
                    }
                }
                Phase::Read => match self.read().await {
                    Ok(Some(bytes)) => return Some(Ok(bytes)),
                    Ok(None) => {}
                    Err(e) => {
                        // The status line is gone: end the body so the
                        // client sees a truncated feed.
                        tracing::error!(db = %self.db.name(), error = %e, "changes feed failed");
                        self.phase = Phase::Done;
                        return Some(Err(e));
                    }
                },
                Phase::Wait => {
                    if !self.sent_anything {
                        self.sent_anything = true;
                        return Some(Ok(Bytes::from_static(b"\n")));
                    }
                    if let Some(beat) = self.wait().await {
                        return Some(Ok(beat));
                    }
                }
                Phase::Finish => {
                    self.phase = Phase::Done;
                    return Some(self.finish().await);
                }
                Phase::Done => return None,
            }
        }
    }

    /// Reads one slice; decides what comes after it.
    async fn read(&mut self) -> Result<Option<Bytes>> {
        let db = Arc::clone(&self.db);
        let job = Arc::clone(&self.job);
        let at = Cursor {
            cursor: self.cursor,
            down_from: self.down_from,
            limit_left: self.limit_left,
            rows_sent: self.rows_sent,
        };
        let permit = read_permits().acquire().await.ok();
        let slice = blocking(move || read_slice(&db, &job, at)).await?;
        drop(permit);
        self.cursor = slice.at.cursor;
        self.down_from = slice.at.down_from;
        self.limit_left = slice.at.limit_left;
        let rows = slice.at.rows_sent - self.rows_sent;
        self.rows_sent = slice.at.rows_sent;
        self.rows_this_round += rows;
        if !slice.exhausted {
            // More to read now: stay in Read.
        } else if self.limit_left == 0
            || self.job.feed == FeedType::Normal
            || self.job.params.descending
            || (self.job.feed == FeedType::Longpoll && self.rows_this_round > 0)
        {
            self.phase = Phase::Finish;
        } else {
            self.rows_this_round = 0;
            self.phase = Phase::Wait;
        }
        if slice.out.is_empty() {
            return Ok(None);
        }
        self.sent_anything = true;
        Ok(Some(Bytes::from(slice.out)))
    }

    /// Waits for a write, a heartbeat or the end; returns a heartbeat to
    /// send, or `None` after moving to the next phase.
    async fn wait(&mut self) -> Option<Bytes> {
        let (interval, heartbeat) = self.job.params.wait();
        tokio::select! {
            changed = self.updates.changed() => {
                self.updates.borrow_and_update();
                self.phase = if changed.is_err() || self.db.is_deleted() { Phase::Finish } else { Phase::Read };
                None
            }
            () = tokio::time::sleep(interval) => {
                if heartbeat {
                    Some(Bytes::from_static(if self.job.feed == FeedType::EventSource {
                        b"event: heartbeat\ndata: \n\n"
                    } else {
                        b"\n"
                    }))
                } else {
                    self.phase = Phase::Finish;
                    None
                }
            }
        }
    }

    /// The closing piece: `last_seq` and `pending`.
    async fn finish(&mut self) -> Result<Bytes> {
        if self.job.feed == FeedType::EventSource {
            return Ok(Bytes::new());
        }
        let db = Arc::clone(&self.db);
        let (cursor, descending) = (self.cursor, self.job.params.descending);
        let permit = read_permits().acquire().await.ok();
        let pending = blocking(move || db.pending(cursor, descending))
            .await
            .unwrap_or(0);
        drop(permit);
        let last_seq = Value::String(seq::encode(self.cursor));
        let text = if self.job.in_array() {
            format!("\n],\n\"last_seq\":{last_seq},\"pending\":{pending}}}\n")
        } else {
            format!("{{\"last_seq\":{last_seq},\"pending\":{pending}}}\n")
        };
        Ok(Bytes::from(text))
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        tracing::debug!(
            db = %self.db.name(),
            rows = self.rows_sent,
            completed = self.phase == Phase::Done,
            "changes feed closed"
        );
    }
}

/// A feed's position, handed to and back from a blocking slice.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    cursor: u64,
    down_from: Option<u64>,
    limit_left: u64,
    rows_sent: u64,
}

/// One slice of a feed, rendered.
struct Slice {
    out: Vec<u8>,
    at: Cursor,
    /// Nothing more to read now (or the limit is reached).
    exhausted: bool,
}

fn read_slice(db: &Database, job: &Job, mut at: Cursor) -> Result<Slice> {
    let mut out = Vec::with_capacity(SLICE_BYTES + 4096);
    if at.limit_left == 0 {
        return Ok(Slice {
            out,
            at,
            exhausted: true,
        });
    }
    if job.lookup {
        return lookup_slice(db, job, at, out);
    }
    let entries: Box<dyn Iterator<Item = Result<(u64, String)>>> = match at.down_from {
        Some(from) => Box::new(db.changes_down_from(from)),
        None => Box::new(db.changes_since(at.cursor)),
    };
    let mut examined = 0;
    for entry in entries {
        let (seq, id) = entry?;
        at.cursor = seq;
        if let Some(from) = &mut at.down_from {
            *from = seq.saturating_sub(1);
        }
        examined += 1;
        if job.filter.admits_id(&id, job.id_set.as_ref()) {
            if let Some(record) = db.record(&id)?.filter(|r| r.seq == seq) {
                emit(&mut out, db, job, &mut at, seq, &id, &record)?;
            }
        }
        if at.limit_left == 0 || (at.down_from == Some(0) && seq <= 1) {
            return Ok(Slice {
                out,
                at,
                exhausted: true,
            });
        }
        if out.len() >= SLICE_BYTES || examined >= SLICE_ENTRIES {
            return Ok(Slice {
                out,
                at,
                exhausted: false,
            });
        }
    }
    Ok(Slice {
        out,
        at,
        exhausted: true,
    })
}

/// `_doc_ids` (few) and `_design` feeds: the documents are looked up by
/// id and sent in sequence order.
fn lookup_slice(db: &Database, job: &Job, mut at: Cursor, mut out: Vec<u8>) -> Result<Slice> {
    let update_seq = db.update_seq();
    let mut found: Vec<(String, DocRecord)> = Vec::new();
    match &job.filter {
        Filter::DocIds(ids) => {
            let mut seen = HashSet::new();
            for id in ids {
                if seen.insert(id.as_str()) {
                    if let Some(record) = db.record(id)? {
                        found.push((id.clone(), record));
                    }
                }
            }
        }
        _ => {
            use std::ops::Bound;
            for item in db.docs_range(
                Bound::Included("_design/"),
                Bound::Excluded("_design0"),
                false,
            ) {
                found.push(item?);
            }
        }
    }
    match at.down_from {
        Some(from) => {
            found.retain(|(_, r)| r.seq <= from);
            found.sort_by_key(|(_, r)| std::cmp::Reverse(r.seq));
        }
        None => {
            found.retain(|(_, r)| r.seq > at.cursor);
            found.sort_by_key(|(_, r)| r.seq);
        }
    }
    for (id, record) in &found {
        at.cursor = record.seq;
        emit(&mut out, db, job, &mut at, record.seq, id, record)?;
        if at.limit_left == 0 {
            return Ok(Slice {
                out,
                at,
                exhausted: true,
            });
        }
    }
    match &mut at.down_from {
        Some(from) => *from = 0,
        None => at.cursor = at.cursor.max(update_seq),
    }
    Ok(Slice {
        out,
        at,
        exhausted: true,
    })
}

/// Writes the row for one document if it passes the filter.
fn emit(
    out: &mut Vec<u8>,
    db: &Database,
    job: &Job,
    at: &mut Cursor,
    seq: u64,
    id: &str,
    record: &DocRecord,
) -> Result<()> {
    let Some(winner) = record.tree.winner() else {
        return Ok(());
    };
    let revs: Vec<Rev> = match &job.filter {
        Filter::Selector { selector, .. } => {
            let candidates = model::style_revs(&record.tree, job.params.style);
            let opts = ReadOpts {
                conflicts: job.params.conflicts,
                ..ReadOpts::default()
            };
            let mut passing = Vec::new();
            for (rev, _) in candidates {
                if let Some(doc) = render(db, id, record, &rev, opts)? {
                    if selector.matches(&doc) {
                        passing.push(rev);
                    }
                }
            }
            passing
        }
        _ => model::style_revs(&record.tree, job.params.style)
            .into_iter()
            .map(|(r, _)| r)
            .collect(),
    };
    if revs.is_empty() {
        return Ok(());
    }
    let doc: Option<Vec<u8>> = match (&job.filter, job.params.include_docs) {
        (_, false) => None,
        (
            Filter::Selector {
                fields: Some(fields),
                ..
            },
            true,
        ) => {
            let doc = render(db, id, record, &winner.0, job.opts)?;
            let trimmed = doc.map_or(Value::Null, |d| extract_fields(&d, fields));
            Some(serde_json::to_vec(&trimmed).map_err(json_error)?)
        }
        (_, true) => Some(
            render_json(db, id, record, &winner.0, job.opts)?.unwrap_or_else(|| b"null".to_vec()),
        ),
    };
    let shown_seq = job
        .params
        .shows_seq(at.limit_left)
        .then(|| seq::encode(seq));
    let seq_json = match &shown_seq {
        Some(s) => Value::String(s.clone()),
        None => Value::Null,
    };
    match job.feed {
        FeedType::Normal | FeedType::Longpoll => {
            if at.rows_sent > 0 {
                out.extend_from_slice(b",\r\n");
            }
            write_row(out, &seq_json, id, &revs, winner.1.deleted, doc.as_deref())?;
        }
        FeedType::Continuous => {
            write_row(out, &seq_json, id, &revs, winner.1.deleted, doc.as_deref())?;
            out.push(b'\n');
        }
        FeedType::EventSource => {
            out.extend_from_slice(b"data: ");
            write_row(out, &seq_json, id, &revs, winner.1.deleted, doc.as_deref())?;
            out.extend_from_slice(b"\nid: ");
            serde_json::to_writer(&mut *out, &seq_json).map_err(json_error)?;
            out.extend_from_slice(b"\n\n");
        }
    }
    at.rows_sent += 1;
    at.limit_left -= 1;
    Ok(())
}

fn json_error(e: serde_json::Error) -> Error {
    Error::Corrupt(e.to_string())
}

/// `{"seq":…,"id":…,"changes":[{"rev":…}…],"deleted":true,"doc":…}`
fn write_row(
    out: &mut Vec<u8>,
    seq: &Value,
    id: &str,
    revs: &[Rev],
    deleted: bool,
    doc: Option<&[u8]>,
) -> Result<()> {
    out.extend_from_slice(b"{\"seq\":");
    serde_json::to_writer(&mut *out, seq).map_err(json_error)?;
    out.extend_from_slice(b",\"id\":");
    serde_json::to_writer(&mut *out, id).map_err(json_error)?;
    out.extend_from_slice(b",\"changes\":[");
    for (i, rev) in revs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"rev\":\"");
        out.extend_from_slice(rev.to_string().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.push(b']');
    if deleted {
        out.extend_from_slice(b",\"deleted\":true");
    }
    if let Some(doc) = doc {
        out.extend_from_slice(b",\"doc\":");
        out.extend_from_slice(doc);
    }
    out.push(b'}');
    Ok(())
}
