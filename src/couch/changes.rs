//! The `_changes` feed in CouchDB terms, pure: its parameters as
//! `chttpd_db:parse_changes_query/1` reads them (with CouchDB's errors),
//! the built-in filters (`couch_changes:configure_filter/4`), which
//! revisions a row lists (`style`), and when a row shows its sequence
//! (`seq_interval`). Reading the by-sequence index and streaming rows is
//! the HTTP layer's job (`http::changes`).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::couch::mango::error::erl_term;
use crate::couch::mango::Selector;
use crate::couch::rev::Rev;
use crate::couch::revtree::{RevInfo, RevTree};
use crate::couch::seq::{self, Since};
use crate::error::{Error, Result};

/// CouchDB's `changes_timeout`: how long a live feed waits for a change
/// before it ends (or sends a heartbeat).
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;

/// CouchDB's `changes_doc_ids_optimization_threshold`: up to this many
/// `doc_ids` are looked up by id instead of scanning the index.
pub const DOC_IDS_LOOKUP_MAX: usize = 1000;

/// CouchDB's default `limit` (it counts down from here, which matters for
/// `seq_interval`).
pub const DEFAULT_LIMIT: u64 = 1_000_000_000_000_000;

/// How the feed is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Normal,
    Longpoll,
    Continuous,
    EventSource,
}

impl Feed {
    /// A `feed` value; `live` is CouchDB's alias for `continuous`.
    pub fn parse(text: &str) -> Result<Feed> {
        match text {
            "normal" => Ok(Feed::Normal),
            "longpoll" => Ok(Feed::Longpoll),
            "continuous" | "live" => Ok(Feed::Continuous),
            "eventsource" => Ok(Feed::EventSource),
            _ => Err(Error::bad_request(
                "Supported `feed` types: normal, continuous, live, longpoll, eventsource",
            )),
        }
    }

    /// Whether the feed waits for new changes.
    pub fn is_live(self) -> bool {
        self != Feed::Normal
    }
}

/// Which revisions a row lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The winning revision only.
    MainOnly,
    /// Every leaf, winner first.
    AllDocs,
}

/// The query parameters of a `_changes` request, as CouchDB reads them:
/// keys are case-insensitive, booleans only switch on with `true`,
/// unknown keys are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// The `feed` as given; checked by [`Feed::parse`] after the filter,
    /// in CouchDB's order.
    pub feed: String,
    pub descending: bool,
    /// `since` (or `last-event-id`) as given.
    pub since: Option<String>,
    pub limit: u64,
    pub style: Style,
    /// The wait between heartbeats, when heartbeats are on.
    pub heartbeat: Option<u64>,
    pub timeout: Option<u64>,
    pub include_docs: bool,
    pub conflicts: bool,
    pub attachments: bool,
    pub att_encoding_info: bool,
    /// The `filter` name, empty when none.
    pub filter: String,
    pub seq_interval: Option<u64>,
    /// `doc_ids` from the query string (GET with `filter=_doc_ids`).
    pub doc_ids: Option<String>,
    /// `view` from the query string (`filter=_view`).
    pub view: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            feed: "normal".into(),
            descending: false,
            since: None,
            limit: DEFAULT_LIMIT,
            style: Style::MainOnly,
            heartbeat: None,
            timeout: None,
            include_docs: false,
            conflicts: false,
            attachments: false,
            att_encoding_info: false,
            filter: String::new(),
            seq_interval: None,
            doc_ids: None,
            view: None,
        }
    }
}

/// An Erlang `list_to_integer/1`: optional sign, decimal digits.
fn erlang_integer(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i128>().ok()
}

