//! CouchDB-style `.ini` configuration files (`local.ini`), read and written
//! exactly as CouchDB's `config` application does.
//!
//! [`Ini::parse`] follows `config:parse_ini/1`: lines end at `\r\n`, `\n`,
//! `\r` or `\x1a`; a line starting with `;` is a comment, and so is
//! anything after ` ;` or `\t;`; `[section]` starts a section; `key = value`
//! splits at the first ` = ` (so a key may contain `=`), else at the first
//! `=`; an entry with an empty value is no entry (that is how a deletion is
//! written), and entries before the first section are ignored. Later values
//! override earlier ones.
//!
//! [`save_value`] is `config_writer:save_to_file/2`: the first `key =` line
//! of the section is replaced in place (by an empty line for a deletion),
//! or the entry is appended at the end of the section, or the section is
//! appended at the end of the file. Everything else is kept.

use std::collections::BTreeMap;
use std::path::Path;

/// Settings by section, then key: what `GET /_node/{node}/_config` shows.
pub type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// Read access to settings, from a parsed file or a settings store.
pub trait Lookup {
    /// The value of `key` in `section`.
    fn get(&self, section: &str, key: &str) -> Option<&str>;
    /// Every entry of a section.
    fn section(&self, section: &str) -> Vec<(&str, &str)>;
}

/// A parsed file: sections with their entries, in file order.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    entries: Vec<(String, String, String)>,
}

