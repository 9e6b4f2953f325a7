//! `/{db}/_partition/…` (`chttpd_db:handle_partition_req`): a partition's
//! counters, and `_all_docs`, `_find`, `_explain` and `_index` run in one
//! partition of a partitioned database.
//!
//! The checks come in CouchDB's order, before the method is looked at:
//! `/{db}/_partition/{p}` validates the partition first and then wants a
//! partitioned database; deeper paths want a partitioned database first,
//! then a valid partition that the query string does not contradict.
//!
//! `…/_design/{name}/_{action}…` (views) needs the design document (404
//! `missing` or `deleted`, as `ddoc_cache` answers), and is then answered
//! as the same path without the partition is today: Settee has no view
//! engine yet.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::request::Query;
use super::router::{DbEndpoint, PartitionPath};
use super::{response, AppState};
use crate::couch::partition::validate_partition;
use crate::error::{Error, Result};
use crate::storage::Database;

/// Where a partition path leads once CouchDB's checks have passed.
pub enum Target {
    /// Answered here (the partition's counters).
    Reply(HttpResponse),
    /// A database endpoint, run in the partition.
    Endpoint(DbEndpoint, String),
    /// A design document's handler: its id and the path after it.
    Design(String, String),
}

/// CouchDB's checks of a partition path, in its order; what to run next.
pub fn resolve(
    st: &AppState,
    req: &HttpRequest,
    name: &str,
    path: PartitionPath,
) -> Result<(Arc<Database>, Target)> {
    let db = st.db(name)?;
    let method = req.method().as_str();
    let partition = match &path {
        PartitionPath::Bare => return Err(Error::bad_request("invalid_partition_req")),
        PartitionPath::Info(p) => {
            let reply = info(req, &db, p)?;
            return Ok((db, Target::Reply(reply)));
        }
        PartitionPath::Endpoint(p, _)
        | PartitionPath::Design(p, _, _)
        | PartitionPath::Unknown(p) => p.clone(),
    };
    require_partitioned(&db)?;
    validate_partition(&partition)?;
    if Query::from_request(req)
        .get("partition")
        .is_some_and(|q| q != partition)
    {
        return Err(Error::bad_request(
            "Conflicting value for `partition` in query string",
        ));
    }
    let allowed = |methods: &str| {
        if methods.split(',').any(|m| m == method) {
            Ok(())
        } else {
            Err(Error::MethodNotAllowed(methods.to_string()))
        }
    };
    let target = match path {
        PartitionPath::Endpoint(_, ep) => match ep {
            DbEndpoint::AllDocs
            | DbEndpoint::AllDocsQueries
            | DbEndpoint::Find
            | DbEndpoint::Explain => {
                allowed(ep_allowed(ep))?;
                Target::Endpoint(ep, partition)
            }
            // `_index` answers for the database; the partition plays no part.
            DbEndpoint::Index => Target::Endpoint(ep, partition),
            _ => return Err(Error::not_found("missing")),
        },
        PartitionPath::Design(_, ddoc, rest) => {
            // The design document is opened before its handler looks at
            // the method (`handle_design_req`).
            super::point_op(|| db.record(&ddoc))?
                .ok_or_else(|| Error::not_found("missing"))?
                .open_winner()?;
            allowed("GET,HEAD")?;
            Target::Design(ddoc, rest)
        }
        PartitionPath::Bare | PartitionPath::Info(_) | PartitionPath::Unknown(_) => {
            return Err(Error::not_found("missing"))
        }
    };
    Ok((db, target))
}

fn ep_allowed(ep: DbEndpoint) -> &'static str {
    super::router::Route::DbEndpoint(String::new(), ep).allowed()
}

fn require_partitioned(db: &Database) -> Result<()> {
    if db.partitioned() {
        Ok(())
    } else {
        Err(Error::bad_request("database is not partitioned"))
    }
}

/// `GET /{db}/_partition/{p}`: the partition's document counts and sizes
/// (kept with every write, so this is one read).
fn info(req: &HttpRequest, db: &Database, partition: &str) -> Result<HttpResponse> {
    match req.method().as_str() {
        "GET" | "HEAD" => {}
        "POST" if partition.starts_with('_') => {
            return Err(Error::IllegalPartition(
                "Partition must not start with an underscore".into(),
            ))
        }
        _ => return Err(Error::MethodNotAllowed("GET".into())),
    }
    validate_partition(partition)?;
    require_partitioned(db)?;
    let info = db.partition_info(partition)?;
    Ok(response::ok(&json!({
        "db_name": db.name(),
        "sizes": {"active": info.active, "external": info.external},
        "partition": partition,
        "doc_count": info.doc_count,
        "doc_del_count": info.doc_del_count,
    })))
}
