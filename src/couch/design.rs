//! Design documents: the structural rules CouchDB applies before it
//! stores one (`couch_mrview:validate_ddoc_fields/1`, the field-type
//! checks, plus the reduce-name check of `couch_mrview:validate/2`), so a
//! malformed design document is refused with `invalid_design_doc` as it is
//! written rather than failing when an index is built from it.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The JSON types CouchDB names in its messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Array,
    Object,
    Boolean,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Array => "array",
            Type::Object => "object",
            Type::Boolean => "boolean",
        }
    }

    fn admits(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Type::String, Value::String(_))
                | (Type::Array, Value::Array(_))
                | (Type::Object, Value::Object(_))
                | (Type::Boolean, Value::Bool(_))
        )
    }
}

/// One step of a checked path: a named member, or every member.
#[derive(Clone, Copy)]
enum Step {
    Key(&'static str),
    Any,
}

/// Checks a design document's body (its ordinary members) as CouchDB does;
/// `options.partitioned: true` needs a partitioned database
/// (`couch_mrview:validate/2`).
pub fn validate(body: &Map<String, Value>, db_partitioned: bool) -> Result<()> {
    use Step::{Any, Key};
    use Type::{Array, Boolean, Object, String};
    // A `query` (Mango) design document's map functions are objects.
    let map_type = match body.get("language").and_then(Value::as_str) {
        Some("query") => Object,
        _ => String,
    };
    let paths: [&[(Step, &[Type])]; 14] = [
        &[(Key("filters"), &[Object]), (Any, &[Object, String])],
        &[(Key("language"), &[String])],
        &[(Key("lists"), &[Object]), (Any, &[Object, String])],
        &[(Key("options"), &[Object])],
        &[
            (Key("options"), &[Object]),
            (Key("include_design"), &[Boolean]),
        ],
        &[(Key("options"), &[Object]), (Key("local_seq"), &[Boolean])],
        &[
            (Key("options"), &[Object]),
            (Key("partitioned"), &[Boolean]),
        ],
        &[(Key("rewrites"), &[String, Array])],
        &[(Key("shows"), &[Object]), (Any, &[Object, String])],
        &[(Key("updates"), &[Object]), (Any, &[Object, String])],
        &[(Key("validate_doc_update"), &[String])],
        &[(Key("views"), &[Object]), (Key("lib"), &[Object])],
        &[
            (Key("views"), &[Object]),
            (Any, &[Object]),
            (Key("map"), std::slice::from_ref(&map_type)),
        ],
        &[
            (Key("views"), &[Object]),
            (Any, &[Object]),
            (Key("reduce"), &[String]),
        ],
    ];
    for path in paths {
        check(body, path, &mut Vec::new())?;
    }
    let views: Vec<(&std::string::String, &Map<std::string::String, Value>)> =
        match body.get("views") {
            Some(Value::Object(views)) => views
                .iter()
                .filter(|(name, _)| *name != "lib")
                .filter_map(|(name, view)| view.as_object().map(|v| (name, v)))
                .collect(),
            _ => Vec::new(),
        };
    // `couch_mrview_util:ddoc_to_mrst/2`, then `couch_mrview:validate/2`.
    if let Some((name, _)) = views.iter().find(|(_, v)| !v.contains_key("map")) {
        return Err(Error::InvalidDesignDoc(format!(
            "View `{name}` must contain map function"
        )));
    }
    let partitioned = body
        .get("options")
        .and_then(|o| o.get("partitioned"))
        .and_then(Value::as_bool);
    if partitioned == Some(true) && !db_partitioned {
        return Err(Error::InvalidDesignDoc(
            "partitioned option cannot be true in a non-partitioned database.".into(),
        ));
    }
    for (_, view) in views {
        if let Some(Value::String(reduce)) = view.get("reduce") {
            let builtin = ["_sum", "_count", "_stats", "_approx_count_distinct"]
                .iter()
                .any(|b| reduce.starts_with(b));
            if reduce.starts_with('_') && !builtin {
                return Err(Error::InvalidDesignDoc(format!(
                    "`{reduce}` is not a supported reduce function."
                )));
            }
        }
    }
    Ok(())
}

/// `validate_ddoc_fields/3`: follows `path` from `obj`; a member that is
/// present with none of its step's types fails with its dotted path.
fn check<'a>(
    obj: &'a Map<String, Value>,
    path: &[(Step, &[Type])],
    at: &mut Vec<&'a str>,
) -> Result<()> {
    let Some(((step, types), rest)) = path.split_first() else {
        return Ok(());
    };
    let members: Vec<(&'a str, &'a Value)> = match step {
        Step::Key(key) => match obj.get_key_value(*key) {
            Some((k, v)) => vec![(k.as_str(), v)],
            None => return Ok(()),
        },
        Step::Any => obj.iter().map(|(k, v)| (k.as_str(), v)).collect(),
    };
    for (key, value) in members {
        at.push(key);
        if !types.iter().any(|t| t.admits(value)) {
            // CouchDB's `join/2` reverses the list it joins.
            let names: Vec<&str> = types.iter().rev().map(|t| t.name()).collect();
            return Err(Error::InvalidDesignDoc(format!(
                "`{}` field must have {} type",
                at.join("."),
                names.join(" or ")
            )));
        }
        if let (Value::Object(inner), false) = (value, rest.is_empty()) {
            check(inner, rest, at)?;
        }
        at.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(v: Value) -> Option<String> {
        let Value::Object(body) = v else { return None };
        validate(&body, false).err().map(|e| e.to_string())
    }

    #[test]
    fn partitioned_option_needs_a_partitioned_database() {
        let ddoc = json!({"options": {"partitioned": true}});
        let Value::Object(body) = ddoc else { return };
        assert_eq!(
            validate(&body, false)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("partitioned option cannot be true in a non-partitioned database.")
        );
        assert!(validate(&body, true).is_ok());
        let global = json!({"options": {"partitioned": false}});
        let Value::Object(global) = global else {
            return;
        };
        assert!(validate(&global, false).is_ok());
    }

    #[test]
    fn couchdb_messages() {
        let cases = [
            (
                json!({"language": "query", "views": {"v1": {"map": "function(d){}"}}}),
                "`views.v1.map` field must have object type",
            ),
            (
                json!({"views": {"v": {"map": 5}}}),
                "`views.v.map` field must have string type",
            ),
            (json!({"views": "x"}), "`views` field must have object type"),
            (
                json!({"views": {"v": {"map": "f", "reduce": 5}}}),
                "`views.v.reduce` field must have string type",
            ),
            (
                json!({"filters": {"f": 5}}),
                "`filters.f` field must have string or object type",
            ),
            (
                json!({"validate_doc_update": 5}),
                "`validate_doc_update` field must have string type",
            ),
            (
                json!({"language": 5}),
                "`language` field must have string type",
            ),
            (
                json!({"rewrites": {}}),
                "`rewrites` field must have array or string type",
            ),
            (
                json!({"options": {"partitioned": "yes"}}),
                "`options.partitioned` field must have boolean type",
            ),
            (
                json!({"views": {"v": {"reduce": "_sum"}}}),
                "View `v` must contain map function",
            ),
            (
                json!({"views": {"v": {"map": "f", "reduce": "_median"}}}),
                "`_median` is not a supported reduce function.",
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(reason(doc.clone()).as_deref(), Some(want), "{doc}");
        }
    }

    #[test]
    fn accepts_what_couchdb_accepts() {
        for doc in [
            json!({}),
            json!({"views": {"lib": {"x": "y"}, "v": {"map": "f", "reduce": "_count"}}}),
            json!({"language": "query", "views": {"v": {"map": {"fields": {"a": "asc"}}}}}),
            json!({"language": "erlang", "views": {"v": {"map": "fun(_) -> ok end."}}}),
            json!({"filters": {"f": "function(doc, req) {}"}, "rewrites": []}),
            json!({"views": {"v": {"map": "f", "reduce": "_approx_count_distinct"}}}),
        ] {
            assert_eq!(reason(doc.clone()), None, "{doc}");
        }
    }
}
