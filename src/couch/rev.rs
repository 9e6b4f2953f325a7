//! Revisions (`"3-abc…"`) and `_revisions` paths.
//!
//! Owns [`Rev`], its text form as CouchDB parses and prints it
//! (`couch_doc:parse_rev/1`, `couch_doc:rev_to_str/1`), the byte form
//! CouchDB keeps internally (a 32-hex id is stored as its 16 bytes), the
//! order CouchDB sorts revisions in, and the `_revisions` member
//! (`couch_doc:transfer_fields/3`, `couch_doc:to_json_revisions/3`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{json, Value};

/// One revision: `pos` is the edit depth, `id` the revision id.
///
/// Ids parsed by [`Rev::parse`] are in CouchDB's canonical text form: an
/// id that CouchDB keeps as 16 bytes (32 hex digits, or any 16-byte id)
/// is lowercase hex, so the derived string order agrees with CouchDB's
/// byte order for such ids. [`Rev::couch_cmp`] is CouchDB's exact order.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Rev {
    pub pos: u64,
    pub id: String,
}

/// A revision string CouchDB would reject with `Invalid rev format`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid rev format")]
pub struct InvalidRev;

/// Why a `_revisions` member was rejected; the message is CouchDB's
/// `doc_validation` reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionsError {
    /// `_revisions` is not an object (CouchDB treats it as an unknown
    /// special member).
    #[error("Bad special document member: _revisions")]
    NotAnObject,
    #[error("_revisions.start isn't an integer.")]
    StartNotInteger,
    #[error("_revisions.ids isn't a array.")]
    IdsNotArray,
    #[error("RevId isn't a string")]
    IdNotString,
    #[error("RevId isn't a valid hexadecimal")]
    IdNotHex,
    /// More ids than `start` allows: the oldest would sit below position
    /// 0. CouchDB accepts such paths and builds a corrupt tree; Settee
    /// refuses them.
    #[error("_revisions.start is smaller than the number of ids.")]
    StartTooSmall,
}

impl Rev {
    /// A revision from its parts, taken as they are (no normalisation).
    pub fn new(pos: u64, id: impl Into<String>) -> Rev {
        Rev { pos, id: id.into() }
    }

    /// Parses `"N-id"` as `couch_doc:parse_rev/1` does: the text before the
    /// first `-` is the position, the rest the id. The position is a
    /// decimal integer without sign (0 included: `_local` documents, and
    /// the oldest entry of some replicated histories); the id may be empty,
    /// as CouchDB stores a bare `"1-"` written with `new_edits=false`
    /// (PouchDB issue 7829). A 32-byte id must be hex (either case) and is
    /// lowercased; a 16-byte id is stored by CouchDB as raw bytes and
    /// printed as their hex, so it becomes that hex here.
    pub fn parse(s: &str) -> Result<Rev, InvalidRev> {
        let (pos, id) = s.split_once('-').ok_or(InvalidRev)?;
        let pos = parse_pos(pos).ok_or(InvalidRev)?;
        let id = canonical_id(id).ok_or(InvalidRev)?;
        Ok(Rev { pos, id })
    }

    /// The id as CouchDB holds it: the 16 decoded bytes of a 32-hex id,
    /// otherwise the id's UTF-8 bytes.
    pub fn id_bytes(&self) -> Cow<'_, [u8]> {
        id_bytes(&self.id)
    }

    /// CouchDB's order on revisions: by position, then by the ids' bytes
    /// as in [`Rev::id_bytes`] (Erlang's `{Pos, RevId}` term order).
    pub fn couch_cmp(&self, other: &Rev) -> Ordering {
        self.pos
            .cmp(&other.pos)
            .then_with(|| self.id_bytes().cmp(&other.id_bytes()))
    }
}

impl fmt::Display for Rev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pos, self.id)
    }
}

/// The bytes CouchDB keeps for a revision id (see [`Rev::id_bytes`]).
pub fn id_bytes(id: &str) -> Cow<'_, [u8]> {
    if id.len() == 32 {
        let mut bytes = [0u8; 16];
        if hex::decode_to_slice(id, &mut bytes).is_ok() {
            return Cow::Owned(bytes.to_vec());
        }
    }
    Cow::Borrowed(id.as_bytes())
}

/// A position: ASCII digits only, within `u64`.
fn parse_pos(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok()
}