fn clamp_u64(n: i128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Params {
    /// Reads the query-string pairs in order (a later key wins).
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Params> {
        let mut p = Params::default();
        for (key, value) in pairs {
            match (key.to_ascii_lowercase().as_str(), value) {
                ("feed", "live") => p.feed = "continuous".into(),
                ("feed", v) => p.feed = v.to_string(),
                ("descending", "true") => p.descending = true,
                ("since" | "last-event-id", v) => p.since = Some(v.to_string()),
                ("limit", v) => {
                    p.limit = match erlang_integer(v) {
                        Some(n) if n >= 0 => clamp_u64(n),
                        Some(_) => return Err(Error::bad_request("The limit value should be a non-negative integer")),
                        None => {
                            return Err(Error::bad_request("The limit parameter should be a non-negative integer"))
                        }
                    }
                }
                ("style", "main_only") => p.style = Style::MainOnly,
                ("style", "all_docs") => p.style = Style::AllDocs,
                ("style", v) => return Err(Error::bad_request(format!("Invalid style: \"{v}\""))),
                ("heartbeat", "true") => p.heartbeat = Some(DEFAULT_TIMEOUT_MS),
                ("heartbeat", v) => {
                    p.heartbeat = match erlang_integer(v) {
                        Some(n) if n > 0 => Some(clamp_u64(n)),
                        Some(_) => {
                            return Err(Error::bad_request(
                                "The heartbeat value should be a positive integer (in milliseconds).",
                            ))
                        }
                        None => {
                            return Err(Error::bad_request(
                                "Invalid heartbeat value. Expecting a positive integer value (in milliseconds).",
                            ))
                        }
                    }
                }
                ("timeout", v) => {
                    p.timeout = match erlang_integer(v) {
                        Some(n) if n >= 0 => Some(clamp_u64(n)),
                        Some(_) => {
                            return Err(Error::bad_request("The timeout value should be a non-negative integer"))
                        }
                        None => {
                            return Err(Error::bad_request("The timeout parameter should be a non-negative integer"))
                        }
                    }
                }
                ("include_docs", "true") => p.include_docs = true,
                ("conflicts", "true") => p.conflicts = true,
                ("attachments", "true") => p.attachments = true,
                ("att_encoding_info", "true") => p.att_encoding_info = true,
                ("filter", v) => p.filter = v.to_string(),
                ("seq_interval", v) => {
                    p.seq_interval = match erlang_integer(v) {
                        Some(n) if n > 0 => Some(clamp_u64(n)),
                        _ => return Err(Error::bad_request("invalid_seq_interval")),
                    }
                }
                ("doc_ids", v) => p.doc_ids = Some(v.to_string()),
                ("view", v) => p.view = Some(v.to_string()),
                _ => {}
            }
        }
        Ok(p)
    }

    /// How long one wait for changes lasts, and whether its expiry sends
    /// a heartbeat (the feed goes on) or ends the feed
    /// (`couch_changes:get_changes_timeout/2`).
    pub fn wait(&self) -> (Duration, bool) {
        match (self.heartbeat, self.timeout) {
            (Some(hb), _) => (Duration::from_millis(hb.min(DEFAULT_TIMEOUT_MS)), true),
            (None, Some(t)) => (Duration::from_millis(t.min(DEFAULT_TIMEOUT_MS)), false),
            (None, None) => (Duration::from_millis(DEFAULT_TIMEOUT_MS), false),
        }
    }

    /// Where the feed starts: `None` means the current update sequence
    /// (`since=now`, or any descending feed).
    pub fn start(&self) -> Result<Option<u64>> {
        if self.descending {
            return Ok(None);
        }
        match self.since.as_deref() {
            None => Ok(Some(0)),
            Some(text) => match seq::parse(text) {
                Some(Since::Now) => Ok(None),
                Some(Since::Seq(n)) => Ok(Some(n)),
                None => Err(Error::bad_request(
                    "Malformed sequence supplied in 'since' parameter.",
                )),
            },
        }
    }

    /// Whether a row's `seq` is shown: with `seq_interval`, only when the
    /// limit left before the row is a multiple of the interval (CouchDB's
    /// `fabric_view_changes`; the others are `null`).
    pub fn shows_seq(&self, limit_left: u64) -> bool {
        match self.seq_interval {
            None => true,
            Some(n) => limit_left.is_multiple_of(n),
        }
    }
}

/// A built-in filter, resolved with its arguments.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every document.
    All,
    /// `_doc_ids`: only these ids.
    DocIds(Vec<String>),
    /// `_design`: design documents only.
    Design,
    /// `_selector`: documents a Mango selector matches; `fields`, when
    /// given, trims the documents of `include_docs`.
    Selector {
        selector: Selector,
        fields: Option<Vec<String>>,
    },
    /// A JavaScript filter or `_view` filter, named by its design
    /// document and function.
    DesignFunction { ddoc: String, member: [String; 2] },
}

