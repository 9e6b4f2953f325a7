//! `/_utils` and `/_utils/…`: Fauxton, CouchDB's web UI, as
//! `chttpd_misc:handle_utils_dir_req` serves it. `/_utils` redirects to
//! `/_utils/`; files come with their content type, `Last-Modified`,
//! `Cache-Control: private, must-revalidate` and the `[csp]`
//! Content-Security-Policy, and a matching `If-Modified-Since` gets 304.
//! The files are built into the binary (`crate::fauxton`); a binary built
//! without them says at `/_utils/` how to get them.

use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::router::unquote_with;
use super::AppState;
use crate::error::Result;
use crate::fauxton::{self, Lookup};

/// `GET /_utils…` (HEAD too: actix sends no body).
pub fn handle(state: &AppState, req: &HttpRequest) -> Result<HttpResponse> {
    let raw = req.path();
    let Some(rest) = raw.strip_prefix("/_utils/") else {
        // `/_utils`: chttpd:send_redirect, an absolute Location and no body
        return Ok(redirect(req, &format!("{raw}/")));
    };
    let snapshot = state.snapshot();
    let relative = unquote_with(rest, false);
    let csp = csp(&snapshot);
    if !fauxton::available() {
        return Ok(not_built_in(&relative, csp.as_deref()));
    }
    match fauxton::lookup(&relative) {
        Lookup::File(data, content_type) => {
            let modified = HttpDate::from(fauxton::last_modified()).to_string();
            let since = super::request::header_str(req, header::IF_MODIFIED_SINCE);
            if since == Some(modified.as_str()) {
                let mut res = with_headers(HttpResponse::NotModified(), csp.as_deref());
                return Ok(res.finish());
            }
            let mut res = with_headers(HttpResponse::Ok(), csp.as_deref());
            Ok(res
                .insert_header((header::LAST_MODIFIED, modified))
                .content_type(content_type)
                .body(data))
        }
        Lookup::Folder => Ok(redirect(req, &format!("{raw}/"))),
        Lookup::NotFound => Ok(not_found(csp.as_deref())),
    }
}

/// The policy `[csp] utils_enable` / `utils_header_value` ask for (or the
/// older `enable` / `header_value` when `utils_enable` is off), as
/// `chttpd_util:maybe_add_csp_header`.
fn csp(snapshot: &crate::settings::Snapshot) -> Option<String> {
    let enabled = |key: &str| snapshot.get("csp", key).map(str::trim) != Some("false");
    let value = |key: &str| {
        snapshot
            .get("csp", key)
            .unwrap_or(fauxton::DEFAULT_CSP)
            .to_string()
    };
    if enabled("utils_enable") {
        Some(value("utils_header_value"))
    } else if enabled("enable") {
        Some(value("header_value"))
    } else {
        None
    }
}

fn with_headers(mut builder: HttpResponseBuilder, csp: Option<&str>) -> HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "private, must-revalidate"));
    if let Some(value) = csp.and_then(|v| HeaderValue::from_str(v).ok()) {
        builder.insert_header((header::CONTENT_SECURITY_POLICY, value));
    }
    builder
}

/// mochiweb's 404 for a missing file.
fn not_found(csp: Option<&str>) -> HttpResponse {
    with_headers(HttpResponse::NotFound(), csp)
        .content_type("text/plain")
        .body("Not found.")
}

/// A 301 to `path` on this host.
fn redirect(req: &HttpRequest, path: &str) -> HttpResponse {
    let info = req.connection_info();
    let location = format!("{}://{}{}", info.scheme(), info.host(), path);
    let mut res = HttpResponse::build(StatusCode::MOVED_PERMANENTLY).finish();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// What a binary built without Fauxton answers: how to get it at
/// `/_utils/`, mochiweb's 404 elsewhere.
fn not_built_in(relative: &str, csp: Option<&str>) -> HttpResponse {
    if !(relative.is_empty() || relative == "index.html") {
        return not_found(csp);
    }
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Fauxton is not built in</title></head><body>\n\
         <h1>Fauxton is not built into this Settee</h1>\n\
         <p>The build could not get CouchDB's web UI: {}.</p>\n\
         <p>Settee's build fetches it from the npm registry with <code>npm pack \
         fauxton</code>. Install Node.js and npm, make sure the npm registry can be \
         reached, and build again (<code>cargo build --release</code>); or fetch \
         <code>fauxton-1.2.6.tgz</code> yourself and build with \
         <code>SETTEE_FAUXTON=/path/to/fauxton-1.2.6.tgz</code>.</p>\n\
         </body></html>\n",
        html_escape(fauxton::FAUXTON_MISSING)
    );
    with_headers(HttpResponse::NotFound(), csp)
        .content_type("text/html")
        .body(page)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
