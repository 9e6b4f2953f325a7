//! Documents as clients send them and as Settee returns them.
//!
//! Incoming JSON is split by [`parse_doc`] into the special members CouchDB
//! understands (`_id`, `_rev`, `_revisions`, `_deleted`, `_attachments`)
//! and the ordinary body, with CouchDB's validation errors. [`DocView`]
//! does the reverse: it assembles the JSON CouchDB returns for a revision,
//! with the optional `_revisions`, `_revs_info`, `_conflicts`, … members in
//! CouchDB's order.

use serde_json::{Map, Value};

use crate::couch::attachment::{self, AttInput};
use crate::couch::rev::{self, Rev};
use crate::error::{Error, Result};

/// A document as a client submitted it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewDoc {
    /// `_id`, when the body carried one.
    pub id: Option<String>,
    /// Known revision path, newest first: `[_rev]`, or the whole of
    /// `_revisions` when given (which wins over `_rev`, as in CouchDB).
    pub revs: Vec<Rev>,
    pub deleted: bool,
    /// The ordinary members, in the order the client sent them.
    pub body: Map<String, Value>,
    /// `_attachments` as sent, parsed; `None` when the member was absent.
    pub attachments: Option<Vec<(String, AttInput)>>,
}

/// Special members CouchDB accepts and drops on write.
const IGNORED_SPECIAL: [&str; 4] = [
    "_revs_info",
    "_local_seq",
    "_conflicts",
    "_deleted_conflicts",
];
/// Special members CouchDB keeps in the body.
const KEPT_SPECIAL: [&str; 6] = [
    "_access",
    "_replication_state",
    "_replication_state_time",
    "_replication_state_reason",
    "_replication_id",
    "_replication_stats",
];

/// CouchDB's `validate_revs`: a replicated write (`new_edits=false`) must
/// name the revision it stores.
pub fn require_replicated_rev(doc: &NewDoc) -> Result<()> {
    if doc.revs.is_empty() {
        return Err(Error::bad_request(
            "When `new_edits: false`, the document needs `_rev` or `_revisions` specified",
        ));
    }
    Ok(())
}

/// Splits a client's JSON document into its parts (couch_doc:from_json_obj).
pub fn parse_doc(value: Value) -> Result<NewDoc> {
    let Value::Object(fields) = value else {
        return Err(Error::bad_request("Document must be a JSON object"));
    };
    let mut doc = NewDoc::default();
    let mut saw_revisions = false;
    for (key, val) in fields {
        if !key.starts_with('_') || KEPT_SPECIAL.contains(&key.as_str()) {
            doc.body.insert(key, val);
            continue;
        }
        match key.as_str() {
            "_id" => match val {
                Value::String(id) => doc.id = Some(id),
                _ => return Err(Error::IllegalDocId("Document id must be a string".into())),
            },
            "_rev" => {
                if !saw_revisions {
                    let text = val
                        .as_str()
                        .ok_or_else(|| Error::bad_request("Invalid rev format"))?;
                    doc.revs = vec![parse_rev_any(text)?];
                }
            }
            "_revisions" => {
                doc.revs =
                    rev::parse_revisions(&val).map_err(|e| Error::DocValidation(e.to_string()))?;
                saw_revisions = true;
            }
            "_deleted" => match val {
                Value::Bool(b) => doc.deleted = b,
                _ => {
                    return Err(Error::DocValidation(
                        "Bad special document member: _deleted".into(),
                    ))
                }
            },
            "_attachments" => match val {
                Value::Object(atts) => doc.attachments = Some(attachment::parse_attachments(atts)?),
                _ => return Err(Error::bad_request("Attachments must be a JSON object")),
            },
            k if IGNORED_SPECIAL.contains(&k) => {}
            other => {
                return Err(Error::DocValidation(format!(
                    "Bad special document member: {other}"
                )));
            }
        }
    }
    Ok(doc)
}

/// Parses a `_rev` as CouchDB's `parse_rev` does: like [`Rev::parse`], but
/// position 0 is allowed too (`_local` documents use `0-N`).
fn parse_rev_any(text: &str) -> Result<Rev> {
    match text.strip_prefix("0-") {
        Some(id) if !id.is_empty() => Ok(Rev::new(0, id)),
        _ => Rev::parse(text).map_err(|_| Error::bad_request("Invalid rev format")),
    }
}

/// The size of a body as compact JSON text, counted without building the
/// text: what `couch_ejson_size:encoded_size/1` measures against
/// `max_document_size`.
pub fn encoded_size(body: &Map<String, Value>) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, body);
    counter.0
}

/// Status of one revision in `_revs_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevStatus {
    Available,
    Missing,
    Deleted,
}

