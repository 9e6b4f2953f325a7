//! `_find` and `_explain` request bodies (`mango_opts:validate_find`), sort
//! specifications (`mango_sort`), field projection (`mango_fields`) and
//! bookmarks, with CouchDB's errors and defaults.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use md5::Digest;
use serde_json::{json, Map, Value};

use super::error::{bad, erl_term, unknown_error};
use super::field::{get_field, parse_field, Lookup};
use super::selector::Selector;
use crate::error::Result;

/// `mango.default_limit`.
pub const DEFAULT_LIMIT: u64 = 25;

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Asc,
    Desc,
}

/// A validated `_find` / `_explain` body.
#[derive(Debug, Clone)]
pub struct FindRequest {
    pub selector: Selector,
    /// `[]`, `[ddoc]` or `[ddoc, name]` (ddoc without `_design/` as given).
    pub use_index: Vec<String>,
    pub bookmark: Option<String>,
    pub limit: u64,
    pub skip: u64,
    pub sort: Vec<(String, Dir)>,
    /// `None` for all fields.
    pub fields: Option<Vec<String>>,
    pub r: u64,
    pub conflicts: bool,
    pub stale_ok: bool,
    pub update: bool,
    pub stable: bool,
    pub execution_stats: bool,
    pub allow_fallback: bool,
    /// A partition query (`partition`, or the `_partition/{p}` path).
    pub partition: Option<String>,
}

impl FindRequest {
    /// Validates a request body in CouchDB's order: `selector` first, then
    /// each option; unknown members last.
    pub fn parse(body: &Value) -> Result<FindRequest> {
        let Value::Object(props) = body else {
            return Err(bad(
                "invalid_ejson",
                format!("Invalid JSON value: {}", erl_term(body)),
            ));
        };
        let selector = match props.get("selector") {
            None => {
                return Err(bad(
                    "missing_required_key",
                    "Missing required key: selector",
                ))
            }
            Some(v) => Selector::parse(v)?,
        };
        let use_index = match props.get("use_index") {
            None => Vec::new(),
            Some(v) => parse_use_index(v)?,
        };
        let bookmark = match props.get("bookmark") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(unknown_error("mango_opts", "invalid_bookmark", other)),
        };
        let limit = non_neg(props.get("limit"), DEFAULT_LIMIT)?;
        let skip = non_neg(props.get("skip"), 0)?;
        let sort = match props.get("sort") {
            None => Vec::new(),
            Some(v) => parse_sort(v)?,
        };
        let fields = match props.get("fields") {
            None => None,
            Some(v) => parse_fields(v)?,
        };
        let partition = match props.get("partition") {
            None => None,
            Some(p) => crate::couch::partition::from_json(p)?,
        };
        let r = match props.get("r") {
            None => 1,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => n,
                _ => {
                    return Err(bad(
                        "invalid_pos_integer",
                        format!("{} is not an integer greater than zero", erl_term(v)),
                    ))
                }
            },
        };
        let conflicts = boolean(props.get("conflicts"), false)?;
        let stale_ok = match props.get("stale") {
            None | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) if s == "ok" => true,
            Some(Value::String(s)) if s == "false" => false,
            Some(other) => {
                return Err(unknown_error(
                    "mango_opts",
                    "invalid_ok_or_false_value",
                    other,
                ))
            }
        };
        let update = boolean(props.get("update"), true)?;
        let stable = boolean(props.get("stable"), false)?;
        let execution_stats = boolean(props.get("execution_stats"), false)?;
        let allow_fallback = boolean(props.get("allow_fallback"), true)?;
        const KNOWN: [&str; 15] = [
            "selector",
            "use_index",
            "bookmark",
            "limit",
            "skip",
            "sort",
            "fields",
            "partition",
            "r",
            "conflicts",
            "stale",
            "update",
            "stable",
            "execution_stats",
            "allow_fallback",
        ];
        if let Some(key) = props.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(bad(
                "invalid_key",
                format!("Invalid key {key} for this request."),
            ));
        }
        Ok(FindRequest {
            selector,
            use_index,
            bookmark,
            limit,
            skip,
            sort,
            fields,
            r,
            conflicts,
            stale_ok,
            update: update && !stale_ok,
            stable: stable || stale_ok,
            execution_stats,
            allow_fallback,
            partition,
        })
    }

    /// Sort field names in order.
    pub fn sort_fields(&self) -> Vec<String> {
        self.sort.iter().map(|(f, _)| f.clone()).collect()
    }

    /// Whether the sort is descending (all directions are the same).
    pub fn descending(&self) -> bool {
        self.sort.first().is_some_and(|(_, d)| *d == Dir::Desc)
    }

    /// The options as `_explain` echoes them.
    pub fn opts_json(&self) -> Value {
        let sort: Map<String, Value> = self
            .sort
            .iter()
            .map(|(f, d)| {
                (
                    f.clone(),
                    Value::from(if *d == Dir::Desc { "desc" } else { "asc" }),
                )
            })
            .collect();
        json!({
            "use_index": self.use_index,
            "bookmark": self.bookmark.clone().unwrap_or_else(|| "nil".into()),
            "limit": self.limit,
            "skip": self.skip,
            "sort": sort,
            "fields": self.fields.clone().unwrap_or_default(),
            "partition": self.partition.clone().unwrap_or_default(),
            "r": self.r,
            "conflicts": self.conflicts,
            "stale": if self.stale_ok { Value::from("ok") } else { Value::Bool(false) },
            "update": self.update,
            "stable": self.stable,
            "execution_stats": self.execution_stats,
            "allow_fallback": self.allow_fallback,
        })
    }
}

