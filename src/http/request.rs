//! Reading requests: CouchDB-style query parameters and JSON bodies, with
//! CouchDB's errors for malformed input, and the time spent reading a body
//! (CouchDB's `X-CouchDB-Body-Time`).

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use bytes::BytesMut;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::couch::doc::NewDoc;
use crate::couch::rev::{InvalidRev, Rev};
use crate::error::{Error, Result};
use crate::service::read::ReadOpts;

/// Query-string parameters in order, decoded.
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn from_request(req: &HttpRequest) -> Query {
        Query::parse(req.query_string())
    }

    /// As mochiweb's `parse_qs`: pairs are separated by `&` or `;`, and
    /// `+` is a space.
    pub fn parse(qs: &str) -> Query {
        Query(
            qs.split(['&', ';'])
                .flat_map(|pair| form_urlencoded::parse(pair.as_bytes()).into_owned())
                .collect(),
        )
    }

    /// The last value given for `name` (CouchDB takes the last).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First present of several aliases (`startkey`/`start_key`).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A boolean parameter; absent means `default`.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_bool(name, v),
        }
    }

    /// A non-negative integer parameter, as CouchDB's `parse_pos_int`:
    /// an optional sign and digits, else "Invalid value for integer"; a
    /// negative value is "Invalid value for positive integer". Values past
    /// `u64::MAX` (Erlang has big integers) saturate.
    pub fn u64(&self, name: &str) -> Result<Option<u64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::QueryParseError(format!(
                "Invalid value for integer: \"{v}\""
            )));
        }
        if v.starts_with('-') && digits.bytes().any(|b| b != b'0') {
            return Err(Error::QueryParseError(format!(
                "Invalid value for positive integer: \"{v}\""
            )));
        }
        Ok(Some(digits.parse::<u64>().unwrap_or(u64::MAX)))
    }

    /// The `rev` parameter, parsed.
    pub fn rev(&self) -> Result<Option<Rev>> {
        Ok(self.get("rev").map(Rev::parse).transpose()?)
    }

    /// A JSON-encoded parameter (`startkey="abc"`, `keys=[…]`).
    pub fn json(&self, names: &[&str]) -> Result<Option<Value>> {
        match self.get_any(names) {
            None => Ok(None),
            Some(v) => serde_json::from_str(v)
                .map(Some)
                .map_err(|_| Error::bad_request("invalid UTF-8 JSON")),
        }
    }
}

/// CouchDB's boolean parser for query strings.
pub fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::QueryParseError(format!(
            "Invalid boolean parameter: \"{v}\" for \"{name}\""
        ))),
    }
}

tokio::task_local! {
    /// What [`read_body`] needs to know of the request being handled: the
    /// body's `Content-Encoding`, and where it records its time.
    static BODY: BodyContext;
}

struct BodyContext {
    /// Milliseconds spent in [`read_body`].
    time: Rc<Cell<u64>>,
    encoding: ContentEncoding,
}

/// A request body's `Content-Encoding`, as CouchDB's `maybe_decompress`
/// reads it: none or `identity`, `gzip`, or anything else (refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Unsupported(String),
}

impl ContentEncoding {
    /// The encoding a request's header names (coding names are
    /// case-insensitive; CouchDB compares them exactly, so it refuses
    /// `GZIP`, which Settee takes).
    pub fn of(req: &HttpRequest) -> ContentEncoding {
        let Some(value) = req.headers().get(header::CONTENT_ENCODING) else {
            return ContentEncoding::Identity;
        };
        let text = String::from_utf8_lossy(value.as_bytes());
        let coding = text.trim();
        if coding.eq_ignore_ascii_case("identity") {
            ContentEncoding::Identity
        } else if coding.eq_ignore_ascii_case("gzip") {
            ContentEncoding::Gzip
        } else {
            ContentEncoding::Unsupported(coding.to_string())
        }
    }
}

/// Runs a request's handling and returns, with its output, the whole
/// milliseconds [`read_body`] took in it (0 when the body was not read as
/// a whole), as CouchDB's `chttpd:body/1` records them. [`read_body`]
/// decodes bodies by the request's `Content-Encoding`.
pub async fn with_body_timer<F: Future>(req: &HttpRequest, f: F) -> (F::Output, u64) {
    let time = Rc::new(Cell::new(0));
    let context = BodyContext {
        time: Rc::clone(&time),
        encoding: ContentEncoding::of(req),
    };
    let out = BODY.scope(context, f).await;
    (out, time.get())
}

