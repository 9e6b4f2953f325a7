//! Mango index definitions, as CouchDB keeps them in design documents
//! with `"language": "query"` (`mango_idx`, `mango_idx_view`):
//!
//! ```text
//! "views": {"<name>": {"map": {"fields": {"a": "asc"}, "partial_filter_selector": {}},
//!                      "reduce": "_count", "options": {"def": <the index as given>}}}
//! ```
//!
//! [`IndexDef::from_ddoc`] reads a design document written by anyone
//! (Settee, CouchDB, a replicator); [`IndexRequest`] validates a
//! `POST /{db}/_index` body and [`IndexRequest::add_to`] edits a design
//! body the way CouchDB does (same auto-generated names: the SHA-1 of
//! the Erlang term CouchDB hashes). [`IndexDef::entry`] computes the
//! key an index stores for a document.

use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};

use super::error::{bad, erl_term, mango, unknown_error};
use super::field::{get_field, parse_field, Lookup, Path};
use super::query::{parse_sort, Dir};
use super::selector::Selector;
use crate::couch::collate::encode_key;
use crate::couch::partition;
use crate::error::{Error, Result};

/// Whether an index is the special `_all_docs` or a JSON index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    AllDocs,
    Json,
}

/// One usable index definition.
#[derive(Debug, Clone)]
pub struct IndexDef {
    pub kind: IndexKind,
    /// `_design/…`; `None` for `_all_docs`.
    pub ddoc: Option<String>,
    pub name: String,
    /// Column names as stored (escapes kept), and their parsed paths.
    pub columns: Vec<String>,
    pub paths: Vec<Path>,
    /// The `map` object as stored in the design document.
    pub map: Map<String, Value>,
    /// The partial filter selector, when there is one.
    pub partial: Option<Selector>,
    /// A partitioned index (`options.partitioned` of its design document,
    /// else the database's flag): it answers partition queries only, and
    /// its entries are grouped by partition.
    pub partitioned: bool,
}

/// Marks an absent column in a stored entry (sorts below every value).
const MISSING: u8 = 0x01;

impl IndexDef {
    /// The special `_all_docs` index.
    pub fn all_docs() -> IndexDef {
        IndexDef {
            kind: IndexKind::AllDocs,
            ddoc: None,
            name: "_all_docs".into(),
            columns: vec!["_id".into()],
            paths: vec![vec!["_id".into()]],
            map: Map::new(),
            partial: None,
            partitioned: false,
        }
    }

    /// The JSON indexes a design document defines (none unless its
    /// language is `query`); views that do not validate are skipped, as
    /// CouchDB skips them. They are partitioned as the design document's
    /// `options.partitioned` says, else as the database is
    /// (`mango_idx:get_idx_partitioned/2`).
    pub fn from_ddoc(id: &str, body: &Map<String, Value>, db_partitioned: bool) -> Vec<IndexDef> {
        if body.get("language").and_then(Value::as_str) != Some("query") {
            return Vec::new();
        }
        let Some(Value::Object(views)) = body.get("views") else {
            return Vec::new();
        };
        let partitioned = match ddoc_partitioned(body) {
            Some(p) => p,
            None => db_partitioned,
        };
        views
            .iter()
            .filter_map(|(name, view)| Self::from_view(id, name, view, partitioned))
            .collect()
    }

    fn from_view(ddoc: &str, name: &str, view: &Value, partitioned: bool) -> Option<IndexDef> {
        let map = view.get("map")?.as_object()?.clone();
        view.get("options")?.as_object()?;
        let Value::Object(fields) = map.get("fields")? else {
            return None;
        };
        let columns: Vec<String> = fields.keys().cloned().collect();
        let paths = columns
            .iter()
            .map(|c| parse_field(c))
            .collect::<Result<Vec<_>>>()
            .ok()?;
        let partial = match map
            .get("partial_filter_selector")
            .or_else(|| map.get("selector"))
        {
            Some(Value::Object(m)) if m.is_empty() => None,
            None => None,
            Some(v) => Some(Selector::parse(v).ok()?),
        };
        Some(IndexDef {
            kind: IndexKind::Json,
            ddoc: Some(ddoc.to_string()),
            name: name.to_string(),
            columns,
            paths,
            map,
            partial,
            partitioned,
        })
    }

