//! The Mango query planner: which index answers a `_find`, over which key
//! range, in which order, and why every other index was not chosen.
//!
//! The first pass is CouchDB's own (`mango_idx:get_usable_indexes`,
//! `mango_cursor:create`, `mango_cursor_view:choose_best_index`): an index
//! is usable when the selector requires all of its columns (sort fields
//! excepted) and its columns can produce the sort after constant (`$eq`)
//! columns; partial indexes only when named by `use_index`; JSON indexes
//! beat `_all_docs`; among JSON indexes the longest usable column prefix,
//! then the fewest columns, then the name wins. When CouchDB's choice is a
//! JSON index, Settee uses it too, so documents come back in exactly
//! CouchDB's order.
//!
//! Settee then does better where CouchDB cannot (see `design/mango.md`):
//! - **Sort after equality-bound columns without the other columns
//!   required** (`index [os, browser, ip]`, `{os: "windows"}`, sort
//!   `[browser]`): CouchDB answers `no_usable_index`; Settee scans the
//!   index, because it also stores documents that lack trailing columns.
//! - **A prefix of an index's columns** where CouchDB would scan
//!   `_all_docs`: the index range yields a superset of the candidates; the
//!   ids are put back in `_all_docs` order before documents are read, so
//!   the answer (order, `skip`, `limit`, bookmarks) is CouchDB's.
//! - **Partial indexes implied by the selector** (for example
//!   `$exists: false` in the partial filter) are used without `use_index`,
//!   the same way.
//!
//! In the last two cases the plan keeps CouchDB's own (`_all_docs`) plan
//! in [`Plan::couchdb_plan`]: `_explain` and the no-index warning report
//! that one, as CouchDB would.

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::error::{bad, mango};
use super::field::{join_field, parse_field, Path};
use super::index::{IndexDef, IndexKind};
use super::query::FindRequest;
use super::selector::{Cond, Node, Selector};
use crate::couch::collate::{collate, encode_key, KEY_MAX};
use crate::error::Result;

/// One end of a column range.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Min,
    Max,
    Val(Value),
}

/// A range operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Eq,
    Lt,
    Lte,
}

/// The values one column may take (`mango_idx_view:range/2`).
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    Empty,
    Span {
        lcmp: Cmp,
        low: Bound,
        hcmp: Cmp,
        high: Bound,
    },
}

const FULL: Range = Range::Span {
    lcmp: Cmp::Gt,
    low: Bound::Min,
    hcmp: Cmp::Lt,
    high: Bound::Max,
};

fn bound_cmp(a: &Bound, b: &Bound) -> Ordering {
    match (a, b) {
        (Bound::Min, Bound::Min) | (Bound::Max, Bound::Max) => Ordering::Equal,
        (Bound::Min, _) | (_, Bound::Max) => Ordering::Less,
        (_, Bound::Min) | (Bound::Max, _) => Ordering::Greater,
        (Bound::Val(x), Bound::Val(y)) => collate(x, y),
    }
}

/// How the chosen index is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Exactly CouchDB's plan.
    CouchDb,
    /// Settee: candidate ids from an index range, re-ordered as
    /// `_all_docs` would return them.
    ReorderById,
}

/// A query plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: IndexDef,
    pub strategy: Strategy,
    /// Ranges of the leading columns; `None` when nothing can match.
    pub ranges: Option<Vec<Range>>,
    pub descending: bool,
    /// Whether documents can be derived from index entries alone.
    pub covering: bool,
    /// For [`Strategy::ReorderById`]: the raw `_id` range CouchDB's
    /// `_all_docs` scan would have had (`start`, `end`, both inclusive).
    pub id_range: Option<(Option<String>, Option<String>)>,
    /// A `use_index` that was ignored (for the warning).
    pub ignored_use_index: Option<String>,
    /// `_explain`'s `index_candidates`.
    pub candidates: Vec<Value>,
    /// CouchDB's own plan, when Settee reads another index for the same
    /// answer ([`Strategy::ReorderById`]): what `_explain` and the
    /// no-index warning report, so they read as CouchDB's.
    pub couchdb_plan: Option<Box<Plan>>,
}

impl Plan {
    /// The plan CouchDB would run: this one, unless Settee substituted
    /// its own.
    pub fn as_couchdb(&self) -> &Plan {
        self.couchdb_plan.as_deref().unwrap_or(self)
    }
}