/// Reads the whole body, refusing more than `limit` bytes. A body sent
/// with `Content-Encoding: gzip` is decompressed as it arrives, as
/// CouchDB's `chttpd:json_body` does (`maybe_decompress`), and `limit`
/// holds for the decompressed bytes too: a small body that would expand
/// past it is refused with 413 as soon as it does, never inflated whole.
/// Any other encoding but `identity` is CouchDB's 415.
pub async fn read_body(payload: web::Payload, limit: u64) -> Result<bytes::Bytes> {
    let started = Instant::now();
    let encoding = BODY
        .try_with(|b| b.encoding.clone())
        .unwrap_or(ContentEncoding::Identity);
    let body = match encoding {
        ContentEncoding::Identity => read_body_untimed(payload, limit).await,
        ContentEncoding::Gzip => read_gzip_body(payload, limit).await,
        ContentEncoding::Unsupported(coding) => Err(Error::UnsupportedContentEncoding(format!(
            "{coding} is not a supported content encoding."
        ))),
    };
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let _ = BODY.try_with(|b| b.time.set(millis));
    body
}

async fn read_body_untimed(mut payload: web::Payload, limit: u64) -> Result<bytes::Bytes> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Error::bad_request("Invalid request body"))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(Error::RequestTooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A gzip body, inflated chunk by chunk into at most `limit` bytes.
async fn read_gzip_body(mut payload: web::Payload, limit: u64) -> Result<bytes::Bytes> {
    let mut inflater = Inflater::new(limit);
    let mut received = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Error::bad_request("Invalid request body"))?;
        received += chunk.len() as u64;
        if received > limit {
            return Err(Error::RequestTooLarge);
        }
        inflater.feed(&chunk)?;
    }
    if received == 0 {
        // no body at all: what the handler says of a missing body
        return Ok(bytes::Bytes::new());
    }
    inflater.finish()
}

/// Streaming gzip decompression (members one after another, as
/// `zlib:gunzip` takes them) into a buffer that refuses to grow past a
/// limit.
struct Inflater {
    decoder: flate2::write::MultiGzDecoder<Bounded>,
}

/// The decompressed bytes so far, and how many there may be.
struct Bounded {
    buf: Vec<u8>,
    limit: u64,
}

/// Why [`Bounded`] refused a write.
#[derive(Debug)]
struct OverLimit;

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed body over the limit")
    }
}

impl std::error::Error for OverLimit {}

impl std::io::Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 > self.limit {
            return Err(std::io::Error::other(OverLimit));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Inflater {
    fn new(limit: u64) -> Inflater {
        Inflater {
            decoder: flate2::write::MultiGzDecoder::new(Bounded {
                buf: Vec::new(),
                limit,
            }),
        }
    }

    /// Decompresses the next compressed bytes.
    fn feed(&mut self, compressed: &[u8]) -> Result<()> {
        use std::io::Write;
        self.decoder.write_all(compressed).map_err(gzip_error)
    }

    /// The whole decompressed body; a stream cut short is an error.
    fn finish(self) -> Result<bytes::Bytes> {
        let bounded = self.decoder.finish().map_err(gzip_error)?;
        Ok(bytes::Bytes::from(bounded.buf))
    }
}

/// CouchDB's answers: 413 past the limit, else 400 for data that is not gzip.
fn gzip_error(e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
        Error::RequestTooLarge
    } else {
        Error::bad_request("Request body is not properly gzipped.")
    }
}

/// The read options of a document read's query string.
pub fn read_opts(q: &Query) -> Result<ReadOpts> {
    let meta = q.bool("meta", false)?;
    Ok(ReadOpts {
        revs: q.bool("revs", false)?,
        revs_info: q.bool("revs_info", false)? || meta,
        conflicts: q.bool("conflicts", false)? || meta,
        deleted_conflicts: q.bool("deleted_conflicts", false)? || meta,
        local_seq: q.bool("local_seq", false)?,
        attachments: q.bool("attachments", false)?,
        att_encoding_info: q.bool("att_encoding_info", false)?,
    })
}

/// CouchDB's `couch_doc_from_req`: the body's rev must match `?rev=`, and
/// whichever names the rev must match `If-Match`; a body without a rev
/// takes theirs.
pub fn resolve_request_rev(req: &HttpRequest, q: &Query, doc: &mut NewDoc) -> Result<()> {
    let query_rev = q.rev()?;
    match doc.revs.first() {
        Some(body_rev) => {
            if query_rev.as_ref().is_some_and(|r| r != body_rev) {
                return Err(Error::bad_request(
                    "Document rev from request body and query string have different values",
                ));
            }
            rev_with_etag(req, Some(body_rev.clone()))?;
        }
        None => doc.revs = rev_with_etag(req, query_rev)?.into_iter().collect(),
    }
    Ok(())
}