    /// `mango_idx:to_json/1`, as `GET /{db}/_index` lists it.
    pub fn to_json(&self) -> Value {
        match self.kind {
            IndexKind::AllDocs => json!({
                "ddoc": null,
                "name": "_all_docs",
                "type": "special",
                "def": {"fields": [{"_id": "asc"}]}
            }),
            IndexKind::Json => {
                let mut def = Map::new();
                for (k, v) in &self.map {
                    match (k.as_str(), v) {
                        ("fields", Value::Object(fields)) => {
                            let list = fields
                                .iter()
                                .map(|(f, d)| json!({ f.clone(): d.clone() }))
                                .collect();
                            def.insert(k.clone(), Value::Array(list));
                        }
                        ("partial_filter_selector", Value::Object(m)) if m.is_empty() => {}
                        _ => {
                            def.insert(k.clone(), v.clone());
                        }
                    }
                }
                json!({
                    "ddoc": self.ddoc,
                    "name": self.name,
                    "type": "json",
                    "partitioned": self.partitioned,
                    "def": def
                })
            }
        }
    }

    /// A fingerprint of what the index stores (fields and partial
    /// filter): indexes with equal signatures share their stored entries.
    pub fn signature(&self) -> [u8; 16] {
        let mut h = Sha1::new();
        for c in &self.columns {
            h.update((c.len() as u32).to_be_bytes());
            h.update(c.as_bytes());
        }
        h.update(b"|");
        if let Some(p) = &self.partial {
            h.update(p.to_json().to_string().as_bytes());
        }
        // Partitioned entries are keyed differently (partition first).
        if self.partitioned {
            h.update(b"|partitioned");
        }
        let full = h.finalize();
        let mut sig = [0u8; 16];
        sig.copy_from_slice(&full[..16]);
        sig
    }

    /// Whether a document belongs in the index at all: not a design
    /// document, matches the partial filter, and has the first column.
    fn admits(&self, id: &str, doc: &Value) -> bool {
        if id.starts_with("_design/") {
            return false;
        }
        if self.partitioned && partition::of_doc(id).is_none() {
            return false;
        }
        if let Some(p) = &self.partial {
            if !p.matches(doc) {
                return false;
            }
        }
        self.paths
            .first()
            .is_some_and(|p| matches!(get_field(doc, p), Lookup::Found(_)))
    }

    /// The stored entry for a document: the order-preserving key of its
    /// column values (an absent column is a marker below every value),
    /// and the values themselves; `None` when the index skips the doc.
    ///
    /// CouchDB's JSON indexes hold only documents that have every
    /// column; Settee also keeps documents that lack trailing columns, so
    /// a query on a prefix of the columns can use the index. Queries that
    /// CouchDB would answer from the index skip those extra entries.
    pub fn entry(&self, id: &str, doc: &Value) -> Option<(Vec<u8>, Vec<Option<Value>>)> {
        if !self.admits(id, doc) {
            return None;
        }
        let mut key = match partition::of_doc(id) {
            Some(p) if self.partitioned => partition_prefix(p),
            _ => Vec::with_capacity(32),
        };
        let mut values = Vec::with_capacity(self.paths.len());
        for p in &self.paths {
            match get_field(doc, p) {
                Lookup::Found(v) => {
                    encode_key(v, &mut key);
                    values.push(Some(v.clone()));
                }
                Lookup::NotFound | Lookup::BadPath => {
                    key.push(MISSING);
                    values.push(None);
                }
            }
        }
        Some((key, values))
    }