fn non_neg(v: Option<&Value>, default: u64) -> Result<u64> {
    match v {
        None => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| {
            bad(
                "invalid_non_neg_integer",
                format!(
                    "{} is not an integer greater than or equal to zero",
                    erl_term(v)
                ),
            )
        }),
    }
}

fn boolean(v: Option<&Value>, default: bool) -> Result<bool> {
    match v {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(
            "invalid_boolean",
            format!("Invalid boolean value: {}", erl_term(other)),
        )),
    }
}

/// `mango_opts:validate_use_index/1`.
pub fn parse_use_index(v: &Value) -> Result<Vec<String>> {
    let invalid = || {
        bad(
            "invalid_index_name",
            format!("Invalid index name: {}", erl_term(v)),
        )
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => {
            let parts: Vec<&str> = s.split('/').collect();
            match parts.as_slice() {
                [d] => Ok(vec![d.to_string()]),
                ["_design", d] => Ok(vec![d.to_string()]),
                [d, n] => Ok(vec![d.to_string(), n.to_string()]),
                ["_design", d, n] => Ok(vec![d.to_string(), n.to_string()]),
                _ => Err(invalid()),
            }
        }
        Value::Array(items) => match items.as_slice() {
            [] => Ok(Vec::new()),
            [Value::String(d)] => Ok(vec![d.clone()]),
            [Value::String(d), Value::String(n)] => Ok(vec![d.clone(), n.clone()]),
            _ => Err(invalid()),
        },
        _ => Err(invalid()),
    }
}

