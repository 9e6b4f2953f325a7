//! The route table: raw request path → [`Route`], and the methods each
//! route allows. Pure, so the table is unit-tested without a server.
//!
//! Paths are split on `/` before percent-decoding, so `%2F` stays inside a
//! segment: `/a%2Fb` is the database `a/b`, `/db/_design%2Fx` the design
//! document `_design/x`. Each segment is decoded by [`unquote`], which turns
//! `+` into a space as CouchDB does by default. The order of the match arms
//! is the precedence: `_all_docs`, `_design/…`, `_local/…` before plain
//! document ids.
//!
//! With `[chttpd] decode_plus_to_space = false` a `+` stays a `+`
//! (mochiweb's `unquote_path`): [`Route::parse_with`] takes the setting.

use percent_encoding::percent_decode_str;

/// Decodes one path segment as CouchDB's `chttpd:unquote/1` does with its
/// default `decode_plus_to_space = true` (mochiweb's `unquote`): `+` is a
/// space, `%XX` the byte it names (so `%2B` is a `+`).
pub fn unquote(segment: &str) -> String {
    unquote_with(segment, true)
}

/// [`unquote`] by the `decode_plus_to_space` setting: with `false`, `+`
/// stays `+` (mochiweb's `unquote_path`).
pub fn unquote_with(segment: &str, plus_to_space: bool) -> String {
    if plus_to_space && segment.contains('+') {
        let spaced = segment.replace('+', " ");
        percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    } else {
        percent_decode_str(segment).decode_utf8_lossy().into_owned()
    }
}

use crate::auth::Access;

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
    /// `_index` and everything below it (`_bulk_delete`, `{ddoc}/json/{name}`).
    Index,
    Find,
    Explain,
}

impl DbEndpoint {
    /// What a request to this endpoint needs (`chttpd_auth_request` and
    /// `couch_db`'s checks); a new endpoint must say here who may use it.
    fn access(self, method: &str) -> Access {
        match self {
            DbEndpoint::Security if method == "PUT" => Access::SecurityWrite { locked: false },
            DbEndpoint::RevsLimit if method == "PUT" => Access::DbAdmin,
            DbEndpoint::Compact => Access::DbAdminPath,
            DbEndpoint::Index if method != "GET" && method != "HEAD" => Access::DbAdmin,
            DbEndpoint::Index | DbEndpoint::Find | DbEndpoint::Explain => Access::DbMember,
            DbEndpoint::AllDocs
            | DbEndpoint::AllDocsQueries
            | DbEndpoint::DesignDocs
            | DbEndpoint::LocalDocs
            | DbEndpoint::BulkDocs
            | DbEndpoint::BulkGet
            | DbEndpoint::Security
            | DbEndpoint::RevsLimit
            | DbEndpoint::EnsureFullCommit
            | DbEndpoint::RevsDiff
            | DbEndpoint::MissingRevs
            | DbEndpoint::Changes => Access::DbMember,
        }
    }

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
            "_index" => DbEndpoint::Index,
            "_find" => DbEndpoint::Find,
            "_explain" => DbEndpoint::Explain,
            _ => return None,
        })
    }

    fn allowed(self) -> &'static str {
        match self {
            DbEndpoint::AllDocs
            | DbEndpoint::DesignDocs
            | DbEndpoint::LocalDocs
            | DbEndpoint::Changes => "GET,HEAD,POST",
            DbEndpoint::AllDocsQueries
            | DbEndpoint::BulkDocs
            | DbEndpoint::BulkGet
            | DbEndpoint::EnsureFullCommit
            | DbEndpoint::Compact
            | DbEndpoint::RevsDiff
            | DbEndpoint::MissingRevs
            | DbEndpoint::Find
            | DbEndpoint::Explain => "POST",
            DbEndpoint::Security | DbEndpoint::RevsLimit => "GET,PUT",
            DbEndpoint::Index => "GET,HEAD,POST,DELETE",
        }
    }
}

