//! `/_session`: cookie login (`POST`, JSON or form body), the current user
//! (`GET`), logout (`DELETE`), as CouchDB's `handle_session_req`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::auth::{check_password, is_https, RequestUser};
use super::request::{self, Query};
use super::{response, AppState};
use crate::auth::password::{Credentials, Scheme};
use crate::auth::{now_secs, Auth, BAD_CREDENTIALS};
use crate::error::{Error, Result};

pub async fn handle(
    st: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    user: &RequestUser,
) -> Result<HttpResponse> {
    match req.method().as_str() {
        "POST" => login(st, req, payload).await,
        "DELETE" => Ok(logout(st, req)),
        _ => info(st, req, user),
    }
}

fn with_cookie(mut res: HttpResponse, set_cookie: &str) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(set_cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `?next=` / `?fail=`: a redirect instead of the JSON status.
fn redirect(req: &HttpRequest, mut res: HttpResponse, target: Option<&str>) -> HttpResponse {
    let Some(path) = target else { return res };
    let info = req.connection_info();
    let location = if path.starts_with('/') {
        format!("{}://{}{}", info.scheme(), info.host(), path)
    } else {
        path.to_string()
    };
    *res.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// The fields of a login body, as strings.
fn login_form(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>> {
    let ctype = request::header_str(req, header::CONTENT_TYPE)
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/x-www-form-urlencoded") {
        return Ok(form_urlencoded::parse(body).into_owned().collect());
    }
    if ctype.starts_with("application/json") {
        return request::json_object(request::parse_json(body)?)?
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(Error::bad_request(format!("`{k}` must be a string"))),
            })
            .collect();
    }
    Err(Error::UnsupportedContentEncoding(
        "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'".into(),
    ))
}

/// `name`, or `username` (both only when equal).
fn username(form: &[(String, String)]) -> Result<String> {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    match (get("name"), get("username")) {
        (None, None) => Err(Error::bad_request("request body must contain a username")),
        (Some(n), None) | (None, Some(n)) => Ok(n),
        (Some(n), Some(u)) if n == u => Ok(n),
        _ => Err(Error::bad_request(
            "request body contains different usernames",
        )),
    }
}

async fn login(st: &AppState, req: &HttpRequest, payload: web::Payload) -> Result<HttpResponse> {
    let body = request::read_body(payload, st.snapshot().max_http_request_size).await?;
    let form = login_form(req, &body)?;
    let name = username(&form)?;
    let password = form
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let doc = st.user_docs.get(st, &name).await?;
    let creds = st
        .auth()
        .credentials(&name, doc.as_ref())?
        .unwrap_or(Credentials {
            roles: Vec::new(),
            salt: String::new(),
            scheme: Scheme::Simple { password_sha: None },
        });
    let q = Query::from_request(req);
    let now = now_secs();
    let secure = is_https(req);
    let ok = check_password(
        st,
        req.peer_addr().map(|a| a.ip()),
        &name,
        &password,
        creds.clone(),
    )
    .await?
        && !Auth::has_totp(doc.as_ref());
    if !ok {
        st.store.metrics().own.auth_failures.inc();
        let res = response::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "unauthorized", "reason": BAD_CREDENTIALS}),
        );
        let res = with_cookie(res, &st.auth().set_cookie("", secure, now));
        return Ok(redirect(req, res, q.get("fail")));
    }
    let value = st.auth().make_cookie(&name, &creds.salt, now);
    let res = response::ok(&json!({"ok": true, "name": name, "roles": creds.roles}));
    let res = with_cookie(res, &st.auth().set_cookie(&value, secure, now));
    Ok(redirect(req, res, q.get("next")))
}

fn info(st: &AppState, req: &HttpRequest, user: &RequestUser) -> Result<HttpResponse> {
    let q = Query::from_request(req);
    if user.ctx.name.is_none() && q.get("basic") == Some("true") {
        return Err(Error::Unauthorized("Please login.".into()));
    }
    let settings = &st.auth().settings;
    let mut info = Map::new();
    info.insert(
        "authentication_handlers".into(),
        json!(settings.handler_names()),
    );
    if let Some(handler) = user.handler {
        info.insert("authenticated".into(), Value::from(handler));
    }
    if settings.authentication_db_configured {
        info.insert(
            "authentication_db".into(),
            Value::from(settings.authentication_db.clone()),
        );
    }
    Ok(response::ok(&json!({
        "ok": true,
        "userCtx": {"name": user.ctx.name, "roles": user.ctx.roles},
        "info": info,
    })))
}

fn logout(st: &AppState, req: &HttpRequest) -> HttpResponse {
    let res = response::ok(&json!({"ok": true}));
    let res = with_cookie(res, &st.auth().set_cookie("", is_https(req), now_secs()));
    let q = Query::from_request(req);
    redirect(req, res, q.get("next"))
}
