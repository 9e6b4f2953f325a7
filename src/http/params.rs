//! The parameters of an `_all_docs`-style range query (`_all_docs`,
//! `_design_docs`, `_local_docs`, partitions): keys, ranges, `limit`,
//! `skip`, read options, from a query string or a POST body merged with
//! it, with CouchDB's parsing and errors.

use std::ops::Bound;

use actix_web::{web, HttpRequest};
use serde_json::{Map, Value};

use super::request::{self, Query};
use super::AppState;
use crate::error::{Error, Result};
use crate::service::read::ReadOpts;
use crate::storage::Database;

/// Where a JSON key falls among document ids. `_all_docs` compares keys
/// with ids in Erlang term order (the by-id tree's raw order), where every
/// non-string — null, booleans, numbers, arrays, objects — sorts below
/// every binary.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum KeyPos {
    Low,
    Id(String),
}

impl KeyPos {
    pub(super) fn of(v: &Value) -> KeyPos {
        match v {
            Value::String(s) => KeyPos::Id(s.clone()),
            _ => KeyPos::Low,
        }
    }

    /// Erlang's `max` of a key and an id.
    pub(super) fn higher(key: Option<KeyPos>, id: &str) -> KeyPos {
        match key {
            Some(KeyPos::Id(s)) if s.as_str() > id => KeyPos::Id(s),
            _ => KeyPos::Id(id.to_string()),
        }
    }

    /// Erlang's `min` of a key and an id.
    pub(super) fn lower(key: Option<KeyPos>, id: &str) -> KeyPos {
        match key {
            Some(KeyPos::Id(s)) if s.as_str() >= id => KeyPos::Id(id.to_string()),
            Some(key) => key,
            None => KeyPos::Id(id.to_string()),
        }
    }
}

/// CouchDB's largest `limit` for a partition query
/// (`query_server_config.partition_query_limit`, default 268435456).
const PARTITION_QUERY_LIMIT: u64 = 268_435_456;

/// The ids a scan passes before its first row: CouchDB's `offset` counts
/// the live ones.
pub(super) enum BeforeStart {
    Nothing,
    Range(Bound<String>, Bound<String>),
    Everything,
}

/// The parameters of one `_all_docs` query.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub(super) start: Option<KeyPos>,
    pub(super) end: Option<KeyPos>,
    pub(super) inclusive_end: bool,
    pub(super) descending: bool,
    pub(super) limit: Option<u64>,
    pub(super) skip: u64,
    pub(super) include_docs: bool,
    pub(super) update_seq: bool,
    pub(super) keys: Option<Vec<Value>>,
    pub(super) opts: ReadOpts,
    pub(super) design_only: bool,
    /// A partition query (`_partition/{p}/_all_docs`, `?partition=`).
    pub(super) partition: Option<String>,
}

fn bool_param(m: &Map<String, Value>, name: &str, default: bool) -> Result<bool> {
    match m.get(name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => request::parse_bool(name, s),
        Some(other) => request::parse_bool(name, &other.to_string()),
    }
}

/// A `limit`/`skip` from decoded JSON, with CouchDB's `parse_pos_int`
/// errors; these show the value as Erlang prints it, so a JSON string
/// `"5"` (which CouchDB refuses) reads `<<"5">>`.
fn int_param(m: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(Value::Number(n)) if n.is_i64() => Err(Error::QueryParseError(format!(
            "Invalid value for positive integer: {n}"
        ))),
        Some(Value::String(s)) => Err(Error::QueryParseError(format!(
            "Invalid value for integer: <<\"{s}\">>"
        ))),
        Some(other) => Err(Error::QueryParseError(format!(
            "Invalid value for integer: {other}"
        ))),
    }
}

/// The names that set the start or the end of the key range.
const RANGE_KEYS: [&str; 5] = ["key", "startkey", "start_key", "endkey", "end_key"];