/// What a path below `/_node/{node}/` names (`chttpd_node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodePath {
    /// `/_node/{node}`: `_local` answers this node's name.
    Itself,
    /// `/_node/{node}/_config`.
    Config,
    /// `/_node/{node}/_config/_reload`.
    ConfigReload,
    /// `/_node/{node}/_config/{section}`.
    ConfigSection(String),
    /// `/_node/{node}/_config/{section}/{key}`.
    ConfigKey(String, String),
    /// Deeper below `_config`: 404.
    ConfigTooDeep,
    /// `/_node/{node}/_stats[/{group}/…]`: the metrics, or the part at the path.
    Stats(Vec<String>),
    /// `/_node/{node}/_prometheus`.
    Prometheus,
    /// `/_node/{node}/_system`.
    System,
    /// `/_node/{node}/_versions`.
    Versions,
    /// Anything else below the node (`_stats`, `_system`, …): not served.
    Other,
}

impl NodePath {
    fn allowed(&self) -> &'static str {
        match self {
            NodePath::Itself => "GET,HEAD,POST,PUT,DELETE,COPY",
            NodePath::Config | NodePath::ConfigSection(_) => "GET",
            NodePath::ConfigReload => "POST",
            NodePath::ConfigKey(..) => "GET,PUT,DELETE",
            NodePath::Stats(_) | NodePath::Prometheus | NodePath::System | NodePath::Versions => {
                "GET"
            }
            NodePath::ConfigTooDeep | NodePath::Other => "GET,HEAD,POST,PUT,DELETE,COPY",
        }
    }
}

/// What a path below `/{db}/_partition` names (`chttpd_db:handle_partition_req`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionPath {
    /// `/{db}/_partition`: 400 `invalid_partition_req` whatever the method.
    Bare,
    /// `/{db}/_partition/{p}`: the partition's counters.
    Info(String),
    /// `/{db}/_partition/{p}/_all_docs`, `…/_all_docs/queries`, `…/_find`,
    /// `…/_explain`, `…/_index…`: the database endpoint, run in the partition.
    Endpoint(String, DbEndpoint),
    /// `/{db}/_partition/{p}/_design/{name}/_{action}…`: a design document's
    /// handler (views) in the partition; the id and the path after it.
    Design(String, String, String),
    /// Anything else below a partition: 404 once the partition is checked.
    Unknown(String),
}

impl PartitionPath {
    /// The partition named in the path, if any.
    pub fn partition(&self) -> Option<&str> {
        match self {
            PartitionPath::Bare => None,
            PartitionPath::Info(p)
            | PartitionPath::Endpoint(p, _)
            | PartitionPath::Design(p, _, _)
            | PartitionPath::Unknown(p) => Some(p),
        }
    }