impl RevStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RevStatus::Available => "available",
            RevStatus::Missing => "missing",
            RevStatus::Deleted => "deleted",
        }
    }
}

/// One revision of a document, ready to be rendered as CouchDB JSON.
#[derive(Debug, Default)]
pub struct DocView {
    pub id: String,
    pub rev: Option<Rev>,
    pub deleted: bool,
    pub body: Map<String, Value>,
    /// Path for `_revisions`, newest first.
    pub revisions: Option<Vec<Rev>>,
    pub revs_info: Option<Vec<(Rev, RevStatus)>>,
    pub conflicts: Option<Vec<Rev>>,
    pub deleted_conflicts: Option<Vec<Rev>>,
    pub local_seq: Option<u64>,
    pub attachments: Option<Map<String, Value>>,
}

impl DocView {
    /// CouchDB's member order: `_id`, `_rev`, body, `_deleted`, `_revisions`,
    /// `_revs_info`, `_conflicts`, `_deleted_conflicts`, `_local_seq`, `_attachments`.
    pub fn into_json(self) -> Value {
        let mut out = Map::with_capacity(self.body.len() + 4);
        out.insert("_id".into(), Value::String(self.id));
        if let Some(rev) = &self.rev {
            out.insert("_rev".into(), Value::String(rev.to_string()));
        }
        for (k, v) in self.body {
            out.insert(k, v);
        }
        if self.deleted {
            out.insert("_deleted".into(), Value::Bool(true));
        }
        if let Some(path) = &self.revisions {
            out.insert("_revisions".into(), rev::revisions_json(path));
        }
        if let Some(info) = self.revs_info {
            let list = info
                .into_iter()
                .map(|(r, s)| serde_json::json!({"rev": r.to_string(), "status": s.as_str()}))
                .collect();
            out.insert("_revs_info".into(), Value::Array(list));
        }
        if let Some(c) = self.conflicts.filter(|c| !c.is_empty()) {
            out.insert("_conflicts".into(), rev_list(&c));
        }
        if let Some(c) = self.deleted_conflicts.filter(|c| !c.is_empty()) {
            out.insert("_deleted_conflicts".into(), rev_list(&c));
        }
        if let Some(seq) = self.local_seq {
            out.insert("_local_seq".into(), Value::from(seq));
        }
        if let Some(atts) = self.attachments.filter(|a| !a.is_empty()) {
            out.insert("_attachments".into(), Value::Object(atts));
        }
        Value::Object(out)
    }
}

/// Revisions as a JSON array of strings.
pub fn rev_list(revs: &[Rev]) -> Value {
    Value::Array(revs.iter().map(|r| Value::String(r.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_special_members() {
        let doc =
            parse_doc(json!({"_id": "a", "_rev": "1-abc", "x": 1, "_conflicts": [], "y": 2})).ok();
        let doc = doc.expect("valid doc");
        assert_eq!(doc.id.as_deref(), Some("a"));
        assert_eq!(doc.revs, vec![Rev::new(1, "abc")]);
        assert_eq!(Value::Object(doc.body), json!({"x": 1, "y": 2}));
    }

    #[test]
    fn revisions_win_over_rev() {
        let doc =
            parse_doc(json!({"_rev": "9-zzz", "_revisions": {"start": 2, "ids": ["b", "a"]}}));
        assert_eq!(
            doc.ok().map(|d| d.revs),
            Some(vec![Rev::new(2, "b"), Rev::new(1, "a")])
        );
    }

    #[test]
    fn rejects_what_couchdb_rejects() {
        let reason = |v: Value| {
            parse_doc(v)
                .err()
                .map(|e| (e.status_and_name().1, e.to_string()))
        };
        assert_eq!(
            reason(json!([1])),
            Some(("bad_request", "Document must be a JSON object".into()))
        );
        assert_eq!(
            reason(json!({"_foo": 1})),
            Some(("doc_validation", "Bad special document member: _foo".into()))
        );
        assert_eq!(
            reason(json!({"_rev": "abc"})),
            Some(("bad_request", "Invalid rev format".into()))
        );
        assert_eq!(
            reason(json!({"_id": 5})).map(|r| r.0),
            Some("illegal_docid")
        );
    }

    #[test]
    fn renders_in_couchdb_order() {
        let mut body = Map::new();
        body.insert("k".into(), json!(1));
        let view = DocView {
            id: "d".into(),
            rev: Some(Rev::new(2, "b")),
            body,
            conflicts: Some(vec![Rev::new(2, "a")]),
            ..Default::default()
        };
        let text = serde_json::to_string(&view.into_json()).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"_id":"d","_rev":"2-b","k":1,"_conflicts":["2-a"]}"#
        );
    }
}