    /// Where a partition's entries start in a partitioned index's
    /// keyspace (empty for a global index or a global query).
    pub fn scan_prefix(&self, partition: Option<&str>) -> Vec<u8> {
        match partition {
            Some(p) if self.partitioned => partition_prefix(p),
            _ => Vec::new(),
        }
    }

    /// The design document id without `_design/`.
    pub fn ddoc_name(&self) -> &str {
        self.ddoc
            .as_deref()
            .map_or("", |d| d.strip_prefix("_design/").unwrap_or(d))
    }
}

/// The key prefix of one partition's entries in a partitioned index: the
/// partition's bytes, length first, so no partition's entries can run into
/// another's (a collation key could: ICU gives some distinct strings equal
/// keys).
pub fn partition_prefix(partition: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(partition.len() + 36);
    k.extend_from_slice(&(partition.len() as u32).to_be_bytes());
    k.extend_from_slice(partition.as_bytes());
    k
}

/// A design document's `options.partitioned`, when it is a boolean.
pub fn ddoc_partitioned(body: &Map<String, Value>) -> Option<bool> {
    body.get("options")
        .and_then(|o| o.get("partitioned"))
        .and_then(Value::as_bool)
}

/// A validated `POST /{db}/_index` body.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// `_design/…`
    pub ddoc: String,
    pub name: String,
    /// The `map` object to store.
    pub map: Map<String, Value>,
    /// The `index` object as given (stored under `options.def`).
    pub def: Value,
    /// `partitioned` as given; `None` is the database's default.
    pub partitioned: Option<bool>,
}

impl IndexRequest {
    /// `mango_opts:validate_idx_create` + `mango_idx:new` +
    /// `mango_idx_view:validate_new`, with CouchDB's errors.
    pub fn parse(body: &Value) -> Result<IndexRequest> {
        let Value::Object(props) = body else {
            return Err(bad(
                "invalid_ejson",
                format!("Invalid JSON value: {}", erl_term(body)),
            ));
        };
        let def = props
            .get("index")
            .cloned()
            .ok_or_else(|| missing_key("index"))?;
        let ty = match props.get("type") {
            None => Value::from("json"),
            Some(Value::String(s)) => Value::from(s.clone()),
            Some(other) => return Err(invalid_string(other)),
        };
        let name = non_empty_string(props.get("name"))?;
        let ddoc = non_empty_string(props.get("ddoc"))?;
        let w = match props.get("w") {
            None => Value::from(2),
            Some(v) if v.as_u64().is_some_and(|n| n > 0) => v.clone(),
            Some(v) => {
                return Err(bad(
                    "invalid_pos_integer",
                    format!("{} is not an integer greater than zero", erl_term(v)),
                ))
            }
        };
        let partitioned = match props.get("partitioned") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => return Err(unknown_error("mango_opts", "invalid_partitioned_value", v)),
        };
        if let Some(key) = props
            .keys()
            .find(|k| !["index", "type", "name", "ddoc", "w", "partitioned"].contains(&k.as_str()))
        {
            return Err(bad(
                "invalid_key",
                format!("Invalid key {key} for this request."),
            ));
        }
        match ty.as_str() {
            Some("json") => {}
            Some("text") => return Err(mango(503, "required index service unavailable", "text")),
            Some("nouveau") => {
                return Err(mango(503, "required index service unavailable", "nouveau"))
            }
            _ => {
                return Err(bad(
                    "invalid_index",
                    format!("Invalid type for index: {}", ty.as_str().unwrap_or("")),
                ))
            }
        }
        let auto = || gen_name(&def, &ddoc, &name, &ty, &w, partitioned);
        let index_name = match &name {
            Some(n) => n.clone(),
            None => auto(),
        };
        let ddoc_id = match &ddoc {
            Some(d) if d.starts_with("_design/") => d.clone(),
            Some(d) => format!("_design/{d}"),
            None => format!("_design/{}", auto()),
        };
        let map = validate_def(&def)?;
        Ok(IndexRequest {
            ddoc: ddoc_id,
            name: index_name,
            map,
            def,
            partitioned,
        })
    }

    /// Adds the index to a design body (`mango_idx:add/2`); `None` when an
    /// identical index is already there (`"exists"`). The body must
    /// already be a `query` design document (see [`check_language`]).
    ///
    /// The request's `partitioned` must be the design document's
    /// `options.partitioned` (both absent counts): a new design document
    /// takes the request's, an existing one that differs is an error
    /// (`set_ddoc_partitioned/2`).
    pub fn add_to(
        &self,
        body: &Map<String, Value>,
        is_new: bool,
        ddoc: &str,
    ) -> Result<Option<Map<String, Value>>> {
        let view = json!({"map": self.map, "reduce": "_count", "options": {"def": self.def}});
        let mut out = body.clone();
        if self.partitioned != ddoc_partitioned(body) {
            match self.partitioned {
                _ if !is_new => {
                    return Err(bad(
                        "invalid_partitioned_option",
                        format!(
                            "Requested partitioned option does not match existing value on design document {ddoc}"
                        ),
                    ))
                }
                Some(p) => {
                    let mut options = match out.get("options") {
                        Some(Value::Object(o)) => o.clone(),
                        _ => Map::new(),
                    };
                    options.insert("partitioned".into(), Value::Bool(p));
                    let mut views = match out.get("views") {
                        Some(Value::Object(v)) => v.clone(),
                        _ => Map::new(),
                    };
                    views.insert(self.name.clone(), view);
                    out.insert("views".into(), Value::Object(views));
                    out.insert("options".into(), Value::Object(options));
                    return Ok(Some(out));
                }
                None => {}
            }
        }
        let mut views = match out.get("views") {
            Some(Value::Object(v)) => v.clone(),
            _ => Map::new(),
        };
        if views.get(&self.name) == Some(&view) {
            return Ok(None);
        }
        views.insert(self.name.clone(), view);
        out.insert("views".into(), Value::Object(views));
        Ok(Some(out))
    }
}

