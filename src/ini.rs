//! CouchDB-style `.ini` configuration files (`local.ini`): `[section]`
//! headers, `key = value` lines, `;` comments (whole lines, or after
//! ` ;` on a value). A key may contain `=` when written `key = value` with
//! spaces, as CouchDB 3.3+ reads it. Later values override earlier ones.
//!
//! [`rewrite_section_values`] replaces values in place (CouchDB rewrites
//! plain admin passwords in `local.ini` with their hashes at startup).

use std::path::Path;

/// A parsed file: sections with their entries, in file order.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    entries: Vec<(String, String, String)>,
}

/// Splits one `key = value` line; `None` for lines that are not entries.
fn split_entry(line: &str) -> Option<(String, String)> {
    let (key, value) = match line.split_once(" = ") {
        Some(kv) => kv,
        None => line.split_once('=')?,
    };
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    let value = [" ;", "\t;"]
        .iter()
        .filter_map(|c| value.find(c))
        .min()
        .map_or(value, |i| &value[..i]);
    Some((key.to_string(), value.trim().to_string()))
}

fn section_header(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

impl Ini {
    pub fn parse(text: &str) -> Ini {
        let mut section = String::new();
        let mut entries = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(name) = section_header(line) {
                section = name.to_string();
                continue;
            }
            if let Some((k, v)) = split_entry(line) {
                entries.push((section.clone(), k, v));
            }
        }
        Ini { entries }
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> std::io::Result<Ini> {
        Ok(Ini::parse(&std::fs::read_to_string(path)?))
    }

    /// The last value of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// The entries of a section, each key once (its last value), in the
    /// order keys first appear.
    pub fn section(&self, section: &str) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for (s, k, v) in &self.entries {
            if s != section {
                continue;
            }
            match out.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        out
    }
}

/// `text` with the values of the given keys of `section` replaced,
/// everything else (comments, spacing, other sections) kept.
pub fn rewrite_section_values(text: &str, section: &str, values: &[(String, String)]) -> String {
    let mut current = String::new();
    let mut out = String::with_capacity(text.len());
    for raw in text.split_inclusive('\n') {
        let line = raw.trim();
        if let Some(name) = section_header(line) {
            current = name.to_string();
        } else if current == section && !line.starts_with(';') {
            if let Some((key, _)) = split_entry(line) {
                if let Some((_, value)) = values.iter().find(|(k, _)| *k == key) {
                    out.push_str(&format!("{key} = {value}"));
                    if raw.ends_with('\n') {
                        out.push('\n');
                    }
                    continue;
                }
            }
        }
        out.push_str(raw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "; a comment\n[admins]\nadmin = secret ; inline comment\nroot=-pbkdf2:sha256-aa,bb,10\n\n[chttpd_auth]\ntimeout = 60\ntimeout = 90\n[jwt_keys]\nrsa:h2= = ab==\n[cors]\norigins = http://a.example, http://b.example\n";

    #[test]
    fn parses_sections_comments_and_overrides() {
        let ini = Ini::parse(TEXT);
        assert_eq!(ini.get("admins", "admin"), Some("secret"));
        assert_eq!(ini.get("admins", "root"), Some("-pbkdf2:sha256-aa,bb,10"));
        assert_eq!(ini.get("chttpd_auth", "timeout"), Some("90"));
        assert_eq!(ini.get("jwt_keys", "rsa:h2="), Some("ab=="));
        assert_eq!(
            ini.get("cors", "origins"),
            Some("http://a.example, http://b.example")
        );
        assert_eq!(ini.get("cors", "nope"), None);
        assert_eq!(
            ini.section("admins"),
            vec![("admin", "secret"), ("root", "-pbkdf2:sha256-aa,bb,10")]
        );
        assert_eq!(ini.section("chttpd_auth"), vec![("timeout", "90")]);
    }

    #[test]
    fn rewrites_only_the_named_values() {
        let out = rewrite_section_values(
            TEXT,
            "admins",
            &[("admin".into(), "-pbkdf2:sha256-cc,dd,5".into())],
        );
        let ini = Ini::parse(&out);
        assert_eq!(ini.get("admins", "admin"), Some("-pbkdf2:sha256-cc,dd,5"));
        assert_eq!(ini.get("admins", "root"), Some("-pbkdf2:sha256-aa,bb,10"));
        assert!(out.starts_with("; a comment\n[admins]\nadmin = -pbkdf2:sha256-cc,dd,5\nroot="));
        assert!(!out.contains("secret"));
    }
}
