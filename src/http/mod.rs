//! HTTP: the only code that imports actix. Handlers are thin: they parse
//! the request, call storage and the document model, and shape the reply.
//!
//! Every request goes through [`dispatch`], which answers CORS preflights,
//! authenticates the request and checks its access once, by route
//! ([`auth`]), then resolves the path with [`router::Route`] and answers
//! `405` with an `Allow` header for methods a route does not take.

mod all_docs;
mod attachment;
pub mod auth;
mod bulk;
mod bulk_get;
mod changes;
mod cors;
mod database;
mod document;
mod form;
mod jsonp;
mod local;
mod mango;
mod multipart;
mod node;
mod params;
mod partition;
mod reply;
pub mod request;
pub mod response;
pub mod router;
pub mod serve;
mod server;
mod session;
mod stats;
pub mod tls;
mod utils;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::storage::{Database, Store};
use router::{DbEndpoint, NodePath, Route};

pub use crate::service::{blocking, point_op};

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<Store>,
    /// The command line the server was started with.
    pub config: Config,
    /// This server's uuid as storage keeps it (`[couchdb] uuid` overrides it).
    pub uuid: String,
    /// The runtime settings (`_config`).
    pub settings: Arc<crate::settings::Runtime>,
    /// The document service: every document write and read goes through it.
    pub docs: crate::service::Service,
    /// Cached documents of the users database, for authentication.
    pub user_docs: auth::UserDocs,
}

impl AppState {
    /// The settings now in force.
    pub fn snapshot(&self) -> Arc<crate::settings::Snapshot> {
        self.settings.snapshot()
    }

    /// Authentication settings and state now in force.
    pub fn auth(&self) -> Arc<crate::auth::Auth> {
        Arc::clone(&self.settings.snapshot().auth)
    }

    /// Opens a database by name, validating the name first.
    pub fn db(&self, name: &str) -> Result<Arc<Database>> {
        crate::couch::names::validate_db_name(name)?;
        self.store.get_db(name)
    }
}

/// Mounts Settee on an actix `App`.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state).default_service(web::to(dispatch));
    }
}

/// Logs one line per request with method, path, status and duration.
pub fn log_request(method: &actix_web::http::Method, path: &str, status: u16, started: Instant) {
    tracing::info!(
        method = %method,
        path = %path,
        status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
}

/// CORS preflight, authentication, the access check, then the handler;
/// every response (errors too) gets the session-cookie renewal and CORS
/// headers.
async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let st = state.get_ref();
    if let Some(mut preflight) = cors::preflight(st, &req) {
        basic_headers(&req, 0, &mut preflight);
        return preflight;
    }
    if !request::valid_url_encoding(req.uri()) {
        let mut response =
            actix_web::ResponseError::error_response(&Error::bad_request("invalid_url_encoding"));
        basic_headers(&req, 0, &mut response);
        return response;
    }
    let route = Route::parse_with(req.path(), st.snapshot().decode_plus_to_space);
    stats::count_route(st, &route, req.method().as_str());
    let ((user, result), body_time) = request::with_body_timer(&req, async {
        match auth::authenticate(st, &req, &route).await {
            Ok(user) => {
                let user = Arc::new(user);
                let checked = auth::scope(Arc::clone(&user), async {
                    auth::authorize(st, &user, &route, req.method().as_str())?;
                    handle(req.clone(), payload, st, route, &user).await
                })
                .await;
                (Some(user), checked)
            }
            Err(e) => (None, Err(e)),
        }
    })
    .await;
    let mut response = result.unwrap_or_else(|e| actix_web::ResponseError::error_response(&e));
    match jsonp::callback(&st.snapshot(), &req) {
        Ok(Some(name)) => response = jsonp::wrap(response, &name),
        Ok(None) => {}
        Err(e) => response = actix_web::ResponseError::error_response(&e),
    }
    auth::decorate(st, &req, user.as_deref(), &mut response);
    cors::decorate(st, &req, &mut response);
    basic_headers(&req, body_time, &mut response);
    response
}