/// `mango_util:check_lang/1`: an existing, live design document must be
/// a `query` one.
pub fn check_language(body: &Map<String, Value>) -> Result<()> {
    match body.get("language") {
        Some(Value::String(s)) if s == "query" => Ok(()),
        Some(other) => Err(bad(
            "invalid_ddoc_lang",
            format!(
                "Existing design doc has an invalid language: {{<<\"language\">>,{}}}",
                erl_term(other)
            ),
        )),
        None => Err(bad(
            "invalid_ddoc_lang",
            "Existing design doc has an invalid language: false",
        )),
    }
}

/// Removes view `name` from a design body (`mango_idx_view:remove/2`).
/// Returns the new body, or `None` when only `language` would remain (the
/// design document is then deleted).
pub fn remove_from(body: &Map<String, Value>, name: &str) -> Result<Option<Map<String, Value>>> {
    let not_found = || {
        mango(
            404,
            "invalid_index",
            format!("JSON index {name} not found in this design doc."),
        )
    };
    let Some(Value::Object(views)) = body.get("views") else {
        return Err(not_found());
    };
    if !views.contains_key(name) {
        return Err(not_found());
    }
    let mut views = views.clone();
    views.shift_remove(name);
    let mut out = body.clone();
    if views.is_empty() {
        out.shift_remove("views");
    } else {
        out.insert("views".into(), Value::Object(views));
    }
    let only_language = out.len() == 1 && out.get("language") == Some(&Value::from("query"));
    Ok(if only_language { None } else { Some(out) })
}

fn missing_key(key: &str) -> Error {
    bad(
        "missing_required_key",
        format!("Missing required key: {key}"),
    )
}

fn invalid_string(v: &Value) -> Error {
    bad("invalid_string", format!("Invalid string: {}", erl_term(v)))
}

