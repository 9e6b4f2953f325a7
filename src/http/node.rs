//! `/_node/{node}/…` and `/_membership`, as CouchDB's `chttpd_node` and
//! `chttpd_misc` answer them: this node's name, and its configuration
//! (`_config`: read, set, delete, reload; the settings live in
//! `crate::settings`). `_local` names this node; any other name but this
//! node's is `404 no such node`.

use actix_web::http::header::HeaderName;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::request;
use super::response;
use super::router::NodePath;
use super::{blocking, AppState};
use crate::error::{Error, Result};
use crate::settings::store::check_writable_over_http;

/// `GET /_membership`: one node.
pub fn membership(state: &AppState) -> HttpResponse {
    let node = state.snapshot().node_name.clone();
    response::ok(&json!({"all_nodes": [node], "cluster_nodes": [node]}))
}

/// The `{"error":"not_found","reason":"unknown_config_value"}` of a missing key.
fn unknown_config_value() -> Error {
    Error::not_found("unknown_config_value")
}

/// Checks the node name of the path (`call_node`).
fn this_node(state: &AppState, node: &str) -> Result<()> {
    if state.snapshot().is_this_node(node) {
        Ok(())
    } else {
        Err(Error::not_found(format!("no such node: {node}")))
    }
}

fn section_json(keys: Option<&std::collections::BTreeMap<String, String>>) -> Value {
    Value::Object(
        keys.map(|keys| {
            keys.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<Map<String, Value>>()
        })
        .unwrap_or_default(),
    )
}

/// `X-Couch-Persist: false` (exactly) keeps a change in memory.
fn persist(req: &HttpRequest) -> bool {
    request::header_str(req, HeaderName::from_static("x-couch-persist")) != Some("false")
}

/// Everything below `/_node/{node}`.
pub async fn handle(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    node: &str,
    path: NodePath,
) -> Result<HttpResponse> {
    let method = req.method().as_str();
    match path {
        NodePath::Itself if node == "_local" => {
            Ok(response::ok(&json!({"name": state.snapshot().node_name})))
        }
        NodePath::Itself => {
            this_node(state, node)?;
            Ok(response::ok(&crate::service::info::welcome(
                &state.snapshot(),
                &state.uuid,
            )))
        }
        NodePath::Config => {
            this_node(state, node)?;
            let snapshot = state.snapshot();
            let all: Map<String, Value> = snapshot
                .values
                .iter()
                .map(|(section, keys)| (section.clone(), section_json(Some(keys))))
                .collect();
            Ok(response::ok(&all))
        }
        NodePath::ConfigReload => {
            this_node(state, node)?;
            let settings = state.settings.clone();
            blocking(move || settings.reload()).await?;
            Ok(response::ok(&json!({"ok": true})))
        }
        NodePath::ConfigSection(section) => {
            this_node(state, node)?;
            Ok(response::ok(&section_json(
                state.snapshot().values.get(&section),
            )))
        }
        NodePath::ConfigKey(section, key) => match method {
            "PUT" => {
                // the body is read before any answer, so a refusal does not
                // have to close the connection (CouchDB's 403 closes it,
                // which HTTP client pools can trip over)
                let limit = state.snapshot().max_http_request_size;
                let body = request::read_body(payload, limit).await?;
                check_writable_over_http(&section)?;
                if body.is_empty() {
                    return Err(Error::bad_request("Missing request body"));
                }
                let Value::String(value) = request::parse_json(&body)? else {
                    return Err(Error::bad_request("a JSON string expected"));
                };
                this_node(state, node)?;
                let persist = persist(req);
                let settings = state.settings.clone();
                let old = blocking(move || {
                    settings.set(
                        &section,
                        &key,
                        value.trim_matches([' ', '\t', '\n', '\r']),
                        persist,
                    )
                })
                .await?;
                Ok(response::ok(&old))
            }
            "DELETE" => {
                check_writable_over_http(&section)?;
                let persist = persist(req);
                this_node(state, node)?;
                let settings = state.settings.clone();
                let old = blocking(move || settings.delete(&section, &key, persist)).await?;
                Ok(response::ok(&old.ok_or_else(unknown_config_value)?))
            }
            _ => {
                this_node(state, node)?;
                let snapshot = state.snapshot();
                let value = snapshot
                    .get(&section, &key)
                    .ok_or_else(unknown_config_value)?;
                Ok(response::ok(&value))
            }
        },
        NodePath::ConfigTooDeep => Err(Error::not_found("missing")),
        // answered by `stats` (dispatch sends them there)
        NodePath::Stats(_) | NodePath::Prometheus | NodePath::System | NodePath::Versions => {
            Err(Error::not_found("missing"))
        }
        NodePath::Other => {
            if node != "_local" {
                this_node(state, node)?;
            }
            Err(Error::not_found("missing"))
        }
    }
}
