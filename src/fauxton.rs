//! Fauxton, CouchDB's web UI, built into the binary by `build.rs` (the
//! npm package `fauxton`, its `dist/release/` folder), and the rules
//! CouchDB serves it by under `/_utils/` (`chttpd_misc:handle_utils_dir_req`
//! over mochiweb's `serve_file`): which file a path names, its content
//! type, when it was last modified. No actix: `http::utils` answers.

include!(concat!(env!("OUT_DIR"), "/fauxton.rs"));

use std::sync::LazyLock;
use std::time::SystemTime;

/// The Content-Security-Policy CouchDB sends with `/_utils` by default.
pub const DEFAULT_CSP: &str = "child-src 'self' data: blob:; default-src 'self'; \
    img-src 'self' data:; font-src 'self'; script-src 'self' 'unsafe-eval'; \
    style-src 'self' 'unsafe-inline';";

/// What a path below `/_utils/` names.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A file: its contents and content type.
    File(&'static [u8], &'static str),
    /// A folder named without its trailing `/`: redirect there.
    Folder,
    /// Nothing, or a path that leaves the folder (`..`).
    NotFound,
}

/// Whether Fauxton is built in.
pub fn available() -> bool {
    !FAUXTON_FILES.is_empty()
}

/// The file a decoded path relative to `/_utils/` names, as mochiweb's
/// `serve_file`: `""` and paths ending in `/` are that folder's
/// `index.html`; `..` and empty segments are refused.
pub fn lookup(relative: &str) -> Lookup {
    if relative.starts_with('/')
        || relative.contains('\\')
        || relative.split('/').any(|part| part == ".." || part == ".")
    {
        return Lookup::NotFound;
    }
    let path = if relative.is_empty() || relative.ends_with('/') {
        format!("{relative}index.html")
    } else {
        relative.to_string()
    };
    if let Some((_, data)) = FAUXTON_FILES.iter().find(|(name, _)| *name == path) {
        return Lookup::File(data, content_type(&path));
    }
    let folder = format!("{relative}/");
    if FAUXTON_FILES
        .iter()
        .any(|(name, _)| name.starts_with(&folder))
    {
        return Lookup::Folder;
    }
    Lookup::NotFound
}

/// When the built-in files were "last modified": the time this process
/// first served them, so a restarted (perhaps upgraded) server makes
/// browsers fetch them again. (The tarball's own dates are all 1985.)
pub fn last_modified() -> SystemTime {
    static STARTED: LazyLock<SystemTime> = LazyLock::new(SystemTime::now);
    *STARTED
}

/// The content type mochiweb's `guess_mime` gives a file name (its table,
/// for the kinds of file a web app has); `text/plain` otherwise.
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name == "crossdomain.xml" {
        return "text/x-cross-domain-policy";
    }
    let ext = name
        .rfind('.')
        .map(|i| name[i..].to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        ".html" | ".htm" => "text/html",
        ".js" => "application/x-javascript",
        ".css" => "text/css",
        ".png" => "image/png",
        ".gif" => "image/gif",
        ".jpg" | ".jpeg" => "image/jpeg",
        ".ico" => "image/x-icon",
        ".svg" => "image/svg+xml",
        ".eot" => "application/vnd.ms-fontobject",
        ".ttf" => "application/x-font-ttf",
        ".woff" => "application/x-font-woff",
        ".xml" => "application/xml",
        ".pdf" => "application/pdf",
        ".swf" => "application/x-shockwave-flash",
        ".txt" => "text/plain",
        _ => "text/plain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_as_mochiweb() {
        assert_eq!(content_type("index.html"), "text/html");
        assert_eq!(
            content_type("dashboard.assets/js/bundle.1.js"),
            "application/x-javascript"
        );
        assert_eq!(content_type("a/b/styles.css"), "text/css");
        assert_eq!(content_type("x.woff"), "application/x-font-woff");
        assert_eq!(content_type("x.json"), "text/plain");
        assert_eq!(content_type("README"), "text/plain");
    }

    #[test]
    fn paths_that_leave_the_folder_are_not_found() {
        for bad in ["../Cargo.toml", "a/../../x", "/etc/passwd", "./index.html"] {
            assert_eq!(lookup(bad), Lookup::NotFound, "{bad}");
        }
    }

    #[test]
    fn index_and_folders_when_built_in() {
        if !available() {
            assert_eq!(lookup(""), Lookup::NotFound);
            return;
        }
        assert!(matches!(lookup(""), Lookup::File(_, "text/html")));
        assert!(matches!(lookup("index.html"), Lookup::File(_, "text/html")));
        assert_eq!(lookup("dashboard.assets"), Lookup::Folder);
        assert_eq!(lookup("nope.js"), Lookup::NotFound);
    }
}