/// Whether every `%` of the path and query starts a two-hex-digit escape;
/// CouchDB answers any other URL with 400 `invalid_url_encoding`.
pub fn valid_url_encoding(uri: &actix_web::http::Uri) -> bool {
    let valid = |s: &str| {
        let b = s.as_bytes();
        b.iter().enumerate().all(|(i, &c)| {
            c != b'%'
                || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        })
    };
    valid(uri.path()) && uri.query().is_none_or(valid)
}

/// Parses a JSON body; CouchDB answers bad JSON with `invalid UTF-8 JSON`.
pub fn parse_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|_| Error::bad_request("invalid UTF-8 JSON"))
}

/// Like CouchDB's `chttpd:validate_ctype(Req, "application/json")`.
pub fn require_json_content_type(req: &HttpRequest) -> Result<()> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Error::BadContentType)
    }
}

/// A JSON object, or CouchDB's 400 for any other JSON value.
pub fn json_object(value: Value) -> Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::bad_request("Request body must be a JSON object")),
    }
}

/// A request body that must be a JSON object: JSON content type, at most
/// `limit` bytes, valid JSON, an object.
pub async fn json_object_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: u64,
) -> Result<Map<String, Value>> {
    require_json_content_type(req)?;
    json_object(parse_json(&read_body(payload, limit).await?)?)
}

/// The rev a request names in `?rev=` or the `If-Match` header.
pub fn rev_param(req: &HttpRequest, q: &Query) -> Result<Option<Rev>> {
    rev_with_etag(req, q.rev()?)
}

/// CouchDB's `extract_header_rev`: the `explicit` rev (query string or
/// body) or the `If-Match` one; both given and different is a 400.
pub fn rev_with_etag(req: &HttpRequest, explicit: Option<Rev>) -> Result<Option<Rev>> {
    let etag = header_str(req, header::IF_MATCH)
        .map(|s| Rev::parse(s.trim_matches('"')))
        .transpose()?;
    match (explicit, etag) {
        (Some(explicit), Some(etag)) if explicit != etag => Err(Error::bad_request(
            "Document rev and etag have different values",
        )),
        (Some(rev), _) | (None, Some(rev)) => Ok(Some(rev)),
        (None, None) => Ok(None),
    }
}

/// CouchDB's `parse_copy_destination_header`: the `Destination` of a COPY
/// as a document id decoded by `chttpd:unquote` (`+` is a space unless
/// `decode_plus_to_space` is off), and the rev text that may follow it
/// after `?key=`. An absolute URL is refused.
pub fn copy_destination(
    req: &HttpRequest,
    plus_to_space: bool,
) -> Result<(String, Option<String>)> {
    let dest = header_str(req, header::HeaderName::from_static("destination"))
        .ok_or_else(|| Error::bad_request("Destination header is mandatory for COPY."))?;
    if dest.starts_with("http://") || dest.starts_with("https://") {
        return Err(Error::bad_request("Destination URL must be relative."));
    }
    let (id, rev) = match dest.split_once('?') {
        Some((id, query)) => {
            let (_, rev) = query.split_once('=').ok_or(InvalidRev)?;
            (id, Some(rev.to_string()))
        }
        None => (dest, None),
    };
    Ok((super::router::unquote_with(id, plus_to_space), rev))
}

/// A header's value as text.
pub fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `X-Couch-Full-Commit: false`: the client (a replicator) will call
/// `_ensure_full_commit` itself, so a write need not wait for the disk.
pub fn delays_commit(req: &HttpRequest) -> bool {
    header_str(req, header::HeaderName::from_static("x-couch-full-commit"))
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
}

/// CouchDB's `etag_match`: whether `If-None-Match` lists `etag`. The
/// header is split on commas and spaces and a weak `W/` prefix is dropped
/// from each token; repeated headers count as one comma-joined list.
pub fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .any(|list| etag_listed(list, etag))
}

fn etag_listed(list: &str, etag: &str) -> bool {
    list.split([',', ' '])
        .filter(|token| !token.is_empty())
        .any(|token| token.strip_prefix("W/").unwrap_or(token) == etag)
}