/// Plans a query over the database's indexes (JSON indexes from design
/// documents; `_all_docs` is added here). `explain` plans never fail for
/// lack of an index. A partition query (`req.partition`) uses partitioned
/// indexes only, a global one global indexes only
/// (`mango_idx:filter_partition_indexes/2`); `_all_docs` serves both.
pub fn plan(
    req: &FindRequest,
    json_indexes: &[IndexDef],
    explain: bool,
    db_partitioned: bool,
) -> Result<Option<Plan>> {
    let sel = req.selector.root();
    let all = with_all_docs(json_indexes);
    let by_use_index = |ix: &IndexDef| matches_use_index(ix, &req.use_index);
    let Survey {
        considered,
        verdicts,
        usable,
    } = survey(req, &all);

    let field_ranges = field_ranges(sel);
    let mut ignored_use_index = None;
    let chosen = if usable.is_empty() {
        if explain {
            return Ok(None);
        }
        return Err(sort_error(db_partitioned, req.partition.is_some()));
    } else {
        let filtered: Vec<&IndexDef> = usable
            .iter()
            .copied()
            .filter(|ix| by_use_index(ix))
            .collect();
        let pool = if filtered.is_empty() {
            if !(req.allow_fallback || (req.use_index.is_empty() && usable.len() > 1)) {
                let reason = match req.use_index.as_slice() {
                    [] => "You must specify an index with the `use_index` parameter.".to_string(),
                    [d] => format!("_design/{} specified by `use_index` could not be found or it is not suitable.", strip_design(d)),
                    [d, n, ..] => format!(
                        "_design/{}, {} specified by `use_index` could not be found or it is not suitable.",
                        strip_design(d),
                        n
                    ),
                };
                return Err(bad("invalid_index", reason));
            }
            usable.clone()
        } else {
            filtered
        };
        let json_pool: Vec<&IndexDef> = pool
            .iter()
            .copied()
            .filter(|ix| ix.kind == IndexKind::Json)
            .collect();
        let of_type = if json_pool.is_empty() {
            pool.clone()
        } else {
            json_pool
        };
        let ranges_for = if of_type.iter().any(|ix| ix.kind == IndexKind::AllDocs) {
            let mut r = field_ranges.clone();
            r.push((
                "_id".to_string(),
                Range::Span {
                    lcmp: Cmp::Gt,
                    low: Bound::Val(Value::Null),
                    hcmp: Cmp::Lt,
                    high: Bound::Max,
                },
            ));
            r
        } else {
            field_ranges.clone()
        };
        let mut sorted: Vec<(&IndexDef, Vec<Range>, usize)> = of_type
            .iter()
            .map(|ix| {
                let prefix = composite_prefix(&ix.columns, &ranges_for);
                let diff = ranges_for.len().saturating_sub(prefix.len());
                (*ix, prefix, diff)
            })
            .collect();
        sorted.sort_by(|a, b| {
            a.2.cmp(&b.2)
                .then(a.0.columns.len().cmp(&b.0.columns.len()))
                .then_with(|| (&a.0.ddoc, &a.0.name).cmp(&(&b.0.ddoc, &b.0.name)))
        });
        if !req.use_index.is_empty() && !sorted.first().is_some_and(|(ix, _, _)| by_use_index(ix)) {
            ignored_use_index = Some(use_index_warning(&req.use_index));
        }
        let candidates = candidates_json(
            &all,
            &considered,
            &verdicts,
            &usable,
            &pool,
            &of_type,
            &sorted,
            req,
        );
        sorted
            .first()
            .map(|(ix, prefix, _)| ((*ix).clone(), prefix.clone(), candidates))
    };
    let Some((index, prefix, candidates)) = chosen else {
        return Ok(None);
    };
    let ranges = noop_range(sel, prefix);
    let covering = covers(&index, req.fields.as_deref(), sel);
    let mut plan = Plan {
        index,
        strategy: Strategy::CouchDb,
        ranges,
        descending: req.descending(),
        covering,
        id_range: None,
        ignored_use_index,
        candidates,
        couchdb_plan: None,
    };
    if plan.index.kind == IndexKind::AllDocs {
        let in_scope: Vec<IndexDef> = json_indexes
            .iter()
            .filter(|ix| in_scope(ix, req))
            .cloned()
            .collect();
        if let Some(better) = reorder_by_id(req, &in_scope, &field_ranges, &plan) {
            plan = better;
        }
    }
    Ok(Some(plan))
}

/// `mango_idx:mango_sort_error/2`: no index can serve the query's sort.
fn sort_error(db_partitioned: bool, partition_query: bool) -> crate::error::Error {
    let reason = match (db_partitioned, partition_query) {
        (false, _) => "No index exists for this sort, try indexing by the sort fields.",
        (true, true) => {
            "No partitioned index exists for this sort, try indexing by the sort fields."
        }
        (true, false) => "No global index exists for this sort, try indexing by the sort fields.",
    };
    mango(400, "no_usable_index", reason)
}

/// Whether an index can answer the query at all: a partitioned index a
/// partition query, a global index a global query, `_all_docs` both.
fn in_scope(ix: &IndexDef, req: &FindRequest) -> bool {
    ix.kind == IndexKind::AllDocs || ix.partitioned == req.partition.is_some()
}

