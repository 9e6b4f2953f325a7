//! The wire adapter: owns what the request line of every HTTP/1.x request
//! looks like by the time actix-http parses it. Nothing else in Settee
//! touches raw connection bytes.
//!
//! CouchDB (mochiweb) takes request targets with bytes that the `http`
//! crate's `Uri` refuses, and actix-http answers those with an empty 400:
//! raw `"`, `<`, `>` in a query (`?startkey="doc"`, `?keys=["a","b"]`, as
//! curl and Node's http client send them), `<`, `>` and backtick in a
//! path, control characters, raw UTF-8. [`Wire`] wraps a connection's
//! stream (TCP, or TLS after the handshake) and percent-encodes exactly
//! those bytes (`%XX`, uppercase hex) in each request target; a request
//! line the `http` crate already accepts passes byte for byte. Settee
//! percent-decodes path segments (after splitting on `/`, which is never
//! encoded) and query parameters, so the rewritten request means what the
//! raw one means to CouchDB. Headers and bodies are never changed.
//!
//! To find each request line on a keep-alive connection, [`Rewriter`]
//! follows HTTP/1.1 framing on the inbound bytes exactly as actix-http's
//! decoder reads it: the request line, header lines (`Content-Length`,
//! `Transfer-Encoding: chunked`, `Upgrade: websocket`), then the body (a
//! length, or chunked framing: size lines, data, trailers), then the next
//! request line. Where actix-http would refuse the framing (it answers
//! and closes the connection), or reads the body to the end of the stream
//! (an upgrade, `CONNECT`), every later byte passes unchanged.
//!
//! A request line actix-http would refuse even after the rewrite (a raw
//! space or tab in the target, which CouchDB refuses too, or an HTTP
//! version other than 1.0 and 1.1) is replaced by a synthetic request
//! carrying [`REFUSED_HEADER`] with this process's random marker and the
//! reason; the rest of the connection's input is dropped. The App's
//! middleware answers it with CouchDB's JSON 400 (`bad_request`) and
//! closes the connection, where actix-http alone sends an empty 400.

use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{ready, Context, Poll};

use actix_web::http::{header::HeaderMap, Method, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// actix-http's limit on an unparsed request head (`MAX_BUFFER_SIZE`):
/// past it actix answers 431 and closes.
const MAX_HEAD: usize = 131_072;

/// The header of the synthetic request that stands for a refused request
/// line: `X-Settee-Refused: <marker> <reason>`.
pub const REFUSED_HEADER: &str = "x-settee-refused";

/// A random marker per process, so that a client cannot forge the
/// synthetic request.
static MARKER: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());

/// The reason of a synthetic request made by [`Rewriter`] for a refused
/// request line; `None` for every request a client sent.
pub fn refused(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(REFUSED_HEADER)?
        .to_str()
        .ok()?
        .strip_prefix(MARKER.as_str())?
        .strip_prefix(' ')
}

/// A connection's stream whose inbound request lines are rewritten by a
/// [`Rewriter`]; writes pass through.
pub struct Wire<T> {
    io: T,
    rewriter: Rewriter,
    /// Rewritten bytes not yet handed to the reader, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
}

impl<T> Wire<T> {
    pub fn new(io: T) -> Wire<T> {
        Wire {
            io,
            rewriter: Rewriter::default(),
            pending: Vec::new(),
            sent: 0,
        }
    }

