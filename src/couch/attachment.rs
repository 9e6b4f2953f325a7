//! Attachments in the document model: what clients send in
//! `_attachments`, what Settee keeps per revision, and how it is shown
//! (stubs, inline base64, `follows` markers for multipart bodies).
//!
//! Bodies themselves live in storage, content-addressed by their digest;
//! this module only deals with metadata, so it stays pure.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// What Settee keeps about one attachment of one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttMeta {
    pub content_type: String,
    /// Generation of the revision that last changed this attachment.
    pub revpos: u64,
    /// `md5-<base64>` of the stored bytes, as CouchDB reports it.
    pub digest: String,
    /// Length of the data as the client sent it (identity encoding).
    pub length: u64,
    /// `gzip` when stored compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Stored length, when it differs from `length`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_length: Option<u64>,
}

impl AttMeta {
    /// The raw md5 behind `digest`.
    pub fn md5(&self) -> Option<[u8; 16]> {
        md5_of_digest(&self.digest)
    }

    pub fn is_gzip(&self) -> bool {
        self.encoding.as_deref() == Some("gzip")
    }

    /// Bytes as stored (compressed, for an encoded attachment).
    pub fn stored_len(&self) -> u64 {
        match &self.encoding {
            Some(_) => self.encoded_length.unwrap_or(self.length),
            None => self.length,
        }
    }

    /// CouchDB's stub: `{content_type, revpos, digest, length, stub: true}`.
    pub fn stub_json(&self, show_encoding: bool) -> Value {
        let mut m = self.head_json();
        m.insert("length".into(), self.length.into());
        m.insert("stub".into(), true.into());
        self.encoding_json(&mut m, show_encoding);
        Value::Object(m)
    }

    /// The entry of a multipart body whose data follows in a part.
    pub fn follows_json(&self, show_encoding: bool) -> Value {
        let mut m = self.head_json();
        m.insert("length".into(), self.length.into());
        m.insert("follows".into(), true.into());
        self.encoding_json(&mut m, show_encoding);
        Value::Object(m)
    }

    /// The entry with its data inline (identity bytes, base64).
    pub fn data_json(&self, data: &[u8], show_encoding: bool) -> Value {
        let mut m = self.head_json();
        m.insert("data".into(), B64.encode(data).into());
        self.encoding_json(&mut m, show_encoding);
        Value::Object(m)
    }

    fn head_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("content_type".into(), self.content_type.clone().into());
        m.insert("revpos".into(), self.revpos.into());
        m.insert("digest".into(), self.digest.clone().into());
        m
    }

    fn encoding_json(&self, m: &mut Map<String, Value>, show: bool) {
        if let (true, Some(enc)) = (show, &self.encoding) {
            m.insert("encoding".into(), enc.clone().into());
            m.insert(
                "encoded_length".into(),
                self.encoded_length.unwrap_or(self.length).into(),
            );
        }
    }
}

/// `md5-<base64>` → the 16 raw bytes.
pub fn md5_of_digest(digest: &str) -> Option<[u8; 16]> {
    let b64 = digest.strip_prefix("md5-")?;
    B64.decode(b64).ok()?.try_into().ok()
}

/// The 16 raw bytes → `md5-<base64>`.
pub fn digest_of_md5(md5: &[u8; 16]) -> String {
    format!("md5-{}", B64.encode(md5))
}

/// One `_attachments` entry as a client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttInput {
    /// `stub: true`: keep the attachment the previous revision has.
    Stub {
        revpos: Option<u64>,
        digest: Option<String>,
    },
    /// `data`: the bytes inline (already base64-decoded).
    Inline {
        content_type: String,
        data: Vec<u8>,
        revpos: Option<u64>,
    },
    /// `follows: true`: the bytes come in a later multipart part.
    Follows {
        content_type: String,
        length: Option<u64>,
        encoding: Option<String>,
        /// Bytes in the part when it is sent `encoding`-compressed.
        encoded_length: Option<u64>,
        digest: Option<String>,
        revpos: Option<u64>,
    },
    /// A body stored for this write (inline data, a multipart part, a
    /// standalone or form upload), its revpos as sent (0 when none): an
    /// interactive edit stamps it with the new generation.
    Uploaded(AttMeta),
    /// An attachment kept by reference (the previous revision's, a COPY's
    /// source): it keeps its revpos.
    Stored(AttMeta),
}