/// Every index of the database: `_all_docs` and the JSON indexes, in
/// (ddoc, name) order.
fn with_all_docs(json_indexes: &[IndexDef]) -> Vec<IndexDef> {
    let mut all: Vec<IndexDef> = vec![IndexDef::all_docs()];
    all.extend(json_indexes.iter().cloned());
    all.sort_by(|a, b| (&a.ddoc, &a.name).cmp(&(&b.ddoc, &b.name)));
    all
}

/// CouchDB's first pass over the indexes (`mango_idx:get_usable_indexes`).
struct Survey<'a> {
    /// The indexes checked for usability: those in the query's scope
    /// (partitioned or global), partial indexes only when `use_index`
    /// names them.
    considered: Vec<&'a IndexDef>,
    /// Why each considered index cannot answer (empty: it can).
    verdicts: Vec<(&'a IndexDef, Vec<&'static str>)>,
    usable: Vec<&'a IndexDef>,
}

fn survey<'a>(req: &FindRequest, all: &'a [IndexDef]) -> Survey<'a> {
    let sel = req.selector.root();
    let sort_fields = req.sort_fields();
    let considered: Vec<&IndexDef> = all
        .iter()
        .filter(|ix| {
            ix.partial.is_none()
                || (!req.use_index.is_empty() && matches_use_index(ix, &req.use_index))
        })
        .filter(|ix| in_scope(ix, req))
        .collect();
    let verdicts: Vec<(&IndexDef, Vec<&'static str>)> = considered
        .iter()
        .map(|ix| (*ix, usability(ix, sel, &sort_fields)))
        .collect();
    let usable: Vec<&IndexDef> = verdicts
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(ix, _)| *ix)
        .collect();
    Survey {
        considered,
        verdicts,
        usable,
    }
}

/// `_explain`'s `index_candidates` when no index can answer (CouchDB's
/// `_explain` then has `"index": null`): every index with the reason it
/// cannot.
pub fn candidates_without_plan(req: &FindRequest, json_indexes: &[IndexDef]) -> Vec<Value> {
    let all = with_all_docs(json_indexes);
    let Survey {
        considered,
        verdicts,
        usable,
    } = survey(req, &all);
    candidates_json(&all, &considered, &verdicts, &usable, &[], &[], &[], req)
}

fn strip_design(d: &str) -> &str {
    d.strip_prefix("_design/").unwrap_or(d)
}

fn matches_use_index(ix: &IndexDef, use_index: &[String]) -> bool {
    let want_ddoc = |d: &str| ix.ddoc.as_deref() == Some(&format!("_design/{}", strip_design(d)));
    match use_index {
        [] => false,
        [d] => want_ddoc(d),
        [d, n, ..] => want_ddoc(d) && ix.name == *n,
    }
}

fn use_index_warning(use_index: &[String]) -> String {
    match use_index {
        [d] => format!(
            "_design/{} was not used because it does not contain a valid index for this query.",
            strip_design(d)
        ),
        [d, n, ..] => format!(
            "_design/{}, {} was not used because it is not a valid index for this query.",
            strip_design(d),
            n
        ),
        [] => String::new(),
    }
}

/// CouchDB's usability check; the reasons an index is not usable (empty
/// when it is).
fn usability(ix: &IndexDef, sel: &Node, sort: &[String]) -> Vec<&'static str> {
    match ix.kind {
        IndexKind::AllDocs => {
            if sort.is_empty() {
                return Vec::new();
            }
            let mut reasons = Vec::new();
            if !indexable_fields(sel).iter().any(|f| f == "_id") {
                reasons.push("field_mismatch");
            }
            if !(sort.len() == 1 && sort[0] == "_id") {
                reasons.push("sort_order_mismatch");
            }
            reasons
        }
        IndexKind::Json => {
            let mut required: Vec<String> = ix.columns.clone();
            required.sort();
            required.dedup();
            required.retain(|c| !sort.contains(c) && c != "_id" && c != "_rev");
            let mut reasons = Vec::new();
            if is_text_search(sel) {
                reasons.push("needs_text_search");
            }
            if !has_required_fields(sel, &required) {
                reasons.push("field_mismatch");
            }
            if !can_use_sort(&ix.columns, sort, sel) {
                reasons.push("sort_order_mismatch");
            }
            reasons
        }
    }
}

fn is_text_search(node: &Node) -> bool {
    match node {
        Node::Text(_) => true,
        Node::And(args) | Node::Or(args) | Node::Nor(args) => args.iter().any(is_text_search),
        Node::Not(arg) => is_text_search(arg),
        _ => false,
    }
}

/// `mango_selector:has_required_fields/2`.
pub fn has_required_fields(sel: &Node, required: &[String]) -> bool {
    let paths: Vec<Path> = required
        .iter()
        .filter_map(|f| parse_field(f).ok())
        .collect();
    required_remainder(&[sel], paths).is_empty()
}