    fn parse(rest: &[String]) -> PartitionPath {
        let Some((partition, rest)) = rest.split_first() else {
            return PartitionPath::Bare;
        };
        let p = partition.clone();
        let segs: Vec<&str> = rest.iter().map(String::as_str).collect();
        match segs.as_slice() {
            [] => PartitionPath::Info(p),
            ["_all_docs"] => PartitionPath::Endpoint(p, DbEndpoint::AllDocs),
            ["_all_docs", "queries"] => PartitionPath::Endpoint(p, DbEndpoint::AllDocsQueries),
            ["_find"] => PartitionPath::Endpoint(p, DbEndpoint::Find),
            ["_explain"] => PartitionPath::Endpoint(p, DbEndpoint::Explain),
            ["_index", ..] => PartitionPath::Endpoint(p, DbEndpoint::Index),
            ["_design", name, action, ..] if action.starts_with('_') => {
                PartitionPath::Design(p, format!("_design/{name}"), rest[2..].join("/"))
            }
            _ => PartitionPath::Unknown(p),
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
    /// `/_active_tasks`: running index builds and compactions.
    ActiveTasks,
    /// `/_session`: cookie login, logout, and who the request is.
    Session,
    /// `/_membership`: the nodes of the cluster, this one.
    Membership,
    /// `/_utils` and everything below it: Fauxton.
    Utils,
    /// `/_node` or `/_node/`: 400.
    NodeIncomplete,
    /// `/_node/{node}/…`; the node name is checked by the handler.
    Node(String, NodePath),
    /// Another `/_…` server path: not a database CouchDB would let exist.
    UnknownServer(String),
    /// A path below `/_all_dbs` or `/_dbs_info`: 404 `not_found` for the
    /// methods the listing takes (`chttpd_misc`), which it carries.
    ServerMissing(&'static str),
    Db(String),
    DbEndpoint(String, DbEndpoint),
    /// A document, normal or `_design/…` (the id is complete).
    Doc(String, String),
    /// `/_local/{id}`; the id includes the `_local/` prefix.
    LocalDoc(String, String),
    /// `/{db}/_local`, `/{db}/_local/` or `/{db}/_local%2F`: a `_local`
    /// document with no name, 400 for every method (`chttpd_db:db_req`).
    LocalDocNoId(String),
    /// An attachment of a document: db, doc id, attachment name.
    Attachment(String, String, String),
    /// `/{db}/_partition…`: partition info and partition queries.
    Partition(String, PartitionPath),
}

impl Route {
    /// Parses the raw (still percent-encoded) path of a request, `+`
    /// being a space.
    pub fn parse(raw_path: &str) -> Route {
        Route::parse_with(raw_path, true)
    }

    /// Parses the raw path of a request by the `decode_plus_to_space` setting.
    pub fn parse_with(raw_path: &str, plus_to_space: bool) -> Route {
        let segs: Vec<String> = raw_path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| unquote_with(s, plus_to_space))
            .collect();
        let Some((db, rest)) = segs.split_first() else {
            return Route::Root;
        };
        let db = db.clone();
        if db == "_node" {
            return node_route(rest);
        }
        if db == "_utils" {
            return Route::Utils;
        }
        match db.as_str() {
            "_all_dbs" if !rest.is_empty() => return Route::ServerMissing("GET,HEAD"),
            "_dbs_info" if !rest.is_empty() => return Route::ServerMissing("GET,HEAD,POST"),
            _ => {}
        }
        if rest.is_empty() {
            return match db.as_str() {
                "_up" => Route::Up,
                "_all_dbs" => Route::AllDbs,
                "_dbs_info" => Route::DbsInfo,
                "_uuids" => Route::Uuids,
                "_active_tasks" => Route::ActiveTasks,
                "_session" => Route::Session,
                "_membership" => Route::Membership,
                "_users" | "_replicator" | "_global_changes" => Route::Db(db),
                s if s.starts_with('_') => Route::UnknownServer(db),
                _ => Route::Db(db),
            };
        }
        let first = rest[0].as_str();
        if rest.len() == 1 && (first == "_local" || first == "_local/") {
            return Route::LocalDocNoId(db);
        }
        match (first, rest.len()) {
            ("_partition", _) => Route::Partition(db, PartitionPath::parse(&rest[1..])),
            ("_all_docs", 2) if rest[1] == "queries" => {
                Route::DbEndpoint(db, DbEndpoint::AllDocsQueries)
            }
            ("_index", _) => Route::DbEndpoint(db, DbEndpoint::Index),
            ("_design", 1) => Route::Doc(db, first.to_string()),
            ("_design", _) => {
                let id = format!("_design/{}", rest[1]);
                attachment_or_doc(db, id, &rest[2..])
            }
            // `/db/_local/a/b` names an attachment, which CouchDB refuses
            // for local docs; an id with a slash must be sent as `%2F`.
            ("_local", 2) => Route::LocalDoc(db, format!("_local/{}", rest[1])),
            ("_local", _) => {
                Route::Attachment(db, format!("_local/{}", rest[1]), rest[2..].join("/"))
            }
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
            Route::Root | Route::Up | Route::AllDbs | Route::Uuids | Route::ActiveTasks => {
                "GET,HEAD"
            }
            Route::DbsInfo => "GET,HEAD,POST",
            Route::Session => "GET,HEAD,POST,DELETE",
            Route::Membership => "GET",
            Route::Utils => "GET,HEAD",
            Route::NodeIncomplete => "GET,HEAD,POST,PUT,DELETE,COPY",
            Route::Node(_, path) => path.allowed(),
            Route::UnknownServer(_) => "GET,HEAD,PUT,DELETE,POST",
            Route::ServerMissing(allowed) => allowed,
            Route::Db(_) => "GET,HEAD,PUT,DELETE,POST",
            Route::DbEndpoint(_, ep) => ep.allowed(),
            Route::Doc(..) | Route::LocalDoc(..) => "DELETE,GET,HEAD,POST,PUT,COPY",
            Route::LocalDocNoId(_) => "GET,HEAD,POST,PUT,DELETE,COPY",
            Route::Attachment(..) => "GET,HEAD,PUT,DELETE",
            Route::Partition(_, path) => match path {
                PartitionPath::Endpoint(_, ep) => ep.allowed(),
                PartitionPath::Design(..) => "GET,HEAD",
                PartitionPath::Bare | PartitionPath::Info(_) | PartitionPath::Unknown(_) => "GET",
            },
        }
    }

    /// What a request needs before its handler runs, as CouchDB's
    /// `chttpd_auth_request` decides from the path and method. Finer rules
    /// (design documents, the users database's own documents) are applied
    /// by `http::auth` and the write guard.
    pub fn access(&self, method: &str) -> Access {
        match self {
            Route::Root | Route::Up | Route::Uuids | Route::Session | Route::Utils => {
                Access::Public
            }
            Route::AllDbs | Route::DbsInfo | Route::ServerMissing(_) => Access::ListDbs,
            Route::UnknownServer(_)
            | Route::ActiveTasks
            | Route::Membership
            | Route::NodeIncomplete
            | Route::Node(..) => Access::ServerAdmin,
            Route::Db(_) if method == "PUT" || method == "DELETE" => Access::ServerAdmin,
            Route::Db(_) => Access::DbMember,
            Route::DbEndpoint(
                db,
                DbEndpoint::AllDocs | DbEndpoint::AllDocsQueries | DbEndpoint::Changes,
            ) if db == "_users" || db == "_replicator" => Access::ServerAdmin,
            Route::DbEndpoint(_, ep) => ep.access(method),
            Route::Partition(_, PartitionPath::Endpoint(_, ep)) => ep.access(method),
            Route::Partition(..) => Access::DbMember,
            Route::Doc(..)
            | Route::LocalDoc(..)
            | Route::LocalDocNoId(_)
            | Route::Attachment(..) => Access::DbMember,
        }
    }

    /// The database a route is in, if any.
    pub fn db_name(&self) -> Option<&str> {
        match self {
            Route::Db(db)
            | Route::DbEndpoint(db, _)
            | Route::Doc(db, _)
            | Route::LocalDoc(db, _)
            | Route::LocalDocNoId(db)
            | Route::Attachment(db, _, _)
            | Route::Partition(db, _) => Some(db),
            Route::Root
            | Route::Up
            | Route::AllDbs
            | Route::DbsInfo
            | Route::Uuids
            | Route::ActiveTasks
            | Route::Session
            | Route::Membership
            | Route::NodeIncomplete
            | Route::Node(..) => None,
            Route::UnknownServer(_) | Route::ServerMissing(_) | Route::Utils => None,
        }
    }

    /// Whether `method` is one of [`Route::allowed`]; a nameless `_local`
    /// document is refused whatever the method. Below `/_node` and at
    /// `/_membership` a `HEAD` is a `GET` (their `Allow` names `GET` only).
    pub fn allows(&self, method: &str) -> bool {
        let method = match self {
            Route::Membership | Route::Node(..) if method == "HEAD" => "GET",
            _ => method,
        };
        // `_index/…` paths are sorted out by the Mango handler, which
        // answers 404 or 405 per sub-path as `mango_httpd` does; partition
        // paths check the database and the partition before the method.
        matches!(
            self,
            Route::LocalDocNoId(_) | Route::DbEndpoint(_, DbEndpoint::Index) | Route::Partition(..)
        ) || self.allowed().split(',').any(|m| m == method)
    }
}

/// The segments after `/_node`.
fn node_route(rest: &[String]) -> Route {
    let Some((node, below)) = rest.split_first() else {
        return Route::NodeIncomplete;
    };
    let path = match below {
        [] => NodePath::Itself,
        [config] if config == "_config" => NodePath::Config,
        [config, reload] if config == "_config" && reload == "_reload" => NodePath::ConfigReload,
        [config, section] if config == "_config" => NodePath::ConfigSection(section.clone()),
        [config, section, key] if config == "_config" => {
            NodePath::ConfigKey(section.clone(), key.clone())
        }
        [config, ..] if config == "_config" => NodePath::ConfigTooDeep,
        [stats, path @ ..] if stats == "_stats" => NodePath::Stats(path.to_vec()),
        [name] if name == "_prometheus" => NodePath::Prometheus,
        [name] if name == "_system" => NodePath::System,
        [name] if name == "_versions" => NodePath::Versions,
        _ => NodePath::Other,
    };
    Route::Node(node.clone(), path)
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
            ("/_active_tasks", Route::ActiveTasks),
            ("/_foo", Route::UnknownServer(s("_foo"))),
            ("/db", Route::Db(s("db"))),
            ("/db/", Route::Db(s("db"))),
            ("/a%2Fb", Route::Db(s("a/b"))),
            (
                "/a%2Fb/_all_docs",
                Route::DbEndpoint(s("a/b"), DbEndpoint::AllDocs),
            ),
            (
                "/db/_all_docs/queries",
                Route::DbEndpoint(s("db"), DbEndpoint::AllDocsQueries),
            ),
            (
                "/db/_bulk_docs",
                Route::DbEndpoint(s("db"), DbEndpoint::BulkDocs),
            ),
            (
                "/db/_security",
                Route::DbEndpoint(s("db"), DbEndpoint::Security),
            ),
            ("/db/_find", Route::DbEndpoint(s("db"), DbEndpoint::Find)),
            (
                "/db/_explain",
                Route::DbEndpoint(s("db"), DbEndpoint::Explain),
            ),
            ("/db/_index", Route::DbEndpoint(s("db"), DbEndpoint::Index)),
            (
                "/db/_index/_bulk_delete",
                Route::DbEndpoint(s("db"), DbEndpoint::Index),
            ),
            (
                "/db/_index/_design/x/json/name",
                Route::DbEndpoint(s("db"), DbEndpoint::Index),
            ),
            (
                "/db/_index/x/json/name",
                Route::DbEndpoint(s("db"), DbEndpoint::Index),
            ),
            ("/db/doc", Route::Doc(s("db"), s("doc"))),
            ("/db/a%2Fb", Route::Doc(s("db"), s("a/b"))),
            ("/db/_design/x", Route::Doc(s("db"), s("_design/x"))),
            ("/db/_design%2Fx", Route::Doc(s("db"), s("_design/x"))),
            (
                "/db/_design/x/a/b.txt",
                Route::Attachment(s("db"), s("_design/x"), s("a/b.txt")),
            ),
            ("/db/_local/cfg", Route::LocalDoc(s("db"), s("_local/cfg"))),
            (
                "/db/_local%2Fcfg",
                Route::LocalDoc(s("db"), s("_local/cfg")),
            ),
            (
                "/db/_local/sync_a%2Fb",
                Route::LocalDoc(s("db"), s("_local/sync_a/b")),
            ),
            (
                "/db/_local/sync_a/b",
                Route::Attachment(s("db"), s("_local/sync_a"), s("b")),
            ),
            (
                "/db/doc/att%20name",
                Route::Attachment(s("db"), s("doc"), s("att name")),
            ),
            (
                "/db/doc/a/b",
                Route::Attachment(s("db"), s("doc"), s("a/b")),
            ),
            ("/db/_foo", Route::Doc(s("db"), s("_foo"))),
            ("/db/%C3%A9", Route::Doc(s("db"), s("é"))),
            ("/db/test+doc+2", Route::Doc(s("db"), s("test doc 2"))),
            ("/db/a%2Bb", Route::Doc(s("db"), s("a+b"))),
            ("/db/%2B+", Route::Doc(s("db"), s("+ "))),
            (
                "/db/doc/att+name",
                Route::Attachment(s("db"), s("doc"), s("att name")),
            ),
            ("/a+b", Route::Db(s("a b"))),
            ("/db/_local", Route::LocalDocNoId(s("db"))),
            ("/db/_local/", Route::LocalDocNoId(s("db"))),
            ("/db/_local%2F", Route::LocalDocNoId(s("db"))),
            ("/_all_dbs/_all_docs", Route::ServerMissing("GET,HEAD")),
            ("/_dbs_info/x/y", Route::ServerMissing("GET,HEAD,POST")),
            ("/_membership", Route::Membership),
            ("/_node", Route::NodeIncomplete),
            ("/_node/", Route::NodeIncomplete),
            ("/_node/_local", Route::Node(s("_local"), NodePath::Itself)),
            ("/_node/_local/", Route::Node(s("_local"), NodePath::Itself)),
            (
                "/_node/n1@127.0.0.1/_config",
                Route::Node(s("n1@127.0.0.1"), NodePath::Config),
            ),
            (
                "/_node/_local/_config/_reload",
                Route::Node(s("_local"), NodePath::ConfigReload),
            ),
            (
                "/_node/_local/_config/log",
                Route::Node(s("_local"), NodePath::ConfigSection(s("log"))),
            ),
            (
                "/_node/_local/_config/log/level",
                Route::Node(s("_local"), NodePath::ConfigKey(s("log"), s("level"))),
            ),
            (
                "/_node/_local/_config/_reload/x",
                Route::Node(s("_local"), NodePath::ConfigKey(s("_reload"), s("x"))),
            ),
            (
                "/_node/_local/_config/a/b/c",
                Route::Node(s("_local"), NodePath::ConfigTooDeep),
            ),
            (
                "/_node/_local/_stats",
                Route::Node(s("_local"), NodePath::Stats(vec![])),
            ),
            (
                "/_node/_local/_stats/couchdb/httpd",
                Route::Node(s("_local"), NodePath::Stats(vec![s("couchdb"), s("httpd")])),
            ),
            (
                "/_node/nonode@nohost/_prometheus",
                Route::Node(s("nonode@nohost"), NodePath::Prometheus),
            ),
            (
                "/_node/_local/_system",
                Route::Node(s("_local"), NodePath::System),
            ),
            (
                "/_node/_local/_versions",
                Route::Node(s("_local"), NodePath::Versions),
            ),
            (
                "/_node/_local/_system/x",
                Route::Node(s("_local"), NodePath::Other),
            ),
            ("/_utils", Route::Utils),
            ("/_utils/", Route::Utils),
            ("/_utils/dashboard.assets/js/x.js", Route::Utils),
            (
                "/db/_partition",
                Route::Partition(s("db"), PartitionPath::Bare),
            ),
            (
                "/db/_partition/",
                Route::Partition(s("db"), PartitionPath::Bare),
            ),
            (
                "/db/_partition/p",
                Route::Partition(s("db"), PartitionPath::Info(s("p"))),
            ),
            (
                "/db/_partition/_find",
                Route::Partition(s("db"), PartitionPath::Info(s("_find"))),
            ),
            (
                "/db/_partition/p/_all_docs",
                Route::Partition(
                    s("db"),
                    PartitionPath::Endpoint(s("p"), DbEndpoint::AllDocs),
                ),
            ),
            (
                "/db/_partition/p/_all_docs/queries",
                Route::Partition(
                    s("db"),
                    PartitionPath::Endpoint(s("p"), DbEndpoint::AllDocsQueries),
                ),
            ),
            (
                "/db/_partition/p%3Aq/_find",
                Route::Partition(s("db"), PartitionPath::Endpoint(s("p:q"), DbEndpoint::Find)),
            ),
            (
                "/db/_partition/p/_explain",
                Route::Partition(
                    s("db"),
                    PartitionPath::Endpoint(s("p"), DbEndpoint::Explain),
                ),
            ),
            (
                "/db/_partition/p/_index/_design/d/json/i",
                Route::Partition(s("db"), PartitionPath::Endpoint(s("p"), DbEndpoint::Index)),
            ),
            (
                "/db/_partition/p/_design/d/_view/v",
                Route::Partition(
                    s("db"),
                    PartitionPath::Design(s("p"), s("_design/d"), s("_view/v")),
                ),
            ),
            (
                "/db/_partition/p/_design/d/readme.txt",
                Route::Partition(s("db"), PartitionPath::Unknown(s("p"))),
            ),
            (
                "/db/_partition/p/doc",
                Route::Partition(s("db"), PartitionPath::Unknown(s("p"))),
            ),
        ];
        for (path, want) in table {
            assert_eq!(Route::parse(path), want, "{path}");
        }
    }

