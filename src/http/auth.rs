//! The HTTP side of authentication and authorization: one check per
//! request, made by `dispatch` before any handler runs.
//!
//! [`authenticate`] runs the configured handlers in order (`jwt`, `proxy`,
//! `cookie`, `default` = Basic), then CouchDB's party-mode step
//! (`require_valid_user`, admin party, else anonymous), giving a
//! [`RequestUser`]. [`authorize`] asks `auth::decide` what the route needs
//! (from `Route::access`), with the database's `_security`, and applies the
//! users database's read rules. The user is then in scope for the whole
//! handler ([`current_user`]), so the write guard can check documents
//! (design documents, user documents) one by one. [`decorate`] renews the
//! session cookie and adds `WWW-Authenticate` where CouchDB does.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use super::router::Route;
use super::{blocking, point_op, AppState};
use crate::auth::settings::Handler;
use crate::auth::users::{self, ReadRule};
use crate::auth::{
    self, cookie, now_secs, Access, Basic, Security, UserCtx, UserDoc, BAD_CREDENTIALS,
};
use crate::error::{Error, Result};
use crate::storage::{Database, LiveDoc};

/// Who a request is, and how that was established.
#[derive(Debug, Clone)]
pub struct RequestUser {
    pub ctx: UserCtx,
    /// The handler that authenticated it (`GET /_session`'s `authenticated`).
    pub handler: Option<&'static str>,
    /// For a cookie session past 10% of its lifetime: the user's salt, to
    /// send a renewed cookie.
    renew_with_salt: Option<String>,
}

impl RequestUser {
    fn new(ctx: UserCtx, handler: Option<&'static str>) -> RequestUser {
        RequestUser {
            ctx,
            handler,
            renew_with_salt: None,
        }
    }
}

tokio::task_local! {
    static REQUEST_USER: Arc<RequestUser>;
}

/// Runs a request's handling with its user in scope.
pub async fn scope<F: Future>(user: Arc<RequestUser>, f: F) -> F::Output {
    REQUEST_USER.scope(user, f).await
}

/// The user of the request being handled; anonymous (least privilege)
/// outside of one.
pub fn current_user() -> UserCtx {
    REQUEST_USER.try_with(|u| u.ctx.clone()).unwrap_or_default()
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn peer(req: &HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// The `AuthSession` cookie of a request, if any.
fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie::from_cookie_header(h).map(str::to_string))
}

/// Cached user documents of the users database, valid while its update
/// sequence does not move (any write to it invalidates them all).
#[derive(Default)]
pub struct UserDocs {
    entries: Mutex<HashMap<String, CachedUserDoc>>,
}

/// A user document, with the database and update sequence it was read at.
type CachedUserDoc = (Arc<Database>, u64, Option<UserDoc>);

const USER_DOCS_MAX: usize = 10_000;