fn required_remainder(sels: &[&Node], mut req: Vec<Path>) -> Vec<Path> {
    if req.is_empty() {
        return req;
    }
    let Some((first, rest)) = sels.split_first() else {
        return req;
    };
    match first {
        Node::Empty if sels.len() == 1 => req,
        Node::And(args) if rest.is_empty() => {
            required_remainder(&args.iter().collect::<Vec<_>>(), req)
        }
        Node::Or(args) => {
            let mut rem: Vec<Path> = Vec::new();
            for a in args {
                rem.extend(required_remainder(&[a], req.clone()));
            }
            rem.sort();
            rem.dedup();
            required_remainder(rest, rem)
        }
        Node::And(args) => {
            let r = required_remainder(&args.iter().collect::<Vec<_>>(), req);
            required_remainder(rest, r)
        }
        Node::Field(path, cond) => {
            if !matches!(cond, Cond::Exists(false)) {
                if let Some(pos) = req.iter().position(|p| p == path) {
                    req.remove(pos);
                }
            }
            required_remainder(rest, req)
        }
        _ => required_remainder(rest, req),
    }
}

/// `mango_selector:is_constant_field/2`.
fn is_constant_field(sel: &Node, field: &str) -> bool {
    let Ok(path) = parse_field(field) else {
        return false;
    };
    constant_in(&[sel], &path)
}

fn constant_in(sels: &[&Node], path: &Path) -> bool {
    match sels {
        [] => false,
        [Node::Empty] => false,
        [Node::And(args)] => args.iter().any(|a| constant_in(&[a], path)),
        [Node::Field(p, cond), ..] if p == path => matches!(cond, Cond::Eq(_)),
        [_, rest @ ..] => constant_in(rest, path),
    }
}

/// `mango_idx_view:can_use_sort/3`.
fn can_use_sort(cols: &[String], sort: &[String], sel: &Node) -> bool {
    if sort.is_empty() {
        return true;
    }
    let Some((col, rest)) = cols.split_first() else {
        return false;
    };
    if *col == sort[0] {
        return cols.len() >= sort.len() && cols[..sort.len()] == *sort;
    }
    is_constant_field(sel, col) && can_use_sort(rest, sort, sel)
}

fn indexable(cond: &Cond) -> bool {
    matches!(
        cond,
        Cond::Lt(_)
            | Cond::Lte(_)
            | Cond::Eq(_)
            | Cond::Gt(_)
            | Cond::Gte(_)
            | Cond::BeginsWith(_)
            | Cond::Exists(_)
    )
}

fn indexable_paths(node: &Node) -> Vec<Path> {
    match node {
        Node::And(args) => {
            let mut out: Vec<Path> = args.iter().flat_map(indexable_paths).collect();
            out.sort();
            out.dedup();
            out
        }
        Node::Field(path, cond) if indexable(cond) => vec![path.clone()],
        _ => Vec::new(),
    }
}

/// `mango_idx_view:indexable_fields/1`.
pub fn indexable_fields(node: &Node) -> Vec<String> {
    indexable_paths(node)
        .iter()
        .map(|p| join_field(p))
        .collect()
}

/// `mango_selector:fields/1`.
pub fn selector_fields(node: &Node) -> Vec<String> {
    match node {
        Node::And(args) | Node::Or(args) | Node::Nor(args) => {
            args.iter().flat_map(selector_fields).collect()
        }
        Node::Field(path, _) => vec![join_field(path)],
        Node::Not(arg) => selector_fields(arg),
        Node::Text(_) => vec!["$default".into()],
        Node::Empty => Vec::new(),
    }
}

/// `mango_idx_view:field_ranges/1`: the range of each indexable field; a
/// field whose range is empty is returned alone.
pub fn field_ranges(node: &Node) -> Vec<(String, Range)> {
    let mut out = Vec::new();
    for path in indexable_paths(node) {
        let r = range_of(node, &path, FULL);
        if r == Range::Empty {
            return vec![(join_field(&path), Range::Empty)];
        }
        out.push((join_field(&path), r));
    }
    out
}

fn range_of(node: &Node, path: &Path, acc: Range) -> Range {
    match node {
        Node::And(args) => {
            let mut r = acc;
            for a in args {
                if r == Range::Empty {
                    return r;
                }
                r = range_of(a, path, r);
            }
            r
        }
        Node::Field(p, cond) if p == path => narrow(cond, acc),
        _ => acc,
    }
}

enum Pos {
    Min,
    Low,
    Mid,
    High,
    Max,
}

fn range_pos(low: &Bound, arg: &Bound, high: &Bound) -> Pos {
    match bound_cmp(arg, low) {
        Ordering::Less => Pos::Min,
        Ordering::Equal => Pos::Low,
        Ordering::Greater => match bound_cmp(arg, high) {
            Ordering::Less => Pos::Mid,
            Ordering::Equal => Pos::High,
            Ordering::Greater => Pos::Max,
        },
    }
}

