//! Field paths: `"a.b.0"` → `["a", "b", "0"]`, with `\.` escaping a dot
//! (`mango_util:parse_field`), and looking a path up in a document
//! (`mango_doc:get_field`: object members by name, array elements by
//! index).

use serde_json::Value;

use super::error::invalid_field_name;
use crate::error::Result;

/// A parsed field path.
pub type Path = Vec<String>;

/// Splits a field name on unescaped dots; `\` escapes are removed. An empty
/// segment is `invalid_field_name`.
pub fn parse_field(field: &str) -> Result<Path> {
    if !field.contains('\\') {
        let parts: Path = field.split('.').map(str::to_string).collect();
        if parts.iter().any(String::is_empty) {
            return Err(invalid_field_name(field));
        }
        return Ok(parts);
    }
    // Split on dots not preceded by a backslash, then drop every backslash.
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut prev_backslash = false;
    for c in field.chars() {
        if c == '.' && !prev_backslash {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
        prev_backslash = c == '\\';
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| {
            if p.is_empty() {
                Err(invalid_field_name(field))
            } else {
                Ok(p.replace('\\', ""))
            }
        })
        .collect()
}

/// Joins a path with dots, as CouchDB shows normalized selectors.
pub fn join_field(path: &[String]) -> String {
    path.join(".")
}

/// What looking a path up in a document finds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    Found(&'a Value),
    /// A member is missing along the way.
    NotFound,
    /// The path goes through a scalar, or a bad or out-of-range array index.
    BadPath,
}

/// `mango_doc:get_field/2`.
pub fn get_field<'a>(value: &'a Value, path: &[String]) -> Lookup<'a> {
    let mut cur = value;
    for name in path {
        cur = match cur {
            Value::Object(members) => match members.get(name) {
                Some(v) => v,
                None => return Lookup::NotFound,
            },
            Value::Array(items) => match erl_binary_to_integer(name) {
                Some(pos) if pos >= 0 && (pos as u128) < items.len() as u128 => {
                    &items[pos as usize]
                }
                _ => return Lookup::BadPath,
            },
            _ => return Lookup::BadPath,
        };
    }
    Lookup::Found(cur)
}

/// Erlang's `binary_to_integer/1`: an optional sign and decimal digits.
fn erl_binary_to_integer(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for i128 is out of range for any array anyway.
    let n: i128 = digits.parse().unwrap_or(i128::MAX);
    Some(if s.starts_with('-') { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(parts: &[&str]) -> Path {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_like_mango_util() {
        assert_eq!(parse_field("ab").ok(), Some(p(&["ab"])));
        assert_eq!(parse_field("a.b").ok(), Some(p(&["a", "b"])));
        assert_eq!(parse_field("a\\.b").ok(), Some(p(&["a.b"])));
        assert_eq!(parse_field("a.b.c").ok(), Some(p(&["a", "b", "c"])));
        assert_eq!(parse_field("a.b\\.c").ok(), Some(p(&["a", "b.c"])));
        assert!(parse_field("a..b").is_err());
        assert!(parse_field("").is_err());
        assert!(parse_field("a.").is_err());
        assert!(parse_field("a\\..").is_err());
    }

    #[test]
    fn looks_up_paths() {
        let doc = json!({"a": {"b": [10, {"c": 1}]}, "s": "x"});
        assert_eq!(
            get_field(&doc, &p(&["a", "b", "1", "c"])),
            Lookup::Found(&json!(1))
        );
        assert_eq!(
            get_field(&doc, &p(&["a", "b", "+0"])),
            Lookup::Found(&json!(10))
        );
        assert_eq!(get_field(&doc, &p(&["a", "b", "2"])), Lookup::BadPath);
        assert_eq!(get_field(&doc, &p(&["a", "b", "x"])), Lookup::BadPath);
        assert_eq!(get_field(&doc, &p(&["s", "x"])), Lookup::BadPath);
        assert_eq!(get_field(&doc, &p(&["z"])), Lookup::NotFound);
        assert_eq!(get_field(&doc, &p(&[])), Lookup::Found(&doc));
    }
}
