//! A shared in-memory server for the whole test binary, and a small HTTP
//! client. Each test works in its own uniquely named database.

mod raw;

use std::sync::OnceLock;

use reqwest::blocking::{Client, Response};
use reqwest::Method;
use serde_json::Value;

pub use raw::RawConn;

/// The URL of the shared server, started on first use.
pub fn url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = settee::Server::start(settee::config::Config::ephemeral())
                    .await
                    .expect("server starts");
                tx.send(server.url()).expect("send url");
                server.into_future().await.expect("server runs");
            });
        });
        rx.recv().expect("server url")
    })
}

pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(Client::new)
}

/// A unique database name for one test.
pub fn db_name(tag: &str) -> String {
    format!("t-{tag}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a fresh database and returns its name.
pub fn new_db(tag: &str) -> String {
    let name = db_name(tag);
    let r = req(Method::PUT, &format!("/{name}"), None);
    assert_eq!(r.status, 201, "create {name}: {}", r.body);
    name
}

/// A finished response: status, headers and parsed JSON body (Null if not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn from(r: Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts CouchDB's error shape.
    pub fn assert_error(&self, status: u16, error: &str, reason: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["error"], error, "{}", self.text);
        if let Some(reason) = reason {
            assert_eq!(self.body["reason"], reason, "{}", self.text);
        }
    }
}

/// Sends a request with an optional JSON body, as a JSON client does:
/// with `Accept: application/json` (CouchDB answers a client that takes
/// multipart, curl's `*/*` included, in multipart where it can).
pub fn req(method: Method, path: &str, body: Option<&Value>) -> Reply {
    let mut rb = client()
        .request(method, format!("{}{}", url(), path))
        .header("Accept", "application/json");
    if let Some(b) = body {
        rb = rb
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    Reply::from(rb.send().expect("request sent"))
}

/// Sends a raw body with a content type.
pub fn raw(method: Method, path: &str, ctype: &str, body: &str) -> Reply {
    let rb = client()
        .request(method, format!("{}{}", url(), path))
        .header("Content-Type", ctype)
        .body(body.to_string());
    Reply::from(rb.send().expect("request sent"))
}

pub fn get(path: &str) -> Reply {
    req(Method::GET, path, None)
}

pub fn put(path: &str, body: &Value) -> Reply {
    req(Method::PUT, path, Some(body))
}

pub fn post(path: &str, body: &Value) -> Reply {
    req(Method::POST, path, Some(body))
}

pub fn delete(path: &str) -> Reply {
    req(Method::DELETE, path, None)
}

/// Creates a document and returns its rev.
pub fn create(db: &str, id: &str, body: &Value) -> String {
    let r = put(&format!("/{db}/{id}"), body);
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["rev"].as_str().expect("rev").to_string()
}

/// Starts a server of its own with `config` (for tests whose settings or
/// counts must not mix with the shared server's) and returns its URL.
pub fn start_server(config: settee::config::Config) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = settee::Server::start(config).await.expect("server starts");
            tx.send(server.url()).expect("send url");
            server.into_future().await.expect("server runs");
        });
    });
    rx.recv().expect("server url")
}
