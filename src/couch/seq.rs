//! Update sequences on the wire.
//!
//! Internally a database's sequence is a `u64`. CouchDB 3 shows sequences
//! as opaque strings whose integer prefix is the sequence (`"42-g1AAAA…"`);
//! clients store them and send them back as `since`. Settee emits
//! `"<n>-<suffix>"` with a fixed suffix and accepts integers, numeric
//! strings and any `"<n>-…"` string back.

/// The opaque tail Settee appends to sequence numbers; it carries no data.
const SEQ_SUFFIX: &str = "g1AAAAA";

/// The wire form of sequence `n`.
pub fn encode(n: u64) -> String {
    format!("{n}-{SEQ_SUFFIX}")
}

/// A `since`-style value the client sent back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Seq(u64),
    Now,
}

/// Parses a sequence sent by a client: `now`, an integer, or `"<n>-…"`.
pub fn parse(text: &str) -> Option<Since> {
    let text = text.trim().trim_matches('"');
    if text == "now" {
        return Some(Since::Now);
    }
    let prefix = text.split('-').next().unwrap_or(text);
    prefix.parse::<u64>().ok().map(Since::Seq)
}

/// Parses a sequence given as JSON (a number or a string).
pub fn parse_json(value: &serde_json::Value) -> Option<Since> {
    match value {
        serde_json::Value::Number(n) => n.as_u64().map(Since::Seq),
        serde_json::Value::String(s) => parse(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for n in [0, 1, 42, u64::MAX] {
            assert_eq!(parse(&encode(n)), Some(Since::Seq(n)));
        }
    }

    #[test]
    fn accepts_couchdb_forms() {
        assert_eq!(parse("17"), Some(Since::Seq(17)));
        assert_eq!(parse("\"17-g1AAAAFTeJzLYWBg\""), Some(Since::Seq(17)));
        assert_eq!(parse("now"), Some(Since::Now));
        assert_eq!(parse("abc"), None);
        assert_eq!(parse_json(&serde_json::json!(5)), Some(Since::Seq(5)));
        assert_eq!(parse_json(&serde_json::json!("5-x")), Some(Since::Seq(5)));
        assert_eq!(parse_json(&serde_json::json!(null)), None);
    }
}