/// CouchDB's JSON 400 (`bad_request`) for a request line actix-http
/// refuses, which [`wire`] turned into a marked request; the connection
/// closes after it, as it would after actix-http's own empty 400.
pub fn refused_request_line(req: &HttpRequest, reason: &str) -> HttpResponse {
    tracing::info!(reason, "refused request line");
    let mut response = actix_web::ResponseError::error_response(&Error::bad_request(reason));
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    basic_headers(req, 0, &mut response);
    response
}

/// The methods `X-HTTP-Method-Override` may name (`chttpd:handle_request_int`).
const OVERRIDABLE: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "COPY",
];

/// CouchDB's `X-HTTP-Method-Override`: a `POST` carrying the header with
/// one of [`OVERRIDABLE`] (its value up to any `;`, as mochiweb's primary
/// header value) is handled as that method, routing and access checks
/// included; on any other method the header is ignored. Runs before
/// [`dispatch`], where the request head can still be changed.
pub fn method_override(req: &mut actix_web::dev::ServiceRequest) {
    if req.method() != actix_web::http::Method::POST {
        return;
    }
    let Some(method) = req
        .headers()
        .get("x-http-method-override")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v))
        .filter(|m| OVERRIDABLE.contains(m))
        .and_then(|m| actix_web::http::Method::from_bytes(m.as_bytes()).ok())
    else {
        return;
    };
    tracing::info!(%method, "method override (real method was POST)");
    req.head_mut().method = method;
}

/// What CouchDB's `basic_headers` adds to every response: `Server`,
/// `X-Couch-Request-ID` (the client's own id when it sent a valid one of at
/// most 36 characters, else 10 fresh hex digits) and `X-CouchDB-Body-Time`
/// (milliseconds spent reading the request body). A 304 also gets the
/// `Content-Length: 0` mochiweb sends with every fixed-length response.
fn basic_headers(req: &HttpRequest, body_time: u64, response: &mut HttpResponse) {
    use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, SERVER};
    const REQUEST_ID: HeaderName = HeaderName::from_static("x-couch-request-id");
    const BODY_TIME: HeaderName = HeaderName::from_static("x-couchdb-body-time");
    let valid = |id: &&str| {
        id.len() <= 36
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let id = request::header_str(req, REQUEST_ID.clone())
        .filter(valid)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..10].to_string());
    let not_modified = response.status() == actix_web::http::StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(BODY_TIME, HeaderValue::from(body_time));
    if not_modified {
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    // CouchDB's form, naming Settee where CouchDB names Erlang/OTP.
    static SERVER_HEADER: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "CouchDB/{} (Settee/{})",
            crate::service::info::COUCHDB_VERSION,
            env!("CARGO_PKG_VERSION")
        )
    });
    if let Ok(value) = HeaderValue::from_str(&SERVER_HEADER) {
        headers.insert(SERVER, value);
    }
}

