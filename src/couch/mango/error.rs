//! Mango's errors as CouchDB words them (`mango_error`), and the Erlang
//! `~w` rendering of JSON terms that some of those messages embed (for
//! example `Bad argument for operator $in: <<"x">>`).

use serde_json::Value;

use crate::error::Error;

/// An error with CouchDB's status, `error` string and reason.
pub fn mango(status: u16, error: &'static str, reason: impl Into<String>) -> Error {
    Error::Mango {
        status,
        error,
        reason: reason.into(),
    }
}

/// 400 with the given `error` string.
pub fn bad(error: &'static str, reason: impl Into<String>) -> Error {
    mango(400, error, reason)
}

/// `{bad_arg, Op, Arg}`.
pub fn bad_arg(op: &str, arg: &Value) -> Error {
    bad(
        "bad_arg",
        format!("Bad argument for operator {op}: {}", erl_term(arg)),
    )
}

/// `{invalid_operator, Op}`.
pub fn invalid_operator(op: &str) -> Error {
    bad("invalid_operator", format!("Invalid operator: {op}"))
}

/// `{invalid_field_name, Field}`.
pub fn invalid_field_name(field: &str) -> Error {
    bad("invalid_field_name", format!("Invalid field name: {field}"))
}

/// Renders decoded JSON as Erlang's `~p` prints the EJSON term in
/// CouchDB's messages: `<<"text">>`, `null`, `[1,2]`, `{[{<<"a">>,1}]}`.
pub fn erl_term(v: &Value) -> String {
    let mut out = String::new();
    write_term(v, &mut out, false);
    out
}

/// `~w` (`io_lib:write/1`), as Mango's "Unknown Error" messages print
/// their term: binaries as their bytes (`<<102,111,111>>`).
pub fn erl_term_w(v: &Value) -> String {
    let mut out = String::new();
    write_term(v, &mut out, true);
    out
}

/// Mango's 500 `unknown_error` for a term it has no message for
/// (`mango_error:info/2`'s last clause).
pub fn unknown_error(module: &str, tag: &str, term: &Value) -> Error {
    mango(
        500,
        "unknown_error",
        format!("Unknown Error: {module} :: {{{tag},{}}}", erl_term_w(term)),
    )
}

fn write_term(v: &Value, out: &mut String, bytes: bool) {
    let binary = |s: &str, out: &mut String| {
        if bytes {
            let list: Vec<String> = s.bytes().map(|b| b.to_string()).collect();
            out.push_str(&format!("<<{}>>", list.join(",")));
        } else {
            write_binary(s, out);
        }
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&erl_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => binary(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_term(item, out, bytes);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push_str("{[");
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('{');
                binary(k, out);
                out.push(',');
                write_term(item, out, bytes);
                out.push('}');
            }
            out.push_str("]}");
        }
    }
}

/// A binary: `<<"…">>` when every byte is printable Latin-1, else the
/// byte values (`<<1,2,3>>`).
fn write_binary(s: &str, out: &mut String) {
    let printable = s.bytes().all(
        |b| matches!(b, 32..=126 | 160..=255 | b'\n' | b'\r' | b'\t' | 0x0b | 0x08 | 0x0c | 0x1b),
    );
    if !printable {
        out.push_str("<<");
        let bytes: Vec<String> = s.bytes().map(|b| b.to_string()).collect();
        out.push_str(&bytes.join(","));
        out.push_str(">>");
        return;
    }
    out.push_str("<<\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            c => out.push(c),
        }
    }
    out.push_str("\">>");
}

/// Erlang's shortest round-trip float text (`1.5`, `100.0`, `1.0e-5`, `1.0e21`).
fn erl_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        return format!("{mantissa}e{exp}");
    }
    let text = format!("{f}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn erlang_terms() {
        assert_eq!(erl_term(&json!("foo")), "<<\"foo\">>");
        assert_eq!(
            erl_term(&json!({"a": [1, null, true]})),
            "{[{<<\"a\">>,[1,null,true]}]}"
        );
        assert_eq!(erl_term(&json!({})), "{[]}");
        assert_eq!(erl_term(&json!(1.5)), "1.5");
        assert_eq!(erl_term(&json!(3.0)), "3.0");
        assert_eq!(erl_term(&json!("\u{1}")), "<<1>>");
        assert_eq!(erl_term(&json!(1e-7)), "1.0e-7");
        assert_eq!(erl_term_w(&json!("yes")), "<<121,101,115>>");
        assert_eq!(
            erl_term_w(&json!({"a": [1, "b"]})),
            "{[{<<97>>,[1,<<98>>]}]}"
        );
        assert_eq!(erl_term_w(&json!("")), "<<>>");
    }
}