/// Where the filter's arguments came from.
pub struct FilterInput<'a> {
    pub name: &'a str,
    pub post: bool,
    /// The JSON body of a POST, when it had one.
    pub body: Option<&'a Map<String, Value>>,
    /// `doc_ids` from the query string.
    pub doc_ids_query: Option<&'a str>,
    /// `view` from the query string.
    pub view_query: Option<&'a str>,
}

fn bad_doc_ids() -> Error {
    Error::bad_request("`doc_ids` filter parameter is not a list of doc ids.")
}

fn check_doc_ids(value: Option<&Value>) -> Result<Vec<String>> {
    let Some(Value::Array(items)) = value else {
        return Err(bad_doc_ids());
    };
    items
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(bad_doc_ids))
        .collect()
}

impl Filter {
    /// `couch_changes:configure_filter/4` for the given name (a selector
    /// is parsed by the Mango engine; its errors become `bad_request`).
    pub fn configure(input: &FilterInput<'_>) -> Result<Filter> {
        match input.name {
            "" => Ok(Filter::All),
            "_doc_ids" => {
                let ids = if input.post {
                    check_doc_ids(input.body.and_then(|b| b.get("doc_ids")))?
                } else {
                    let raw = input.doc_ids_query.unwrap_or("null");
                    let parsed: Value = serde_json::from_str(raw).map_err(|_| bad_doc_ids())?;
                    check_doc_ids(Some(&parsed))?
                };
                Ok(Filter::DocIds(ids))
            }
            "_selector" => {
                if !input.post {
                    return Err(Error::bad_request(
                        "Selector must be specified in POST payload",
                    ));
                }
                let selector = match input.body.and_then(|b| b.get("selector")) {
                    Some(v @ Value::Object(_)) => {
                        Selector::parse(v).map_err(|e| Error::bad_request(e.to_string()))?
                    }
                    _ => return Err(Error::bad_request("Selector error: expected a JSON object")),
                };
                let fields = match input.body.and_then(|b| b.get("fields")) {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(list)) if list.is_empty() => None,
                    Some(Value::Array(list)) => Some(
                        list.iter()
                            .map(|f| {
                                f.as_str().map(str::to_string).ok_or_else(|| {
                                    Error::bad_request(format!(
                                        "Invalid JSON for field spec: {}",
                                        erl_term(f)
                                    ))
                                })
                            })
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    Some(_) => {
                        return Err(Error::bad_request(
                            "Selector error: fields must be JSON array",
                        ))
                    }
                };
                Ok(Filter::Selector { selector, fields })
            }
            "_design" => Ok(Filter::Design),
            "_view" => {
                let view = input.view_query.unwrap_or("");
                if view.is_empty() {
                    return Err(Error::bad_request(
                        "`view` filter parameter is not provided.",
                    ));
                }
                match split_design_name(view) {
                    Some((ddoc, name)) => Ok(Filter::DesignFunction {
                        ddoc,
                        member: ["views".into(), name],
                    }),
                    None => Err(Error::bad_request(
                        "`view` must be of the form `designname/viewname`",
                    )),
                }
            }
            name if name.starts_with('_') => Err(Error::bad_request("unknown builtin filter name")),
            name => match split_design_name(name) {
                Some((ddoc, fname)) => Ok(Filter::DesignFunction {
                    ddoc,
                    member: ["filters".into(), fname],
                }),
                None => Err(Error::bad_request(
                    "`filter` must be of the form `designname/filtername`",
                )),
            },
        }
    }

