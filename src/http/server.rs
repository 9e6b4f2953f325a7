//! Server-level endpoints: `/`, `/_up`, `/_all_dbs`, `/_dbs_info`, `/_uuids`,
//! `/_active_tasks`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::request::{self, Query};
use super::{blocking, response, AppState};
use crate::error::{Error, Result};
use crate::service::info;
use crate::storage::tasks::{Task, TaskKind};

/// `GET /` (and `/_node/{this node}`): CouchDB's welcome.
pub fn root(state: &AppState) -> HttpResponse {
    response::ok(&info::welcome(&state.snapshot(), &state.uuid))
}

/// `GET /_up`: `{"status":"ok","seeds":{}}`, or 404 with the status
/// when `[couchdb] maintenance_mode` is `true` (`maintenance_mode`) or
/// `nolb`, as `chttpd_misc:handle_up_req` (a single node has no seeds).
pub fn up(state: &AppState) -> HttpResponse {
    match state.snapshot().get("couchdb", "maintenance_mode") {
        Some("true") => response::json(
            StatusCode::NOT_FOUND,
            &json!({"status": "maintenance_mode"}),
        ),
        Some("nolb") => response::json(StatusCode::NOT_FOUND, &json!({"status": "nolb"})),
        _ => response::ok(&json!({"status": "ok", "seeds": {}})),
    }
}

/// `GET /_active_tasks` (server admins): running Mango index builds
/// (`indexer`) and compactions (`database_compaction`), shaped and sorted
/// as CouchDB lists its tasks. One node, so `node` is this node's name
/// (`[settee] node_name`, CouchDB's stand-alone `nonode@nohost` by
/// default) and `database` the plain name (no shard path); `pid` is a
/// task number in Erlang's pid form.
pub fn active_tasks(state: &AppState) -> HttpResponse {
    let node = state.snapshot().node_name.clone();
    let mut tasks: Vec<(String, Value)> = state
        .store
        .active_tasks()
        .iter()
        .map(|t| {
            let pid = format!("<0.{}.0>", t.id);
            (pid.clone(), task_json(t, pid, &node))
        })
        .collect();
    tasks.sort_by(|a, b| a.0.cmp(&b.0));
    response::ok(&Value::Array(tasks.into_iter().map(|(_, t)| t).collect()))
}

/// One task; after `node`, `pid` and `process_status`, the members are in
/// key order, as `couch_task_status` keeps them.
fn task_json(task: &Task, pid: String, node: &str) -> Value {
    let mut out = Map::new();
    out.insert("node".into(), json!(node));
    out.insert("pid".into(), json!(pid));
    out.insert("process_status".into(), json!("running"));
    out.insert("changes_done".into(), json!(task.changes_done));
    out.insert("database".into(), json!(task.database));
    let kind = match &task.kind {
        TaskKind::Indexer { design_document } => {
            out.insert("design_document".into(), json!(design_document));
            out.insert("indexer_pid".into(), json!(pid));
            "indexer"
        }
        TaskKind::DatabaseCompaction => {
            out.insert("phase".into(), json!("document_copy"));
            "database_compaction"
        }
    };
    out.insert("progress".into(), json!(task.progress()));
    out.insert("started_on".into(), json!(task.started_on));
    out.insert("total_changes".into(), json!(task.total_changes));
    out.insert("type".into(), json!(kind));
    out.insert("updated_on".into(), json!(task.updated_on));
    Value::Object(out)
}

/// Start/end/limit/skip/descending over a sorted list of names.
fn window(names: Vec<String>, q: &Query) -> Result<Vec<String>> {
    let key = |names: &[&str]| -> Result<Option<String>> {
        Ok(q.json(names)?.and_then(|v| v.as_str().map(str::to_string)))
    };
    let start = key(&["startkey", "start_key"])?;
    let end = key(&["endkey", "end_key"])?;
    let descending = q.bool("descending", false)?;
    let inclusive_end = q.bool("inclusive_end", true)?;
    let limit = q.u64("limit")?.unwrap_or(u64::MAX) as usize;
    let skip = q.u64("skip")?.unwrap_or(0) as usize;
    let mut names = names;
    if descending {
        names.reverse();
    }
    let after_start = |n: &String| match &start {
        None => true,
        Some(s) if descending => n <= s,
        Some(s) => n >= s,
    };
    let before_end = |n: &String| match &end {
        None => true,
        Some(e) if descending => {
            if inclusive_end {
                n >= e
            } else {
                n > e
            }
        }
        Some(e) => {
            if inclusive_end {
                n <= e
            } else {
                n < e
            }
        }
    };
    Ok(names
        .into_iter()
        .filter(|n| after_start(n))
        .take_while(|n| before_end(n))
        .skip(skip)
        .take(limit)
        .collect())
}