/// Names that set the same option; a later source replaces all of them.
const ALIASES: [&[&str]; 4] = [
    &["startkey", "start_key"],
    &["endkey", "end_key"],
    &["startkey_docid", "start_key_doc_id"],
    &["endkey_docid", "end_key_doc_id"],
];

/// CouchDB's check that `keys` is not mixed with a key range: allowed when
/// `keys` is empty, or is one key that every range key equals (CouchDB
/// reads a one-element `keys` as `key`).
fn check_keys_alone(m: &Map<String, Value>, keys: &[Value]) -> Result<()> {
    let mut range = RANGE_KEYS.iter().filter_map(|n| m.get(*n));
    let compatible = match keys {
        [] => true,
        [only] => range.all(|v| v == only),
        _ => range.next().is_none(),
    };
    if compatible {
        Ok(())
    } else {
        Err(Error::QueryParseError(
            "`keys` is incompatible with `key`, `start_key` and `end_key`".into(),
        ))
    }
}

impl Params {
    /// Parses parameters given as a JSON object (POST bodies, `queries`).
    pub fn from_json(m: &Map<String, Value>) -> Result<Params> {
        let key = |names: [&str; 2]| names.iter().find_map(|n| m.get(*n)).map(KeyPos::of);
        // `key` is the range `key`..`key`; an explicit start or end wins.
        let one = key(["key", "key"]);
        let start = key(["startkey", "start_key"])
            .or_else(|| one.clone())
            .or_else(|| key(["startkey_docid", "start_key_doc_id"]));
        let end = key(["endkey", "end_key"])
            .or_else(|| one.clone())
            .or_else(|| key(["endkey_docid", "end_key_doc_id"]));
        let keys = match m.get("keys") {
            None => None,
            Some(Value::Array(k)) => {
                check_keys_alone(m, k)?;
                Some(k.clone())
            }
            Some(_) => {
                return Err(Error::QueryParseError(
                    "`keys` must be an array of strings.".into(),
                ))
            }
        };
        let meta = bool_param(m, "meta", false)?;
        let partition = match m.get("partition") {
            None => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(other) => Some(other.to_string()),
        };
        if let Some(p) = &partition {
            crate::couch::partition::validate_partition(p)?;
        }
        Ok(Params {
            start,
            end,
            inclusive_end: bool_param(m, "inclusive_end", true)?,
            descending: bool_param(m, "descending", false)?,
            limit: int_param(m, "limit")?,
            skip: int_param(m, "skip")?.unwrap_or(0),
            include_docs: bool_param(m, "include_docs", false)?,
            update_seq: bool_param(m, "update_seq", false)?,
            keys,
            opts: ReadOpts {
                conflicts: bool_param(m, "conflicts", false)? || meta,
                revs: bool_param(m, "revs", false)?,
                revs_info: meta,
                deleted_conflicts: meta,
                local_seq: bool_param(m, "local_seq", false)?,
                attachments: bool_param(m, "attachments", false)?,
                att_encoding_info: bool_param(m, "att_encoding_info", false)?,
            },
            design_only: false,
            partition,
        })
    }