impl UserDocs {
    /// The document `org.couchdb.user:NAME`, `None` when there is none
    /// (or no users database).
    pub async fn get(&self, st: &AppState, name: &str) -> Result<Option<UserDoc>> {
        let db = match st.store.get_db(&st.auth().settings.authentication_db) {
            Ok(db) => db,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let seq = db.update_seq();
        {
            let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((cached_db, cached_seq, doc)) = map.get(name) {
                if Arc::ptr_eq(cached_db, &db) && *cached_seq == seq {
                    return Ok(doc.clone());
                }
            }
        }
        let id = format!("{}{name}", users::USER_PREFIX);
        let doc = point_op(|| read_user_doc(&db, &id))?;
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= USER_DOCS_MAX {
            map.clear();
        }
        map.insert(name.to_string(), (db, seq, doc.clone()));
        Ok(doc)
    }
}

fn read_user_doc(db: &Database, id: &str) -> Result<Option<UserDoc>> {
    let Some(LiveDoc { record, body, .. }) = db.live_doc(id)? else {
        return Ok(None);
    };
    Ok(Some(UserDoc {
        body,
        conflicts: !record.tree.conflicts().is_empty(),
    }))
}

/// Checks a name and password (Basic auth or `POST /_session`): lockout,
/// then the cache of verified passwords, then PBKDF2 on a blocking thread.
/// `Ok(None)` is a wrong name or password.
pub async fn check_password(
    st: &AppState,
    peer: Option<IpAddr>,
    name: &str,
    password: &str,
    creds: auth::password::Credentials,
) -> Result<bool> {
    if let Some(ok) = st.auth().check_fast(peer, name, &creds, password)? {
        return Ok(ok);
    }
    let state_auth = st.auth();
    let (name, password) = (name.to_string(), password.to_string());
    blocking(move || state_auth.check_slow(peer, &name, &creds, &password)).await
}

/// A failed authentication: counted (`settee/auth_failures`), and
/// CouchDB's 401 for wrong credentials.
fn bad_credentials(st: &AppState) -> Error {
    st.store.metrics().own.auth_failures.inc();
    Error::Unauthorized(BAD_CREDENTIALS.into())
}

/// Runs the authentication handlers (see the module doc).
pub async fn authenticate(st: &AppState, req: &HttpRequest, route: &Route) -> Result<RequestUser> {
    let settings = &st.auth().settings;
    let authorization = header_str(req, "authorization");
    let now = now_secs();
    for handler in &settings.handlers {
        match handler {
            Handler::Jwt => {
                if let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) {
                    let ctx = st.auth().jwt_user(token, now).inspect_err(|_| {
                        st.store.metrics().own.auth_failures.inc();
                    })?;
                    return Ok(RequestUser::new(ctx, Some(handler.name())));
                }
            }
            Handler::Proxy => {
                if let Some(name) = header_str(req, &settings.x_auth_username) {
                    let roles = header_str(req, &settings.x_auth_roles);
                    let token = header_str(req, &settings.x_auth_token);
                    if let Some(ctx) = st.auth().proxy_user(name, roles, token) {
                        return Ok(RequestUser::new(ctx, Some(handler.name())));
                    }
                }
            }
            Handler::Cookie => {
                let Some(value) = session_cookie(req).filter(|v| !v.is_empty()) else {
                    continue;
                };
                let parsed = cookie::parse(&value).map_err(Error::bad_request)?;
                let doc = st.user_docs.get(st, &parsed.name).await?;
                let Some(creds) = st.auth().credentials(&parsed.name, doc.as_ref())? else {
                    continue;
                };
                if let Some(valid) = st.auth().check_cookie(&parsed, &creds, now) {
                    let ctx = UserCtx::named(&parsed.name, creds.roles.clone());
                    let mut user = RequestUser::new(ctx, Some(handler.name()));
                    user.renew_with_salt = valid.renew.then(|| creds.salt.clone());
                    return Ok(user);
                }
            }
            Handler::Default => match authorization.map(auth::parse_basic).transpose()?.flatten() {
                Some(Basic::Credentials(name, password)) => {
                    let doc = st.user_docs.get(st, &name).await?;
                    let creds = st
                        .auth()
                        .credentials(&name, doc.as_ref())?
                        .ok_or_else(|| bad_credentials(st))?;
                    if auth::Auth::has_totp(doc.as_ref()) {
                        return Err(bad_credentials(st));
                    }
                    let roles = creds.roles.clone();
                    if !check_password(st, peer(req), &name, &password, creds).await? {
                        return Err(bad_credentials(st));
                    }
                    return Ok(RequestUser::new(
                        UserCtx::named(&name, roles),
                        Some(handler.name()),
                    ));
                }
                Some(Basic::Nobody) | None => {
                    if settings.admin_party() && !settings.require_valid_user {
                        return Ok(RequestUser::new(
                            UserCtx::party_admin(),
                            Some(handler.name()),
                        ));
                    }
                }
            },
        }
    }
    // CouchDB's party_mode_handler
    if *route == Route::Session && req.method() == "POST" {
        return Ok(RequestUser::new(UserCtx::anonymous(), None));
    }
    let required = if *route == Route::Up {
        settings.require_valid_user && !settings.require_valid_user_except_for_up
    } else {
        settings.require_valid_user || settings.require_valid_user_except_for_up
    };
    if required {
        return Err(Error::Unauthorized("Authentication required.".into()));
    }
    if settings.admin_party() {
        return Ok(RequestUser::new(UserCtx::party_admin(), None));
    }
    Ok(RequestUser::new(UserCtx::anonymous(), None))
}