pub async fn all_dbs(state: &AppState, req: &HttpRequest) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    let store = state.store.clone();
    let names = blocking(move || store.db_names()).await?;
    Ok(response::ok(&window(names, &q)?))
}

pub async fn dbs_info(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let names: Vec<Value> = if req.method() == "POST" {
        request::require_json_content_type(req)?;
        let body = request::parse_json(
            &request::read_body(payload, state.snapshot().max_http_request_size).await?,
        )?;
        match body.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            _ => return Err(Error::bad_request("`keys` member must exist.")),
        }
    } else {
        let q = Query::from_request(req);
        let store = state.store.clone();
        let names = blocking(move || store.db_names()).await?;
        window(names, &q)?.into_iter().map(Value::String).collect()
    };
    let mut out = Vec::with_capacity(names.len());
    for key in names {
        let info = key
            .as_str()
            .and_then(|name| state.db(name).ok())
            .map(|db| info::db_info(&db));
        out.push(match info {
            Some(info) => json!({"key": key, "info": info}),
            None => json!({"key": key, "error": "not_found"}),
        });
    }
    Ok(response::ok(&out))
}

/// `GET /_uuids` with CouchDB's cache-busting headers: `no-cache`, an
/// `Expires` in the past, and an `ETag` made from the list. The ids are
/// made by `[uuids] algorithm`, at most `[uuids] max_count` of them.
pub fn uuids(state: &AppState, req: &HttpRequest) -> Result<HttpResponse> {
    use md5::{Digest, Md5};
    let max = state.snapshot().uuid_max_count;
    let count = uuid_count(Query::from_request(req).get("count"), max)?;
    let list: Vec<String> = (0..count).map(|_| state.settings.new_uuid()).collect();
    let mut digest = Md5::new();
    for uuid in &list {
        digest.update(uuid.as_bytes());
    }
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header((header::CACHE_CONTROL, "must-revalidate, no-cache"))
        .insert_header((header::EXPIRES, "Mon, 01 Jan 1990 00:00:00 GMT"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((
            header::ETAG,
            response::base36_etag(digest.finalize().into()),
        ))
        .content_type("application/json")
        .body(response::json_line(&json!({"uuids": list}))))
}

/// `count` as CouchDB reads it: an integer (optional sign), too large
/// above `max`, then not negative.
fn uuid_count(given: Option<&str>, max: i64) -> Result<u64> {
    let text = given.unwrap_or("1");
    let not_positive = || Error::bad_request("count must be a positive integer");
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_positive());
    }
    // list_to_integer has no limit: a longer number is beyond any max
    let n: i128 = match digits.parse::<i128>() {
        Ok(n) if text.starts_with('-') => -n,
        Ok(n) => n,
        Err(_) if text.starts_with('-') => i128::MIN,
        Err(_) => i128::MAX,
    };
    if n > i128::from(max) {
        return Err(Error::bad_request("count parameter too large"));
    }
    u64::try_from(n).map_err(|_| not_positive())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn uuid_counts() {
        assert_eq!(uuid_count(None, 1000).ok(), Some(1));
        assert_eq!(uuid_count(Some("0"), 1000).ok(), Some(0));
        assert_eq!(uuid_count(Some("+7"), 1000).ok(), Some(7));
        assert_eq!(uuid_count(Some("-0"), 1000).ok(), Some(0));
        assert_eq!(uuid_count(Some("1000"), 1000).ok(), Some(1000));
        for bad in ["-1", "abc", "", "1.5", "-"] {
            let e = uuid_count(Some(bad), 1000).expect_err(bad);
            assert_eq!(e.to_string(), "count must be a positive integer");
        }
        for big in ["1001", "99999999999999999999999999999999999999999"] {
            let e = uuid_count(Some(big), 1000).expect_err(big);
            assert_eq!(e.to_string(), "count parameter too large");
        }
        assert!(uuid_count(Some("6"), 5).is_err());
        assert_eq!(
            uuid_count(Some("-1"), -5)
                .expect_err("max first")
                .to_string(),
            "count parameter too large"
        );
    }

    #[test]
    fn all_dbs_window() {
        let q = Query::parse("startkey=%22b%22&endkey=%22c%22");
        assert_eq!(
            window(names(), &q).ok(),
            Some(vec!["b".to_string(), "c".to_string()])
        );
        let q = Query::parse("descending=true&limit=2&skip=1");
        assert_eq!(
            window(names(), &q).ok(),
            Some(vec!["c".to_string(), "b".to_string()])
        );
        let q = Query::parse("startkey=%22c%22&descending=true&inclusive_end=false&endkey=%22a%22");
        assert_eq!(
            window(names(), &q).ok(),
            Some(vec!["c".to_string(), "b".to_string()])
        );
    }
}