    /// Moves what fits of `pending` into `buf`.
    fn hand_over(&mut self, buf: &mut ReadBuf<'_>) {
        let n = buf.remaining().min(self.pending.len() - self.sent);
        buf.put_slice(&self.pending[self.sent..self.sent + n]);
        self.sent += n;
        if self.sent == self.pending.len() {
            self.pending.clear();
            self.sent = 0;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Wire<T> {
    /// Reads straight into `buf`; only bytes from the first one that the
    /// rewriter changes or holds back (a request line is held until its
    /// end) go through `pending`.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.sent < this.pending.len() {
                this.hand_over(buf);
                return Poll::Ready(Ok(()));
            }
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
            let after = buf.filled().len();
            if after == before {
                // End of stream: a partial request line goes as it is.
                this.rewriter.finish(&mut this.pending);
                if this.pending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let kept = this
                .rewriter
                .feed(&buf.filled()[before..after], &mut this.pending);
            buf.set_filled(before + kept);
            if kept > 0 {
                this.hand_over(buf);
                return Poll::Ready(Ok(()));
            }
            // Everything read was rewritten (handed over next turn) or is
            // a request line still incomplete: read on.
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Wire<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Where the inbound byte stream of one connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request line (held in `line` until its LF).
    Line,
    /// Reading header lines; `line` holds the current one.
    Headers,
    /// This many body bytes to go.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// After a refused request line: input is dropped.
    Discard,
    /// Framing that actix-http refuses, or a body read to the end of the
    /// stream: everything passes unchanged.
    Passthrough,
}

/// actix-http's chunked decoder states (`h1::chunked::ChunkedState`), with
/// the chunk size where it matters. Line ends are strictly CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    SizeFirst,
    SizeRest(u64),
    SizeLws(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
    /// The body's last LF was read: the next request follows.
    Done,
}

/// What the headers of the current request say about its body, gathered
/// as actix-http's `MessageType::set_headers` and `decode` check them.
#[derive(Debug, Default)]
struct Head {
    http11: bool,
    connect: bool,
    post: bool,
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
    websocket: bool,
    /// actix-http refuses this head (and closes the connection).
    invalid: bool,
}

impl Head {
    fn header(&mut self, line: &[u8]) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            self.invalid = true;
            return;
        };
        let name = &line[..colon];
        // `HeaderValue::to_str`: visible ASCII, spaces and tabs only.
        let value = std::str::from_utf8(&line[colon + 1..])
            .ok()
            .filter(|v| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)))
            .map(str::trim);
        if name.eq_ignore_ascii_case(b"content-length") {
            match value.filter(|v| !v.starts_with('+')).map(str::parse::<u64>) {
                Some(Ok(n)) if self.content_length.is_none() => self.content_length = Some(n),
                _ => self.invalid = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let seen = std::mem::replace(&mut self.transfer_encoding, true);
            match value {
                _ if seen || !self.http11 => self.invalid = true,
                Some(v) if v.eq_ignore_ascii_case("chunked") => self.chunked = true,
                _ => self.invalid = true,
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.websocket |= value.is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        }
    }

    /// The state after the head, as actix-http picks the body's decoder.
    fn body(&self) -> State {
        let length = self.content_length.filter(|&n| n > 0);
        let no_length = !self.chunked && !self.websocket && self.content_length.is_none();
        if self.invalid
            || (self.transfer_encoding && self.content_length.is_some())
            || (!self.http11 && self.post && no_length)
        {
            State::Passthrough
        } else if self.chunked {
            State::Chunked(Chunk::SizeFirst)
        } else if self.websocket {
            State::Passthrough
        } else if let Some(n) = length {
            State::Body(n)
        } else if self.connect {
            State::Passthrough
        } else {
            State::Line
        }
    }
}

/// The rewriting state machine of one connection's inbound bytes. Pure:
/// bytes in, bytes out, no I/O.
#[derive(Debug)]
pub struct Rewriter {
    state: State,
    /// The request line, or the header line, read so far.
    line: Vec<u8>,
    /// Bytes of the current request head so far.
    head_len: usize,
    head: Head,
}

impl Default for Rewriter {
    fn default() -> Rewriter {
        Rewriter {
            state: State::Line,
            line: Vec::new(),
            head_len: 0,
            head: Head::default(),
        }
    }
}

impl Rewriter {
    /// Consumes `input`. What actix-http should read is `input[..n]`
    /// (unchanged) followed by what this appends to `out`, where `n` is
    /// the returned count; anything appended earlier must have been read
    /// already.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut kept = 0;
        while kept < input.len() {
            let n = self.verbatim(&input[kept..]);
            if n == 0 {
                break;
            }
            kept += n;
        }
        let mut at = kept;
        while at < input.len() {
            let rest = &input[at..];
            let n = match self.verbatim(rest) {
                0 => self.transform(rest, out),
                n => {
                    out.extend_from_slice(&rest[..n]);
                    n
                }
            };
            at += n;
        }
        kept
    }