/// The parsed `_security` of a database.
pub fn security_of(db: &Database) -> Security {
    Security::from_json(&db.security())
}

/// Whether `ctx` is an admin of `db` (server admin or database admin).
pub fn is_db_admin(db: &Database, ctx: &UserCtx) -> bool {
    ctx.is_server_admin() || security_of(db).is_admin(ctx)
}

/// Decides whether the request may go on (see the module doc).
pub fn authorize(st: &AppState, user: &RequestUser, route: &Route, method: &str) -> Result<()> {
    let settings = &st.auth().settings;
    let access = match route.access(method) {
        Access::ListDbs if !settings.admin_only_all_dbs => Access::Public,
        Access::SecurityWrite { .. } => Access::SecurityWrite {
            locked: route.db_name() == Some(settings.authentication_db.as_str())
                && !settings.users_db_security_editable,
        },
        other => other,
    };
    let db_level = !matches!(
        access,
        Access::Public | Access::ListDbs | Access::ServerAdmin
    );
    let db = match route.db_name() {
        Some(name) if db_level => Some(st.db(name)?),
        _ => None,
    };
    let security = db.as_deref().map(security_of);
    auth::enforce(auth::decide(&user.ctx, security.as_ref(), access))?;
    let (Some(db), Some(security)) = (db, security) else {
        return Ok(());
    };
    if db.name() != settings.authentication_db {
        return Ok(());
    }
    let is_admin = security.is_admin(&user.ctx);
    if is_admin {
        return Ok(());
    }
    // couch_users_db: a user reads only their own document.
    let read = matches!(method, "GET" | "HEAD");
    match route {
        Route::Doc(_, id) | Route::Attachment(_, id, _) if read || method == "COPY" => {
            match users::read_rule(id, &user.ctx, false) {
                ReadRule::Allow => Ok(()),
                ReadRule::NotFound => Err(Error::not_found("missing")),
                ReadRule::Forbidden(reason) => Err(Error::Forbidden(reason.into())),
            }
        }
        Route::LocalDoc(..) if !read && user.ctx.name.is_some() => Err(Error::not_found("missing")),
        Route::DbEndpoint(_, super::router::DbEndpoint::BulkGet)
        | Route::DbEndpoint(_, super::router::DbEndpoint::DesignDocs)
        | Route::DbEndpoint(_, super::router::DbEndpoint::LocalDocs) => auth::enforce(
            auth::Decision::Forbidden(auth::access::NOT_DB_OR_SERVER_ADMIN),
        ),
        _ => Ok(()),
    }
}

/// Adds what CouchDB adds to every response: a renewed `AuthSession`
/// cookie for a cookie session past 10% of its life (unless the handler
/// set one), and `WWW-Authenticate` on a `401` when `require_valid_user`
/// is on.
pub fn decorate(
    st: &AppState,
    req: &HttpRequest,
    user: Option<&RequestUser>,
    res: &mut HttpResponse,
) {
    let headers = res.headers_mut();
    if let Some(RequestUser {
        ctx: UserCtx {
            name: Some(name), ..
        },
        renew_with_salt: Some(salt),
        ..
    }) = user
    {
        let already = headers
            .get_all(header::SET_COOKIE)
            .any(|v| v.to_str().is_ok_and(|s| s.starts_with("AuthSession=")));
        if !already {
            let now = now_secs();
            let value = st.auth().make_cookie(name, salt, now);
            if let Ok(v) = HeaderValue::from_str(&st.auth().set_cookie(&value, is_https(req), now))
            {
                headers.append(header::SET_COOKIE, v);
            }
        }
    }
    if res.status() == actix_web::http::StatusCode::UNAUTHORIZED {
        let explicit = header_str(req, "x-couchdb-www-authenticate").map(str::to_string);
        let value = explicit.or_else(|| {
            st.auth()
                .settings
                .require_valid_user
                .then(|| "Basic realm=\"server\"".to_string())
        });
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
}

/// Whether the request came over TLS.
pub fn is_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}