/// CouchDB's attachment-name rule (`chttpd_db:validate_attachment_name`).
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::bad_request("Attachment name can't be empty"));
    }
    if name.starts_with('_') {
        return Err(Error::bad_request(format!(
            "Attachment name '{name}' starts with prohibited character '_'"
        )));
    }
    Ok(())
}

/// Parses a document's `_attachments` object.
pub fn parse_attachments(map: Map<String, Value>) -> Result<Vec<(String, AttInput)>> {
    let mut out = Vec::with_capacity(map.len());
    for (name, props) in map {
        validate_name(&name)?;
        let Value::Object(props) = props else {
            return Err(Error::bad_request(format!(
                "Bad attachment object for {name}"
            )));
        };
        let revpos = props.get("revpos").and_then(Value::as_u64);
        let content_type = props
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_string();
        let input = if props.get("stub").and_then(Value::as_bool) == Some(true) {
            AttInput::Stub {
                revpos,
                digest: props
                    .get("digest")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }
        } else if props.get("follows").and_then(Value::as_bool) == Some(true) {
            AttInput::Follows {
                content_type,
                length: props.get("length").and_then(Value::as_u64),
                encoding: props
                    .get("encoding")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                encoded_length: props.get("encoded_length").and_then(Value::as_u64),
                digest: props
                    .get("digest")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                revpos,
            }
        } else if let Some(data) = props.get("data") {
            let bytes = data
                .as_str()
                .and_then(|s| B64.decode(s.as_bytes()).ok())
                .ok_or_else(|| Error::bad_request(format!("Invalid attachment data for {name}")))?;
            AttInput::Inline {
                content_type,
                data: bytes,
                revpos,
            }
        } else {
            return Err(Error::bad_request(format!(
                "Invalid attachment data for {name}"
            )));
        };
        out.push((name, input));
    }
    Ok(out)
}

/// CouchDB's default `[attachments] compressible_types`.
pub const DEFAULT_COMPRESSIBLE_TYPES: &str =
    "text/*, application/javascript, application/json, application/xml";

/// `[attachments] compressible_types`, matched as `couch_db:
/// compressible_att_type/1` does: the list is split at commas (with any
/// spaces around them), each item becomes the regular expression
/// `^\s*ITEM(?:\s*;.*?)?\s*$` with `*` turned into `.*` (other characters
/// keep their regex meaning, as in CouchDB), matched without regard to case.
#[derive(Debug, Clone)]
pub struct CompressibleTypes {
    patterns: Vec<pcre2::bytes::Regex>,
}

impl CompressibleTypes {
    /// Compiles a `compressible_types` value; an item that is no valid
    /// regular expression matches nothing.
    pub fn parse(spec: &str) -> CompressibleTypes {
        let patterns = spec
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .filter_map(|item| {
                let pattern = format!(r"^\s*{}(?:\s*;.*?)?\s*$", item.replace('*', ".*"));
                pcre2::bytes::RegexBuilder::new()
                    .caseless(true)
                    .utf(true)
                    .build(&pattern)
                    .map_err(|e| {
                        tracing::warn!(item, error = %e, "[attachments] compressible_types: ignoring an invalid item")
                    })
                    .ok()
            })
            .collect();
        CompressibleTypes { patterns }
    }

    /// Whether an attachment of this content type is stored compressed.
    pub fn matches(&self, content_type: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.is_match(content_type.as_bytes()).unwrap_or(false))
    }
}

