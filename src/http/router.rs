//! The route table: raw request path → [`Route`], and the methods each
//! route allows. Pure, so the table is unit-tested without a server.
//!
//! Paths are split on `/` before percent-decoding, so `%2F` stays inside a
//! segment: `/a%2Fb` is the database `a/b`, `/db/_design%2Fx` the design
//! document `_design/x`. The order of the match arms is the precedence:
//! `_all_docs`, `_design/…`, `_local/…` before plain document ids.

use percent_encoding::percent_decode_str;

/// Database-level endpoints below `/{db}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbEndpoint {
    AllDocs,
    AllDocsQueries,
    DesignDocs,
    LocalDocs,
    BulkDocs,
    BulkGet,
    Security,
    RevsLimit,
    EnsureFullCommit,
    Compact,
    RevsDiff,
    MissingRevs,
    Changes,
}

impl DbEndpoint {
    fn from_segment(seg: &str) -> Option<DbEndpoint> {
        Some(match seg {
            "_all_docs" => DbEndpoint::AllDocs,
            "_design_docs" => DbEndpoint::DesignDocs,
            "_local_docs" => DbEndpoint::LocalDocs,
            "_bulk_docs" => DbEndpoint::BulkDocs,
            "_bulk_get" => DbEndpoint::BulkGet,
            "_security" => DbEndpoint::Security,
            "_revs_limit" => DbEndpoint::RevsLimit,
            "_ensure_full_commit" => DbEndpoint::EnsureFullCommit,
            "_compact" => DbEndpoint::Compact,
            "_revs_diff" => DbEndpoint::RevsDiff,
            "_missing_revs" => DbEndpoint::MissingRevs,
            "_changes" => DbEndpoint::Changes,
            _ => return None,
        })
    }

    fn allowed(self) -> &'static str {
        match self {
            DbEndpoint::AllDocs | DbEndpoint::DesignDocs | DbEndpoint::LocalDocs | DbEndpoint::Changes => {
                "GET,HEAD,POST"
            }
            DbEndpoint::AllDocsQueries
            | DbEndpoint::BulkDocs
            | DbEndpoint::BulkGet
            | DbEndpoint::EnsureFullCommit
            | DbEndpoint::Compact
            | DbEndpoint::RevsDiff
            | DbEndpoint::MissingRevs => "POST",
            DbEndpoint::Security | DbEndpoint::RevsLimit => "GET,PUT",
        }
    }
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Root,
    Up,
    AllDbs,
    DbsInfo,
    Uuids,
    /// Another `/_…` server path: not a database CouchDB would let exist.
    UnknownServer(String),
    Db(String),
    DbEndpoint(String, DbEndpoint),
    /// A document, normal or `_design/…` (the id is complete).
    Doc(String, String),
    /// `/_local/{id}`; the id includes the `_local/` prefix.
    LocalDoc(String, String),
    /// An attachment of a document: db, doc id, attachment name.
    Attachment(String, String, String),
}

impl Route {
    /// Parses the raw (still percent-encoded) path of a request.
    pub fn parse(raw_path: &str) -> Route {
        let segs: Vec<String> = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let Some((db, rest)) = segs.split_first() else {
            return Route::Root;
        };
        let db = db.clone();
        if rest.is_empty() {
            return match db.as_str() {
                "_up" => Route::Up,
                "_all_dbs" => Route::AllDbs,
                "_dbs_info" => Route::DbsInfo,
                "_uuids" => Route::Uuids,
                "_users" | "_replicator" | "_global_changes" => Route::Db(db),
                s if s.starts_with('_') => Route::UnknownServer(db),
                _ => Route::Db(db),
            };
        }
        let first = rest[0].as_str();
        match (first, rest.len()) {
            ("_all_docs", 2) if rest[1] == "queries" => Route::DbEndpoint(db, DbEndpoint::AllDocsQueries),
            ("_design" | "_local", 1) => Route::Doc(db, first.to_string()),
            ("_design", _) => {
                let id = format!("_design/{}", rest[1]);
                attachment_or_doc(db, id, &rest[2..])
            }
            ("_local", _) => Route::LocalDoc(db, format!("_local/{}", rest[1..].join("/"))),
            (_, 1) => match DbEndpoint::from_segment(first) {
                Some(ep) => Route::DbEndpoint(db, ep),
                None if first.starts_with("_local/") => Route::LocalDoc(db, first.to_string()),
                None => Route::Doc(db, first.to_string()),
            },
            _ => attachment_or_doc(db, first.to_string(), &rest[1..]),
        }
    }