fn non_empty_string(v: Option<&Value>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(bad(
            "invalid_empty_string",
            "Index name or ddoc cannot be empty string",
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid_string(other)),
    }
}

/// `mango_idx_view:do_validate/1`: the `index` object → the stored `map`.
fn validate_def(def: &Value) -> Result<Map<String, Value>> {
    let Value::Object(props) = def else {
        return Err(bad(
            "invalid_index",
            format!("JSON indexes must be an object, not: {}", erl_term(def)),
        ));
    };
    let fields = props.get("fields").ok_or_else(|| missing_key("fields"))?;
    let sort = parse_sort(fields)?;
    let pfs = match props.get("partial_filter_selector") {
        None => json!({}),
        Some(v) => Selector::parse(v)?.to_json(),
    };
    if let Some(key) = props
        .keys()
        .find(|k| *k != "fields" && *k != "partial_filter_selector")
    {
        return Err(bad(
            "invalid_key",
            format!("Invalid key {key} for this request."),
        ));
    }
    let mut field_map = Map::new();
    for (name, dir) in sort {
        field_map.insert(
            name,
            Value::from(if dir == Dir::Desc { "desc" } else { "asc" }),
        );
    }
    let mut map = Map::new();
    map.insert("fields".into(), Value::Object(field_map));
    map.insert("partial_filter_selector".into(), pfs);
    Ok(map)
}

/// CouchDB's auto-generated index and design names: the hex SHA-1 of
/// `term_to_binary({Def, lists:usort(Opts)}, [{minor_version, 1}])`.
fn gen_name(
    def: &Value,
    ddoc: &Option<String>,
    name: &Option<String>,
    ty: &Value,
    w: &Value,
    partitioned: Option<bool>,
) -> String {
    let mut t = Etf(Vec::with_capacity(256));
    t.0.push(131);
    t.tuple(2);
    t.json(def);
    // The options sorted by key: ddoc, def, name, partitioned, type, w.
    t.list(6);
    t.tuple(2);
    t.atom("ddoc");
    match ddoc {
        Some(d) => t.binary(d),
        None => t.atom("auto_name"),
    }
    t.tuple(2);
    t.atom("def");
    t.json(def);
    t.tuple(2);
    t.atom("name");
    match name {
        Some(n) => t.binary(n),
        None => t.atom("auto_name"),
    }
    t.tuple(2);
    t.atom("partitioned");
    match partitioned {
        Some(true) => t.atom("true"),
        Some(false) => t.atom("false"),
        None => t.atom("db_default"),
    }
    t.tuple(2);
    t.atom("type");
    t.json(ty);
    t.tuple(2);
    t.atom("w");
    t.json(w);
    t.0.push(106);
    hex::encode(Sha1::digest(&t.0))
}

/// A minimal Erlang external term format writer for decoded JSON.
struct Etf(Vec<u8>);

impl Etf {
    fn tuple(&mut self, arity: u8) {
        self.0.extend_from_slice(&[104, arity]);
    }

    fn list(&mut self, len: usize) {
        self.0.push(108);
        self.0.extend_from_slice(&(len as u32).to_be_bytes());
    }

    fn atom(&mut self, name: &str) {
        self.0.push(100);
        self.0.extend_from_slice(&(name.len() as u16).to_be_bytes());
        self.0.extend_from_slice(name.as_bytes());
    }