fn narrow(cond: &Cond, acc: Range) -> Range {
    let Range::Span {
        lcmp,
        low,
        hcmp,
        high,
    } = acc
    else {
        return Range::Empty;
    };
    let span = |lcmp, low, hcmp, high| Range::Span {
        lcmp,
        low,
        hcmp,
        high,
    };
    let eq = |v: &Value| {
        span(
            Cmp::Eq,
            Bound::Val(v.clone()),
            Cmp::Eq,
            Bound::Val(v.clone()),
        )
    };
    match cond {
        Cond::BeginsWith(prefix) => {
            let r = narrow(
                &Cond::Gte(Value::from(prefix.clone())),
                span(lcmp, low, hcmp, high),
            );
            narrow(&Cond::Lte(Value::from(format!("{prefix}\u{ffff}"))), r)
        }
        Cond::Lt(v) => match range_pos(&low, &Bound::Val(v.clone()), &high) {
            Pos::Min | Pos::Low => Range::Empty,
            Pos::Mid | Pos::High => span(lcmp, low, Cmp::Lt, Bound::Val(v.clone())),
            Pos::Max => span(lcmp, low, hcmp, high),
        },
        Cond::Lte(v) => match range_pos(&low, &Bound::Val(v.clone()), &high) {
            Pos::Min => Range::Empty,
            Pos::Low if matches!(lcmp, Cmp::Gte | Cmp::Eq) => eq(v),
            Pos::Low => Range::Empty,
            Pos::Mid => span(lcmp, low, Cmp::Lte, Bound::Val(v.clone())),
            Pos::High | Pos::Max => span(lcmp, low, hcmp, high),
        },
        Cond::Eq(v) => match range_pos(&low, &Bound::Val(v.clone()), &high) {
            Pos::Min | Pos::Max => Range::Empty,
            Pos::Low if matches!(lcmp, Cmp::Gte | Cmp::Eq) => eq(v),
            Pos::Low => Range::Empty,
            Pos::Mid => eq(v),
            Pos::High if matches!(hcmp, Cmp::Lte | Cmp::Eq) => eq(v),
            Pos::High => Range::Empty,
        },
        Cond::Gte(v) => match range_pos(&low, &Bound::Val(v.clone()), &high) {
            Pos::Min | Pos::Low => span(lcmp, low, hcmp, high),
            Pos::Mid => span(Cmp::Gte, Bound::Val(v.clone()), hcmp, high),
            Pos::High if matches!(hcmp, Cmp::Lte | Cmp::Eq) => eq(v),
            Pos::High | Pos::Max => Range::Empty,
        },
        Cond::Gt(v) => match range_pos(&low, &Bound::Val(v.clone()), &high) {
            Pos::Min => span(lcmp, low, hcmp, high),
            Pos::Low | Pos::Mid => span(Cmp::Gt, Bound::Val(v.clone()), hcmp, high),
            Pos::High | Pos::Max => Range::Empty,
        },
        _ => span(lcmp, low, hcmp, high),
    }
}

/// `mango_cursor_view:composite_prefix/2`: ranges of the leading columns.
fn composite_prefix(cols: &[String], ranges: &[(String, Range)]) -> Vec<Range> {
    let mut out = Vec::new();
    for c in cols {
        match ranges.iter().find(|(f, _)| f == c) {
            Some((_, r)) => out.push(r.clone()),
            None => break,
        }
    }
    out
}

/// `mango_cursor:maybe_noop_range/2`: `None` when nothing can match.
fn noop_range(sel: &Node, ranges: Vec<Range>) -> Option<Vec<Range>> {
    let noop = match sel {
        Node::And(args) | Node::Or(args) => args.is_empty(),
        _ => false,
    };
    if noop || ranges.contains(&Range::Empty) {
        None
    } else {
        Some(ranges)
    }
}

/// `mango_idx_view:covers/2`: the index holds every field needed.
fn covers(ix: &IndexDef, fields: Option<&[String]>, sel: &Node) -> bool {
    if ix.kind != IndexKind::Json {
        return false;
    }
    let Some(fields) = fields else { return false };
    let mut needed: Vec<String> = fields.to_vec();
    needed.extend(selector_fields(sel));
    needed.iter().all(|f| f == "_id" || ix.columns.contains(f))
}

/// The view start key (`mango_idx_view:start_key/1`) as JSON values.
pub fn start_key(ranges: &[Range]) -> Vec<Value> {
    let mut out = Vec::new();
    for r in ranges {
        match r {
            Range::Span {
                lcmp: Cmp::Gt,
                low: Bound::Min,
                ..
            } => break,
            Range::Span {
                low: Bound::Val(v), ..
            } => out.push(v.clone()),
            _ => break,
        }
    }
    out
}

/// The view end key (`mango_idx_view:end_key/1`); `None` stands for
/// CouchDB's maximum key (shown as `"<MAX>"`).
pub fn end_key(ranges: &[Range]) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    for r in ranges {
        match r {
            Range::Span {
                hcmp: Cmp::Lt,
                high: Bound::Max,
                ..
            } => {
                out.push(None);
                return out;
            }
            Range::Span {
                high: Bound::Val(v),
                ..
            } => out.push(Some(v.clone())),
            _ => {
                out.push(None);
                return out;
            }
        }
    }
    out.push(None);
    out
}

