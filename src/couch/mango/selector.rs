//! Mango selectors: parsing with CouchDB's normalization, and matching.
//!
//! [`Selector::parse`] runs `mango_selector:normalize`'s three steps:
//! operators are validated and implicit forms made explicit (`{"a": 1}` is
//! `{"a": {"$eq": 1}}`, several members are an `$and`); field names are
//! pushed down to the operators (`{"a": {"b": {"$gt": 1}}}` is the path
//! `a.b`); negations are pushed to the leaves by De Morgan's laws (`$not`
//! of `$gt` is `$lte`, `$nor` an `$and` of negations). The quirks follow:
//! a negated condition on a missing field does not match, `$exists: false`
//! is the only condition a missing field satisfies, and inside `$elemMatch`,
//! `$allMatch` and `$keyMapMatch` negations are left as written (a `$nor`
//! there makes the whole operator fail, as in CouchDB).
//!
//! [`Selector::matches`] compares with CouchDB's view collation
//! ([`crate::couch::collate`]). This is the public API the `_changes`
//! `_selector` filter uses; keep its signatures stable.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{json, Map, Value};

use super::error::{bad, bad_arg, erl_term, invalid_operator};
use super::field::{get_field, join_field, parse_field, Lookup, Path};
use crate::couch::collate::{collate, exact_eq, loose_eq};
use crate::error::{Error, Result};

/// A parsed, normalized Mango selector.
#[derive(Debug, Clone)]
pub struct Selector {
    root: Node,
}

/// A normalized selector node.
#[derive(Debug, Clone)]
pub enum Node {
    /// `{}`: matches everything (only ever the whole selector).
    Empty,
    And(Vec<Node>),
    Or(Vec<Node>),
    /// Left as written only inside `$elemMatch`-like arguments.
    Not(Box<Node>),
    /// Left as written only inside `$elemMatch`-like arguments, where
    /// matching it is an error (CouchDB's matcher has no `$nor` clause).
    Nor(Vec<Node>),
    /// A condition on a field (an empty path is the value itself).
    Field(Path, Cond),
    /// `$text` (needs a text index; CouchDB's matcher accepts any document).
    Text(Value),
}

/// A condition on one value.
#[derive(Clone)]
pub enum Cond {
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Type(String),
    Mod(i64, i64),
    Regex(Regex),
    BeginsWith(String),
    Size(u64),
    All(Vec<Value>),
    ElemMatch(Box<Node>),
    AllMatch(Box<Node>),
    KeyMapMatch(Box<Node>),
    /// A condition that cannot be negated otherwise.
    Not(Box<Cond>),
}

/// A compiled `$regex` (PCRE, on the bytes of the string, as Erlang's `re`).
#[derive(Clone)]
pub struct Regex {
    source: String,
    compiled: pcre2::bytes::Regex,
}