/// The canonical text of an id as CouchDB round-trips it (`parse_revid`
/// then `revid_to_str`); `None` for a 32-byte id that is not hex.
fn canonical_id(id: &str) -> Option<String> {
    match id.len() {
        32 => {
            let mut bytes = [0u8; 16];
            hex::decode_to_slice(id, &mut bytes).ok()?;
            Some(hex::encode(bytes))
        }
        16 => Some(hex::encode(id.as_bytes())),
        _ => Some(id.to_string()),
    }
}

/// A JSON list of revision strings (`open_revs`, `atts_since`,
/// `_revs_diff`); anything that is not a valid rev string fails it.
pub fn parse_rev_list(list: &[Value]) -> Result<Vec<Rev>, InvalidRev> {
    list.iter()
        .map(|v| v.as_str().ok_or(InvalidRev).and_then(Rev::parse))
        .collect()
}

/// Reads `_revisions` (`{"start": N, "ids": [newest, …]}`) into a path,
/// newest first, with CouchDB's validation and reasons. An empty `ids`
/// gives an empty path.
pub fn parse_revisions(v: &Value) -> Result<Vec<Rev>, RevisionsError> {
    let obj = v.as_object().ok_or(RevisionsError::NotAnObject)?;
    let start = obj.get("start").and_then(integer);
    let ids = obj.get("ids");
    // CouchDB checks `start` before `ids`.
    let start = start.ok_or(RevisionsError::StartNotInteger)?;
    let ids = ids
        .and_then(Value::as_array)
        .ok_or(RevisionsError::IdsNotArray)?;
    // CouchDB's per-id checks: a 32-byte id is hex-decoded whenever start
    // is non-zero; any other id needs a non-negative start.
    let mut texts = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.as_str().ok_or(RevisionsError::IdNotString)?;
        if id.len() == 32 && start != 0 {
            canonical_id(id).ok_or(RevisionsError::IdNotHex)?;
        } else if start < 0 {
            return Err(RevisionsError::IdNotString);
        }
        texts.push(id);
    }
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    // Settee's own check: the oldest id must sit at position 0 or later
    // (`{"start": 0, "ids": ["1"]}` is how CouchDB's replicator writes a
    // `_local` checkpoint's rev).
    let start = u64::try_from(start).map_err(|_| RevisionsError::StartTooSmall)?;
    if start.saturating_add(1) < texts.len() as u64 {
        return Err(RevisionsError::StartTooSmall);
    }
    let mut path = Vec::with_capacity(texts.len());
    for (pos, id) in (0..=start).rev().zip(texts) {
        path.push(Rev::new(
            pos,
            canonical_id(id).ok_or(RevisionsError::IdNotHex)?,
        ));
    }
    Ok(path)
}

