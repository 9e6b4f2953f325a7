//! The node's figures: `/_node/{node}/_stats[/{group}/…]`,
//! `/_node/{node}/_prometheus`, `/_node/{node}/_system` and
//! `/_node/{node}/_versions` (`chttpd_node`), from `crate::metrics`; and
//! the per-endpoint request counters CouchDB keeps (`bulk_requests`,
//! partition queries), counted from the route.

use actix_web::http::header;
use actix_web::HttpResponse;
use serde_json::{json, Value};

use super::response;
use super::router::{DbEndpoint, PartitionPath, Route};
use super::AppState;
use crate::error::{Error, Result};
use crate::metrics::{self, prometheus, system};

/// Counts what CouchDB counts per endpoint for a request to `route`.
pub fn count_route(state: &AppState, route: &Route, method: &str) {
    let http = &state.store.metrics().http;
    match route {
        Route::DbEndpoint(_, DbEndpoint::BulkDocs | DbEndpoint::BulkGet) if method == "POST" => {
            http.bulk_requests.inc()
        }
        Route::Partition(_, PartitionPath::Endpoint(_, ep)) => match ep {
            DbEndpoint::AllDocs | DbEndpoint::AllDocsQueries => {
                http.partition_all_docs_requests.inc()
            }
            DbEndpoint::Find => http.partition_find_requests.inc(),
            DbEndpoint::Explain => http.partition_explain_requests.inc(),
            _ => {}
        },
        _ => {}
    }
}

/// The node name of the path must be this node's (or `_local`).
fn this_node(state: &AppState, node: &str) -> Result<()> {
    if state.snapshot().is_this_node(node) {
        Ok(())
    } else {
        Err(Error::not_found(format!("no such node: {node}")))
    }
}

/// `GET /_node/{node}/_stats/…`: every metric nested by path, or the part
/// at the path below `_stats` (`null` when there is none, as CouchDB).
pub fn stats(state: &AppState, node: &str, path: &[String]) -> Result<HttpResponse> {
    this_node(state, node)?;
    let all = state.store.metrics().stats_json();
    let part = metrics::extract_path(&all, path).unwrap_or(&Value::Null);
    Ok(response::ok(part))
}

/// `GET /_node/{node}/_prometheus`.
pub fn prometheus(state: &AppState, node: &str) -> Result<HttpResponse> {
    this_node(state, node)?;
    let metrics = state.store.metrics();
    let text = prometheus::render(
        &metrics.samples(),
        &prometheus::NodeFigures {
            uptime_secs: metrics.uptime_secs(),
            cluster_nodes: 1,
            memory: system::memory(),
        },
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, prometheus::CONTENT_TYPE))
        .body(text))
}

/// `GET /_node/{node}/_system`.
pub fn system(state: &AppState, node: &str) -> Result<HttpResponse> {
    this_node(state, node)?;
    let uptime = state.store.metrics().uptime_secs();
    Ok(response::ok(&system::system_json(uptime)))
}

/// `GET /_node/{node}/_versions`: what CouchDB says of its collation
/// library, for Settee's (ICU4X), and Settee's own version. Settee has no
/// Erlang; a JavaScript engine, when one is built in, adds its entry.
pub fn versions(state: &AppState, node: &str) -> Result<HttpResponse> {
    this_node(state, node)?;
    Ok(response::ok(&json!({
        "collation_driver": {
            "name": "icu4x",
            "library_version": option_env!("SETTEE_ICU_COLLATOR_VERSION").unwrap_or("unknown"),
        },
        "settee": {
            "version": env!("CARGO_PKG_VERSION"),
            "couchdb_version": crate::service::info::COUCHDB_VERSION,
        },
    })))
}