    /// At the end of the stream: an incomplete request line goes as it is.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state == State::Line {
            out.append(&mut self.line);
        }
    }

    /// Consumes a leading part of `rest` that passes unchanged; 0 when the
    /// state rewrites or drops bytes.
    fn verbatim(&mut self, rest: &[u8]) -> usize {
        match self.state {
            State::Line | State::Discard => 0,
            State::Passthrough => rest.len(),
            State::Body(left) => {
                let n = left.min(rest.len() as u64);
                self.state = match left - n {
                    0 => State::Line,
                    left => State::Body(left),
                };
                n as usize
            }
            State::Headers => {
                let (part, complete) = up_to_lf(rest);
                self.head_len += part.len();
                if self.head_len > MAX_HEAD {
                    self.state = State::Passthrough;
                    self.line.clear();
                    return part.len();
                }
                self.line.extend_from_slice(part);
                if complete {
                    self.header_line();
                }
                part.len()
            }
            State::Chunked(Chunk::Data(left)) => {
                let n = left.min(rest.len() as u64);
                self.state = State::Chunked(match left - n {
                    0 => Chunk::DataCr,
                    left => Chunk::Data(left),
                });
                n as usize
            }
            State::Chunked(chunk) => {
                self.state = match chunk_step(chunk, rest[0]) {
                    Some(Chunk::Done) => State::Line,
                    Some(next) => State::Chunked(next),
                    None => State::Passthrough,
                };
                1
            }
        }
    }

    /// Consumes a leading part of `rest` in a state that rewrites or
    /// drops bytes, appending what replaces it to `out`.
    fn transform(&mut self, rest: &[u8], out: &mut Vec<u8>) -> usize {
        if self.state == State::Discard {
            return rest.len();
        }
        let (part, complete) = up_to_lf(rest);
        self.line.extend_from_slice(part);
        if complete {
            self.request_line(out);
        } else if self.line.len() > MAX_HEAD {
            // actix-http answers 431 for a head this long.
            out.append(&mut self.line);
            self.state = State::Passthrough;
        }
        part.len()
    }

    /// A complete request line is in `line`.
    fn request_line(&mut self, out: &mut Vec<u8>) {
        let line = std::mem::take(&mut self.line);
        if strip_eol(&line).is_empty() {
            // httparse skips empty lines before a request.
            out.extend_from_slice(&line);
        } else {
            let rewritten = rewrite_request_line(&line);
            match check_request_line(&rewritten) {
                Ok(head) => {
                    out.extend_from_slice(&rewritten);
                    self.head = head;
                    self.head_len = rewritten.len();
                    self.state = State::Headers;
                }
                Err(reason) => {
                    out.extend_from_slice(refused_request(reason).as_bytes());
                    self.state = State::Discard;
                }
            }
        }
        self.line = line;
        self.line.clear();
    }

    /// A complete header line is in `line`.
    fn header_line(&mut self) {
        let header = strip_eol(&self.line);
        if header.is_empty() {
            self.state = self.head.body();
        } else {
            self.head.header(header);
        }
        self.line.clear();
    }
}

/// The bytes of `rest` up to and including the first LF, and whether
/// there was one.
fn up_to_lf(rest: &[u8]) -> (&[u8], bool) {
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..=i], true),
        None => (rest, false),
    }
}

/// A line without its LF or CRLF.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One step of actix-http's chunked decoder on one byte (outside chunk
/// data); `None` where actix-http fails the body.
fn chunk_step(chunk: Chunk, b: u8) -> Option<Chunk> {
    let hex = (b as char).to_digit(16).map(u64::from);
    Some(match (chunk, b) {
        (Chunk::SizeFirst, _) => Chunk::SizeRest(hex?),
        (Chunk::SizeRest(size), _) if hex.is_some() => {
            Chunk::SizeRest(size.checked_mul(16)?.checked_add(hex?)?)
        }
        (Chunk::SizeRest(size) | Chunk::SizeLws(size), b'\t' | b' ') => Chunk::SizeLws(size),
        (Chunk::SizeRest(size) | Chunk::SizeLws(size) | Chunk::Extension(size), b';') => {
            Chunk::Extension(size)
        }
        (Chunk::SizeRest(size) | Chunk::SizeLws(size) | Chunk::Extension(size), b'\r') => {
            Chunk::SizeLf(size)
        }
        (Chunk::Extension(_), 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => return None,
        (Chunk::Extension(size), _) => Chunk::Extension(size),
        (Chunk::SizeLf(0), b'\n') => Chunk::EndCr,
        (Chunk::SizeLf(size), b'\n') => Chunk::Data(size),
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::SizeFirst,
        (Chunk::EndCr, b'\r') => Chunk::EndLf,
        (Chunk::EndCr, _) | (Chunk::Trailer, _) if b != b'\r' => Chunk::Trailer,
        (Chunk::Trailer, b'\r') => Chunk::TrailerLf,
        (Chunk::TrailerLf, b'\n') => Chunk::EndCr,
        (Chunk::EndLf, b'\n') => Chunk::Done,
        _ => return None,
    })
}

/// Which part of a request target a byte is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Query,
    Fragment,
}