    #[test]
    fn access_of_each_route_family() {
        let table = [
            ("GET", "/", Access::Public),
            ("GET", "/_up", Access::Public),
            ("GET", "/_utils/", Access::Public),
            ("GET", "/_node/_local/_stats", Access::ServerAdmin),
            ("POST", "/_session", Access::Public),
            ("GET", "/_all_dbs", Access::ListDbs),
            ("POST", "/_dbs_info", Access::ListDbs),
            ("GET", "/_config", Access::ServerAdmin),
            ("PUT", "/db", Access::ServerAdmin),
            ("DELETE", "/db", Access::ServerAdmin),
            ("GET", "/db", Access::DbMember),
            ("POST", "/db", Access::DbMember),
            ("GET", "/db/_all_docs", Access::DbMember),
            ("GET", "/db/_changes", Access::DbMember),
            ("GET", "/_users/_all_docs", Access::ServerAdmin),
            ("POST", "/_users/_all_docs/queries", Access::ServerAdmin),
            ("GET", "/_users/_changes", Access::ServerAdmin),
            ("GET", "/_replicator/_changes", Access::ServerAdmin),
            ("GET", "/_users/org.couchdb.user:x", Access::DbMember),
            ("GET", "/db/_security", Access::DbMember),
            (
                "PUT",
                "/db/_security",
                Access::SecurityWrite { locked: false },
            ),
            ("GET", "/db/_revs_limit", Access::DbMember),
            ("PUT", "/db/_revs_limit", Access::DbAdmin),
            ("POST", "/db/_compact", Access::DbAdminPath),
            ("POST", "/db/_bulk_docs", Access::DbMember),
            ("POST", "/db/_bulk_get", Access::DbMember),
            ("POST", "/db/_revs_diff", Access::DbMember),
            ("PUT", "/db/doc", Access::DbMember),
            ("PUT", "/db/_design/x", Access::DbMember),
            ("PUT", "/db/_local/x", Access::DbMember),
            ("GET", "/db/doc/att", Access::DbMember),
            ("GET", "/db/_partition/p", Access::DbMember),
            ("POST", "/db/_partition/p/_find", Access::DbMember),
            ("GET", "/db/_partition/p/_all_docs", Access::DbMember),
            ("POST", "/db/_partition/p/_index", Access::DbAdmin),
        ];
        for (method, path, want) in table {
            assert_eq!(Route::parse(path).access(method), want, "{method} {path}");
        }
        assert_eq!(Route::parse("/_session"), Route::Session);
        assert_eq!(Route::parse("/db/doc/att").db_name(), Some("db"));
        assert_eq!(Route::parse("/_all_dbs").db_name(), None);
    }