    /// The parameters of a `GET` (its query string) or a `POST` (its body
    /// merged with its query string).
    pub async fn from_request(
        state: &AppState,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> Result<Params> {
        let q = Query::from_request(req);
        if req.method() != "POST" {
            return Params::from_query(&q);
        }
        request::require_json_content_type(req)?;
        let body = request::parse_json(
            &request::read_body(payload, state.snapshot().max_http_request_size).await?,
        )?;
        Params::merge_body(&q, &body)
    }

    /// Parses a `GET` query string.
    pub fn from_query(q: &Query) -> Result<Params> {
        let m = Params::query_map(q)?;
        if m.get("keys").is_some_and(|k| !k.is_array()) {
            return Err(Error::bad_request("`keys` parameter must be an array."));
        }
        Params::from_json(&m)
    }

    /// A query string as the JSON object [`Params::from_json`] reads: key
    /// parameters are JSON, the rest plain.
    pub(super) fn query_map(q: &Query) -> Result<Map<String, Value>> {
        let mut m = Map::new();
        for name in ["startkey", "start_key", "endkey", "end_key", "keys", "key"] {
            if let Some(v) = q.json(&[name])? {
                m.insert(name.to_string(), v);
            }
        }
        for name in [
            "startkey_docid",
            "start_key_doc_id",
            "endkey_docid",
            "end_key_doc_id",
            "partition",
        ] {
            if let Some(v) = q.get(name) {
                m.insert(name.to_string(), Value::String(v.to_string()));
            }
        }
        for name in [
            "inclusive_end",
            "descending",
            "include_docs",
            "update_seq",
            "conflicts",
            "revs",
            "meta",
            "local_seq",
            "attachments",
            "att_encoding_info",
        ] {
            if let Some(v) = q.get(name) {
                m.insert(name.to_string(), Value::Bool(request::parse_bool(name, v)?));
            }
        }
        for name in ["limit", "skip"] {
            if let Some(v) = q.u64(name)? {
                m.insert(name.to_string(), Value::from(v));
            }
        }
        // `key=X` is the one-key range startkey=X&endkey=X, not a `keys` lookup.
        if let Some(key) = m.remove("key") {
            m.insert("startkey".into(), key.clone());
            m.insert("endkey".into(), key);
            m.insert("inclusive_end".into(), Value::Bool(true));
        }
        Ok(m)
    }

    /// A POST: the body's members with the query string's laid over them,
    /// as CouchDB's `parse_body_and_query` (the query string wins).
    pub(super) fn merge_body(q: &Query, body: &Value) -> Result<Params> {
        let Value::Object(body) = body else {
            return Err(Error::bad_request("Request body must be a JSON object"));
        };
        if body.get("keys").is_some_and(|k| !k.is_array()) {
            return Err(Error::bad_request("`keys` body member must be an array."));
        }
        let over = Params::query_map(q)?;
        let mut merged = body.clone();
        for name in over.keys() {
            for group in ALIASES.iter().filter(|g| g.contains(&name.as_str())) {
                for alias in group.iter() {
                    merged.remove(*alias);
                }
            }
        }
        merged.extend(over);
        Params::from_json(&merged)
    }

    /// Lower and upper bounds in id order, or None for an empty range.
    pub(super) fn bounds(&self) -> Option<(Bound<String>, Bound<String>)> {
        let (first, last) = (self.start.clone(), self.end.clone());
        let (lo, hi) = if self.descending {
            // From the start down to the end: an end below every id
            // bounds nothing; a start below every id leaves nothing.
            let lo = match last {
                None | Some(KeyPos::Low) => Bound::Unbounded,
                Some(KeyPos::Id(s)) if !self.inclusive_end => Bound::Excluded(s),
                Some(KeyPos::Id(s)) => Bound::Included(s),
            };
            let hi = match first {
                None => Bound::Unbounded,
                Some(KeyPos::Low) => return None,
                Some(KeyPos::Id(s)) => Bound::Included(s),
            };
            (lo, hi)
        } else {
            let lo = match first {
                None | Some(KeyPos::Low) => Bound::Unbounded,
                Some(KeyPos::Id(s)) => Bound::Included(s),
            };
            let hi = match last {
                None => Bound::Unbounded,
                Some(KeyPos::Low) => return None,
                Some(KeyPos::Id(s)) if !self.inclusive_end => Bound::Excluded(s),
                Some(KeyPos::Id(s)) => Bound::Included(s),
            };
            (lo, hi)
        };
        let (lo, hi) = if self.design_only {
            narrow_to_design(lo, hi)
        } else {
            (lo, hi)
        };
        Some((lo, hi))
    }

    /// The ids before the start of the scan, whatever its end.
    pub(super) fn before_start(&self) -> BeforeStart {
        if self.descending {
            let mut hi = match &self.start {
                None => Bound::Unbounded,
                Some(KeyPos::Low) => return BeforeStart::Everything,
                Some(KeyPos::Id(s)) => Bound::Included(s.clone()),
            };
            if self.design_only {
                hi = narrow_to_design(Bound::Unbounded, hi).1;
            }
            match hi {
                Bound::Unbounded => BeforeStart::Nothing,
                Bound::Included(s) => BeforeStart::Range(Bound::Excluded(s), Bound::Unbounded),
                Bound::Excluded(s) => BeforeStart::Range(Bound::Included(s), Bound::Unbounded),
            }
        } else {
            let mut lo = match &self.start {
                None | Some(KeyPos::Low) => Bound::Unbounded,
                Some(KeyPos::Id(s)) => Bound::Included(s.clone()),
            };
            if self.design_only {
                lo = narrow_to_design(lo, Bound::Unbounded).0;
            }
            match lo {
                Bound::Unbounded => BeforeStart::Nothing,
                Bound::Included(s) => BeforeStart::Range(Bound::Unbounded, Bound::Excluded(s)),
                Bound::Excluded(s) => BeforeStart::Range(Bound::Unbounded, Bound::Included(s)),
            }
        }
    }

    /// Applies what a query needs of the database before it runs: a
    /// partition query wants a partitioned database, a `limit` within the
    /// partition query limit, and reads only the partition's ids
    /// (`couch_mrview_util:apply_all_docs_partition`: the start and end
    /// keys are clamped to `partition:` .. `partition;`, in Erlang order).
    /// In a partitioned database every requested key must name a partition
    /// (CouchDB finds its shard by it).
    pub(super) fn prepare(&mut self, db: &Database) -> Result<()> {
        if let Some(keys) = &self.keys {
            if db.partitioned() {
                for key in keys.iter().filter_map(Value::as_str) {
                    crate::couch::partition::check_lookup(key)?;
                }
            }
        }
        let Some(p) = self.partition.clone() else {
            return Ok(());
        };
        if !db.partitioned() {
            return Err(Error::QueryParseError(
                "`partition` parameter is not supported on this db".into(),
            ));
        }
        if self.limit.is_some_and(|l| l > PARTITION_QUERY_LIMIT) {
            return Err(Error::QueryParseError(format!(
                "Limit is too large, must not exceed {PARTITION_QUERY_LIMIT}"
            )));
        }
        let (first, past) = (
            crate::couch::partition::start_key(&p),
            crate::couch::partition::end_key(&p),
        );
        let (start, end) = (self.start.take(), self.end.take());
        if self.descending {
            self.start = Some(KeyPos::lower(start, &past));
            self.end = Some(KeyPos::higher(end, &first));
        } else {
            self.start = Some(KeyPos::higher(start, &first));
            self.end = Some(KeyPos::lower(end, &past));
        }
        Ok(())
    }
}

/// Intersects a range with the `_design/` id space.
pub(super) fn narrow_to_design(
    lo: Bound<String>,
    hi: Bound<String>,
) -> (Bound<String>, Bound<String>) {
    let (dlo, dhi) = ("_design/".to_string(), "_design0".to_string());
    let lo = match lo {
        Bound::Included(s) | Bound::Excluded(s) if s < dlo => Bound::Included(dlo),
        Bound::Unbounded => Bound::Included(dlo),
        other => other,
    };
    let hi = match hi {
        Bound::Included(s) | Bound::Excluded(s) if s >= dhi => Bound::Excluded(dhi),
        Bound::Unbounded => Bound::Excluded(dhi),
        other => other,
    };
    (lo, hi)
}

pub fn as_ref_bound(b: &Bound<String>) -> Bound<&str> {
    match b {
        Bound::Included(s) => Bound::Included(s.as_str()),
        Bound::Excluded(s) => Bound::Excluded(s.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