/// Splits text into lines as `re:split(Text, "\r\n|\n|\r|\032")` does: a
/// trailing line end gives a last empty line.
pub fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push(&text[start..i]);
                i += 2;
                start = i;
            }
            b'\n' | b'\r' | 0x1a => {
                out.push(&text[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push(&text[start..]);
    out
}

/// `config:remove_comments/1`, then trimmed.
fn without_comment(line: &str) -> &str {
    let line = line.trim();
    if line.starts_with(';') {
        return "";
    }
    let end = [" ;", "\t;"]
        .iter()
        .filter_map(|c| line.find(c))
        .min()
        .unwrap_or(line.len());
    line[..end].trim()
}

/// `key = value` as `config:parse_fold/2` splits it; `None` for lines that
/// are not entries (no `=`, an empty key or an empty value).
fn split_entry(line: &str) -> Option<(&str, &str)> {
    if let Some((key, value)) = line.split_once(" = ") {
        // the line is trimmed, so the value is never empty here
        return Some((key.trim(), value.trim())).filter(|(_, v)| !v.is_empty());
    }
    let (key, value) = line.split_once('=')?;
    if key.is_empty() || value.is_empty() {
        return None;
    }
    Some((key.trim(), value.trim()))
}

/// The section a `[…]` line opens (`Some(None)` for a line CouchDB ignores,
/// such as `[]` or `[s]x`), or `None` for a line that is no header.
fn section_header(line: &str) -> Option<Option<&str>> {
    let rest = line.strip_prefix('[')?;
    Some(match rest.split_once(']') {
        Some((name, "")) if !name.is_empty() => Some(name),
        _ => None,
    })
}

impl Ini {
    pub fn parse(text: &str) -> Ini {
        let mut section: Option<String> = None;
        let mut entries = Vec::new();
        for raw in split_lines(text) {
            let line = without_comment(raw);
            if line.is_empty() {
                continue;
            }
            if let Some(header) = section_header(line) {
                if let Some(name) = header {
                    section = Some(name.to_string());
                }
                continue;
            }
            let Some(current) = &section else {
                continue;
            };
            if let Some((k, v)) = split_entry(line) {
                entries.push((current.clone(), k.to_string(), v.to_string()));
            }
        }
        Ini { entries }
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> std::io::Result<Ini> {
        Ok(Ini::parse(&std::fs::read_to_string(path)?))
    }

    /// Every entry, each key once with its last value.
    pub fn to_sections(&self) -> Sections {
        let mut out = Sections::new();
        for (s, k, v) in &self.entries {
            out.entry(s.clone())
                .or_default()
                .insert(k.clone(), v.clone());
        }
        out
    }
}

impl Lookup for Ini {
    /// The last value of `key` in `section`.
    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    /// The entries of a section, each key once (its last value), in the
    /// order keys first appear.
    fn section(&self, section: &str) -> Vec<(&str, &str)> {
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

impl Lookup for Sections {
    fn get(&self, section: &str, key: &str) -> Option<&str> {
        BTreeMap::get(self, section)?.get(key).map(String::as_str)
    }

    fn section(&self, section: &str) -> Vec<(&str, &str)> {
        BTreeMap::get(self, section)
            .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .unwrap_or_default()
    }
}

/// How `config_writer`'s pattern `^(\Qkey\E\s*=)|\[[a-zA-Z0-9._-]*\]`
/// matches a line of the section being written.
#[derive(Debug, PartialEq, Eq)]
enum LineKind {
    /// The key's own line.
    Key,
    /// A line with something like a section header anywhere in it.
    Section,
    Other,
}

fn line_kind(line: &str, key: &str) -> LineKind {
    if let Some(rest) = line.strip_prefix(key) {
        // PCRE's \s: space, \t, \n, \v, \f, \r
        let rest = rest.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        if rest.starts_with('=') {
            return LineKind::Key;
        }
    }
    let bytes = line.as_bytes();
    for (i, _) in line.match_indices('[') {
        let name_end = bytes[i + 1..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
            .map(|p| i + 1 + p);
        if name_end.is_some_and(|end| bytes[end] == b']') {
            return LineKind::Section;
        }
    }
    LineKind::Other
}

fn strip_trailing_empty(lines: &mut Vec<String>) {
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
}

/// `text` with `key` of `section` set to `value` (`None`: deleted), as
/// CouchDB's `config_writer` writes it (see the module doc). Lines end in
/// `\n`, trailing empty lines are dropped.
pub fn save_value(text: &str, section: &str, key: &str, value: Option<&str>) -> String {
    let header = format!("[{section}]");
    let entry = value.map_or_else(String::new, |v| format!("{key} = {v}"));
    let mut lines = split_lines(text).into_iter();
    let mut out: Vec<String> = Vec::new();
    let mut in_section = false;
    for line in lines.by_ref() {
        out.push(line.to_string());
        if line == header {
            in_section = true;
            break;
        }
    }
    if in_section {
        let mut written = false;
        while let Some(line) = lines.next() {
            match line_kind(line, key) {
                LineKind::Key => {
                    out.push(entry.clone());
                    written = true;
                }
                LineKind::Section => {
                    strip_trailing_empty(&mut out);
                    out.push(entry.clone());
                    out.push(String::new());
                    out.push(line.to_string());
                    written = true;
                }
                LineKind::Other => {
                    out.push(line.to_string());
                    continue;
                }
            }
            out.extend(lines.by_ref().map(str::to_string));
        }
        if !written {
            strip_trailing_empty(&mut out);
            out.push(entry);
        }
    } else {
        strip_trailing_empty(&mut out);
        out.push(String::new());
        out.push(header);
        out.push(entry);
    }
    strip_trailing_empty(&mut out);
    let mut text = String::with_capacity(out.iter().map(|l| l.len() + 1).sum());
    for line in out {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "; a comment\n[admins]\nadmin = secret ; inline comment\nroot=-pbkdf2:sha256-aa,bb,10\n\n[chttpd_auth]\ntimeout = 60\ntimeout = 90\n[jwt_keys]\nrsa:h2= = ab==\n[cors]\norigins = http://a.example, http://b.example\n";

    fn entries(text: &str) -> Vec<(String, String, String)> {
        Ini::parse(text).entries
    }

    fn one(s: &str, k: &str, v: &str) -> Vec<(String, String, String)> {
        vec![(s.into(), k.into(), v.into())]
    }

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
        let sections = ini.to_sections();
        assert_eq!(Lookup::get(&sections, "chttpd_auth", "timeout"), Some("90"));
        assert_eq!(sections.section("admins").len(), 2);
    }

    /// config.erl's parse_skip_test, parse_basic_test,
    /// parse_extra_equal_sign_test, parse_delete_test, parse_comments_test.
    #[test]
    fn parses_as_couchdb_config() {
        for skipped in [
            "",
            "k",
            "\n",
            "\r\n",
            "[s]",
            "[s ]",
            "k1\nk2",
            "=",
            "==",
            "= =",
            " = ",
            ";",
            " ;",
            "k = v",
            "[s]\n;k = v",
            "[s\nk=v",
            "s[\nk=v",
            "s]\nk=v",
            ";[s]\nk = v",
            "[s]\n ;k = v",
            "[s]\n\t;k = v",
            "[s]\nk ;=v",
            "[s]\n ; k = v",
            "[]\nk = v",
            "[s]\nk=",
            "[s]\nk = ",
            "[s]\nk = ;",
            "[s]\nk  =\t;",
            "[s]\nk = ; ;",
            "[s]\nk = ;v",
        ] {
            assert_eq!(entries(skipped), vec![], "{skipped:?}");
        }
        for (text, k, v) in [
            ("[s]\nk=v", "k", "v"),
            ("[s]\n\r\n\nk=v", "k", "v"),
            ("[s]\nk  = v", "k", "v"),
            ("[s]\nk=  v  ", "k", "v"),
            ("[s]\nk = v ; c", "k", "v"),
            ("[s]\nk==v", "k", "=v"),
            ("[s]\nk=v=", "k", "v="),
            ("[s]\nk===v", "k", "==v"),
            ("[s]\nk = =v", "k", "=v"),
            ("[s]\nk= = v", "k=", "v"),
            ("[s]\n==k== = v", "==k==", "v"),
            ("[s]\nk=;", "k", ";"),
            ("[s]\nk = v1;v2 ;c1; c2", "k", "v1;v2"),
            ("[s]\nk = v1;v2\t;", "k", "v1;v2"),
        ] {
            assert_eq!(entries(text), one("s", k, v), "{text:?}");
        }
        assert_eq!(entries("[ s ]\nk = v"), one(" s ", "k", "v"));
        assert_eq!(
            entries("[s]\nk1=v1\ngarbage\n= more garbage\nk2=v2").len(),
            2
        );
        assert_eq!(entries("[s]\r\nk = v\rj = w\x1al = x").len(), 3);
    }

    #[test]
    fn writes_values_as_config_writer() {
        let text = "; top\n[admins]\nadmin = h1\n\n[couchdb]\nuuid = u\n";
        // appended at the end of its section, before the blank line
        assert_eq!(
            save_value(text, "admins", "bob", Some("h2")),
            "; top\n[admins]\nadmin = h1\nbob = h2\n\n[couchdb]\nuuid = u\n"
        );
        // replaced in place
        assert_eq!(
            save_value(text, "couchdb", "uuid", Some("v")),
            "; top\n[admins]\nadmin = h1\n\n[couchdb]\nuuid = v\n"
        );
        // a deletion leaves an empty line where the entry was
        let two = "[admins]\nadmin = h1\nbob = h2\ncarl = h3\n\n[couchdb]\nuuid = u\n";
        assert_eq!(
            save_value(two, "admins", "bob", None),
            "[admins]\nadmin = h1\n\ncarl = h3\n\n[couchdb]\nuuid = u\n"
        );
        // a new section goes at the end, after one empty line
        assert_eq!(
            save_value(text, "test", "foo", Some("bar")),
            "; top\n[admins]\nadmin = h1\n\n[couchdb]\nuuid = u\n\n[test]\nfoo = bar\n"
        );
        assert_eq!(save_value("", "s", "k", Some("v")), "\n[s]\nk = v\n");
        // deleting from a section the file lacks still writes its header
        assert_eq!(
            save_value("[a]\nx = 1\n", "s", "k", None),
            "[a]\nx = 1\n\n[s]\n"
        );
        // `key=` and `key   =` are the key's lines; `keyx =` and `; key =` are not
        assert_eq!(
            save_value("[s]\n; k = 0\nkx = 1\nk=2\nk = 3\n", "s", "k", Some("9")),
            "[s]\n; k = 0\nkx = 1\nk = 9\nk = 3\n"
        );
        // CRLF files come back with LF line ends
        assert_eq!(
            save_value("[s]\r\nk = 1\r\n", "s", "k", Some("2")),
            "[s]\nk = 2\n"
        );
        // any `[name]` in a line ends the section for the writer
        assert_eq!(
            save_value("[s]\na = see [x]\nk = 1\n", "s", "k", Some("2")),
            "[s]\nk = 2\n\na = see [x]\nk = 1\n"
        );
        // only the exact header line opens the section
        assert_eq!(
            save_value("[s] \nk = 1\n", "s", "k", Some("2")),
            "[s] \nk = 1\n\n[s]\nk = 2\n"
        );
    }

    #[test]
    fn line_kinds() {
        assert_eq!(line_kind("k = v", "k"), LineKind::Key);
        assert_eq!(line_kind("k\t=v", "k"), LineKind::Key);
        assert_eq!(line_kind("[a.b_c-1]", "k"), LineKind::Section);
        assert_eq!(line_kind("x [] y", "k"), LineKind::Section);
        assert_eq!(line_kind("[a b]", "k"), LineKind::Other);
        assert_eq!(line_kind("[ab", "k"), LineKind::Other);
        assert_eq!(line_kind("k = [x]", "k"), LineKind::Key);
    }
}
