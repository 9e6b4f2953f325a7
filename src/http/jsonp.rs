//! JSONP, as CouchDB serves it when `[chttpd] allow_jsonp` is on: a
//! request with `?callback=name` gets its JSON answer wrapped as
//! `/* CouchDB */name(…);` with `Content-Type: application/javascript`,
//! streamed answers included. With the setting off (the default) the
//! parameter is ignored.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use futures::StreamExt;

use super::request::Query;
use crate::error::{Error, Result};
use crate::settings::snapshot::boolean;
use crate::settings::Snapshot;

/// The callback a request asks for, when JSONP is allowed; a name that is
/// not made of letters, digits, `.`, `_`, `[` and `]` is CouchDB's 400.
pub fn callback(settings: &Snapshot, req: &HttpRequest) -> Result<Option<String>> {
    let q = Query::from_request(req);
    let Some(name) = q.get("callback").filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if !boolean(&settings.values, "chttpd", "allow_jsonp", false) {
        return Ok(None);
    }
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'[' | b']'));
    if !valid {
        return Err(Error::bad_request("invalid_callback"));
    }
    Ok(Some(name.to_string()))
}

/// Wraps a JSON answer in the callback (others pass as they are).
pub fn wrap(response: HttpResponse, name: &str) -> HttpResponse {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let prefix = Bytes::from(format!("/* CouchDB */{name}("));
    let mut response = response.map_body(|head, body| {
        head.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/javascript"),
        );
        // A whole answer's final newline goes after `);` (`send_json`); a
        // streamed one keeps it inside (`start_json_response`).
        let whole = matches!(body.size(), actix_web::body::BodySize::Sized(_));
        let mut body = body.boxed();
        let inner = futures::stream::poll_fn(move |cx| {
            std::pin::Pin::new(&mut body).poll_next(cx).map(|item| {
                item.map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())))
            })
        });
        // Each chunk's trailing newline waits for the next chunk.
        let held_back = inner.scan(false, move |pending, chunk| {
            let out = chunk.map(|mut bytes| {
                let mut joined = Vec::with_capacity(bytes.len() + 1);
                if std::mem::take(pending) {
                    joined.push(b'\n');
                }
                if whole && bytes.last() == Some(&b'\n') {
                    *pending = true;
                    bytes.truncate(bytes.len() - 1);
                }
                joined.extend_from_slice(&bytes);
                Bytes::from(joined)
            });
            futures::future::ready(Some(out))
        });
        let wrapped = futures::stream::once(async move { Ok(prefix) })
            .chain(held_back)
            .chain(futures::stream::once(async {
                Ok(Bytes::from_static(b");\n"))
            }));
        BoxBody::new(actix_web::body::BodyStream::new(wrapped))
    });
    // The length changed: the body is streamed.
    response
        .headers_mut()
        .remove(actix_web::http::header::CONTENT_LENGTH);
    response
}