    /// Whether rows for `id` can pass at all, before opening anything.
    pub fn admits_id(&self, id: &str, lookup: Option<&HashSet<String>>) -> bool {
        match self {
            Filter::DocIds(ids) => match lookup {
                Some(set) => set.contains(id),
                None => ids.iter().any(|i| i == id),
            },
            Filter::Design => id.starts_with("_design"),
            _ => true,
        }
    }
}

/// `designname/funcname` split on `/` as Erlang's `string:tokens/2` does
/// (empty pieces dropped); exactly two pieces are required.
fn split_design_name(text: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [d, f] => {
            let unquote = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((format!("_design/{}", unquote(d)), unquote(f)))
        }
        _ => None,
    }
}

/// The revisions a row lists for this style: the winner, or every leaf
/// winner first (`couch_changes:apply_style/2`).
pub fn style_revs(tree: &RevTree, style: Style) -> Vec<(Rev, RevInfo)> {
    let mut leaves = tree.leaves();
    if style == Style::MainOnly {
        leaves.truncate(1);
    }
    leaves
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(qs: &[(&str, &str)]) -> Result<Params> {
        Params::parse(qs.iter().copied())
    }

    fn reason(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Ok(v) => format!("ok: {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_parameters_as_couchdb() {
        let p = parse(&[
            ("feed", "live"),
            ("Include_Docs", "true"),
            ("descending", "yes"),
            ("limit", "+5"),
            ("style", "all_docs"),
            ("heartbeat", "true"),
            ("since", "now"),
            ("unknown", "x"),
        ])
        .ok();
        let p = p.unwrap_or_default();
        assert_eq!(p.feed, "continuous");
        assert!(p.include_docs);
        assert!(!p.descending, "only `true` switches a boolean on");
        assert_eq!(p.limit, 5);
        assert_eq!(p.style, Style::AllDocs);
        assert_eq!(p.heartbeat, Some(DEFAULT_TIMEOUT_MS));
        assert_eq!(p.start().ok(), Some(None));
    }

    #[test]
    fn rejects_what_couchdb_rejects() {
        assert_eq!(
            reason(parse(&[("limit", "-1")])),
            "The limit value should be a non-negative integer"
        );
        assert_eq!(
            reason(parse(&[("limit", "x")])),
            "The limit parameter should be a non-negative integer"
        );
        assert_eq!(
            reason(parse(&[("heartbeat", "0")])),
            "The heartbeat value should be a positive integer (in milliseconds)."
        );
        assert_eq!(
            reason(parse(&[("heartbeat", "soon")])),
            "Invalid heartbeat value. Expecting a positive integer value (in milliseconds)."
        );
        assert_eq!(
            reason(parse(&[("timeout", "-3")])),
            "The timeout value should be a non-negative integer"
        );
        assert_eq!(
            reason(parse(&[("timeout", "1.5")])),
            "The timeout parameter should be a non-negative integer"
        );
        assert_eq!(
            reason(parse(&[("seq_interval", "0")])),
            "invalid_seq_interval"
        );
        assert_eq!(
            reason(Feed::parse("sometimes")),
            "Supported `feed` types: normal, continuous, live, longpoll, eventsource"
        );
        let bad_since = Params {
            since: Some("garbage".into()),
            ..Params::default()
        };
        assert_eq!(
            reason(bad_since.start()),
            "Malformed sequence supplied in 'since' parameter."
        );
    }

    #[test]
    fn since_forms() {
        let at = |s: &str| {
            Params {
                since: Some(s.into()),
                ..Params::default()
            }
            .start()
            .ok()
            .flatten()
        };
        assert_eq!(at("0"), Some(0));
        assert_eq!(at("12"), Some(12));
        assert_eq!(at("12-g1AAAAFTeJzLYWBg"), Some(12));
        let desc = Params {
            descending: true,
            since: Some("5".into()),
            ..Params::default()
        };
        assert_eq!(
            desc.start().ok(),
            Some(None),
            "descending feeds start at the end"
        );
    }

    #[test]
    fn waits_and_heartbeats() {
        let p = |hb: Option<u64>, t: Option<u64>| {
            Params {
                heartbeat: hb,
                timeout: t,
                ..Params::default()
            }
            .wait()
        };
        assert_eq!(p(None, None), (Duration::from_millis(60_000), false));
        assert_eq!(p(None, Some(100)), (Duration::from_millis(100), false));
        assert_eq!(
            p(None, Some(600_000)),
            (Duration::from_millis(60_000), false)
        );
        assert_eq!(p(Some(10), Some(100)), (Duration::from_millis(10), true));
    }

    #[test]
    fn seq_interval_counts_down_from_the_limit() {
        let p = Params {
            seq_interval: Some(3),
            limit: 7,
            ..Params::default()
        };
        let shown: Vec<bool> = (0..7).map(|i| p.shows_seq(7 - i)).collect();
        assert_eq!(shown, [false, true, false, false, true, false, false]);
    }

    fn filter(
        name: &str,
        post: bool,
        body: Option<Value>,
        doc_ids: Option<&str>,
    ) -> Result<Filter> {
        let body = body.and_then(|b| b.as_object().cloned());
        Filter::configure(&FilterInput {
            name,
            post,
            body: body.as_ref(),
            doc_ids_query: doc_ids,
            view_query: None,
        })
    }

    #[test]
    fn configures_builtin_filters() {
        assert!(matches!(filter("", false, None, None), Ok(Filter::All)));
        assert!(matches!(
            filter("_doc_ids", true, Some(json!({"doc_ids": ["a", "b"]})), None),
            Ok(Filter::DocIds(ids)) if ids == ["a", "b"]
        ));
        assert!(matches!(
            filter("_doc_ids", false, None, Some(r#"["x"]"#)),
            Ok(Filter::DocIds(ids)) if ids == ["x"]
        ));
        let not_list = "`doc_ids` filter parameter is not a list of doc ids.";
        assert_eq!(reason(filter("_doc_ids", false, None, None)), not_list);
        assert_eq!(
            reason(filter(
                "_doc_ids",
                true,
                Some(json!({"doc_ids": [1]})),
                None
            )),
            not_list
        );
        assert_eq!(
            reason(filter("_selector", false, None, None)),
            "Selector must be specified in POST payload"
        );
        assert_eq!(
            reason(filter(
                "_selector",
                true,
                Some(json!({"selector": 1})),
                None
            )),
            "Selector error: expected a JSON object"
        );
        let sel = filter(
            "_selector",
            true,
            Some(json!({"selector": {"a": {"$gt": 1}}, "fields": ["a"]})),
            None,
        );
        assert!(matches!(sel, Ok(Filter::Selector { fields: Some(f), .. }) if f == ["a"]));
        assert_eq!(
            reason(filter(
                "_selector",
                true,
                Some(json!({"selector": {"a": {"$bogus": 1}}})),
                None
            )),
            "Invalid operator: $bogus"
        );
        assert_eq!(
            reason(filter(
                "_selector",
                true,
                Some(json!({"selector": {}, "fields": [1]})),
                None
            )),
            "Invalid JSON for field spec: 1"
        );
        assert!(matches!(
            filter("_design", false, None, None),
            Ok(Filter::Design)
        ));
        assert_eq!(
            reason(filter("_foo", false, None, None)),
            "unknown builtin filter name"
        );
        assert_eq!(
            reason(filter("nofilter", false, None, None)),
            "`filter` must be of the form `designname/filtername`"
        );
        assert!(matches!(
            filter("app/f", false, None, None),
            Ok(Filter::DesignFunction { ddoc, member }) if ddoc == "_design/app" && member == ["filters", "f"]
        ));
    }

    #[test]
    fn design_filter_matches_design_ids() {
        assert!(Filter::Design.admits_id("_design/a", None));
        assert!(!Filter::Design.admits_id("a", None));
        let f = Filter::DocIds(vec!["a".into()]);
        assert!(f.admits_id("a", None));
        assert!(!f.admits_id("b", None));
    }
}