impl Default for CompressibleTypes {
    fn default() -> Self {
        CompressibleTypes::parse(DEFAULT_COMPRESSIBLE_TYPES)
    }
}

/// The attachments of a stored revision body (the `_attachments` member).
pub fn stored_atts(body: &Map<String, Value>) -> Vec<(String, AttMeta)> {
    match body.get("_attachments") {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| {
                serde_json::from_value(v.clone())
                    .ok()
                    .map(|meta| (k.clone(), meta))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The `_attachments` member for a stored body.
pub fn stored_json(atts: &[(String, AttMeta)]) -> Value {
    let mut m = Map::new();
    for (name, meta) in atts {
        m.insert(
            name.clone(),
            serde_json::to_value(meta).unwrap_or_else(|_| json!({})),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> AttMeta {
        AttMeta {
            content_type: "text/plain".into(),
            revpos: 2,
            digest: digest_of_md5(&[7u8; 16]),
            length: 10,
            encoding: Some("gzip".into()),
            encoded_length: Some(8),
        }
    }

    #[test]
    fn stub_shape_matches_couchdb() {
        let text = serde_json::to_string(&meta().stub_json(false)).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"content_type":"text/plain","revpos":2,"digest":"md5-BwcHBwcHBwcHBwcHBwcHBw==","length":10,"stub":true}"#
        );
        let enc = meta().stub_json(true);
        assert_eq!(enc["encoding"], "gzip");
        assert_eq!(enc["encoded_length"], 8);
    }

    #[test]
    fn digest_round_trip() {
        assert_eq!(md5_of_digest(&digest_of_md5(&[1u8; 16])), Some([1u8; 16]));
        assert_eq!(md5_of_digest("sha-abc"), None);
    }

    #[test]
    fn parses_each_form() {
        let input = json!({
            "a.txt": {"content_type": "text/plain", "data": "aGVsbG8="},
            "b": {"stub": true, "revpos": 1},
            "c": {"follows": true, "length": 3, "content_type": "application/octet-stream"}
        });
        let Value::Object(map) = input else { return };
        let parsed = parse_attachments(map).unwrap_or_default();
        assert_eq!(parsed.len(), 3);
        assert!(matches!(&parsed[0].1, AttInput::Inline { data, .. } if data == b"hello"));
        assert!(matches!(
            &parsed[1].1,
            AttInput::Stub {
                revpos: Some(1),
                ..
            }
        ));
        assert!(matches!(
            &parsed[2].1,
            AttInput::Follows {
                length: Some(3),
                ..
            }
        ));
    }

    #[test]
    fn rejects_bad_input() {
        let bad = |v: Value| match v {
            Value::Object(m) => parse_attachments(m).err().map(|e| e.to_string()),
            _ => None,
        };
        assert_eq!(
            bad(json!({"x": {"data": "%%%"}})).as_deref(),
            Some("Invalid attachment data for x")
        );
        assert!(bad(json!({"_x": {"data": ""}})).is_some());
        assert!(bad(json!({"x": 5})).is_some());
    }

    #[test]
    fn compressible_types() {
        let types = CompressibleTypes::default();
        assert!(types.matches("text/plain; charset=utf-8"));
        assert!(types.matches("Text/HTML"));
        assert!(types.matches("application/json"));
        assert!(types.matches(" application/json ; x=y"));
        assert!(!types.matches("application/jsonx"));
        assert!(!types.matches("application/octet-stream"));
        assert!(!types.matches("image/png"));
        let custom = CompressibleTypes::parse("image/*,  application/x.y ,,");
        assert!(custom.matches("image/png"));
        assert!(
            custom.matches("application/x-y"),
            "'.' keeps its regex meaning"
        );
        assert!(!custom.matches("text/plain"));
        assert!(!CompressibleTypes::parse("").matches("text/plain"));
        assert!(!CompressibleTypes::parse("text/(").matches("text/("));
    }
}