    #[test]
    fn plus_as_configured() {
        assert_eq!(
            Route::parse_with("/db/test+doc", false),
            Route::Doc(s("db"), s("test+doc"))
        );
        assert_eq!(Route::parse_with("/a+b%2Bc", false), Route::Db(s("a+b+c")));
        assert_eq!(
            Route::parse_with("/db/test+doc", true),
            Route::Doc(s("db"), s("test doc"))
        );
        assert_eq!(unquote_with("a+b", false), "a+b");
    }

    #[test]
    fn node_routes_are_for_server_admins() {
        for path in [
            "/_node/_local",
            "/_node/_local/_config/a/b",
            "/_membership",
            "/_node",
        ] {
            assert_eq!(
                Route::parse(path).access("GET"),
                Access::ServerAdmin,
                "{path}"
            );
        }
        let key = Route::parse("/_node/_local/_config/a/b");
        assert!(key.allows("PUT") && key.allows("HEAD") && !key.allows("POST"));
        assert!(!Route::parse("/_node/_local/_config").allows("PUT"));
        assert!(Route::parse("/_node/_local/_config/_reload").allows("POST"));
        assert!(Route::parse("/_node/_local").allows("DELETE"));
    }

    #[test]
    fn allowed_methods() {
        assert!(Route::Root.allows("GET"));
        assert!(!Route::Root.allows("POST"));
        assert!(Route::DbEndpoint(s("d"), DbEndpoint::BulkDocs).allows("POST"));
        assert!(!Route::DbEndpoint(s("d"), DbEndpoint::BulkDocs).allows("GET"));
        assert!(Route::Doc(s("d"), s("x")).allows("COPY"));
        assert!(Route::LocalDocNoId(s("d")).allows("POST"));
        assert!(!Route::ServerMissing("GET,HEAD").allows("POST"));
        assert!(Route::ServerMissing("GET,HEAD,POST").allows("POST"));
    }
}