/// Whether the `http` crate (0.2, `PathAndQuery::from_shared`) takes this
/// byte raw in this part of a target. In a fragment, which it drops
/// unchecked, httparse's own checks count (no controls, no DEL, valid
/// UTF-8); encoding its non-ASCII bytes as well keeps it simple.
fn allowed(part: Part, b: u8) -> bool {
    match part {
        Part::Path => matches!(
            b,
            0x21 | b'"' | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | b'{' | 0x7C | b'}' | 0x7E
        ),
        Part::Query => matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E),
        Part::Fragment => (0x21..=0x7E).contains(&b),
    }
}

/// Percent-encodes the bytes of a request target that actix-http refuses
/// (see [`allowed`]) but CouchDB takes; everything else, `%` escapes
/// included, stays, and so does a tab, which CouchDB refuses as it refuses
/// a space. Only
/// an origin-form target (`/…`) or the path of an absolute one
/// (`http://host/…`) is touched; `?` starts the query, `#` the fragment
/// (dropped by CouchDB and actix alike).
pub fn encode_target(target: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let start = if target.starts_with(b"/") {
        0
    } else if let Some(scheme_end) = target.windows(3).position(|w| w == b"://") {
        let authority = scheme_end + 3;
        target[authority..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(target.len(), |i| authority + i)
    } else {
        target.len()
    };
    out.extend_from_slice(&target[..start]);
    let mut part = Part::Path;
    for &b in &target[start..] {
        part = match (part, b) {
            (Part::Path, b'?') => Part::Query,
            (Part::Path | Part::Query, b'#') => Part::Fragment,
            _ => part,
        };
        // A tab stays: like a space, CouchDB refuses it.
        if allowed(part, b) || b == b'?' || b == b'#' || b == b'\t' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// The request line with its target encoded by [`encode_target`]; as it
/// is when it does not split into method, target and version at single
/// spaces (a raw space in the target stays, and is refused).
fn rewrite_request_line(line: &[u8]) -> Vec<u8> {
    let content = strip_eol(line);
    let eol = &line[content.len()..];
    let mut parts = content.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return line.to_vec();
    };
    if version.contains(&b' ') {
        return line.to_vec();
    }
    let mut out = Vec::with_capacity(line.len() + 32);
    out.extend_from_slice(method);
    out.push(b' ');
    encode_target(target, &mut out);
    out.push(b' ');
    out.extend_from_slice(version);
    out.extend_from_slice(eol);
    out
}

/// Whether actix-http takes this request line, checked with the parsers
/// it uses (httparse, then `Method` and `Uri`); what the head needs to
/// know about it, or why it is refused.
fn check_request_line(line: &[u8]) -> Result<Head, &'static str> {
    let mut buf = Vec::with_capacity(line.len() + 2);
    buf.extend_from_slice(line);
    buf.extend_from_slice(b"\r\n");
    let mut headers = [httparse::EMPTY_HEADER; 0];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = matches!(req.parse(&buf), Ok(httparse::Status::Complete(_)));
    let (Some(method), Some(path), Some(version), true) =
        (req.method, req.path, req.version, parsed)
    else {
        return Err(refusal_reason(strip_eol(line)));
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| "Bad request line")?;
    if Uri::try_from(path.as_bytes()).is_err() {
        return Err("Bad request line: invalid URL");
    }
    Ok(Head {
        http11: version == 1,
        connect: method == Method::CONNECT,
        post: method == Method::POST,
        ..Head::default()
    })
}

/// Why httparse refuses a request line.
fn refusal_reason(content: &[u8]) -> &'static str {
    let version = content.rsplit(|&b| b == b' ').next().unwrap_or_default();
    let spaces = content.iter().filter(|&&b| b == b' ').count();
    if spaces > 2 && version.starts_with(b"HTTP/") {
        "Bad request line: spaces in the URL must be percent-encoded (%20)"
    } else if content.contains(&b'\t') {
        "Bad request line: tabs in the URL must be percent-encoded (%09)"
    } else if spaces == 2 && version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        "Bad request line: only HTTP/1.0 and HTTP/1.1 are served"
    } else {
        "Bad request line"
    }
}

