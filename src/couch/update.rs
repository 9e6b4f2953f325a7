//! The edit rules: how a submitted document changes a revision tree.
//!
//! This is CouchDB's `couch_db:prep_and_validate_update` plus
//! `couch_db_updater:merge_rev_tree`, without disk: interactive edits must
//! extend a leaf (or recreate a deleted document from its winning
//! tombstone), replicated edits (`new_edits=false`) merge their revision
//! path whatever it does to the tree.

use serde_json::{Map, Value};

use crate::couch::doc::NewDoc;
use crate::couch::rev::{InvalidRev, Rev};
use crate::couch::revid::{self, AttDigest};
use crate::couch::revtree::{MergeOutcome, RevInfo, RevTree};
use crate::error::{Error, Result};

/// What an accepted edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The revision the document's body is stored under.
    pub rev: Rev,
    /// False when the tree already held this revision with its body, so
    /// nothing needs writing (replicated edits are idempotent).
    pub store_body: bool,
}

/// An interactive edit (`new_edits=true`): computes the new revision id as
/// CouchDB does and merges it into `tree`, or fails with a conflict.
pub fn interactive(
    tree: &mut RevTree,
    doc: &NewDoc,
    atts: &[AttDigest],
    revs_limit: usize,
) -> Result<Edited> {
    let parent = doc.revs.first();
    let new_rev = |parent: Option<&Rev>, body: &Map<String, Value>| -> Result<Rev> {
        // A parent at the largest position has no successor.
        let pos = match parent {
            None => 1,
            Some(p) => p.pos.checked_add(1).ok_or(InvalidRev)?,
        };
        Ok(Rev::new(
            pos,
            revid::new_rev_id(doc.deleted, parent, body, atts),
        ))
    };
    if tree.is_empty() {
        if parent.is_some() {
            return Err(Error::Conflict);
        }
        let rev = new_rev(None, &doc.body)?;
        tree.merge_path(std::slice::from_ref(&rev), leaf(doc.deleted), revs_limit);
        return Ok(Edited {
            rev,
            store_body: true,
        });
    }
    if let Some(parent) = parent {
        if !tree.is_leaf(parent) {
            return Err(Error::Conflict);
        }
    }
    let (winner, winner_info) = tree.winner().ok_or(Error::Conflict)?;
    if winner_info.deleted {
        // Recreating a deleted document: allowed only from the root (no
        // rev given) and not as another deletion; the new revision extends
        // the winning tombstone.
        if parent.is_some() || doc.deleted {
            return Err(Error::Conflict);
        }
        let rev = new_rev(Some(&winner), &doc.body)?;
        let path = [rev.clone(), winner];
        return match tree.merge_path(&path, leaf(false), revs_limit) {
            MergeOutcome::NewLeaf => Ok(Edited {
                rev,
                store_body: true,
            }),
            _ => Err(Error::Conflict),
        };
    }
    let Some(parent) = parent else {
        return Err(Error::Conflict);
    };
    let rev = new_rev(Some(parent), &doc.body)?;
    let mut path = Vec::with_capacity(doc.revs.len() + 1);
    path.push(rev.clone());
    path.extend(doc.revs.iter().cloned());
    let mut candidate = tree.clone();
    match candidate.merge_path(&path, leaf(doc.deleted), revs_limit) {
        MergeOutcome::NewLeaf => {
            *tree = candidate;
            Ok(Edited {
                rev,
                store_body: true,
            })
        }
        _ => Err(Error::Conflict),
    }
}

/// A replicated edit (`new_edits=false`): stores the given revision with
/// its history, creating a conflict branch if need be. Never a conflict.
pub fn replicated(tree: &mut RevTree, doc: &NewDoc, revs_limit: usize) -> Result<Edited> {
    let Some(rev) = doc.revs.first().cloned() else {
        return Err(Error::bad_request(
            "Document is missing required field _rev",
        ));
    };
    let had_body = tree.get(&rev).is_some_and(|info| info.available);
    tree.merge_path(&doc.revs, leaf(doc.deleted), revs_limit);
    if !had_body {
        tree.set_info(&rev, leaf(doc.deleted));
    }
    Ok(Edited {
        rev,
        store_body: !had_body,
    })
}