/// An integer JSON number as `i128` (covers every `i64` and `u64`).
fn integer(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

/// The `_revisions` object for a path, newest first. An empty path gives
/// `{"start": 0, "ids": []}` (CouchDB omits `_revisions` then).
pub fn revisions_json(path_newest_first: &[Rev]) -> Value {
    let start = path_newest_first.first().map_or(0, |r| r.pos);
    let ids: Vec<&str> = path_newest_first.iter().map(|r| r.id.as_str()).collect();
    json!({ "start": start, "ids": ids })
}

#[cfg(test)]
mod tests {

    #[test]
    fn rev_lists() {
        let good = [json!("1-abc"), json!("2-def")];
        assert_eq!(
            parse_rev_list(&good),
            Ok(vec![Rev::new(1, "abc"), Rev::new(2, "def")])
        );
        assert_eq!(parse_rev_list(&[json!("1-abc"), json!(3)]), Err(InvalidRev));
        assert_eq!(parse_rev_list(&[json!("nonsense")]), Err(InvalidRev));
        assert_eq!(parse_rev_list(&[]), Ok(vec![]));
    }

    use super::*;

    const HEX: &str = "967a00dff5e02add41819138abb3284d";

    #[test]
    fn parses_pos_and_id() {
        assert_eq!(Rev::parse("3-abc"), Ok(Rev::new(3, "abc")));
        assert_eq!(Rev::parse(&format!("1-{HEX}")), Ok(Rev::new(1, HEX)));
        // everything after the first '-' is the id
        assert_eq!(Rev::parse("2-a-b"), Ok(Rev::new(2, "a-b")));
        // leading zeros are digits too (Erlang's list_to_integer)
        assert_eq!(Rev::parse("007-x"), Ok(Rev::new(7, "x")));
        // CouchDB's parse_rev takes position 0 and an empty id
        assert_eq!(Rev::parse("0-abc"), Ok(Rev::new(0, "abc")));
        assert_eq!(Rev::parse("1-"), Ok(Rev::new(1, "")));
        assert_eq!(
            Rev::parse("18446744073709551615-x"),
            Ok(Rev::new(u64::MAX, "x"))
        );
    }

    #[test]
    fn rejects_bad_revs() {
        for bad in [
            "",
            "abc",
            "-abc",
            "+1-abc",
            "-1-abc",
            " 1-abc",
            "1.0-abc",
            "x-abc",
            "18446744073709551616-x",
            "1-zz7a00dff5e02add41819138abb3284d",
        ] {
            assert_eq!(Rev::parse(bad), Err(InvalidRev), "{bad:?}");
        }
        assert_eq!(InvalidRev.to_string(), "Invalid rev format");
    }

    #[test]
    fn hex_ids_are_lowercased_and_short_binary_ids_hexed() {
        let upper = format!("1-{}", HEX.to_uppercase());
        assert_eq!(Rev::parse(&upper), Ok(Rev::new(1, HEX)));
        // CouchDB keeps a 16-byte id as raw bytes and prints their hex
        assert_eq!(
            Rev::parse("1-abcdefghijklmnop").map(|r| r.to_string()),
            Ok("1-6162636465666768696a6b6c6d6e6f70".to_string())
        );
        // ...and that hex form parses back to the same revision
        assert_eq!(
            Rev::parse("1-abcdefghijklmnop"),
            Rev::parse("1-6162636465666768696a6b6c6d6e6f70")
        );
    }

    #[test]
    fn displays_as_pos_dash_id() {
        assert_eq!(Rev::new(12, "abc").to_string(), "12-abc");
        let s = format!("5-{HEX}");
        assert_eq!(Rev::parse(&s).map(|r| r.to_string()), Ok(s));
    }

    #[test]
    fn id_bytes_decode_hex_only() {
        let r = Rev::new(1, HEX);
        assert_eq!(r.id_bytes().len(), 16);
        assert_eq!(r.id_bytes()[0], 0x96);
        assert_eq!(&*Rev::new(1, "abc").id_bytes(), b"abc");
        let not_hex = "z".repeat(32);
        assert_eq!(&*id_bytes(&not_hex), not_hex.as_bytes());
    }

    #[test]
    fn couch_order_is_pos_then_bytes() {
        let a = Rev::new(1, "zzz");
        let b = Rev::new(2, "aaa");
        assert_eq!(a.couch_cmp(&b), Ordering::Less);
        // hex ids compare as bytes: 0x00.. < 0x61 ('a') even though '0' < 'a' too;
        // 0xff.. > 'a' although "ff.." < "a" is false as strings ('f' > 'a')
        let hex_low = Rev::new(1, "00000000000000000000000000000000");
        let hex_high = Rev::new(1, "ffffffffffffffffffffffffffffffff");
        let text = Rev::new(1, "g");
        assert_eq!(hex_low.couch_cmp(&text), Ordering::Less);
        assert_eq!(hex_high.couch_cmp(&text), Ordering::Greater);
        // as strings "ffff…" < "g", as CouchDB binaries 0xff > 'g'
        assert!(hex_high < text);
        assert_eq!(hex_low.couch_cmp(&hex_low.clone()), Ordering::Equal);
        // a shorter prefix sorts first
        assert_eq!(
            Rev::new(1, "ab").couch_cmp(&Rev::new(1, "abc")),
            Ordering::Less
        );
    }

    #[test]
    fn string_order_matches_byte_order_for_hex_ids() {
        let ids = [
            "0a000000000000000000000000000000",
            "a0000000000000000000000000000000",
            "9fffffffffffffffffffffffffffffff",
            "ffffffffffffffffffffffffffffffff",
        ];
        for x in ids {
            for y in ids {
                let (rx, ry) = (Rev::new(1, x), Rev::new(1, y));
                assert_eq!(rx.cmp(&ry), rx.couch_cmp(&ry));
            }
        }
    }

    #[test]
    fn parses_revisions() {
        let v = json!({"start": 3, "ids": ["c", "b", "a"]});
        assert_eq!(
            parse_revisions(&v),
            Ok(vec![Rev::new(3, "c"), Rev::new(2, "b"), Rev::new(1, "a")])
        );
        let v = json!({"ids": [HEX.to_uppercase()], "start": 7});
        assert_eq!(parse_revisions(&v), Ok(vec![Rev::new(7, HEX)]));
        // a stemmed history: the oldest id need not be at position 1
        let v = json!({"start": 10, "ids": ["j", "i"]});
        assert_eq!(
            parse_revisions(&v),
            Ok(vec![Rev::new(10, "j"), Rev::new(9, "i")])
        );
        assert_eq!(parse_revisions(&json!({"start": 4, "ids": []})), Ok(vec![]));
        // unknown members are ignored
        let v = json!({"start": 1, "ids": ["a"], "extra": true});
        assert_eq!(parse_revisions(&v), Ok(vec![Rev::new(1, "a")]));
        // the oldest id may sit at position 0: CouchDB's replicator writes
        // its `_local` checkpoints so, and CouchDB keeps such histories
        let v = json!({"start": 0, "ids": ["1"]});
        assert_eq!(parse_revisions(&v), Ok(vec![Rev::new(0, "1")]));
        let v = json!({"start": 1, "ids": ["b", "a"]});
        assert_eq!(
            parse_revisions(&v),
            Ok(vec![Rev::new(1, "b"), Rev::new(0, "a")])
        );
    }

    #[test]
    fn revisions_errors_carry_couchdb_reasons() {
        use RevisionsError::*;
        let cases = [
            (
                json!([]),
                NotAnObject,
                "Bad special document member: _revisions",
            ),
            (
                json!("x"),
                NotAnObject,
                "Bad special document member: _revisions",
            ),
            (
                json!({"ids": ["a"]}),
                StartNotInteger,
                "_revisions.start isn't an integer.",
            ),
            (
                json!({"start": "1", "ids": ["a"]}),
                StartNotInteger,
                "_revisions.start isn't an integer.",
            ),
            (
                json!({"start": 1.0, "ids": ["a"]}),
                StartNotInteger,
                "_revisions.start isn't an integer.",
            ),
            (
                json!({"start": 1.5, "ids": 3}),
                StartNotInteger,
                "_revisions.start isn't an integer.",
            ),
            (
                json!({"start": 1}),
                IdsNotArray,
                "_revisions.ids isn't a array.",
            ),
            (
                json!({"start": 1, "ids": "a"}),
                IdsNotArray,
                "_revisions.ids isn't a array.",
            ),
            (
                json!({"start": 2, "ids": ["a", 1]}),
                IdNotString,
                "RevId isn't a string",
            ),
            (
                json!({"start": 1, "ids": [null]}),
                IdNotString,
                "RevId isn't a string",
            ),
            (
                json!({"start": -1, "ids": ["a"]}),
                IdNotString,
                "RevId isn't a string",
            ),
            (
                json!({"start": 1, "ids": ["g".repeat(32)]}),
                IdNotHex,
                "RevId isn't a valid hexadecimal",
            ),
            (
                json!({"start": 1, "ids": ["c", "b", "a"]}),
                StartTooSmall,
                "_revisions.start is smaller than the number of ids.",
            ),
            (
                json!({"start": 0, "ids": ["b", "a"]}),
                StartTooSmall,
                "_revisions.start is smaller than the number of ids.",
            ),
        ];
        for (v, err, reason) in cases {
            assert_eq!(parse_revisions(&v), Err(err.clone()), "{v}");
            assert_eq!(err.to_string(), reason);
        }
    }

    #[test]
    fn revisions_json_round_trips() {
        let path = vec![Rev::new(3, "c"), Rev::new(2, "b"), Rev::new(1, "a")];
        let v = revisions_json(&path);
        assert_eq!(v, json!({"start": 3, "ids": ["c", "b", "a"]}));
        // CouchDB's member order: start, then ids
        assert_eq!(v.to_string(), r#"{"start":3,"ids":["c","b","a"]}"#);
        assert_eq!(parse_revisions(&v), Ok(path));
        assert_eq!(revisions_json(&[]), json!({"start": 0, "ids": []}));
    }

    #[test]
    fn serde_round_trip() {
        let r = Rev::new(2, "abc");
        let text = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Rev>(&text).ok(), Some(r));
    }
}
