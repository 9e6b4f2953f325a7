//! Building responses the way CouchDB sends them: JSON with a trailing
//! newline, `Cache-Control: must-revalidate`, and streamed bodies for
//! results that may be large.

use actix_web::body::SizedStream;
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// A value serialised as one line of JSON.
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    text.push('\n');
    text
}

/// An `ETag` in CouchDB's `make_etag` form: a 128-bit digest written in
/// base 36 (upper case), quoted.
pub fn base36_etag(digest: [u8; 16]) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut n = u128::from_be_bytes(digest);
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.push(b'"');
    out.reverse();
    out.push(b'"');
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON response with the given status.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "must-revalidate"))
        .content_type("application/json")
        .body(json_line(value))
}

pub fn ok<T: Serialize + ?Sized>(value: &T) -> HttpResponse {
    json(StatusCode::OK, value)
}

/// Sends byte chunks produced by a blocking producer as a streamed body.
/// The producer runs on the blocking pool and stops when the client goes
/// away (its `send` fails).
pub fn stream_from_blocking<F>(status: StatusCode, producer: F) -> HttpResponse
where
    F: FnOnce(&ChunkSender) -> Result<()> + Send + 'static,
{
    stream_typed(status, "application/json".to_string(), producer)
}

/// [`stream_from_blocking`] with another content type (multipart bodies).
pub fn stream_typed<F>(status: StatusCode, content_type: String, producer: F) -> HttpResponse
where
    F: FnOnce(&ChunkSender) -> Result<()> + Send + 'static,
{
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "must-revalidate"))
        .content_type(content_type)
        .streaming(produce(producer))
}

/// [`stream_typed`] for a body whose length is known before it is
/// produced: sent with `Content-Length`, not chunked.
pub fn stream_sized<F>(
    status: StatusCode,
    content_type: String,
    len: u64,
    producer: F,
) -> HttpResponse
where
    F: FnOnce(&ChunkSender) -> Result<()> + Send + 'static,
{
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "must-revalidate"))
        .content_type(content_type)
        .body(SizedStream::new(len, produce(producer)))
}

/// Runs `producer` on the blocking pool; its chunks, as a stream.
fn produce<F>(producer: F) -> impl futures::Stream<Item = Result<Bytes>> + 'static
where
    F: FnOnce(&ChunkSender) -> Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(8);
    let sender = ChunkSender { tx };
    tokio::task::spawn_blocking(move || {
        if let Err(e) = producer(&sender) {
            // The status line is gone; end the body so the client sees a truncated result.
            tracing::error!(error = %e, "streamed response failed");
            let _ = sender.tx.blocking_send(Err(e));
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// The producer's side of a streamed body; batches small writes.
pub struct ChunkSender {
    tx: mpsc::Sender<Result<Bytes, Error>>,
}

/// Collects output and hands it to the client in chunks of about 64 KiB.
pub struct ChunkWriter<'a> {
    sender: &'a ChunkSender,
    buf: Vec<u8>,
}

impl<'a> ChunkWriter<'a> {
    pub fn new(sender: &'a ChunkSender) -> Self {
        ChunkWriter {
            sender,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Appends text; returns false once the client has gone away.
    pub fn write(&mut self, text: &[u8]) -> bool {
        self.buf.extend_from_slice(text);
        if self.buf.len() >= 60 * 1024 {
            return self.flush();
        }
        true
    }

    pub fn flush(&mut self) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.buf.reserve(64 * 1024);
        self.sender.tx.blocking_send(Ok(chunk)).is_ok()
    }
}