    fn binary(&mut self, s: &str) {
        self.0.push(109);
        self.0.extend_from_slice(&(s.len() as u32).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn integer(&mut self, n: i128) {
        if let Ok(b) = u8::try_from(n) {
            self.0.extend_from_slice(&[97, b]);
        } else if let Ok(i) = i32::try_from(n) {
            self.0.push(98);
            self.0.extend_from_slice(&i.to_be_bytes());
        } else {
            let mut digits = Vec::new();
            let mut m = n.unsigned_abs();
            while m > 0 {
                digits.push((m & 0xff) as u8);
                m >>= 8;
            }
            self.0
                .extend_from_slice(&[110, digits.len() as u8, u8::from(n < 0)]);
            self.0.extend_from_slice(&digits);
        }
    }

    fn json(&mut self, v: &Value) {
        match v {
            Value::Null => self.atom("null"),
            Value::Bool(b) => self.atom(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.integer(i128::from(i));
                } else if let Some(u) = n.as_u64() {
                    self.integer(i128::from(u));
                } else {
                    self.0.push(70);
                    self.0
                        .extend_from_slice(&n.as_f64().unwrap_or(0.0).to_bits().to_be_bytes());
                }
            }
            Value::String(s) => self.binary(s),
            Value::Array(items) => {
                if items.is_empty() {
                    self.0.push(106);
                    return;
                }
                self.list(items.len());
                for i in items {
                    self.json(i);
                }
                self.0.push(106);
            }
            Value::Object(members) => {
                self.tuple(1);
                if members.is_empty() {
                    self.0.push(106);
                    return;
                }
                self.list(members.len());
                for (k, item) in members {
                    self.tuple(2);
                    self.binary(k);
                    self.json(item);
                }
                self.0.push(106);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_to_design_body() {
        let req = IndexRequest::parse(
            &json!({"index": {"fields": ["foo", {"bar": "asc"}]}, "name": "i", "ddoc": "d"}),
        );
        let Ok(req) = req else { panic!("parse") };
        assert_eq!(req.ddoc, "_design/d");
        let body = json!({"language": "query"});
        let body = body.as_object().cloned().unwrap_or_default();
        let Ok(Some(new)) = req.add_to(&body, true, "_design/d") else {
            panic!("added")
        };
        assert_eq!(
            Value::Object(new.clone()),
            json!({"language": "query", "views": {"i": {
                "map": {"fields": {"foo": "asc", "bar": "asc"}, "partial_filter_selector": {}},
                "reduce": "_count",
                "options": {"def": {"fields": ["foo", {"bar": "asc"}]}}}}})
        );
        assert!(matches!(req.add_to(&new, false, "_design/d"), Ok(None)));
        let defs = IndexDef::from_ddoc("_design/d", &new, false);
        assert_eq!(defs.len(), 1);
        assert_eq!(defs[0].columns, vec!["foo", "bar"]);
        assert_eq!(
            defs[0].to_json(),
            json!({"ddoc": "_design/d", "name": "i", "type": "json", "partitioned": false,
                   "def": {"fields": [{"foo": "asc"}, {"bar": "asc"}]}})
        );
        assert_eq!(remove_from(&new, "i").ok(), Some(None));
    }

    #[test]
    fn partitioned_option_as_mango_idx_sets_it() {
        let parse = |v: Value| match IndexRequest::parse(&v) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let fresh = json!({"language": "query"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        // A new design document takes the request's option, after `views`.
        let req = parse(json!({"index": {"fields": ["v"]}, "ddoc": "d", "partitioned": false}));
        let Ok(Some(body)) = req.add_to(&fresh, true, "_design/d") else {
            panic!("added")
        };
        let keys: Vec<&String> = body.keys().collect();
        assert_eq!(keys, ["language", "views", "options"]);
        assert_eq!(body["options"], json!({"partitioned": false}));
        // The same index again: it exists; with another option: refused.
        assert!(matches!(req.add_to(&body, false, "_design/d"), Ok(None)));
        let default = parse(json!({"index": {"fields": ["v"]}, "ddoc": "d"}));
        let err = default
            .add_to(&body, false, "_design/d")
            .err()
            .map(|e| e.body());
        assert_eq!(
            err.map(|b| b["reason"].clone()),
            Some(json!(
                "Requested partitioned option does not match existing value on design document _design/d"
            ))
        );
        // The database's default leaves the design document alone.
        let Ok(Some(plain)) = default.add_to(&fresh, true, "_design/d") else {
            panic!("added")
        };
        assert!(plain.get("options").is_none());
        let defs = IndexDef::from_ddoc("_design/d", &plain, true);
        assert!(defs[0].partitioned);
        assert_eq!(defs[0].to_json()["partitioned"], json!(true));
        let defs = IndexDef::from_ddoc("_design/d", &body, true);
        assert!(!defs[0].partitioned);
        assert_ne!(
            IndexDef::from_ddoc("_design/d", &plain, true)[0].signature(),
            IndexDef::from_ddoc("_design/d", &plain, false)[0].signature()
        );
    }

    #[test]
    fn partitioned_entries_start_with_their_partition() {
        let body = json!({"language": "query", "views": {"i": {
            "map": {"fields": {"a": "asc"}, "partial_filter_selector": {}},
            "reduce": "_count", "options": {"def": {"fields": ["a"]}}}}});
        let body = body.as_object().cloned().unwrap_or_default();
        let def = IndexDef::from_ddoc("_design/d", &body, true).remove(0);
        let Some((key, _)) = def.entry("p:1", &json!({"a": 1})) else {
            panic!("entry")
        };
        assert!(key.starts_with(&partition_prefix("p")));
        assert!(def.entry("nopartition", &json!({"a": 1})).is_none());
        // "p" and "p\u{1}" would share an ICU sort key; never a prefix.
        assert!(!partition_prefix("p\u{1}").starts_with(&partition_prefix("p")));
        assert_eq!(def.scan_prefix(Some("p")), partition_prefix("p"));
        assert!(def.scan_prefix(None).is_empty());
    }

    #[test]
    fn auto_names_are_stable_sha1_hex() {
        let a = IndexRequest::parse(&json!({"index": {"fields": ["foo"]}}));
        let b = IndexRequest::parse(&json!({"index": {"fields": ["foo"]}}));
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("parse")
        };
        assert_eq!(a.name.len(), 40);
        assert_eq!(a.name, b.name);
        assert_eq!(a.ddoc, format!("_design/{}", a.name));
    }

    #[test]
    fn request_errors() {
        let e = |v: Value| {
            IndexRequest::parse(&v)
                .err()
                .map(|e| e.body())
                .unwrap_or_default()
        };
        assert_eq!(e(json!({}))["reason"], "Missing required key: index");
        assert_eq!(
            e(json!({"index": {}}))["reason"],
            "Missing required key: fields"
        );
        assert_eq!(
            e(json!({"index": {"fields": ["a"]}, "name": ""}))["error"],
            "invalid_empty_string"
        );
        assert_eq!(
            e(json!({"index": {"fields": ["a"]}, "foo": 1}))["reason"],
            "Invalid key foo for this request."
        );
        assert_eq!(
            e(json!({"index": {"fields": ["a"]}, "type": "geo"}))["reason"],
            "Invalid type for index: geo"
        );
        assert_eq!(
            e(json!({"index": "a"}))["reason"],
            "JSON indexes must be an object, not: <<\"a\">>"
        );
        assert_eq!(
            e(json!({"index": {"fields": "a"}}))["error"],
            "invalid_sort_json"
        );
    }

    #[test]
    fn entries_keep_missing_trailing_columns() {
        let def = IndexDef {
            kind: IndexKind::Json,
            ddoc: Some("_design/x".into()),
            name: "x".into(),
            columns: vec!["a".into(), "b".into()],
            paths: vec![vec!["a".into()], vec!["b".into()]],
            map: Map::new(),
            partial: None,
            partitioned: false,
        };
        assert!(def.entry("d", &json!({"b": 1})).is_none());
        assert!(def.entry("_design/d", &json!({"a": 1})).is_none());
        let Some((key, values)) = def.entry("d", &json!({"a": 1})) else {
            panic!("entry")
        };
        assert_eq!(values, vec![Some(json!(1)), None]);
        assert_eq!(key.last().copied(), Some(MISSING));
    }
}