impl Regex {
    fn new(source: &str) -> Option<Regex> {
        let compiled = pcre2::bytes::RegexBuilder::new()
            .jit_if_available(true)
            .build(source)
            .ok()?;
        Some(Regex {
            source: source.to_string(),
            compiled,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn is_match(&self, s: &str) -> bool {
        self.compiled.is_match(s.as_bytes()).unwrap_or(false)
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", self.source)
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// Operators CouchDB knows but does not support.
const NOT_SUPPORTED: [&str; 5] = [
    "$where",
    "$geoWithin",
    "$geoIntersects",
    "$near",
    "$nearSphere",
];

/// The result of the first normalization step (`norm_ops`).
enum Op {
    And(Vec<Op>),
    Or(Vec<Op>),
    Not(Box<Op>),
    Nor(Vec<Op>),
    Field(String, Box<Op>),
    Term(Term),
    /// `{"$default": X}` as given (only `{"$text": …}` is valid at the root).
    Default(Value),
}

/// A terminal operator before field paths are known.
enum Term {
    Simple(Cond),
    ElemMatch(Box<Op>),
    AllMatch(Box<Op>),
    KeyMapMatch(Box<Op>),
}

impl Selector {
    /// Parses and normalizes a selector; CouchDB's errors for bad ones.
    pub fn parse(value: &Value) -> Result<Selector> {
        let Value::Object(members) = value else {
            return Err(bad(
                "invalid_selector_json",
                format!("Selector must be a JSON object, not: {}", erl_term(value)),
            ));
        };
        if members.is_empty() {
            return Ok(Selector { root: Node::Empty });
        }
        let ops = norm_ops(value)?;
        let fields = norm_fields(ops, &[])?;
        let root = norm_negations(fields)?;
        if let Node::Field(path, _) = &root {
            if path.is_empty() {
                return Err(bad(
                    "invalid_selector",
                    "One or more conditions is missing a field name.",
                ));
            }
        }
        Ok(Selector { root })
    }

    /// Whether a document (its JSON body with `_id`, `_rev`, …) matches.
    pub fn matches(&self, doc: &Value) -> bool {
        match_node(&self.root, doc).unwrap_or(false)
    }

    /// The normalized selector, as `_explain` shows it.
    pub fn to_json(&self) -> Value {
        self.root.to_json()
    }

    /// The normalized tree, for the query planner.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// Whether this is the empty selector `{}`.
    pub fn is_empty(&self) -> bool {
        matches!(self.root, Node::Empty)
    }
}

fn norm_ops(value: &Value) -> Result<Op> {
    let Value::Object(members) = value else {
        return Ok(Op::Term(Term::Simple(Cond::Eq(value.clone()))));
    };
    if members.len() != 1 {
        if members.is_empty() {
            return Ok(Op::Term(Term::Simple(Cond::Eq(value.clone()))));
        }
        let parts = members
            .iter()
            .map(|(k, v)| {
                let mut single = Map::new();
                single.insert(k.clone(), v.clone());
                norm_ops(&Value::Object(single))
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok(Op::And(parts));
    }
    let Some((key, arg)) = members.iter().next() else {
        return Ok(Op::Term(Term::Simple(Cond::Eq(value.clone()))));
    };
    let list = |op: &str| -> Result<&Vec<Value>> {
        match arg {
            Value::Array(items) => Ok(items),
            _ => Err(bad_arg(op, arg)),
        }
    };
    let object = |op: &str| -> Result<&Value> {
        match arg {
            Value::Object(_) => Ok(arg),
            _ => Err(bad_arg(op, arg)),
        }
    };
    let simple = |c: Cond| Ok(Op::Term(Term::Simple(c)));
    match key.as_str() {
        "$and" => Ok(Op::And(
            list("$and")?.iter().map(norm_ops).collect::<Result<_>>()?,
        )),
        "$or" => Ok(Op::Or(
            list("$or")?.iter().map(norm_ops).collect::<Result<_>>()?,
        )),
        "$nor" => Ok(Op::Nor(
            list("$nor")?.iter().map(norm_ops).collect::<Result<_>>()?,
        )),
        "$not" => Ok(Op::Not(Box::new(norm_ops(object("$not")?)?))),
        "$in" => simple(Cond::In(list("$in")?.clone())),
        "$nin" => simple(Cond::Nin(list("$nin")?.clone())),
        "$all" => simple(Cond::All(list("$all")?.clone())),
        "$exists" => match arg {
            Value::Bool(b) => simple(Cond::Exists(*b)),
            _ => Err(bad_arg("$exists", arg)),
        },
        "$type" => match arg {
            Value::String(t) => simple(Cond::Type(t.clone())),
            _ => Err(bad_arg("$type", arg)),
        },
        "$mod" => match arg.as_array().map(Vec::as_slice) {
            Some([d, r]) => match (d.as_i64(), r.as_i64()) {
                (Some(d), Some(r)) => simple(Cond::Mod(d, r)),
                _ => Err(bad_arg("$mod", arg)),
            },
            _ => Err(bad_arg("$mod", arg)),
        },
        "$regex" => match arg {
            Value::String(source) => match Regex::new(source) {
                Some(re) => simple(Cond::Regex(re)),
                None => Err(bad_arg("$regex", arg)),
            },
            _ => Err(invalid_operator("$regex")),
        },
        "$beginsWith" => match arg {
            Value::String(prefix) => simple(Cond::BeginsWith(prefix.clone())),
            _ => Err(invalid_operator("$beginsWith")),
        },
        "$size" => match arg.as_u64() {
            Some(n) => simple(Cond::Size(n)),
            None => Err(bad_arg("$size", arg)),
        },
        "$elemMatch" => Ok(Op::Term(Term::ElemMatch(Box::new(norm_ops(object(
            "$elemMatch",
        )?)?)))),
        "$allMatch" => Ok(Op::Term(Term::AllMatch(Box::new(norm_ops(object(
            "$allMatch",
        )?)?)))),
        "$keyMapMatch" => Ok(Op::Term(Term::KeyMapMatch(Box::new(norm_ops(object(
            "$keyMapMatch",
        )?)?)))),
        "$text" => match arg {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                Ok(Op::Default(json!({"$text": arg})))
            }
            _ => Err(bad_arg("$text", arg)),
        },
        "$default" => Ok(Op::Default(arg.clone())),
        "$eq" => simple(Cond::Eq(arg.clone())),
        "$ne" => simple(Cond::Ne(arg.clone())),
        "$lt" => simple(Cond::Lt(arg.clone())),
        "$lte" => simple(Cond::Lte(arg.clone())),
        "$gt" => simple(Cond::Gt(arg.clone())),
        "$gte" => simple(Cond::Gte(arg.clone())),
        op if NOT_SUPPORTED.contains(&op) => {
            Err(bad("not_supported", format!("Unsupported operator: {op}")))
        }
        op if op.starts_with('$') => Err(invalid_operator(op)),
        _ => Ok(Op::Field(key.clone(), Box::new(norm_ops(arg)?))),
    }
}

fn norm_fields(op: Op, path: &[String]) -> Result<Node> {
    Ok(match op {
        Op::And(args) => Node::And(
            args.into_iter()
                .map(|a| norm_fields(a, path))
                .collect::<Result<_>>()?,
        ),
        Op::Or(args) => Node::Or(
            args.into_iter()
                .map(|a| norm_fields(a, path))
                .collect::<Result<_>>()?,
        ),
        Op::Nor(args) => Node::Nor(
            args.into_iter()
                .map(|a| norm_fields(a, path))
                .collect::<Result<_>>()?,
        ),
        Op::Not(arg) => Node::Not(Box::new(norm_fields(*arg, path)?)),
        Op::Field(name, cond) => {
            let mut full = path.to_vec();
            full.extend(parse_field(&name)?);
            norm_fields(*cond, &full)?
        }
        Op::Term(Term::Simple(cond)) => Node::Field(path.to_vec(), cond),
        Op::Term(Term::ElemMatch(arg)) => Node::Field(
            path.to_vec(),
            Cond::ElemMatch(Box::new(norm_fields(*arg, &[])?)),
        ),
        Op::Term(Term::AllMatch(arg)) => Node::Field(
            path.to_vec(),
            Cond::AllMatch(Box::new(norm_fields(*arg, &[])?)),
        ),
        Op::Term(Term::KeyMapMatch(arg)) => Node::Field(
            path.to_vec(),
            Cond::KeyMapMatch(Box::new(norm_fields(*arg, &[])?)),
        ),
        Op::Default(arg) => match (&arg, path.is_empty()) {
            (Value::Object(m), true) if m.len() == 1 && m.contains_key("$text") => {
                Node::Text(m.get("$text").cloned().unwrap_or(Value::Null))
            }
            _ => {
                return Err(bad(
                    "bad_field",
                    format!(
                        "Invalid field normalization on selector: {}",
                        erl_term(&json!({"$default": arg}))
                    ),
                ))
            }
        },
    })
}

fn norm_negations(node: Node) -> Result<Node> {
    Ok(match node {
        Node::Not(arg) => negate(*arg)?,
        Node::Nor(args) => Node::And(args.into_iter().map(negate).collect::<Result<_>>()?),
        Node::And(args) => Node::And(
            args.into_iter()
                .map(norm_negations)
                .collect::<Result<_>>()?,
        ),
        Node::Or(args) => Node::Or(
            args.into_iter()
                .map(norm_negations)
                .collect::<Result<_>>()?,
        ),
        other => other,
    })
}

fn negate(node: Node) -> Result<Node> {
    Ok(match node {
        Node::Not(arg) => norm_negations(*arg)?,
        Node::Nor(args) => Node::Or(
            args.into_iter()
                .map(norm_negations)
                .collect::<Result<_>>()?,
        ),
        Node::And(args) => Node::Or(args.into_iter().map(negate).collect::<Result<_>>()?),
        Node::Or(args) => Node::And(args.into_iter().map(negate).collect::<Result<_>>()?),
        Node::Field(path, cond) => Node::Field(path, negate_cond(cond)),
        Node::Text(arg) => return Err(bad_arg("$not", &json!({"$default": {"$text": arg}}))),
        Node::Empty => Node::Empty,
    })
}

fn negate_cond(cond: Cond) -> Cond {
    match cond {
        Cond::Lt(v) => Cond::Gte(v),
        Cond::Lte(v) => Cond::Gt(v),
        Cond::Eq(v) => Cond::Ne(v),
        Cond::Ne(v) => Cond::Eq(v),
        Cond::Gte(v) => Cond::Lt(v),
        Cond::Gt(v) => Cond::Lte(v),
        Cond::In(v) => Cond::Nin(v),
        Cond::Nin(v) => Cond::In(v),
        Cond::Exists(b) => Cond::Exists(!b),
        Cond::Not(inner) => *inner,
        other => Cond::Not(Box::new(other)),
    }
}

/// Matching can fail the way CouchDB's matcher throws (an operator it has
/// no clause for); the array operators turn that into "no match".
struct Thrown;

fn match_node(node: &Node, value: &Value) -> Result<bool, Thrown> {
    match node {
        Node::Empty | Node::Text(_) => Ok(true),
        Node::And(args) => {
            for a in args {
                if !match_node(a, value)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Node::Or(args) => {
            if args.is_empty() {
                return Ok(true);
            }
            for a in args {
                if match_node(a, value)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Node::Not(arg) => Ok(!match_node(arg, value)?),
        Node::Nor(_) => Err(Thrown),
        Node::Field(path, cond) => match get_field(value, path) {
            Lookup::NotFound => Ok(matches!(cond, Cond::Exists(false))),
            Lookup::BadPath => Ok(false),
            Lookup::Found(v) => match_cond(cond, v),
        },
    }
}

fn match_cond(cond: &Cond, value: &Value) -> Result<bool, Thrown> {
    let cmp = |arg: &Value| collate(value, arg);
    Ok(match cond {
        Cond::Not(inner) => !match_cond(inner, value)?,
        Cond::Eq(a) => cmp(a) == Ordering::Equal,
        Cond::Ne(a) => cmp(a) != Ordering::Equal,
        Cond::Lt(a) => cmp(a) == Ordering::Less,
        Cond::Lte(a) => cmp(a) != Ordering::Greater,
        Cond::Gt(a) => cmp(a) == Ordering::Greater,
        Cond::Gte(a) => cmp(a) != Ordering::Less,
        Cond::In(args) => in_values(args, value),
        Cond::Nin(args) => match value {
            _ if args.is_empty() => true,
            Value::Array(_) => !in_values(args, value),
            _ => args.iter().all(|a| cmp(a) != Ordering::Equal),
        },
        Cond::Exists(should) => *should,
        Cond::Type(t) => t == type_name(value),
        Cond::Mod(d, r) => match value.as_i64() {
            Some(v) => {
                if *d == 0 {
                    return Err(Thrown);
                }
                i128::from(v) % i128::from(*d) == i128::from(*r)
            }
            None => false,
        },
        Cond::BeginsWith(prefix) => value
            .as_str()
            .is_some_and(|s| s.starts_with(prefix.as_str())),
        Cond::Regex(re) => value.as_str().is_some_and(|s| re.is_match(s)),
        Cond::Size(n) => value
            .as_array()
            .is_some_and(|items| items.len() as u64 == *n),
        Cond::All(args) => match value {
            _ if args.is_empty() => false,
            Value::Array(items) => {
                let has_all = args.iter().all(|a| items.iter().any(|i| exact_eq(a, i)));
                let is_args =
                    matches!(args.as_slice(), [Value::Array(_)]) && loose_eq(&args[0], value);
                has_all || is_args
            }
            _ => false,
        },
        Cond::ElemMatch(sub) => match value {
            Value::Array(items) => any_matches(sub, items.iter()),
            _ => false,
        },
        Cond::AllMatch(sub) => match value {
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    match match_node(sub, item) {
                        Ok(true) => {}
                        Ok(false) | Err(Thrown) => return Ok(false),
                    }
                }
                true
            }
            _ => false,
        },
        Cond::KeyMapMatch(sub) => match value {
            Value::Object(members) => {
                let keys: Vec<Value> = members.keys().map(|k| Value::String(k.clone())).collect();
                any_matches(sub, keys.iter())
            }
            _ => false,
        },
    })
}

/// `$elemMatch`: true at the first match; an error anywhere is no match.
fn any_matches<'a>(sub: &Node, items: impl Iterator<Item = &'a Value>) -> bool {
    for item in items {
        match match_node(sub, item) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(Thrown) => return false,
        }
    }
    false
}

fn in_values(args: &[Value], value: &Value) -> bool {
    match value {
        Value::Array(items) => args
            .iter()
            .any(|a| items.iter().any(|i| collate(i, a) == Ordering::Equal)),
        _ => args.iter().any(|a| collate(value, a) == Ordering::Equal),
    }
}

/// `mango_json:type/1`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Node {
    /// The node as CouchDB renders a normalized selector.
    pub fn to_json(&self) -> Value {
        let list = |args: &[Node]| Value::Array(args.iter().map(Node::to_json).collect());
        match self {
            Node::Empty => json!({}),
            Node::And(args) => json!({"$and": list(args)}),
            Node::Or(args) => json!({"$or": list(args)}),
            Node::Nor(args) => json!({"$nor": list(args)}),
            Node::Not(arg) => json!({"$not": arg.to_json()}),
            Node::Field(path, cond) => {
                let mut m = Map::new();
                m.insert(join_field(path), cond.to_json());
                Value::Object(m)
            }
            Node::Text(arg) => json!({"$default": {"$text": arg}}),
        }
    }
}

impl Cond {
    /// The operator name of this condition.
    pub fn op(&self) -> &'static str {
        match self {
            Cond::Eq(_) => "$eq",
            Cond::Ne(_) => "$ne",
            Cond::Lt(_) => "$lt",
            Cond::Lte(_) => "$lte",
            Cond::Gt(_) => "$gt",
            Cond::Gte(_) => "$gte",
            Cond::In(_) => "$in",
            Cond::Nin(_) => "$nin",
            Cond::Exists(_) => "$exists",
            Cond::Type(_) => "$type",
            Cond::Mod(..) => "$mod",
            Cond::Regex(_) => "$regex",
            Cond::BeginsWith(_) => "$beginsWith",
            Cond::Size(_) => "$size",
            Cond::All(_) => "$all",
            Cond::ElemMatch(_) => "$elemMatch",
            Cond::AllMatch(_) => "$allMatch",
            Cond::KeyMapMatch(_) => "$keyMapMatch",
            Cond::Not(_) => "$not",
        }
    }

    pub fn to_json(&self) -> Value {
        let arg = match self {
            Cond::Eq(v) | Cond::Ne(v) | Cond::Lt(v) | Cond::Lte(v) | Cond::Gt(v) | Cond::Gte(v) => {
                v.clone()
            }
            Cond::In(v) | Cond::Nin(v) | Cond::All(v) => Value::Array(v.clone()),
            Cond::Exists(b) => Value::Bool(*b),
            Cond::Type(t) => Value::String(t.clone()),
            Cond::Mod(d, r) => json!([d, r]),
            Cond::Regex(re) => Value::String(re.source.clone()),
            Cond::BeginsWith(p) => Value::String(p.clone()),
            Cond::Size(n) => json!(n),
            Cond::ElemMatch(n) | Cond::AllMatch(n) | Cond::KeyMapMatch(n) => n.to_json(),
            Cond::Not(c) => c.to_json(),
        };
        let mut m = Map::new();
        m.insert(self.op().to_string(), arg);
        Value::Object(m)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl TryFrom<&Value> for Selector {
    type Error = Error;

    fn try_from(value: &Value) -> Result<Selector> {
        Selector::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(v: Value) -> Selector {
        match Selector::parse(&v) {
            Ok(s) => s,
            Err(e) => panic!("{v}: {e}"),
        }
    }

    fn err(v: Value) -> (String, String) {
        match Selector::parse(&v) {
            Ok(s) => panic!("{v} parsed as {s}"),
            Err(e) => {
                let body = e.body();
                (
                    body["error"].as_str().unwrap_or("").into(),
                    body["reason"].as_str().unwrap_or("").into(),
                )
            }
        }
    }

    /// `check_selector` of mango_selector's tests: the selector on field
    /// `x`, and its `$not`, against `{"x": value}`.
    fn check(cond: Value, cases: &[(bool, Value)]) {
        let pos = sel(json!({"x": cond}));
        let neg = sel(json!({"x": {"$not": cond}}));
        for (want, v) in cases {
            let doc = json!({"x": v});
            assert_eq!(pos.matches(&doc), *want, "{cond} on {v}");
            assert_eq!(neg.matches(&doc), !*want, "$not {cond} on {v}");
        }
    }

    #[test]
    fn normalizes_like_couchdb() {
        assert_eq!(sel(json!({"a": 1})).to_json(), json!({"a": {"$eq": 1}}));
        assert_eq!(
            sel(json!({"a": {"$gt": 1, "$lt": 5}})).to_json(),
            json!({"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 5}}]})
        );
        assert_eq!(
            sel(json!({"a": {"b": {"$gt": 10}}})).to_json(),
            json!({"a.b": {"$gt": 10}})
        );
        assert_eq!(
            sel(json!({"$not": {"foo": {"$gt": 10}}})).to_json(),
            json!({"foo": {"$lte": 10}})
        );
        assert_eq!(
            sel(json!({"$not": {"$and": [{"foo": {"$gt": 10}}, {"foo": {"$lt": 5}}]}})).to_json(),
            json!({"$or": [{"foo": {"$lte": 10}}, {"foo": {"$gte": 5}}]})
        );
        assert_eq!(sel(json!({"x": {}})).to_json(), json!({"x": {"$eq": {}}}));
        assert_eq!(
            sel(json!({"a\\.b": 1})).to_json(),
            json!({"a.b": {"$eq": 1}})
        );
        assert_eq!(
            sel(json!({"x": {"$not": {"$regex": "^a"}}})).to_json(),
            json!({"x": {"$not": {"$regex": "^a"}}})
        );
        assert_eq!(
            sel(json!({"$nor": [{"a": 1}]})).to_json(),
            json!({"$and": [{"a": {"$ne": 1}}]})
        );
    }

    #[test]
    fn errors_as_couchdb() {
        assert_eq!(
            err(json!({"a": {"$foo": 1}})),
            ("invalid_operator".into(), "Invalid operator: $foo".into())
        );
        assert_eq!(
            err(json!({"a": {"$in": "x"}})),
            (
                "bad_arg".into(),
                "Bad argument for operator $in: <<\"x\">>".into()
            )
        );
        assert_eq!(err(json!({"a": {"$size": -1}})).0, "bad_arg");
        assert_eq!(
            err(json!({"a": {"$regex": 1}})).1,
            "Invalid operator: $regex"
        );
        assert_eq!(err(json!({"a": {"$regex": "("}})).0, "bad_arg");
        assert_eq!(
            err(json!({"a": {"$where": 1}})),
            (
                "not_supported".into(),
                "Unsupported operator: $where".into()
            )
        );
        assert_eq!(
            err(json!({"$gt": 1})),
            (
                "invalid_selector".into(),
                "One or more conditions is missing a field name.".into()
            )
        );
        assert_eq!(
            err(json!({"a..b": 1})),
            (
                "invalid_field_name".into(),
                "Invalid field name: a..b".into()
            )
        );
        assert_eq!(err(json!([1])).0, "invalid_selector_json");
        assert_eq!(err(json!({"$and": {"a": 1}})).0, "bad_arg");
        assert_eq!(
            err(json!({"a": {"$beginsWith": 1}})).1,
            "Invalid operator: $beginsWith"
        );
    }

    #[test]
    fn comparison_operators() {
        check(
            json!({"$lt": 5}),
            &[
                (true, json!(4)),
                (false, json!(5)),
                (true, json!(null)),
                (false, json!("a")),
            ],
        );
        check(json!({"$lte": 5}), &[(true, json!(5)), (false, json!(6))]);
        check(
            json!({"$gt": 5}),
            &[(true, json!("a")), (false, json!(5)), (true, json!([]))],
        );
        check(
            json!({"$gte": 5}),
            &[(true, json!(5.0)), (false, json!(4.9))],
        );
        check(
            json!({"$eq": "a"}),
            &[(true, json!("a")), (false, json!("A"))],
        );
        check(json!({"$ne": 1}), &[(false, json!(1.0)), (true, json!(2))]);
    }

    #[test]
    fn set_operators() {
        check(
            json!({"$in": [1, "a"]}),
            &[
                (true, json!(1)),
                (true, json!("a")),
                (true, json!([2, 1])),
                (false, json!([[1]])),
                (false, json!(3)),
            ],
        );
        check(json!({"$in": []}), &[(false, json!(1))]);
        check(
            json!({"$nin": [1, 2]}),
            &[(false, json!(1)), (true, json!(3)), (false, json!([3, 2]))],
        );
        check(
            json!({"$all": [1, 2]}),
            &[
                (true, json!([2, 1, 3])),
                (false, json!([1])),
                (false, json!(1)),
                (false, json!([1.0, 2])),
            ],
        );
        check(
            json!({"$all": [[1, 2]]}),
            &[
                (true, json!([1, 2])),
                (true, json!([[1, 2]])),
                (false, json!([2, 1])),
            ],
        );
        check(json!({"$all": []}), &[(false, json!([]))]);
    }

    #[test]
    fn element_operators() {
        let missing = json!({});
        assert!(sel(json!({"x": {"$exists": false}})).matches(&missing));
        assert!(!sel(json!({"x": {"$exists": true}})).matches(&missing));
        assert!(!sel(json!({"x": {"$ne": 1}})).matches(&missing));
        assert!(!sel(json!({"x": {"$not": {"$regex": "a"}}})).matches(&missing));
        assert!(!sel(json!({"x.y": {"$exists": false}})).matches(&json!({"x": 1})));
        check(json!({"$exists": true}), &[(true, json!(null))]);
        check(
            json!({"$type": "null"}),
            &[(true, json!(null)), (false, json!(0))],
        );
        check(
            json!({"$type": "array"}),
            &[(true, json!([])), (false, json!({}))],
        );
        check(
            json!({"$mod": [28, 1]}),
            &[
                (true, json!(1)),
                (true, json!(29)),
                (true, json!(57)),
                (false, json!(58)),
                (false, json!("57")),
                (false, json!(29.0)),
            ],
        );
        check(
            json!({"$mod": [3, -1]}),
            &[(true, json!(-4)), (false, json!(2))],
        );
        check(
            json!({"$size": 3}),
            &[
                (false, json!(3)),
                (false, json!("fun")),
                (true, json!([0, 0, 0])),
                (false, json!([0])),
            ],
        );
        check(
            json!({"$regex": "^[a-z]+$"}),
            &[
                (true, json!("abc")),
                (false, json!("aBc")),
                (false, json!(1)),
            ],
        );
        check(
            json!({"$beginsWith": "foo"}),
            &[
                (true, json!("food")),
                (true, json!("fool me once")),
                (false, json!("more food")),
                (false, json!("fo")),
                (false, json!(42)),
            ],
        );
    }

    #[test]
    fn array_operators() {
        check(
            json!({"$elemMatch": {"$eq": 0}}),
            &[
                (false, json!([])),
                (true, json!([0])),
                (false, json!([1])),
                (true, json!([0, 1])),
            ],
        );
        check(
            json!({"$allMatch": {"$eq": 0}}),
            &[
                (false, json!([])),
                (true, json!([0])),
                (false, json!([0, 1])),
            ],
        );
        check(
            json!({"$elemMatch": {"$ne": 0}}),
            &[
                (false, json!([])),
                (false, json!([0])),
                (true, json!([1])),
                (true, json!([0, 1])),
            ],
        );
        check(
            json!({"$elemMatch": {"a": {"$gt": 1}}}),
            &[(true, json!([{"a": 2}])), (false, json!([{"a": 1}, 5]))],
        );
        check(
            json!({"$keyMapMatch": {"$regex": "^[a-z]+$"}}),
            &[
                (true, json!({"hello": 0})),
                (true, json!({"a": 1, "b4": 2})),
                (false, json!({"b4": 2})),
                (false, json!({})),
            ],
        );
        // Inside $elemMatch, negations stay as written: a missing field
        // under $not matches there, and $nor fails the whole operator.
        check(
            json!({"$elemMatch": {"$not": {"a": 1}}}),
            &[(true, json!([{"b": 1}])), (false, json!([{"a": 1}]))],
        );
        check(
            json!({"$elemMatch": {"$nor": [{"a": 1}]}}),
            &[(false, json!([{"b": 1}]))],
        );
    }

    #[test]
    fn logical_operators() {
        let doc = json!({"a": 1, "b": "x"});
        assert!(sel(json!({"$or": []})).matches(&doc));
        assert!(sel(json!({"$and": []})).matches(&doc));
        assert!(sel(json!({"$or": [{"a": 2}, {"b": "x"}]})).matches(&doc));
        assert!(!sel(json!({"$nor": [{"a": 2}, {"b": "x"}]})).matches(&doc));
        assert!(sel(json!({"$nor": [{"a": 2}, {"b": "y"}]})).matches(&doc));
        assert!(sel(json!({})).matches(&doc));
        assert!(!sel(json!({"$not": {"a": 1}})).matches(&doc));
    }

    #[test]
    fn nested_and_array_paths() {
        let doc = json!({"a": {"b": [{"c": 5}]}, "d.e": 1});
        assert!(sel(json!({"a.b.0.c": 5})).matches(&doc));
        assert!(sel(json!({"a": {"b": {"0": {"c": {"$gt": 4}}}}})).matches(&doc));
        assert!(sel(json!({"d\\.e": 1})).matches(&doc));
        assert!(!sel(json!({"d.e": 1})).matches(&doc));
        assert!(sel(json!({"a": {"b": [{"c": 5}]}})).matches(&doc));
        assert!(sel(json!({"a.b": {"$eq": [{"c": 5}]}})).matches(&doc));
    }
}
