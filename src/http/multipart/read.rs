//! Reading a `multipart/related` request body as CouchDB's
//! `couch_httpd:parse_multipart_request` does, streaming.
//!
//! CouchDB's parser is more lenient than a general MIME parser: after a
//! boundary line it reads the header block up to the first blank line, and
//! that block may be empty (`--B\r\n\r\ndata`), which clients that write
//! multipart bodies by hand (soledad, couchdb-python users, the replicator
//! of older CouchDBs) rely on. Each part's body runs to the next
//! `\r\n--B`; `--` right after it ends the body. General-purpose crates
//! (multer) reject the empty header block, hence this reader.

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::error::{Error, Result};

/// The most header bytes one part may carry.
const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// Where the reader stands in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary (any preamble is skipped).
    Preamble,
    /// Right after a boundary that was not the last: a header block next.
    Headers,
    /// Inside a part's body.
    Body,
    /// Right after a body's closing delimiter: `--` or another part.
    Delimiter,
    /// The closing boundary was read.
    Done,
}

/// One part's headers: names lowercased, values trimmed.
pub type Headers = Vec<(String, String)>;

/// A streaming reader of `multipart/related` parts.
pub struct RelatedReader<S> {
    stream: S,
    buf: BytesMut,
    /// `--` + boundary: how the first boundary line starts.
    first: Vec<u8>,
    /// `\r\n--` + boundary: what ends a part's body.
    delimiter: Vec<u8>,
    state: State,
    ended: bool,
}

fn malformed() -> Error {
    Error::bad_request("Malformed multipart body")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<S, E> RelatedReader<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    pub fn new(stream: S, boundary: &str) -> RelatedReader<S> {
        RelatedReader {
            stream,
            buf: BytesMut::new(),
            first: [b"--", boundary.as_bytes()].concat(),
            delimiter: [b"\r\n--", boundary.as_bytes()].concat(),
            state: State::Preamble,
            ended: false,
        }
    }

    /// Reads more of the body into the buffer; false at its end.
    async fn fill(&mut self) -> Result<bool> {
        if self.ended {
            return Ok(false);
        }
        match self.stream.next().await {
            Some(Ok(chunk)) => {
                self.buf.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(e)) => Err(Error::bad_request(format!("Malformed multipart body: {e}"))),
            None => {
                self.ended = true;
                Ok(false)
            }
        }
    }

    /// Moves to the next part and returns its headers; `None` after the
    /// closing boundary. Whatever is left of the current part's body is
    /// skipped.
    pub async fn next_part(&mut self) -> Result<Option<Headers>> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Body => while self.chunk().await?.is_some() {},
                State::Preamble => match find(&self.buf, &self.first) {
                    Some(at) => {
                        self.buf.advance(at + self.first.len());
                        self.state = State::Headers;
                    }
                    None => {
                        // keep what could be the start of the boundary
                        let keep = self.first.len() - 1;
                        if self.buf.len() > keep {
                            let drop = self.buf.len() - keep;
                            self.buf.advance(drop);
                        }
                        if !self.fill().await? {
                            return Err(malformed());
                        }
                    }
                },
                State::Delimiter => {
                    if self.buf.len() < 2 {
                        if !self.fill().await? {
                            return Err(malformed());
                        }
                        continue;
                    }
                    if self.buf.starts_with(b"--") {
                        self.state = State::Done;
                        return Ok(None);
                    }
                    self.state = State::Headers;
                }
                State::Headers => match find(&self.buf, b"\r\n\r\n") {
                    Some(at) => {
                        let block = self.buf.split_to(at);
                        self.buf.advance(4);
                        self.state = State::Body;
                        return parse_headers(&block).map(Some);
                    }
                    None => {
                        if self.buf.len() > MAX_HEADER_BLOCK || !self.fill().await? {
                            return Err(malformed());
                        }
                    }
                },
            }
        }
    }

    /// The next piece of the current part's body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        if self.state != State::Body {
            return Ok(None);
        }
        loop {
            if let Some(at) = find(&self.buf, &self.delimiter) {
                if at > 0 {
                    return Ok(Some(self.buf.split_to(at).freeze()));
                }
                self.buf.advance(self.delimiter.len());
                self.state = State::Delimiter;
                return Ok(None);
            }
            // Everything but a possible start of the delimiter is body.
            let safe = self.buf.len().saturating_sub(self.delimiter.len() - 1);
            if safe > 0 {
                return Ok(Some(self.buf.split_to(safe).freeze()));
            }
            if !self.fill().await? {
                return Err(malformed());
            }
        }
    }
}

/// A header block (`\r\n`-separated `Name: value` lines; empty lines are
/// skipped, as CouchDB's `split_header` does).
fn parse_headers(block: &[u8]) -> Result<Headers> {
    let text = std::str::from_utf8(block).map_err(|_| malformed())?;
    let mut headers = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::bad_request("bad part header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one header of a part.
    pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads every part, feeding the body `step` bytes at a time.
    fn read_all(body: &[u8], step: usize) -> Result<Vec<(Headers, Vec<u8>)>> {
        let chunks: Vec<std::result::Result<Bytes, std::io::Error>> = body
            .chunks(step)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        rt.block_on(async {
            let mut reader = RelatedReader::new(futures::stream::iter(chunks), "B");
            let mut parts = Vec::new();
            while let Some(headers) = reader.next_part().await? {
                let mut data = Vec::new();
                while let Some(c) = reader.chunk().await? {
                    data.extend_from_slice(&c);
                }
                parts.push((headers, data));
            }
            Ok(parts)
        })
    }

    #[test]
    fn reads_parts_with_and_without_headers_at_any_chunking() {
        let body = b"preamble\r\n--B\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--B\r\n\r\nhel\r\n-lo\r\n--B\r\nContent-Disposition: attachment; filename=\"x\"\r\n\r\n\r\n--B--";
        for step in 1..body.len() {
            let parts = read_all(body, step).unwrap_or_default();
            assert_eq!(parts.len(), 3, "step {step}");
            assert_eq!(
                header(&parts[0].0, "content-type"),
                Some("application/json")
            );
            assert_eq!(parts[0].1, b"{\"a\":1}");
            assert!(parts[1].0.is_empty());
            assert_eq!(parts[1].1, b"hel\r\n-lo");
            assert_eq!(parts[2].1, b"");
        }
    }

    #[test]
    fn a_body_without_its_closing_boundary_is_malformed() {
        assert!(read_all(b"--B\r\n\r\nabc", 4).is_err());
        assert!(read_all(b"no boundary at all", 4).is_err());
        assert!(read_all(b"--B\r\nno-colon\r\n\r\nx\r\n--B--", 4).is_err());
    }
}