async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    st: &AppState,
    route: Route,
    user: &auth::RequestUser,
) -> Result<HttpResponse> {
    let method = req.method().as_str().to_string();
    if !route.allows(&method) {
        return Err(Error::MethodNotAllowed(route.allowed().to_string()));
    }
    match route {
        Route::Session => session::handle(st, &req, payload, user).await,
        Route::Root => Ok(server::root(st)),
        Route::Up => Ok(server::up(st)),
        Route::Utils => utils::handle(st, &req),
        Route::AllDbs => server::all_dbs(st, &req).await,
        Route::DbsInfo => server::dbs_info(st, &req, payload).await,
        Route::Uuids => server::uuids(st, &req),
        Route::Membership => Ok(node::membership(st)),
        Route::NodeIncomplete => Err(Error::bad_request("Incomplete path to _node request")),
        Route::Node(name, NodePath::Stats(path)) => stats::stats(st, &name, &path),
        Route::Node(name, NodePath::Prometheus) => stats::prometheus(st, &name),
        Route::Node(name, NodePath::System) => stats::system(st, &name),
        Route::Node(name, NodePath::Versions) => stats::versions(st, &name),
        Route::Node(name, path) => node::handle(st, &req, payload, &name, path).await,
        Route::ActiveTasks => Ok(server::active_tasks(st)),
        Route::UnknownServer(name) => database::unknown_server(&req, name),
        Route::ServerMissing(_) => Err(Error::not_found("missing")),
        Route::Db(name) if method == "POST" => {
            let db = st.db(&name)?;
            document::post_to_db(st, &req, payload, db).await
        }
        Route::Db(name) => database::handle(st, &req, &name).await,
        Route::DbEndpoint(name, ep) => {
            let db = st.db(&name)?;
            match ep {
                DbEndpoint::AllDocs | DbEndpoint::DesignDocs => {
                    all_docs::handle(st, &req, payload, db, ep, None).await
                }
                DbEndpoint::AllDocsQueries => all_docs::queries(st, &req, payload, db, None).await,
                DbEndpoint::LocalDocs => local::list(st, &req, payload, db).await,
                DbEndpoint::BulkDocs => bulk::bulk_docs(st, &req, payload, db).await,
                DbEndpoint::BulkGet => bulk_get::handle(st, &req, payload, db).await,
                DbEndpoint::RevsDiff => bulk::revs_diff(st, &req, payload, db, false).await,
                DbEndpoint::MissingRevs => bulk::revs_diff(st, &req, payload, db, true).await,
                DbEndpoint::Security => database::security(st, &req, payload, db).await,
                DbEndpoint::RevsLimit => database::revs_limit(st, &req, payload, db).await,
                DbEndpoint::EnsureFullCommit => database::ensure_full_commit(st, &req, db).await,
                DbEndpoint::Compact => database::compact(st, &req, db),
                DbEndpoint::Changes => changes::handle(st, &req, payload, db).await,
                DbEndpoint::Index => mango::index(st, &req, payload, db, 2).await,
                DbEndpoint::Find => mango::find(st, &req, payload, db, None).await,
                DbEndpoint::Explain => mango::explain(st, &req, payload, db, None).await,
            }
        }
        Route::Doc(name, id) | Route::LocalDoc(name, id) if method == "POST" => {
            let db = st.db(&name)?;
            form::post(st, &req, payload, db, id).await
        }
        Route::Doc(name, id) => {
            let db = st.db(&name)?;
            document::handle(st, &req, payload, db, id).await
        }
        Route::LocalDoc(name, id) => {
            let db = st.db(&name)?;
            local::handle(st, &req, payload, db, id).await
        }
        Route::LocalDocNoId(name) => {
            st.db(&name)?;
            Err(Error::bad_request("Invalid _local document id."))
        }
        Route::Attachment(name, id, att) => {
            let db = st.db(&name)?;
            attachment::handle(st, &req, payload, db, id, att).await
        }
        Route::Partition(name, path) => match partition::resolve(st, &req, &name, path)? {
            (_, partition::Target::Reply(reply)) => Ok(reply),
            (db, partition::Target::Endpoint(ep, p)) => {
                let p = Some(p);
                match ep {
                    DbEndpoint::AllDocs => all_docs::handle(st, &req, payload, db, ep, p).await,
                    DbEndpoint::AllDocsQueries => all_docs::queries(st, &req, payload, db, p).await,
                    DbEndpoint::Find => mango::find(st, &req, payload, db, p).await,
                    DbEndpoint::Explain => mango::explain(st, &req, payload, db, p).await,
                    _ => mango::index(st, &req, payload, db, 4).await,
                }
            }
            (db, partition::Target::Design(ddoc, rest)) => {
                attachment::handle(st, &req, payload, db, ddoc, rest).await
            }
        },
    }
}
