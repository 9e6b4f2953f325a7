//! CORS on the wire: `dispatch` answers preflight requests with
//! [`preflight`] before authentication, and adds the response headers to
//! every other response with [`decorate`] (rules in `auth::cors`).

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::AppState;
use crate::auth::cors;

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `204` with the preflight headers for an `OPTIONS` request CouchDB
/// treats as a preflight; `None` otherwise.
pub fn preflight(st: &AppState, req: &HttpRequest) -> Option<HttpResponse> {
    if req.method() != "OPTIONS" {
        return None;
    }
    let headers = cors::preflight(
        &st.auth().settings.cors,
        header_str(req, "origin"),
        header_str(req, "access-control-request-method"),
        header_str(req, "access-control-request-headers"),
    )?;
    let mut res = HttpResponse::build(StatusCode::NO_CONTENT).finish();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut()
                .insert(HeaderName::from_static(lower(name)), v);
        }
    }
    Some(res)
}

/// Adds `Access-Control-*` headers for a request from an accepted origin.
pub fn decorate(st: &AppState, req: &HttpRequest, res: &mut HttpResponse) {
    let cfg = &st.auth().settings.cors;
    if !cfg.enabled {
        return;
    }
    let present: Vec<String> = res
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .collect();
    for (name, value) in cors::response_headers(cfg, header_str(req, "origin"), &present) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut()
                .insert(HeaderName::from_static(lower(name)), v);
        }
    }
}

/// The static lowercase form of a CORS header name.
fn lower(name: &'static str) -> &'static str {
    match name {
        "Access-Control-Allow-Origin" => "access-control-allow-origin",
        "Access-Control-Allow-Credentials" => "access-control-allow-credentials",
        "Access-Control-Allow-Methods" => "access-control-allow-methods",
        "Access-Control-Allow-Headers" => "access-control-allow-headers",
        "Access-Control-Max-Age" => "access-control-max-age",
        _ => "access-control-expose-headers",
    }
}
