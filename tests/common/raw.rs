//! Raw HTTP/1.1 over a plain `TcpStream`: request bytes go exactly as
//! written (reqwest would percent-encode a request target), responses are
//! read one at a time, so several requests share one keep-alive
//! connection.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::url;

/// One keep-alive connection to the shared server.
pub struct RawConn {
    stream: TcpStream,
    /// Bytes read past the last response.
    buf: Vec<u8>,
}

/// A response read off a [`RawConn`].
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts CouchDB's error shape.
    pub fn assert_error(&self, status: u16, error: &str) {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{text}");
        assert_eq!(self.json()["error"], error, "{text}");
    }
}

impl RawConn {
    pub fn open() -> RawConn {
        let addr = url().trim_start_matches("http://");
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, bytes: &[u8]) -> RawReply {
        self.send(bytes);
        self.response()
    }

    /// `GET {target}` with no body, the target sent as it is.
    pub fn get(&mut self, target: &[u8]) -> RawReply {
        self.request(&[b"GET ", target, b" HTTP/1.1\r\nHost: settee\r\n\r\n"].concat())
    }

    /// Reads more bytes; false at the end of the stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Takes the next `n` bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill(), "connection closed inside a body");
        }
        self.buf.drain(..n).collect()
    }

    /// Takes one line, without its CRLF.
    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(i + 2);
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            assert!(self.fill(), "connection closed inside a response head");
        }
    }

    /// Reads the next response (length-delimited or chunked body).
    pub fn response(&mut self) -> RawReply {
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header");
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut reply = RawReply {
            status,
            headers,
            body: Vec::new(),
        };
        if reply
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let size = self.line();
                let size = usize::from_str_radix(size.split(';').next().unwrap_or(""), 16)
                    .expect("chunk size");
                if size == 0 {
                    while !self.line().is_empty() {}
                    break;
                }
                let data = self.take(size);
                reply.body.extend_from_slice(&data);
                assert_eq!(self.take(2), b"\r\n");
            }
        } else if let Some(len) = reply.header("content-length") {
            let len = len.parse().expect("content-length");
            reply.body = self.take(len);
        }
        reply
    }

    /// Whether the server has closed the connection (nothing more to read).
    pub fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }
}