/// Inclusive byte bounds of the index scan for these ranges (entries are
/// the concatenated encodings of the column values, then the doc id).
pub fn scan_bounds(ranges: &[Range]) -> (Vec<u8>, Vec<u8>) {
    let mut lo = Vec::new();
    for v in start_key(ranges) {
        encode_key(&v, &mut lo);
    }
    let mut hi = Vec::new();
    for v in end_key(ranges) {
        match v {
            Some(v) => encode_key(&v, &mut hi),
            None => {
                hi.push(KEY_MAX);
                break;
            }
        }
    }
    (lo, hi)
}

/// `_all_docs` bounds for the `_id` range (raw order), as CouchDB's
/// special index computes them: (start, end) inclusive, `None` = open.
pub fn id_bounds(ranges: &[Range]) -> (Option<String>, Option<String>) {
    let Some(Range::Span {
        lcmp,
        low,
        hcmp,
        high,
    }) = ranges.first()
    else {
        return (None, None);
    };
    let as_str = |b: &Bound| match b {
        Bound::Val(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let start = match (lcmp, low) {
        (_, Bound::Val(Value::Null)) | (_, Bound::Min) => None,
        _ => as_str(low).or(Some(String::new())),
    };
    let end = match (hcmp, high) {
        (_, Bound::Max) => None,
        _ => as_str(high).or(Some(String::new())),
    };
    (start, end)
}

/// Whether every document the selector can match is in the index as far
/// as its partial filter goes.
fn partial_ok(ix: &IndexDef, sel: &Selector) -> bool {
    match &ix.partial {
        None => true,
        Some(p) => implies(sel.root(), p.root()),
    }
}

/// Conservative implication: every top-level condition of `want` appears
/// among the top-level conditions of `have` (`$eq` also implies
/// `$exists: true`).
fn implies(have: &Node, want: &Node) -> bool {
    let conj = |n: &Node| -> Vec<Value> {
        match n {
            Node::And(args) => args.iter().map(Node::to_json).collect(),
            Node::Empty => Vec::new(),
            other => vec![other.to_json()],
        }
    };
    let have_list = conj(have);
    let have_nodes: Vec<&Node> = match have {
        Node::And(args) => args.iter().collect(),
        other => vec![other],
    };
    conj(want).iter().all(|w| {
        have_list.contains(w)
            || have_nodes
                .iter()
                .any(|h| match (h, w.as_object().and_then(|m| m.iter().next())) {
                    (Node::Field(p, Cond::Eq(_)), Some((f, c))) => {
                        join_field(p) == *f && c == &json!({"$exists": true})
                    }
                    _ => false,
                })
    })
}

/// Settee: CouchDB would scan `_all_docs`; use an index whose first
/// column the selector requires (or a partial index the selector
/// implies), then restore `_all_docs` order.
fn reorder_by_id(
    req: &FindRequest,
    indexes: &[IndexDef],
    ranges: &[(String, Range)],
    base: &Plan,
) -> Option<Plan> {
    let sel = req.selector.root();
    let sort = req.sort_fields();
    if !(sort.is_empty() || sort == ["_id"]) || is_text_search(sel) || base.ranges.is_none() {
        return None;
    }
    let mut best: Option<(&IndexDef, Vec<Range>, usize)> = None;
    for ix in indexes {
        let Some(first) = ix.columns.first() else {
            continue;
        };
        if !partial_ok(ix, &req.selector) || !has_required_fields(sel, std::slice::from_ref(first))
        {
            continue;
        }
        let prefix = composite_prefix(&ix.columns, ranges);
        // Bounded columns: a range that narrows something.
        let narrowing = prefix.iter().take_while(|r| **r != FULL).count();
        if narrowing == 0 && ix.partial.is_none() {
            continue;
        }
        let better = match &best {
            None => true,
            Some((b, _, n)) => {
                narrowing > *n || (narrowing == *n && ix.columns.len() < b.columns.len())
            }
        };
        if better {
            best = Some((ix, prefix, narrowing));
        }
    }
    let (ix, prefix, _) = best?;
    let id_range = base.ranges.as_deref().map(id_bounds);
    Some(Plan {
        index: ix.clone(),
        strategy: Strategy::ReorderById,
        ranges: Some(prefix),
        descending: req.descending(),
        covering: false,
        id_range,
        ignored_use_index: base.ignored_use_index.clone(),
        candidates: Vec::new(),
        couchdb_plan: Some(Box::new(base.clone())),
    })
}

#[allow(clippy::too_many_arguments)]
fn candidates_json(
    all: &[IndexDef],
    considered: &[&IndexDef],
    verdicts: &[(&IndexDef, Vec<&'static str>)],
    usable: &[&IndexDef],
    filtered: &[&IndexDef],
    of_type: &[&IndexDef],
    sorted: &[(&IndexDef, Vec<Range>, usize)],
    req: &FindRequest,
) -> Vec<Value> {
    let same = |a: &IndexDef, b: &IndexDef| a.ddoc == b.ddoc && a.name == b.name;
    let contains = |set: &[&IndexDef], ix: &IndexDef| set.iter().any(|s| same(s, ix));
    // Not considered: partial indexes (unless `use_index` named one in
    // scope), and the other indexes out of the query's scope.
    let partial: Vec<&IndexDef> = all
        .iter()
        .filter(|ix| !contains(considered, ix) && ix.partial.is_some())
        .collect();
    let out_of_scope: Vec<&IndexDef> = all
        .iter()
        .filter(|ix| !contains(considered, ix) && ix.partial.is_none())
        .collect();
    let not_usable: Vec<&IndexDef> = considered
        .iter()
        .copied()
        .filter(|ix| !contains(usable, ix))
        .collect();
    let excluded: Vec<&IndexDef> = usable
        .iter()
        .copied()
        .filter(|ix| !contains(filtered, ix))
        .collect();
    let unfavored: Vec<&IndexDef> = filtered
        .iter()
        .copied()
        .filter(|ix| !contains(of_type, ix))
        .collect();
    let r0 = sorted.len().max(1);
    let r1 = r0 + usize::from(!unfavored.is_empty());
    let r2 = r1 + usize::from(!excluded.is_empty());
    let r3 = r2 + usize::from(!not_usable.is_empty());
    let r4 = r3 + usize::from(!out_of_scope.is_empty());
    let winner = sorted.first().map(|(ix, _, _)| *ix);
    let winner_width = winner.map_or(0, |w| w.columns.len());
    let mut out = Vec::new();
    for ix in all.iter().rev() {
        if winner.is_some_and(|w| same(w, ix)) {
            continue;
        }
        let (usable_flag, reason, ranking) = if contains(&partial, ix) {
            (false, "is_partial", r4)
        } else if contains(&out_of_scope, ix) {
            (false, "scope_mismatch", r3)
        } else if contains(&not_usable, ix) {
            let reason = verdicts
                .iter()
                .find(|(v, _)| same(v, ix))
                .and_then(|(_, r)| r.first().copied());
            (false, reason.unwrap_or("field_mismatch"), r2)
        } else if contains(&excluded, ix) {
            (true, "excluded_by_user", r1)
        } else if contains(&unfavored, ix) {
            (true, "unfavored_type", r0)
        } else if let Some(pos) = sorted.iter().position(|(s, _, _)| same(s, ix)) {
            let (_, _, diff) = &sorted[pos];
            let reason = if *diff > 0 {
                "less_overlap"
            } else if ix.columns.len() > winner_width {
                "too_many_fields"
            } else {
                "alphabetically_comes_after"
            };
            (true, reason, pos)
        } else {
            continue;
        };
        let covering = match ix.kind {
            IndexKind::Json => Value::Bool(covers(ix, req.fields.as_deref(), &Node::Empty)),
            IndexKind::AllDocs => Value::Null,
        };
        out.push(json!({
            "index": ix.to_json(),
            "analysis": {
                "usable": usable_flag,
                "reasons": [{"name": reason}],
                "ranking": ranking,
                "covering": covering
            }
        }));
    }
    out
}

/// `_explain`'s `selector_hints`.
pub fn selector_hints(sel: &Node) -> Value {
    let mut all: Vec<String> = selector_fields(sel);
    all.sort();
    all.dedup();
    let mut indexable = indexable_fields(sel);
    indexable.sort();
    indexable.dedup();
    let unindexable: Vec<String> = all.into_iter().filter(|f| !indexable.contains(f)).collect();
    json!([{"type": "json", "indexable_fields": indexable, "unindexable_fields": unindexable}])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn idx(name: &str, cols: &[&str]) -> IndexDef {
        let mut fields = Map::new();
        for c in cols {
            fields.insert(c.to_string(), json!("asc"));
        }
        let body = json!({"language": "query", "views": {name: {
            "map": {"fields": fields, "partial_filter_selector": {}}, "reduce": "_count", "options": {"def": {}}}}});
        let body = body.as_object().cloned().unwrap_or_default();
        IndexDef::from_ddoc(&format!("_design/{name}"), &body, false).remove(0)
    }

    fn req(v: Value) -> FindRequest {
        match FindRequest::parse(&v) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn plan_of(v: Value, ixs: &[IndexDef]) -> Result<Option<Plan>> {
        plan(&req(v), ixs, false, false)
    }

    #[test]
    fn ranges_narrow_like_couchdb() {
        let s = req(json!({"selector": {"a": {"$gt": 1, "$lte": 5}, "b": 3}}));
        let r = field_ranges(s.selector.root());
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].1,
            Range::Span {
                lcmp: Cmp::Gt,
                low: Bound::Val(json!(1)),
                hcmp: Cmp::Lte,
                high: Bound::Val(json!(5))
            }
        );
        let s = req(json!({"selector": {"a": {"$gt": 5, "$lt": 1}, "b": 3}}));
        assert_eq!(
            field_ranges(s.selector.root()),
            vec![("a".to_string(), Range::Empty)]
        );
    }

    #[test]
    fn couchdb_choice_and_errors() {
        let ixs = [idx("ab", &["a", "b"]), idx("a", &["a"])];
        let p = plan_of(json!({"selector": {"a": 1}}), &ixs).ok().flatten();
        assert_eq!(p.map(|p| p.index.name), Some("a".to_string()));
        let p = plan_of(json!({"selector": {"a": 1, "b": {"$gt": 2}}}), &ixs)
            .ok()
            .flatten();
        assert_eq!(
            p.as_ref().map(|p| p.index.name.clone()),
            Some("ab".to_string())
        );
        let e = plan_of(json!({"selector": {"z": 1}, "sort": ["q"]}), &ixs)
            .err()
            .map(|e| e.body());
        assert_eq!(
            e.map(|b| b["error"].clone()),
            Some(json!("no_usable_index"))
        );
    }

    #[test]
    fn prefix_reorders_by_id() {
        let ixs = [idx("obi", &["os", "browser", "ip"])];
        let p = plan_of(json!({"selector": {"os": "windows"}}), &ixs)
            .ok()
            .flatten();
        let Some(p) = p else { panic!("no plan") };
        assert_eq!(p.strategy, Strategy::ReorderById);
        // Nothing narrows the index: keep _all_docs.
        let p = plan_of(json!({"selector": {"os": {"$ne": "x"}}}), &ixs)
            .ok()
            .flatten();
        assert_eq!(p.map(|p| p.strategy), Some(Strategy::CouchDb));
    }

    #[test]
    fn partition_queries_use_partitioned_indexes_only() {
        let mut part = idx("p", &["a"]);
        part.partitioned = true;
        let glob = idx("g", &["a"]);
        let ixs = [part, glob];
        let find = |q: Value, db_partitioned: bool| {
            plan(&req(q), &ixs, false, db_partitioned)
                .map(|p| p.map(|p| p.index.name))
                .map_err(|e| e.body()["reason"].clone())
        };
        assert_eq!(
            find(json!({"selector": {"a": 1}, "partition": "x"}), true),
            Ok(Some("p".to_string()))
        );
        assert_eq!(
            find(json!({"selector": {"a": 1}}), true),
            Ok(Some("g".to_string()))
        );
        assert_eq!(
            find(
                json!({"selector": {"b": 1}, "sort": ["b"], "partition": "x"}),
                true
            ),
            Err(json!(
                "No partitioned index exists for this sort, try indexing by the sort fields."
            ))
        );
        assert_eq!(
            find(json!({"selector": {"b": 1}, "sort": ["b"]}), true),
            Err(json!(
                "No global index exists for this sort, try indexing by the sort fields."
            ))
        );
        assert_eq!(
            find(json!({"selector": {"b": 1}, "sort": ["b"]}), false),
            Err(json!(
                "No index exists for this sort, try indexing by the sort fields."
            ))
        );
        let Ok(Some(p)) = plan(&req(json!({"selector": {"a": 1}})), &ixs, true, true) else {
            panic!("plan")
        };
        let reasons: Vec<(Value, Value)> = p
            .candidates
            .iter()
            .map(|c| {
                (
                    c["index"]["name"].clone(),
                    c["analysis"]["reasons"][0]["name"].clone(),
                )
            })
            .collect();
        assert!(
            reasons.contains(&(json!("p"), json!("scope_mismatch"))),
            "{reasons:?}"
        );
    }

    #[test]
    fn required_fields() {
        let s = req(json!({"selector": {"$or": [{"a": 1, "b": 2}, {"a": 3}]}}));
        assert!(has_required_fields(s.selector.root(), &["a".to_string()]));
        assert!(!has_required_fields(s.selector.root(), &["b".to_string()]));
        let s = req(json!({"selector": {"a": {"$exists": false}}}));
        assert!(!has_required_fields(s.selector.root(), &["a".to_string()]));
    }

    #[test]
    fn scan_bounds_are_inclusive_prefixes() {
        let s = req(json!({"selector": {"a": 1, "b": {"$gt": 2}}}));
        let r = field_ranges(s.selector.root());
        let prefix = composite_prefix(&["a".to_string(), "b".to_string()], &r);
        let (lo, hi) = scan_bounds(&prefix);
        let mut row = Vec::new();
        encode_key(&json!(1), &mut row);
        encode_key(&json!(3), &mut row);
        row.extend_from_slice(b"docid");
        assert!(lo <= row && row <= hi);
        assert_eq!(end_key(&prefix), vec![Some(json!(1)), None]);
    }
}