fn leaf(deleted: bool) -> RevInfo {
    RevInfo {
        deleted,
        available: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::couch::doc::parse_doc;
    use serde_json::json;

    fn doc(v: Value) -> NewDoc {
        parse_doc(v).unwrap_or_default()
    }

    fn edit(tree: &mut RevTree, v: Value) -> Result<Rev> {
        interactive(tree, &doc(v), &[], 1000).map(|e| e.rev)
    }

    #[test]
    fn empty_doc_gets_couchdbs_rev() {
        let mut tree = RevTree::new();
        let rev = edit(&mut tree, json!({})).ok().map(|r| r.to_string());
        assert_eq!(rev.as_deref(), Some("1-967a00dff5e02add41819138abb3284d"));
    }

    #[test]
    fn same_edit_same_rev() {
        let (mut a, mut b) = (RevTree::new(), RevTree::new());
        let ra = edit(&mut a, json!({"x": 1})).ok();
        let rb = edit(&mut b, json!({"x": 1})).ok();
        assert_eq!(ra, rb);
    }

    #[test]
    fn update_needs_a_leaf_rev() {
        let mut tree = RevTree::new();
        let r1 = edit(&mut tree, json!({"v": 1}))
            .ok()
            .map(|r| r.to_string())
            .unwrap_or_default();
        assert!(matches!(
            edit(&mut tree, json!({"v": 2})),
            Err(Error::Conflict)
        ));
        let r2 = edit(&mut tree, json!({"_rev": r1, "v": 2}));
        assert_eq!(r2.as_ref().map(|r| r.pos).ok(), Some(2));
        assert!(matches!(
            edit(&mut tree, json!({"_rev": r1, "v": 3})),
            Err(Error::Conflict)
        ));
        assert!(matches!(
            edit(&mut tree, json!({"_rev": "1-abc", "v": 3})),
            Err(Error::Conflict)
        ));
    }

    #[test]
    fn recreate_extends_the_tombstone() {
        let mut tree = RevTree::new();
        let r1 = edit(&mut tree, json!({"v": 1}))
            .ok()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let r2 = edit(&mut tree, json!({"_rev": r1, "_deleted": true})).ok();
        assert_eq!(r2.as_ref().map(|r| r.pos), Some(2));
        assert!(tree.winner().is_some_and(|(_, i)| i.deleted));
        // deleting again, or updating from the tombstone's rev, conflicts
        assert!(matches!(
            edit(&mut tree, json!({"_deleted": true})),
            Err(Error::Conflict)
        ));
        let r2s = r2.map(|r| r.to_string()).unwrap_or_default();
        assert!(matches!(
            edit(&mut tree, json!({"_rev": r2s, "v": 1})),
            Err(Error::Conflict)
        ));
        let r3 = edit(&mut tree, json!({"v": 2})).ok();
        assert_eq!(r3.as_ref().map(|r| r.pos), Some(3));
        assert_eq!(tree.leaves().len(), 1);
    }

    #[test]
    fn replicated_edits_branch_and_are_idempotent() {
        let mut tree = RevTree::new();
        let d = doc(json!({"_rev": "2-def", "_revisions": {"start": 2, "ids": ["def", "abc"]}}));
        assert!(replicated(&mut tree, &d, 1000).is_ok_and(|e| e.store_body));
        let c = doc(json!({"_revisions": {"start": 3, "ids": ["ghi", "xyz", "abc"]}}));
        assert!(replicated(&mut tree, &c, 1000).is_ok_and(|e| e.store_body));
        assert!(replicated(&mut tree, &c, 1000).is_ok_and(|e| !e.store_body));
        assert_eq!(tree.winner().map(|w| w.0), Some(Rev::new(3, "ghi")));
        assert_eq!(tree.conflicts(), vec![Rev::new(2, "def")]);
    }
}
