//! `/_utils`: Fauxton as CouchDB serves it (`chttpd_misc:handle_utils_dir_req`
//! over mochiweb's `serve_file`): the redirect, content types, caching
//! headers, the Content-Security-Policy, 304s and 404s. When the build
//! could not get Fauxton, `/_utils/` says how to get it.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;

use crate::common::{url, RawConn, Reply};

/// A client that does not follow redirects, with no credentials.
fn get(path: &str, headers: HeaderMap) -> Reply {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Reply::from(
        client
            .request(Method::GET, format!("{}{path}", url()))
            .headers(headers)
            .send()
            .unwrap(),
    )
}

const CSP: &str = "child-src 'self' data: blob:; default-src 'self'; img-src 'self' data:; \
                   font-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline';";

#[test]
fn utils_redirects_to_the_folder() {
    let r = get("/_utils", HeaderMap::new());
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/_utils/", url()).as_str())
    );
    assert_eq!(r.text, "");
    let post = crate::common::req(Method::POST, "/_utils/", None);
    post.assert_error(405, "method_not_allowed", None);
    assert_eq!(post.header("allow"), Some("GET,HEAD"));
}

#[test]
fn fauxton_files_with_couchdb_headers() {
    let index = get("/_utils/", HeaderMap::new());
    if !settee::fauxton::available() {
        // built without it: a page that says how to get it
        assert_eq!(index.status, 404);
        assert_eq!(index.header("content-type"), Some("text/html"));
        assert!(index.text.contains("npm"), "{}", index.text);
        return;
    }
    assert_eq!(index.status, 200, "{}", index.text);
    assert_eq!(index.header("content-type"), Some("text/html"));
    assert_eq!(
        index.header("cache-control"),
        Some("private, must-revalidate")
    );
    assert_eq!(index.header("content-security-policy"), Some(CSP));
    assert!(index.text.contains("Project Fauxton"));
    assert_eq!(get("/_utils/index.html", HeaderMap::new()).text, index.text);

    // the page's scripts and styles, with mochiweb's content types
    let script = index
        .text
        .split('"')
        .find(|s| s.starts_with("dashboard.assets/js/") && s.ends_with(".js"))
        .expect("a script in index.html")
        .to_string();
    let js = get(&format!("/_utils/{script}"), HeaderMap::new());
    assert_eq!(js.status, 200);
    assert_eq!(js.header("content-type"), Some("application/x-javascript"));
    let css = index
        .text
        .split('"')
        .find(|s| s.ends_with(".css"))
        .expect("a stylesheet")
        .to_string();
    let css = get(&format!("/_utils/{css}"), HeaderMap::new());
    assert_eq!(css.header("content-type"), Some("text/css"));

    // If-Modified-Since with the Last-Modified date: 304
    let modified = index
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    let mut since = HeaderMap::new();
    since.insert(
        "if-modified-since",
        HeaderValue::from_str(&modified).unwrap(),
    );
    let again = get("/_utils/", since);
    assert_eq!(again.status, 304);
    assert_eq!(
        again.header("cache-control"),
        Some("private, must-revalidate")
    );
    let mut older = HeaderMap::new();
    older.insert(
        "if-modified-since",
        HeaderValue::from_static("Sat, 26 Oct 1985 08:15:00 GMT"),
    );
    assert_eq!(get("/_utils/", older).status, 200);

    // a folder without its slash redirects; missing files are mochiweb's 404
    let folder = get("/_utils/dashboard.assets", HeaderMap::new());
    assert_eq!(folder.status, 301);
    assert_eq!(
        folder.header("location"),
        Some(format!("{}/_utils/dashboard.assets/", url()).as_str())
    );
    let r = get("/_utils/nope.js", HeaderMap::new());
    assert_eq!((r.status, r.text.as_str()), (404, "Not found."));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // `..` never leaves the folder (sent raw: HTTP clients resolve it)
    for target in [
        "/_utils/../Cargo.toml",
        "/_utils/%2E%2E/Cargo.toml",
        "/_utils/a/../../x",
    ] {
        let r = RawConn::open().get(target.as_bytes());
        assert_eq!(
            (r.status, &r.body[..]),
            (404, &b"Not found."[..]),
            "{target}"
        );
    }
}