/// Whether `Accept` admits `ctype` as mochiweb's `accepts_content_type`
/// decides: an absent header is `*/*`; `type/*` and `*/*` match; `q=0`
/// refuses.
pub fn accepts(req: &HttpRequest, ctype: &str) -> bool {
    let accept = header_str(req, header::ACCEPT).unwrap_or("*/*");
    let main = ctype.split('/').next().unwrap_or("");
    let wildcard = format!("{main}/*");
    accept.split(',').any(|entry| {
        let mut pieces = entry.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .map_or(Some(1.0), |v| v.trim().parse::<f64>().ok());
        q.is_some_and(|q| q > 0.0) && (media == "*/*" || media == ctype || media == wildcard)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        let q = Query::parse("startkey=%22gen-0000000001%22&limit=1&descending=true&x=1&x=2");
        assert_eq!(
            q.json(&["startkey", "start_key"]).ok().flatten(),
            Some(Value::from("gen-0000000001"))
        );
        assert_eq!(q.u64("limit").ok().flatten(), Some(1));
        assert_eq!(q.bool("descending", false).ok(), Some(true));
        assert_eq!(q.get("x"), Some("2"));
        assert!(Query::parse("limit=-1").u64("limit").is_err());
        assert!(Query::parse("descending=yes")
            .bool("descending", false)
            .is_err());
        assert!(Query::parse("startkey=abc").json(&["startkey"]).is_err());
        // mochiweb also splits on `;` (CouchDB's Mango suite lists indexes
        // with `_index?limit=2;skip=1`)
        let q = Query::parse("limit=2;skip=1;");
        assert_eq!(q.u64("limit").ok().flatten(), Some(2));
        assert_eq!(q.u64("skip").ok().flatten(), Some(1));
        assert_eq!(Query::parse("k=a+b").get("k"), Some("a b"));
    }

    #[test]
    fn url_encoding_checks() {
        let ok = |u: &str| valid_url_encoding(&u.parse().unwrap());
        assert!(ok("/db/doc%2Fx?startkey=%22a%22"));
        assert!(ok("/db/a%20b"));
        assert!(!ok("/db/doc%zz"));
        assert!(!ok("/db/doc%2"));
        assert!(!ok("/db/_all_docs?startkey=%zz"));
        assert!(!ok("/db%"));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn inflate(compressed: &[u8], limit: u64, piece: usize) -> Result<bytes::Bytes> {
        let mut inflater = Inflater::new(limit);
        for chunk in compressed.chunks(piece) {
            inflater.feed(chunk)?;
        }
        inflater.finish()
    }

    #[test]
    fn gzip_bodies_inflate_within_the_limit() {
        let body = br#"{"docs":[{"_id":"a"}]}"#;
        let zipped = gzip(body);
        for piece in [1, 7, zipped.len()] {
            assert_eq!(&inflate(&zipped, 1000, piece).unwrap()[..], body);
        }
        // two members, as zlib:gunzip takes them
        let mut two = gzip(b"[1,");
        two.extend(gzip(b"2]"));
        assert_eq!(&inflate(&two, 1000, 3).unwrap()[..], b"[1,2]");
        // exactly at the limit is fine, one byte more is not
        assert!(inflate(&zipped, body.len() as u64, 5).is_ok());
        let e = inflate(&zipped, body.len() as u64 - 1, 5).unwrap_err();
        assert!(matches!(e, Error::RequestTooLarge), "{e}");
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        // 64 MiB of zeros in about 64 KiB
        let zipped = gzip(&vec![0u8; 64 << 20]);
        assert!(zipped.len() < 100_000);
        let e = inflate(&zipped, 1 << 20, 16 << 10).unwrap_err();
        assert!(matches!(e, Error::RequestTooLarge), "{e}");
    }

    #[test]
    fn bad_gzip_is_a_bad_request() {
        let not_properly = "Request body is not properly gzipped.";
        let e = inflate(b"{\"plain\":true}", 1000, 4).unwrap_err();
        assert_eq!(e.to_string(), not_properly);
        let zipped = gzip(b"{\"cut\":\"short\"}");
        let e = inflate(&zipped[..zipped.len() - 6], 1000, 4).unwrap_err();
        assert_eq!(e.to_string(), not_properly);
        let mut corrupt = zipped.clone();
        let n = corrupt.len();
        corrupt[n - 5] ^= 0xff; // the CRC
        let e = inflate(&corrupt, 1000, 4).unwrap_err();
        assert_eq!(e.to_string(), not_properly);
    }

    #[test]
    fn etag_lists() {
        assert!(etag_listed("\"1-a\"", "\"1-a\""));
        assert!(etag_listed("W/\"1-a\"", "\"1-a\""));
        assert!(etag_listed("\"0-x\", W/\"1-a\"", "\"1-a\""));
        assert!(etag_listed("\"0-x\",\"1-a\"", "\"1-a\""));
        assert!(!etag_listed("\"1-a\"", "\"1-b\""));
        assert!(!etag_listed("1-a", "\"1-a\""));
        assert!(!etag_listed("w/\"1-a\"", "\"1-a\""));
        assert!(!etag_listed("*", "\"1-a\""));
        assert!(!etag_listed("", "\"1-a\""));
    }
}