    /// The methods this route answers, for `405` and its `Allow` header.
    pub fn allowed(&self) -> &'static str {
        match self {
            Route::Root | Route::Up | Route::AllDbs | Route::Uuids => "GET,HEAD",
            Route::DbsInfo => "GET,HEAD,POST",
            Route::UnknownServer(_) => "GET,HEAD,PUT,DELETE,POST",
            Route::Db(_) => "GET,HEAD,PUT,DELETE,POST",
            Route::DbEndpoint(_, ep) => ep.allowed(),
            Route::Doc(..) => "GET,HEAD,PUT,DELETE,COPY",
            Route::LocalDoc(..) => "GET,PUT,DELETE,COPY",
            Route::Attachment(..) => "GET,HEAD,PUT,DELETE",
        }
    }

    /// Whether `method` is one of [`Route::allowed`].
    pub fn allows(&self, method: &str) -> bool {
        self.allowed().split(',').any(|m| m == method)
    }
}

fn attachment_or_doc(db: String, id: String, rest: &[String]) -> Route {
    if rest.is_empty() {
        Route::Doc(db, id)
    } else {
        Route::Attachment(db, id, rest.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn each_sample_path_reaches_its_route() {
        let table = [
            ("/", Route::Root),
            ("/_up", Route::Up),
            ("/_all_dbs", Route::AllDbs),
            ("/_dbs_info", Route::DbsInfo),
            ("/_uuids", Route::Uuids),
            ("/_foo", Route::UnknownServer(s("_foo"))),
            ("/db", Route::Db(s("db"))),
            ("/db/", Route::Db(s("db"))),
            ("/a%2Fb", Route::Db(s("a/b"))),
            ("/a%2Fb/_all_docs", Route::DbEndpoint(s("a/b"), DbEndpoint::AllDocs)),
            ("/db/_all_docs/queries", Route::DbEndpoint(s("db"), DbEndpoint::AllDocsQueries)),
            ("/db/_bulk_docs", Route::DbEndpoint(s("db"), DbEndpoint::BulkDocs)),
            ("/db/_security", Route::DbEndpoint(s("db"), DbEndpoint::Security)),
            ("/db/doc", Route::Doc(s("db"), s("doc"))),
            ("/db/a%2Fb", Route::Doc(s("db"), s("a/b"))),
            ("/db/_design/x", Route::Doc(s("db"), s("_design/x"))),
            ("/db/_design%2Fx", Route::Doc(s("db"), s("_design/x"))),
            ("/db/_design/x/a/b.txt", Route::Attachment(s("db"), s("_design/x"), s("a/b.txt"))),
            ("/db/_local/cfg", Route::LocalDoc(s("db"), s("_local/cfg"))),
            ("/db/_local%2Fcfg", Route::LocalDoc(s("db"), s("_local/cfg"))),
            ("/db/_local/sync_a%2Fb", Route::LocalDoc(s("db"), s("_local/sync_a/b"))),
            ("/db/doc/att%20name", Route::Attachment(s("db"), s("doc"), s("att name"))),
            ("/db/doc/a/b", Route::Attachment(s("db"), s("doc"), s("a/b"))),
            ("/db/_foo", Route::Doc(s("db"), s("_foo"))),
            ("/db/%C3%A9", Route::Doc(s("db"), s("é"))),
        ];
        for (path, want) in table {
            assert_eq!(Route::parse(path), want, "{path}");
        }
    }

    #[test]
    fn allowed_methods() {
        assert!(Route::Root.allows("GET"));
        assert!(!Route::Root.allows("POST"));
        assert!(Route::DbEndpoint(s("d"), DbEndpoint::BulkDocs).allows("POST"));
        assert!(!Route::DbEndpoint(s("d"), DbEndpoint::BulkDocs).allows("GET"));
        assert!(Route::Doc(s("d"), s("x")).allows("COPY"));
    }
}