/// The synthetic request that stands for a refused request line.
fn refused_request(reason: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: settee\r\nConnection: close\r\n{REFUSED_HEADER}: {} {reason}\r\n\r\n",
        MARKER.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Everything actix-http would read after `input` went through a
    /// fresh rewriter in the given pieces.
    fn rewrite_in(input: &[u8], pieces: &[usize]) -> Vec<u8> {
        let mut rewriter = Rewriter::default();
        let mut read = Vec::new();
        let mut at = 0;
        let mut sizes = pieces.iter().copied().filter(|&n| n > 0);
        while at < input.len() {
            let n = sizes.next().unwrap_or(input.len()).min(input.len() - at);
            let mut out = Vec::new();
            let kept = rewriter.feed(&input[at..at + n], &mut out);
            read.extend_from_slice(&input[at..at + kept]);
            read.extend_from_slice(&out);
            at += n;
        }
        let mut out = Vec::new();
        rewriter.finish(&mut out);
        read.extend_from_slice(&out);
        read
    }

    fn rewrite(input: &[u8]) -> Vec<u8> {
        rewrite_in(input, &[])
    }

    fn byte_by_byte(input: &[u8]) -> Vec<u8> {
        rewrite_in(input, &vec![1; input.len()])
    }

    fn line(target: &[u8]) -> Vec<u8> {
        [b"GET ", target, b" HTTP/1.1\r\n"].concat()
    }

    fn decoded(target: &[u8]) -> Vec<u8> {
        percent_encoding::percent_decode(target).collect()
    }

    fn encoded(target: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_target(target, &mut out);
        out
    }

    /// For every byte, in a path and in a query: the rewritten line is
    /// one actix-http takes, it changed exactly when actix-http refused
    /// the raw one, and it decodes to the same bytes. A tab stays (and is
    /// refused), as CouchDB refuses it.
    #[test]
    fn encodes_exactly_the_bytes_actix_refuses() {
        for b in (0..=255u8).filter(|&b| b != b' ' && b != b'\n') {
            for (before, after) in [(&b"/db/a"[..], &b"b"[..]), (b"/db/_all_docs?key=a", b"b")] {
                let target = [before, &[b], after].concat();
                let raw = line(&target);
                let rewritten = rewrite_request_line(&raw);
                let refused_raw = check_request_line(&raw).is_err();
                if b == b'\t' {
                    assert_eq!(rewritten, raw);
                    assert!(refused_raw);
                    continue;
                }
                assert!(
                    check_request_line(&rewritten).is_ok(),
                    "{b:#x} in {target:?}"
                );
                assert_eq!(rewritten != raw, refused_raw, "{b:#x} in {target:?}");
                let new_target = &rewritten[4..rewritten.len() - 11];
                assert_eq!(decoded(new_target), decoded(&target), "{b:#x}");
                if rewritten != raw {
                    assert_eq!(
                        new_target,
                        [before, format!("%{b:02X}").as_bytes(), after].concat()
                    );
                }
            }
        }
    }

    #[test]
    fn couchdb_documentation_examples() {
        let cases: [(&[u8], &[u8]); 8] = [
            (
                br#"/mydb/_all_docs?include_docs=true&startkey="doc"&endkey="doc\ufff0""#,
                br#"/mydb/_all_docs?include_docs=true&startkey=%22doc%22&endkey=%22doc\ufff0%22"#,
            ),
            (
                br#"/db/_all_docs?keys=["a","b"]"#,
                br#"/db/_all_docs?keys=[%22a%22,%22b%22]"#,
            ),
            (
                br#"/db/doc?open_revs=["1-abc"]"#,
                br#"/db/doc?open_revs=[%221-abc%22]"#,
            ),
            // `"`, `{`, `}`, `|`, `^`, `\` are taken raw in a path.
            (br#"/db/a"b{c}|^\"#, br#"/db/a"b{c}|^\"#),
            (b"/db/a<b>`c", b"/db/a%3Cb%3E%60c"),
            (
                "/db/caf\u{e9}?key=\"\u{e9}\"".as_bytes(),
                b"/db/caf%C3%A9?key=%22%C3%A9%22",
            ),
            (
                br#"http://h:5984/db/a`b?k="v""#,
                br#"http://h:5984/db/a%60b?k=%22v%22"#,
            ),
            // What is already encoded stays; a fragment is dropped anyway.
            (br#"/db/%22a%22?k=%7B"x"#, br#"/db/%22a%22?k=%7B%22x"#),
        ];
        for (raw, want) in cases {
            assert_eq!(encoded(raw), want, "{}", String::from_utf8_lossy(raw));
            assert_eq!(rewrite(&line(raw)), line(want));
        }
        assert_eq!(encoded(br#"/db/a#"x"<"#), br#"/db/a#"x"<"#);
        // httparse wants UTF-8 even in a fragment
        assert_eq!(encoded(b"/db/a#\xc3\x01"), b"/db/a#%C3%01");
        assert_eq!(encoded(b"*"), b"*");
    }

    #[test]
    fn valid_request_lines_pass_unchanged() {
        for raw in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"GET /db/_all_docs?startkey=%22a%22&limit=2 HTTP/1.0\n",
            b"PUT /db/a%2Fb HTTP/1.1\r\n",
            br#"GET /db/a"b{}?k={[|]} HTTP/1.1"#,
            b"\r\n",
        ] {
            assert_eq!(rewrite(raw), raw);
        }
    }

    /// The synthetic request is one actix-http takes, carries the reason,
    /// and nothing after the refused line reaches actix-http.
    #[test]
    fn refused_request_line_becomes_a_marked_request() {
        for (raw, reason) in [
            (&b"GET /db/a b HTTP/1.1\r\n"[..], "spaces"),
            (b"GET /db/a\tb HTTP/1.1\r\n", "tabs"),
            (b"GET /db HTTP/2.0\r\n", "HTTP/1.0 and HTTP/1.1"),
            (b"GARBAGE\r\n", "Bad request line"),
            (b"GET db/a HTTP/1.1\r\n", "invalid URL"),
        ] {
            let input = [raw, b"Host: h\r\nContent-Length: 5\r\n\r\nhello"].concat();
            let read = rewrite(&input);
            assert_eq!(byte_by_byte(&input), read);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut headers);
            assert_eq!(req.parse(&read), Ok(httparse::Status::Complete(read.len())));
            let mut map = HeaderMap::new();
            for h in req.headers.iter() {
                map.append(
                    h.name.parse().expect("name"),
                    actix_web::http::header::HeaderValue::from_bytes(h.value).expect("value"),
                );
            }
            let got = refused(&map).expect("marked");
            assert!(got.contains(reason), "{got}");
        }
        let mut forged = HeaderMap::new();
        forged.insert(
            REFUSED_HEADER.parse().expect("name"),
            actix_web::http::header::HeaderValue::from_static("x because"),
        );
        assert_eq!(refused(&forged), None);
    }

    fn keep_alive(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn follows_bodies_between_requests() {
        let body = br#"{"docs":[{"_id":"x"}]} GET /db?k="v" HTTP/1.1"#;
        let input = keep_alive(&[
            b"POST /db/_bulk_docs HTTP/1.1\r\nHost: h\r\ncontent-length: ",
            body.len().to_string().as_bytes(),
            b"\r\n\r\n",
            body,
            br#"GET /db/_all_docs?keys=["a"] HTTP/1.1"#,
            b"\r\nHost: h\r\nTransfer-Encoding:  Chunked \r\n\r\n",
            b"5;ext=\"1\"\r\nGET /\r\nB\r\n\" HTTP/1.1\r\r\n0\r\nX-Trailer: \"t\"\r\n\r\n",
            b"\r\n",
            br#"GET /db/a?rev="1" HTTP/1.0"#,
            b"\nContent-Length:0\n\n",
            br#"DELETE /db/a?rev="1" HTTP/1.1"#,
            b"\r\n\r\n",
        ]);
        let want = keep_alive(&[
            b"POST /db/_bulk_docs HTTP/1.1\r\nHost: h\r\ncontent-length: ",
            body.len().to_string().as_bytes(),
            b"\r\n\r\n",
            body,
            br#"GET /db/_all_docs?keys=[%22a%22] HTTP/1.1"#,
            b"\r\nHost: h\r\nTransfer-Encoding:  Chunked \r\n\r\n",
            b"5;ext=\"1\"\r\nGET /\r\nB\r\n\" HTTP/1.1\r\r\n0\r\nX-Trailer: \"t\"\r\n\r\n",
            b"\r\n",
            br#"GET /db/a?rev=%221%22 HTTP/1.0"#,
            b"\nContent-Length:0\n\n",
            br#"DELETE /db/a?rev=%221%22 HTTP/1.1"#,
            b"\r\n\r\n",
        ]);
        assert_eq!(rewrite(&input), want);
        assert_eq!(byte_by_byte(&input), want);
    }

    /// Framing actix-http refuses, or a body read to the end of the
    /// stream: nothing after it is touched.
    #[test]
    fn passes_through_what_actix_does_not_frame() {
        let next = br#"GET /db?k="v" HTTP/1.1"#;
        for head in [
            &b"POST /db HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"[..],
            b"POST /db HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            b"POST /db HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST /db HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            b"POST /db HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /db HTTP/1.0\r\n\r\n",
            b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT h:1 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST /db HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
            b"POST /db HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        ] {
            let input = [head, next, b"\r\n\r\n"].concat();
            assert_eq!(rewrite(&input), input, "{}", String::from_utf8_lossy(head));
        }
        let long = [b"GET /".as_slice(), &vec![b'a'; MAX_HEAD + 10]].concat();
        assert_eq!(rewrite(&long), long);
    }

    #[test]
    fn an_incomplete_request_line_goes_at_the_end_of_the_stream() {
        assert_eq!(rewrite(br#"GET /db?k="v" HTT"#), br#"GET /db?k="v" HTT"#);
    }

    /// One request with a body, as the wire carries it and as actix-http
    /// should read it.
    #[derive(Debug, Clone)]
    struct Message {
        blank_lines: usize,
        method: &'static str,
        target: Vec<u8>,
        lf_only: bool,
        header_case: bool,
        body: Body,
    }

    #[derive(Debug, Clone)]
    enum Body {
        None,
        Length(Vec<u8>),
        Chunked {
            chunks: Vec<Vec<u8>>,
            upper_hex: bool,
            extension: bool,
            trailers: bool,
        },
    }

    impl Message {
        /// The wire bytes and what actix-http should read of them.
        fn bytes(&self) -> (Vec<u8>, Vec<u8>) {
            let eol: &[u8] = if self.lf_only { b"\n" } else { b"\r\n" };
            let mut head = Vec::new();
            head.extend_from_slice(b"Host: h");
            head.extend_from_slice(eol);
            head.extend_from_slice(br#"X-Quoted: "a b" {c}"#);
            head.extend_from_slice(eol);
            let name = |n: &str| {
                if self.header_case {
                    n.to_ascii_uppercase()
                } else {
                    n.to_string()
                }
            };
            let mut body = Vec::new();
            match &self.body {
                Body::None => {}
                Body::Length(bytes) => {
                    let cl = format!("{}:  {} ", name("Content-Length"), bytes.len());
                    head.extend_from_slice(cl.as_bytes());
                    head.extend_from_slice(eol);
                    body.extend_from_slice(bytes);
                }
                Body::Chunked {
                    chunks,
                    upper_hex,
                    extension,
                    trailers,
                } => {
                    let te = format!("{}: chunked", name("Transfer-Encoding"));
                    head.extend_from_slice(te.as_bytes());
                    head.extend_from_slice(eol);
                    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                        let size = if *upper_hex {
                            format!("{:X}", chunk.len())
                        } else {
                            format!("{:x}", chunk.len())
                        };
                        body.extend_from_slice(size.as_bytes());
                        if *extension {
                            body.extend_from_slice(br#" ;name="v a""#);
                        }
                        body.extend_from_slice(b"\r\n");
                        body.extend_from_slice(chunk);
                        body.extend_from_slice(b"\r\n");
                    }
                    body.extend_from_slice(b"0\r\n");
                    if *trailers {
                        body.extend_from_slice(b"X-Sum: \"1\"\r\nGET /\"x\" HTTP/1.1\r\n");
                    }
                    body.extend_from_slice(b"\r\n");
                }
            }
            head.extend_from_slice(eol);
            let request_line = |target: &[u8]| {
                let blanks = eol.repeat(self.blank_lines);
                [
                    &blanks,
                    self.method.as_bytes(),
                    b" ",
                    target,
                    b" HTTP/1.1",
                    eol,
                ]
                .concat()
            };
            let raw = [request_line(&self.target), head.clone(), body.clone()].concat();
            let read = [request_line(&encoded(&self.target)), head, body].concat();
            (raw, read)
        }
    }

    fn target() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop::sample::select(
            b"aZ09-_.~/?&=+%#\"{}|^`\\<>[],:;\r\x00\x01\x1f\x7f\xc3\xa9\xff".to_vec(),
        );
        vec(byte, 0..24).prop_map(|rest| [b"/".as_slice(), &rest].concat())
    }

    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..48),
            vec(prop::sample::select(b"\r\n GET/\"{}HTP1.0".to_vec()), 0..48),
            Just(b"\r\nGET /db?k=\"v\" HTTP/1.1\r\nHost: h\r\n\r\n".to_vec()),
        ]
    }

    fn message() -> impl Strategy<Value = Message> {
        let body = prop_oneof![
            Just(Body::None),
            body_bytes().prop_map(Body::Length),
            (
                vec(body_bytes(), 0..4),
                any::<bool>(),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(chunks, upper_hex, extension, trailers)| Body::Chunked {
                    chunks,
                    upper_hex,
                    extension,
                    trailers,
                }),
        ];
        (
            0..2usize,
            prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "COPY", "HEAD"]),
            target(),
            any::<bool>(),
            any::<bool>(),
            body,
        )
            .prop_map(
                |(blank_lines, method, target, lf_only, header_case, body)| Message {
                    blank_lines,
                    method,
                    target,
                    lf_only,
                    header_case,
                    body,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On a keep-alive connection, however the bytes arrive, every
        /// request line is rewritten and nothing else is touched.
        #[test]
        fn rewrites_request_lines_only_in_any_split(
            messages in vec(message(), 1..6),
            pieces in vec(0..40usize, 0..64),
        ) {
            let (mut raw, mut read) = (Vec::new(), Vec::new());
            for m in &messages {
                let (r, e) = m.bytes();
                raw.extend(r);
                read.extend(e);
            }
            prop_assert_eq!(&rewrite(&raw), &read);
            prop_assert_eq!(&rewrite_in(&raw, &pieces), &read);
            prop_assert_eq!(&byte_by_byte(&raw), &read);
        }

        /// Any request target: the rewritten line is taken by actix-http
        /// and decodes to what the raw one decodes to.
        #[test]
        fn any_target_is_taken_and_keeps_its_meaning(target in target()) {
            let raw = line(&target);
            let rewritten = rewrite(&raw);
            prop_assert!(check_request_line(&rewritten).is_ok());
            prop_assert_eq!(decoded(&rewritten), decoded(&raw));
        }

        /// Arbitrary input never panics, and splitting never changes what
        /// actix-http reads.
        #[test]
        fn arbitrary_bytes_in_any_split(
            input in vec(prop::sample::select(b"GET /\"? HTTP/1.1\r\n:Content-Length0123456789abcdefTransfer-Encodingchunked;".to_vec()), 0..300),
            pieces in vec(0..20usize, 0..64),
        ) {
            prop_assert_eq!(rewrite_in(&input, &pieces), rewrite(&input));
        }
    }

    /// The adapter over a real stream: bytes that arrive in small pieces,
    /// read into small buffers, come out rewritten.
    #[tokio::test]
    async fn wire_rewrites_a_stream() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let input = keep_alive(&[
            br#"GET /db/_all_docs?keys=["a","b"] HTTP/1.1"#,
            b"\r\nHost: h\r\nContent-Length: 7\r\n\r\n\"x\" \"y\"",
            br#"GET /db/a?open_revs=["1-abc"] HTTP/1.1"#,
            b"\r\nHost: h\r\n\r\n",
        ]);
        let want = rewrite(&input);
        let (mut client, server) = tokio::io::duplex(64);
        let sender = tokio::spawn(async move {
            for piece in input.chunks(3) {
                client.write_all(piece).await.expect("write");
            }
            client.shutdown().await.expect("shutdown");
            client
        });
        let mut wire = Wire::new(server);
        let mut read = Vec::new();
        let mut buf = [0u8; 5];
        loop {
            let n = wire.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            read.extend_from_slice(&buf[..n]);
        }
        assert_eq!(read, want);
        let mut client = sender.await.expect("sender");
        wire.write_all(b"HTTP/1.1 200 OK\r\n\r\n")
            .await
            .expect("write back");
        let mut back = [0u8; 19];
        client.read_exact(&mut back).await.expect("read back");
        assert_eq!(&back, b"HTTP/1.1 200 OK\r\n\r\n");
    }
}