/// `mango_sort:new/1`.
pub fn parse_sort(v: &Value) -> Result<Vec<(String, Dir)>> {
    let Value::Array(items) = v else {
        return Err(bad(
            "invalid_sort_json",
            format!("Sort must be an array of sort specs, not: {}", erl_term(v)),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let field = match item {
            Value::String(s) if s.is_empty() => {
                return Err(bad("invalid_sort_field", "Invalid sort field: <<>>"));
            }
            Value::String(s) => (s.clone(), Dir::Asc),
            Value::Object(m) if m.len() == 1 => match m.iter().next() {
                Some((name, Value::String(d))) if d == "asc" => (name.clone(), Dir::Asc),
                Some((name, Value::String(d))) if d == "desc" => (name.clone(), Dir::Desc),
                _ => {
                    return Err(bad(
                        "invalid_sort_field",
                        format!("Invalid sort field: {}", erl_term(item)),
                    ))
                }
            },
            _ => {
                return Err(bad(
                    "invalid_sort_field",
                    format!("Invalid sort field: {}", erl_term(item)),
                ))
            }
        };
        out.push(field);
    }
    if out.windows(2).any(|w| w[0].1 != w[1].1) {
        return Err(bad(
            "unsupported_mixed_sort",
            "Sorts currently only support a single direction for all fields.",
        ));
    }
    Ok(out)
}

/// `mango_fields:new/1`: `None` means all fields.
fn parse_fields(v: &Value) -> Result<Option<Vec<String>>> {
    let Value::Array(items) = v else {
        return Err(bad(
            "invalid_fields",
            format!("Fields must be an array of strings, not: {}", erl_term(v)),
        ));
    };
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => Ok(s.clone()),
            other => Err(bad(
                "invalid_field",
                format!("Invalid JSON for field spec: {}", erl_term(other)),
            )),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `mango_fields:extract/2`: a new document with only the given fields
/// (nested paths rebuilt as nested objects), in the order asked.
pub fn extract_fields(doc: &Value, fields: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for f in fields {
        let Ok(path) = parse_field(f) else { continue };
        if let Lookup::Found(v) = get_field(doc, &path) {
            set_field(&mut out, &path, v.clone());
        }
    }
    out
}

fn set_field(target: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(m) = target {
        if rest.is_empty() {
            m.insert(first.clone(), value);
        } else {
            let child = m
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            set_field(child, rest, value);
        }
    }
}

/// First byte of every bookmark Settee writes.
const BOOKMARK_VERSION: u8 = 1;

/// A bookmark: the position of the last row of a page (an index entry
/// key, or a doc id for `_all_docs` order), opaque to clients. It carries
/// a version byte and a 4-byte md5 check, so a bookmark Settee did not
/// write (a typo, another server's) is refused with `invalid_bookmark` as
/// CouchDB refuses one it cannot decode, rather than read as a position.
pub fn encode_bookmark(position: &[u8]) -> String {
    let mut raw = Vec::with_capacity(position.len() + 5);
    raw.push(BOOKMARK_VERSION);
    raw.extend_from_slice(position);
    let check = md5::Md5::digest(&raw);
    raw.extend_from_slice(&check[..4]);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Decodes a bookmark; CouchDB's `invalid_bookmark` error otherwise.
pub fn decode_bookmark(text: &str) -> Result<Vec<u8>> {
    let invalid = || {
        bad(
            "invalid_bookmark",
            format!("Invalid bookmark value: {}", Value::from(text)),
        )
    };
    let raw = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| invalid())?;
    if raw.len() < 6 || raw[0] != BOOKMARK_VERSION {
        return Err(invalid());
    }
    let (body, check) = raw.split_at(raw.len() - 4);
    if md5::Md5::digest(body)[..4] != *check {
        return Err(invalid());
    }
    Ok(body[1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> Value {
        FindRequest::parse(&v)
            .err()
            .map(|e| e.body())
            .unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let Ok(r) = FindRequest::parse(&json!({"selector": {}})) else {
            panic!("parse")
        };
        assert_eq!(r.limit, 25);
        assert_eq!(r.skip, 0);
        assert!(r.update && !r.stable && r.allow_fallback && r.fields.is_none());
    }

    #[test]
    fn errors_as_couchdb() {
        assert_eq!(err(json!({}))["reason"], "Missing required key: selector");
        assert_eq!(
            err(json!({"selector": 1}))["error"],
            "invalid_selector_json"
        );
        assert_eq!(
            err(json!({"selector": {}, "limit": -1}))["reason"],
            "-1 is not an integer greater than or equal to zero"
        );
        assert_eq!(
            err(json!({"selector": {}, "sort": "a"}))["error"],
            "invalid_sort_json"
        );
        assert_eq!(
            err(json!({"selector": {}, "sort": [{"a": "up"}]}))["error"],
            "invalid_sort_field"
        );
        assert_eq!(
            err(json!({"selector": {}, "sort": [{"a": "asc"}, {"b": "desc"}]}))["reason"],
            "Sorts currently only support a single direction for all fields."
        );
        assert_eq!(
            err(json!({"selector": {}, "fields": "a"}))["error"],
            "invalid_fields"
        );
        assert_eq!(
            err(json!({"selector": {}, "foo": 1}))["reason"],
            "Invalid key foo for this request."
        );
        assert_eq!(
            err(json!({"selector": {}, "use_index": "a/b/c/d"}))["error"],
            "invalid_index_name"
        );
        assert_eq!(
            err(json!({"selector": {}, "conflicts": "yes"}))["reason"],
            "Invalid boolean value: <<\"yes\">>"
        );
    }

    #[test]
    fn use_index_forms() {
        let p = |v: Value| parse_use_index(&v).ok();
        assert_eq!(p(json!("foo")), Some(vec!["foo".to_string()]));
        assert_eq!(p(json!("_design/foo")), Some(vec!["foo".to_string()]));
        assert_eq!(
            p(json!("foo/bar")),
            Some(vec!["foo".to_string(), "bar".to_string()])
        );
        assert_eq!(
            p(json!(["_design/foo", "bar"])),
            Some(vec!["_design/foo".to_string(), "bar".to_string()])
        );
    }

    #[test]
    fn extracts_fields() {
        let doc = json!({"_id": "x", "a": {"b": 1, "c": 2}, "d": [1, 2]});
        let fields = vec![
            "a.b".to_string(),
            "_id".to_string(),
            "missing".to_string(),
            "d.1".to_string(),
        ];
        assert_eq!(
            extract_fields(&doc, &fields),
            json!({"a": {"b": 1}, "_id": "x", "d": {"1": 2}})
        );
    }

    #[test]
    fn bookmarks_round_trip() {
        let b = encode_bookmark(b"\x50key\x00doc1");
        assert_eq!(decode_bookmark(&b).ok(), Some(b"\x50key\x00doc1".to_vec()));
        assert!(decode_bookmark("nope!").is_err());
        // base64 that Settee did not write: CouchDB's own bookmarks, typos
        for foreign in [
            "bad-bookmark",
            "g2wAAAABaANkABFub2RlMUBjb3VjaGRiLm5ldGwAAAACYQBiP____2poAkY_8AAAAAAAAGEHag",
            "ZG9j",
        ] {
            assert_eq!(
                decode_bookmark(foreign).err().map(|e| e.to_string()),
                Some(format!("Invalid bookmark value: \"{foreign}\""))
            );
        }
    }
}
