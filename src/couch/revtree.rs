//! Revision trees: CouchDB's `couch_key_tree` on a flat representation.
//!
//! Owns a document's revision history: merging revision paths
//! (`couch_key_tree:merge/2`), stemming to `revs_limit`
//! (`couch_key_tree:stem/2`, including its `repair_tree` fallback for
//! trees with duplicate ids), the winning revision and conflicts
//! (`couch_doc:to_doc_info_path/1`), lookups (`get/2`, `get_key_leafs/2`)
//! and `_revs_diff` (`couch_key_tree:find_missing/2` with
//! `couch_db:possible_ancestors/2`).
//!
//! A tree is a forest: stemming, or a replicated path that starts
//! mid-history, leaves roots at positions above 1, and unrelated paths
//! become separate roots (conflicts). Nodes are stored in canonical
//! pre-order — roots by (position, id), siblings by id, ids compared as
//! CouchDB compares them ([`Rev::couch_cmp`]) — with parent indices that
//! always point backwards, so equal histories are equal values and no
//! operation recurses.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use crate::couch::rev::{self, Rev};

/// What the tree knows about one revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RevInfo {
    pub deleted: bool,
    /// The revision's body is stored. False for revisions known only from
    /// a `_revisions` history (CouchDB's `?REV_MISSING`), and for
    /// non-leaves after compaction.
    pub available: bool,
}

/// The information CouchDB gives ancestors known only by id.
const MISSING: RevInfo = RevInfo {
    deleted: false,
    available: false,
};

/// One node: a revision, what is known about it, and its parent's index
/// (always smaller than the node's own; anything else is read as a root).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Node {
    rev: Rev,
    info: RevInfo,
    parent: Option<u32>,
}

/// A document's revision tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RevTree {
    nodes: Vec<Node>,
}

/// What merging a path did, as `couch_key_tree:merge/2` reports it.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum MergeOutcome {
    /// `new_leaf`: the path extended a leaf (or the tree was empty).
    NewLeaf,
    /// `new_branch`: the path added a leaf somewhere else — a conflict.
    NewBranch,
    /// `internal_node`: every revision of the path was already known.
    AlreadyPresent,
}

impl RevTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Merges one path, newest first: `path[0]` is the new leaf and
    /// `path[i]` is taken to be at position `path[0].pos - i` (the other
    /// entries' `pos` fields are not consulted, as CouchDB's
    /// `{Start, Ids}` carries no per-id positions; entries that would fall
    /// below position 0 are ignored). `leaf` is the information for
    /// `path[0]`; ancestors not yet in the tree are recorded as not
    /// available. Where a revision is already known, CouchDB's
    /// `value_pref` applies: the tree's information is kept unless it is
    /// unavailable and the path's is not. The tree is then stemmed to
    /// `revs_limit`, as `couch_db_updater` does after every merge.
    pub fn merge_path(&mut self, path: &[Rev], leaf: RevInfo, revs_limit: usize) -> MergeOutcome {
        let Some(top) = path.first().map(|r| r.pos) else {
            return MergeOutcome::AlreadyPresent;
        };
        let usable = path
            .len()
            .min(usize::try_from(top.saturating_add(1)).unwrap_or(usize::MAX));
        let chain: Vec<(&str, RevInfo)> = path[..usable]
            .iter()
            .enumerate()
            .rev()
            .map(|(i, r)| (r.id.as_str(), if i == 0 { leaf } else { MISSING }))
            .collect();
        let start = top - (usable as u64 - 1);
        let outcome = self.merge_chain(start, &chain);
        self.stem(revs_limit);
        outcome
    }

    /// Keeps, for every leaf, the `limit` newest revisions of its path
    /// (itself included); everything else goes, and revisions whose parent
    /// went become roots. A revision within `limit` of any leaf below it
    /// stays, so a leaf's remaining path can be longer than `limit` when
    /// it shares ancestors with a shorter branch. Never drops a leaf. A
    /// tree holding the same id twice is rebuilt from its truncated leaf
    /// paths instead, as CouchDB's `repair_tree` does. A `limit` of 0
    /// (which CouchDB refuses) is taken as 1.
    pub fn stem(&mut self, limit: usize) {
        let limit = limit.max(1);
        self.normalize();
        if self.has_duplicate_ids() {
            self.repair(limit);
            return;
        }
        // Distance from each node to its nearest leaf; children come after
        // their parent, so one backwards pass suffices.
        let n = self.nodes.len();
        let mut to_leaf = vec![usize::MAX; n];
        for i in (0..n).rev() {
            if to_leaf[i] == usize::MAX {
                to_leaf[i] = 0;
            }
            if let Some(p) = self.parent(i) {
                to_leaf[p] = to_leaf[p].min(to_leaf[i] + 1);
            }
        }
        let mut new_index = vec![None; n];
        let mut kept = Vec::with_capacity(n);
        for (i, node) in self.nodes.iter().enumerate() {
            if to_leaf[i] < limit {
                let parent = self.parent(i).and_then(|p| new_index[p]);
                new_index[i] = Some(kept.len());
                kept.push(Node {
                    rev: node.rev.clone(),
                    info: node.info,
                    parent: parent.map(index_u32),
                });
            }
        }
        self.nodes = kept;
        self.normalize();
    }

    /// The information for `rev`, if the tree holds it.
    pub fn get(&self, rev: &Rev) -> Option<RevInfo> {
        self.find(rev).map(|i| self.nodes[i].info)
    }

    /// Replaces the information for `rev` (every copy, should the tree
    /// hold it twice); false when the tree does not hold it.
    pub fn set_info(&mut self, rev: &Rev, info: RevInfo) -> bool {
        let mut found = false;
        for node in &mut self.nodes {
            if same_rev(&node.rev, rev) {
                node.info = info;
                found = true;
            }
        }
        found
    }

    /// Whether `rev` is in the tree with no children.
    pub fn is_leaf(&self, rev: &Rev) -> bool {
        let has_child = self.has_child();
        self.nodes
            .iter()
            .enumerate()
            .any(|(i, node)| !has_child[i] && same_rev(&node.rev, rev))
    }

    /// All leaves in `couch_key_tree:get_all_leafs` order: root by root,
    /// last root first, each root's leaves in tree order (what `_bulk_get`
    /// lists).
    pub fn leaves_in_tree_order(&self) -> Vec<(Rev, RevInfo)> {
        let has_child = self.has_child();
        let mut leaves = Vec::new();
        for range in self.root_ranges().into_iter().rev() {
            for i in range {
                if !has_child[i] {
                    leaves.push((self.nodes[i].rev.clone(), self.nodes[i].info));
                }
            }
        }
        leaves
    }

    /// All leaves, winner first: sorted descending by (not deleted,
    /// position, id), CouchDB's winner rule.
    pub fn leaves(&self) -> Vec<(Rev, RevInfo)> {
        // The sort is stable over `get_all_leafs` order, as CouchDB's.
        let mut leaves = self.leaves_in_tree_order();
        leaves.sort_by(|(ra, ia), (rb, ib)| {
            (!ib.deleted)
                .cmp(&!ia.deleted)
                .then_with(|| rb.couch_cmp(ra))
        });
        leaves
    }

    /// The winning revision: the first of [`RevTree::leaves`].
    pub fn winner(&self) -> Option<(Rev, RevInfo)> {
        self.leaves().into_iter().next()
    }

    /// Live leaves other than the winner, in CouchDB's order.
    pub fn conflicts(&self) -> Vec<Rev> {
        self.other_leaves(false)
    }

    /// Deleted leaves other than the winner, in CouchDB's order.
    pub fn deleted_conflicts(&self) -> Vec<Rev> {
        self.other_leaves(true)
    }

    /// `rev` and its ancestors present in the tree, newest first.
    pub fn history(&self, rev: &Rev) -> Option<Vec<(Rev, RevInfo)>> {
        let mut at = self.find(rev);
        let mut path = Vec::new();
        while let Some(i) = at {
            path.push((self.nodes[i].rev.clone(), self.nodes[i].info));
            at = self.parent(i);
        }
        (!path.is_empty()).then_some(path)
    }

    /// What `latest=true` reads for `rev`: the leaves that descend from
    /// it, or `rev` itself when the tree does not know it (the read then
    /// reports it missing).
    pub fn latest(&self, rev: &Rev) -> Vec<Rev> {
        let leaves: Vec<Rev> = self.leaves_under(rev).into_iter().map(|(r, _)| r).collect();
        if leaves.is_empty() {
            vec![rev.clone()]
        } else {
            leaves
        }
    }

    /// The leaves that descend from `rev`, or `rev` itself if it is a leaf
    /// (`latest=true`), in tree order; empty when `rev` is unknown.
    pub fn leaves_under(&self, rev: &Rev) -> Vec<(Rev, RevInfo)> {
        let Some(top) = self.find(rev) else {
            return Vec::new();
        };
        let has_child = self.has_child();
        let mut under = vec![false; self.nodes.len()];
        let mut leaves = Vec::new();
        for i in top..self.nodes.len() {
            under[i] = i == top || self.parent(i).is_some_and(|p| under[p]);
            if under[i] && !has_child[i] {
                leaves.push((self.nodes[i].rev.clone(), self.nodes[i].info));
            }
        }
        leaves
    }

    /// Every revision in the tree, in tree order.
    pub fn all_revs(&self) -> Vec<(Rev, RevInfo)> {
        self.nodes.iter().map(|n| (n.rev.clone(), n.info)).collect()
    }

    /// `_revs_diff` for this document: the revisions of `revs` the tree
    /// does not hold, sorted by CouchDB's order (`find_missing/2`; each
    /// tree revision cancels one occurrence, so a duplicated known
    /// revision is reported once), and the leaves, winner first, whose
    /// position is below the highest missing position
    /// (`possible_ancestors/2`). On an empty tree (a document that does
    /// not exist) every revision is missing, in the order given, with no
    /// possible ancestors.
    pub fn missing(&self, revs: &[Rev]) -> (Vec<Rev>, Vec<Rev>) {
        if self.is_empty() {
            return (revs.to_vec(), Vec::new());
        }
        let mut known: HashMap<(u64, Vec<u8>), usize> = HashMap::new();
        for node in &self.nodes {
            *known
                .entry((node.rev.pos, node.rev.id_bytes().into_owned()))
                .or_default() += 1;
        }
        let mut sorted = revs.to_vec();
        sorted.sort_by(Rev::couch_cmp);
        let mut missing = Vec::new();
        for rev in sorted {
            match known.get_mut(&(rev.pos, rev.id_bytes().into_owned())) {
                Some(count) if *count > 0 => *count -= 1,
                _ => missing.push(rev),
            }
        }
        let Some(max_pos) = missing.iter().map(|r| r.pos).max() else {
            return (missing, Vec::new());
        };
        let ancestors = self
            .leaves()
            .into_iter()
            .filter(|(r, _)| r.pos < max_pos)
            .map(|(r, _)| r)
            .collect();
        (missing, ancestors)
    }

    // ---- internals ----

    /// The parent of node `i`, if it has a valid one.
    fn parent(&self, i: usize) -> Option<usize> {
        let p = self.nodes.get(i)?.parent? as usize;
        (p < i).then_some(p)
    }

    /// For each node, whether some node names it as parent.
    fn has_child(&self) -> Vec<bool> {
        let mut has = vec![false; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if let Some(p) = self.parent(i) {
                has[p] = true;
            }
        }
        has
    }

    /// The first node (in tree order) holding `rev`.
    fn find(&self, rev: &Rev) -> Option<usize> {
        self.nodes.iter().position(|n| same_rev(&n.rev, rev))
    }

    fn other_leaves(&self, deleted: bool) -> Vec<Rev> {
        self.leaves()
            .into_iter()
            .skip(1)
            .filter(|(_, info)| info.deleted == deleted)
            .map(|(r, _)| r)
            .collect()
    }

    /// The index ranges of each root's subtree (pre-order keeps them
    /// contiguous), in tree order. Assumes a normalized tree.
    fn root_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut starts: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.parent(i).is_none())
            .collect();
        starts.push(self.nodes.len());
        starts.windows(2).map(|w| w[0]..w[1]).collect()
    }

    /// Children of every node, in tree order. Assumes a normalized tree.
    fn children(&self) -> Vec<Vec<usize>> {
        let mut children = vec![Vec::new(); self.nodes.len()];
        for i in 0..self.nodes.len() {
            if let Some(p) = self.parent(i) {
                children[p].push(i);
            }
        }
        children
    }

    fn has_duplicate_ids(&self) -> bool {
        let mut seen = HashSet::new();
        !self
            .nodes
            .iter()
            .all(|n| seen.insert(n.rev.id_bytes().into_owned()))
    }

    /// `couch_key_tree:merge/2` for one path given oldest first, its first
    /// entry at position `start`. Does not stem.
    fn merge_chain(&mut self, start: u64, chain: &[(&str, RevInfo)]) -> MergeOutcome {
        let Some(&(first_id, first_info)) = chain.first() else {
            return MergeOutcome::AlreadyPresent;
        };
        self.normalize();
        let was_empty = self.nodes.is_empty();
        let children = self.children();
        for range in self.root_ranges() {
            let root = range.start;
            let root_pos = self.nodes[root].rev.pos;
            let outcome = if root_pos >= start {
                // The path starts at or above this root: the path entry at
                // the root's position must be the root.
                let Some(d) = usize::try_from(root_pos - start)
                    .ok()
                    .filter(|&d| d < chain.len())
                else {
                    continue;
                };
                if !same_id(&self.nodes[root].rev.id, chain[d].0) {
                    continue;
                }
                if let Some(above) = self.push_chain(None, start, &chain[..d]) {
                    self.nodes[root].parent = Some(index_u32(above));
                }
                self.prefer(root, chain[d].1);
                self.extend(root, &chain[d + 1..], &children)
            } else {
                // The root is older: look for the path's first entry in
                // this subtree, depth first.
                let Some(at) = range.clone().find(|&i| {
                    self.nodes[i].rev.pos == start && same_id(&self.nodes[i].rev.id, first_id)
                }) else {
                    continue;
                };
                self.prefer(at, first_info);
                self.extend(at, &chain[1..], &children)
            };
            self.normalize();
            return outcome;
        }
        self.push_chain(None, start, chain);
        self.normalize();
        if was_empty {
            MergeOutcome::NewLeaf
        } else {
            MergeOutcome::NewBranch
        }
    }

    /// `merge_extend`: follows `rest` down from node `at`, adding what is
    /// new under the first node that lacks the next entry.
    fn extend(
        &mut self,
        mut at: usize,
        rest: &[(&str, RevInfo)],
        children: &[Vec<usize>],
    ) -> MergeOutcome {
        for (k, &(id, info)) in rest.iter().enumerate() {
            let kids = children.get(at).map_or(&[][..], Vec::as_slice);
            match kids
                .iter()
                .copied()
                .find(|&c| same_id(&self.nodes[c].rev.id, id))
            {
                Some(child) => {
                    self.prefer(child, info);
                    at = child;
                }
                None => {
                    let outcome = if kids.is_empty() {
                        MergeOutcome::NewLeaf
                    } else {
                        MergeOutcome::NewBranch
                    };
                    let pos = self.nodes[at].rev.pos + 1;
                    self.push_chain(Some(at), pos, &rest[k..]);
                    return outcome;
                }
            }
        }
        MergeOutcome::AlreadyPresent
    }

    /// `value_pref`: a node keeps its information unless it is
    /// unavailable, in which case the incoming information replaces it.
    fn prefer(&mut self, i: usize, incoming: RevInfo) {
        if !self.nodes[i].info.available {
            self.nodes[i].info = incoming;
        }
    }

    /// Appends a chain (oldest first) under `parent`, its first entry at
    /// position `start`; returns the index of its last node.
    fn push_chain(
        &mut self,
        parent: Option<usize>,
        start: u64,
        chain: &[(&str, RevInfo)],
    ) -> Option<usize> {
        let mut last = None;
        let mut parent = parent;
        for (k, &(id, info)) in chain.iter().enumerate() {
            self.nodes.push(Node {
                rev: Rev::new(start + k as u64, id),
                info,
                parent: parent.map(index_u32),
            });
            let here = self.nodes.len() - 1;
            parent = Some(here);
            last = Some(here);
        }
        last
    }

    /// `repair_tree`: rebuilds the tree by merging every leaf's path,
    /// truncated to `limit`, in sorted order.
    fn repair(&mut self, limit: usize) {
        let has_child = self.has_child();
        let mut paths: Vec<(u64, Vec<(Rev, RevInfo)>)> = Vec::new();
        for (i, _) in has_child.iter().enumerate().filter(|(_, &has)| !has) {
            let mut path = Vec::new();
            let mut at = Some(i);
            while let Some(j) = at.filter(|_| path.len() < limit) {
                path.push((self.nodes[j].rev.clone(), self.nodes[j].info));
                at = self.parent(j);
            }
            let start = self.nodes[i].rev.pos.saturating_sub(path.len() as u64 - 1);
            paths.push((start, path));
        }
        paths.sort_by(|(sa, pa), (sb, pb)| sa.cmp(sb).then_with(|| cmp_paths(pa, pb)));
        self.nodes.clear();
        for (start, path) in &paths {
            let chain: Vec<(&str, RevInfo)> = path
                .iter()
                .rev()
                .map(|(r, i)| (r.id.as_str(), *i))
                .collect();
            self.merge_chain(*start, &chain);
        }
    }

    /// Puts the nodes in canonical pre-order: roots by (position, id),
    /// siblings by id. Accepts parent links in any direction; nodes not
    /// reachable from a root (only possible in corrupt input) are dropped.
    fn normalize(&mut self) {
        let n = self.nodes.len();
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            match node.parent.map(|p| p as usize) {
                Some(p) if p < n && p != i => children[p].push(i),
                _ => roots.push(i),
            }
        }
        let by_rev = |a: &usize, b: &usize| self.nodes[*a].rev.couch_cmp(&self.nodes[*b].rev);
        roots.sort_by(by_rev);
        for kids in &mut children {
            kids.sort_by(by_rev);
        }
        let mut order = Vec::with_capacity(n);
        let mut new_index = vec![None; n];
        let mut stack: Vec<(usize, Option<usize>)> =
            roots.iter().rev().map(|&r| (r, None)).collect();
        while let Some((i, parent)) = stack.pop() {
            if new_index[i].is_some() {
                continue;
            }
            new_index[i] = Some(order.len());
            order.push((i, parent));
            let here = order.len() - 1;
            stack.extend(children[i].iter().rev().map(|&c| (c, Some(here))));
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order
            .into_iter()
            .filter_map(|(i, parent)| {
                let node = old[i].take()?;
                Some(Node {
                    parent: parent.map(index_u32),
                    ..node
                })
            })
            .collect();
    }
}

/// Node indices are stored as `u32`; no document has 4 billion revisions.
fn index_u32(i: usize) -> u32 {
    i as u32
}

/// Ids are equal when CouchDB's byte forms are.
fn same_id(a: &str, b: &str) -> bool {
    a == b || rev::id_bytes(a) == rev::id_bytes(b)
}

fn same_rev(a: &Rev, b: &Rev) -> bool {
    a.pos == b.pos && same_id(&a.id, &b.id)
}

/// Erlang's order on leaf paths (`[{Id, Value}]`, newest first): element
/// by element, a prefix first. Values order as Erlang orders CouchDB's: a
/// stored revision (a `#leaf{}` tuple, live before deleted) before
/// `?REV_MISSING` (`[]`).
fn cmp_paths(a: &[(Rev, RevInfo)], b: &[(Rev, RevInfo)]) -> Ordering {
    for ((ra, ia), (rb, ib)) in a.iter().zip(b) {
        let value = |i: &RevInfo| (!i.available, i.deleted);
        let ord = ra
            .id_bytes()
            .cmp(&rb.id_bytes())
            .then_with(|| value(ia).cmp(&value(ib)));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIVE: RevInfo = RevInfo {
        deleted: false,
        available: true,
    };
    const GONE: RevInfo = RevInfo {
        deleted: true,
        available: true,
    };

    fn r(text: &str) -> Rev {
        Rev::parse(text).unwrap_or_else(|_| Rev::new(0, text))
    }

    /// A path from text, newest first: "3-c 2-b 1-a".
    fn p(text: &str) -> Vec<Rev> {
        text.split_whitespace().map(r).collect()
    }

    /// A tree from paths merged in order, each leaf live and stored.
    fn tree(paths: &[&str]) -> RevTree {
        let mut t = RevTree::new();
        for path in paths {
            t.merge_path(&p(path), LIVE, 1000);
        }
        t
    }

    /// The tree's shape in tree order: "rev" for roots, "rev<parent" otherwise.
    fn shape(t: &RevTree) -> Vec<String> {
        (0..t.nodes.len())
            .map(|i| match t.parent(i) {
                Some(p) => format!("{}<{}", t.nodes[i].rev, t.nodes[p].rev),
                None => t.nodes[i].rev.to_string(),
            })
            .collect()
    }

    fn leaf_revs(t: &RevTree) -> Vec<String> {
        t.leaves().iter().map(|(r, _)| r.to_string()).collect()
    }

    fn strs(revs: &[Rev]) -> Vec<String> {
        revs.iter().map(Rev::to_string).collect()
    }

    #[test]
    fn empty_tree() {
        let t = RevTree::new();
        assert!(t.is_empty());
        assert_eq!(t.winner(), None);
        assert!(t.leaves().is_empty());
        assert_eq!(t.get(&r("1-a")), None);
        assert!(!t.is_leaf(&r("1-a")));
        assert_eq!(t.history(&r("1-a")), None);
        assert!(t.leaves_under(&r("1-a")).is_empty());
        assert!(t.all_revs().is_empty());
        assert!(t.conflicts().is_empty());
        assert!(t.deleted_conflicts().is_empty());
    }

    #[test]
    fn couchdb_docs_conflict_example() {
        // replication/conflicts.rst: 1-abc -> 2-def here, 1-abc -> 2-xyz -> 3-ghi there
        let mut t = tree(&["2-def 1-abc"]);
        let outcome = t.merge_path(&p("3-ghi 2-xyz 1-abc"), LIVE, 1000);
        assert_eq!(outcome, MergeOutcome::NewBranch);
        assert_eq!(leaf_revs(&t), ["3-ghi", "2-def"]);
        assert_eq!(t.winner().map(|w| w.0), Some(r("3-ghi")));
        assert_eq!(strs(&t.conflicts()), ["2-def"]);
        assert!(t.deleted_conflicts().is_empty());
        assert_eq!(
            shape(&t),
            ["1-abc", "2-def<1-abc", "2-xyz<1-abc", "3-ghi<2-xyz"]
        );
        // 2-xyz came only from history
        assert_eq!(t.get(&r("2-xyz")), Some(MISSING));
        assert_eq!(t.get(&r("3-ghi")), Some(LIVE));
    }

    #[test]
    fn merge_outcomes() {
        let mut t = RevTree::new();
        assert_eq!(t.merge_path(&p("1-a"), LIVE, 1000), MergeOutcome::NewLeaf);
        assert_eq!(
            t.merge_path(&p("2-b 1-a"), LIVE, 1000),
            MergeOutcome::NewLeaf
        );
        assert_eq!(
            t.merge_path(&p("2-b 1-a"), LIVE, 1000),
            MergeOutcome::AlreadyPresent
        );
        assert_eq!(
            t.merge_path(&p("1-a"), LIVE, 1000),
            MergeOutcome::AlreadyPresent
        );
        assert_eq!(
            t.merge_path(&p("2-c 1-a"), LIVE, 1000),
            MergeOutcome::NewBranch
        );
        // a new branch whose id sorts first, and one that sorts last
        assert_eq!(
            t.merge_path(&p("2-0 1-a"), LIVE, 1000),
            MergeOutcome::NewBranch
        );
        assert_eq!(
            t.merge_path(&p("2-z 1-a"), LIVE, 1000),
            MergeOutcome::NewBranch
        );
        // an unrelated root is a conflict too
        assert_eq!(t.merge_path(&p("1-x"), LIVE, 1000), MergeOutcome::NewBranch);
        assert_eq!(
            shape(&t),
            ["1-a", "2-0<1-a", "2-b<1-a", "2-c<1-a", "2-z<1-a", "1-x"]
        );
        assert_eq!(leaf_revs(&t), ["2-z", "2-c", "2-b", "2-0", "1-x"]);
        // an empty path changes nothing
        let before = t.clone();
        assert_eq!(t.merge_path(&[], LIVE, 1000), MergeOutcome::AlreadyPresent);
        assert_eq!(t, before);
    }

    #[test]
    fn winner_prefers_live_over_deleted_whatever_the_depth() {
        let mut t = tree(&["2-x 1-a"]);
        t.merge_path(&p("5-e 4-d 3-c 2-b 1-a"), GONE, 1000);
        assert_eq!(t.winner(), Some((r("2-x"), LIVE)));
        assert!(t.conflicts().is_empty());
        assert_eq!(strs(&t.deleted_conflicts()), ["5-e"]);
        // once everything is deleted, the deepest tombstone wins
        t.merge_path(&p("3-y 2-x 1-a"), GONE, 1000);
        assert_eq!(t.winner(), Some((r("5-e"), GONE)));
        assert_eq!(strs(&t.deleted_conflicts()), ["3-y"]);
    }

    #[test]
    fn winner_ties_break_on_id_bytes() {
        let t = tree(&["2-a 1-r", "2-b 1-r"]);
        assert_eq!(leaf_revs(&t), ["2-b", "2-a"]);
        // a 32-hex id is compared as its 16 bytes: 0xff.. beats "g"
        let high = format!("2-{}", "f".repeat(32));
        let t = tree(&[&format!("{high} 1-r"), "2-g 1-r"]);
        assert_eq!(leaf_revs(&t), [high.as_str(), "2-g"]);
        // ...while "0a…" (0x0a) loses to "g" (0x67)
        let low = format!("2-0a{}", "0".repeat(30));
        let t = tree(&[&format!("{low} 1-r"), "2-g 1-r"]);
        assert_eq!(leaf_revs(&t), ["2-g", low.as_str()]);
        // siblings are ordered the same way
        assert_eq!(
            shape(&t),
            ["1-r".to_string(), format!("{low}<1-r"), "2-g<1-r".into()]
        );
    }

    #[test]
    fn conflicts_keep_couchdb_order() {
        let mut t = tree(&["3-c 2-b 1-a", "2-x 1-a", "3-d 2-b 1-a"]);
        t.merge_path(&p("4-e 3-d 2-b 1-a"), GONE, 1000);
        t.merge_path(&p("2-y 1-a"), GONE, 1000);
        assert_eq!(leaf_revs(&t), ["3-c", "2-x", "4-e", "2-y"]);
        assert_eq!(strs(&t.conflicts()), ["2-x"]);
        assert_eq!(strs(&t.deleted_conflicts()), ["4-e", "2-y"]);
    }

    #[test]
    fn stemming_to_one_keeps_every_leaf() {
        let mut t = tree(&["4-d 3-c 2-b 1-a", "3-x 2-b 1-a", "2-y 1-a", "1-z"]);
        t.stem(1);
        assert_eq!(shape(&t), ["1-z", "2-y", "3-x", "4-d"]);
        assert_eq!(leaf_revs(&t), ["4-d", "3-x", "2-y", "1-z"]);
        // limit 0 behaves as 1
        let mut u = tree(&["4-d 3-c 2-b 1-a", "3-x 2-b 1-a", "2-y 1-a", "1-z"]);
        u.stem(0);
        assert_eq!(u, t);
    }

    #[test]
    fn stemming_keeps_the_newest_revs_of_every_leaf() {
        let t0 = tree(&["5-e 4-d 3-c 2-b 1-a", "3-x 2-b 1-a"]);
        let mut t = t0.clone();
        t.stem(10);
        assert_eq!(t, t0);
        t.stem(3);
        assert_eq!(t, t0);
        t.stem(2);
        assert_eq!(shape(&t), ["2-b", "3-x<2-b", "4-d", "5-e<4-d"]);
        assert_eq!(t.history(&r("5-e")).map(|h| h.len()), Some(2));
        // an ancestor within the limit of one leaf stays, so a longer
        // branch through it keeps more than `limit` revisions
        let mut t = tree(&["3-c 2-b 1-a", "2-x 1-a"]);
        t.stem(2);
        assert_eq!(shape(&t), ["1-a", "2-b<1-a", "3-c<2-b", "2-x<1-a"]);
        assert_eq!(t.history(&r("3-c")).map(|h| h.len()), Some(3));
    }

    #[test]
    fn merge_into_stemmed_tree() {
        let mut t = RevTree::new();
        t.merge_path(&p("5-e 4-d 3-c 2-b 1-a"), LIVE, 3);
        assert_eq!(shape(&t), ["3-c", "4-d<3-c", "5-e<4-d"]);
        // the next edit, with full history, attaches at the overlap
        let out = t.merge_path(&p("6-f 5-e 4-d 3-c 2-b 1-a"), LIVE, 3);
        assert_eq!(out, MergeOutcome::NewLeaf);
        assert_eq!(shape(&t), ["4-d", "5-e<4-d", "6-f<5-e"]);
        // so does a path starting below the stemmed root
        let out = t.merge_path(&p("7-g 6-f"), LIVE, 3);
        assert_eq!(out, MergeOutcome::NewLeaf);
        assert_eq!(shape(&t), ["5-e", "6-f<5-e", "7-g<6-f"]);
        // a branch off a stemmed revision
        let out = t.merge_path(&p("7-x 6-f 5-e 4-d"), LIVE, 3);
        assert_eq!(out, MergeOutcome::NewBranch);
        assert_eq!(shape(&t), ["5-e", "6-f<5-e", "7-g<6-f", "7-x<6-f"]);
        // an old path whose revisions were all stemmed away comes back as
        // a separate branch, as in CouchDB
        let out = t.merge_path(&p("3-c 2-b 1-a"), LIVE, 3);
        assert_eq!(out, MergeOutcome::NewBranch);
        assert_eq!(
            shape(&t),
            ["1-a", "2-b<1-a", "3-c<2-b", "5-e", "6-f<5-e", "7-g<6-f", "7-x<6-f"]
        );
        // unless it reaches the tree: then it only adds (stemmed) ancestors
        let mut t = tree(&[]);
        t.merge_path(&p("5-e 4-d 3-c 2-b 1-a"), LIVE, 3);
        let out = t.merge_path(&p("4-d 3-c 2-b 1-a"), LIVE, 3);
        assert_eq!(out, MergeOutcome::AlreadyPresent);
        assert_eq!(shape(&t), ["3-c", "4-d<3-c", "5-e<4-d"]);
    }

    #[test]
    fn stemming_makes_merge_order_matter_as_in_couchdb() {
        let (old, new) = (p("2-b 1-a"), p("4-d 3-c 2-b 1-a"));
        let mut x = RevTree::new();
        x.merge_path(&old, LIVE, 2);
        x.merge_path(&new, LIVE, 2);
        let mut y = RevTree::new();
        y.merge_path(&new, LIVE, 2);
        y.merge_path(&old, LIVE, 2);
        assert_eq!(shape(&x), ["3-c", "4-d<3-c"]);
        assert_eq!(shape(&y), ["1-a", "2-b<1-a", "3-c", "4-d<3-c"]);
    }

    #[test]
    fn ancestors_from_history_only_gain_their_body_later() {
        let mut t = tree(&["3-c 2-b 1-a"]);
        assert_eq!(t.get(&r("2-b")), Some(MISSING));
        // a replicated 2-b with its body fills the node in
        assert_eq!(
            t.merge_path(&p("2-b 1-a"), GONE, 1000),
            MergeOutcome::AlreadyPresent
        );
        assert_eq!(t.get(&r("2-b")), Some(GONE));
        // a stored revision is never overwritten by a later path
        t.merge_path(&p("4-d 3-c 2-b 1-a"), LIVE, 1000);
        t.merge_path(&p("2-b 1-a"), LIVE, 1000);
        assert_eq!(t.get(&r("2-b")), Some(GONE));
        assert_eq!(t.get(&r("3-c")), Some(LIVE));
        assert_eq!(t.get(&r("1-a")), Some(MISSING));
    }

    #[test]
    fn path_positions_come_from_the_leaf() {
        let mut t = RevTree::new();
        let path = vec![Rev::new(2, "b"), Rev::new(9, "a"), Rev::new(0, "z")];
        assert_eq!(t.merge_path(&path, LIVE, 1000), MergeOutcome::NewLeaf);
        // position 0 is a position like any other, as in couch_key_tree
        assert_eq!(shape(&t), ["0-z", "1-a<0-z", "2-b<1-a"]);
        assert_eq!(
            t.merge_path(&[Rev::new(0, "q")], LIVE, 1000),
            MergeOutcome::NewBranch
        );
        assert_eq!(t.leaves().len(), 2);
        // entries that would fall below position 0 are dropped
        let mut t = RevTree::new();
        let path = vec![Rev::new(1, "b"), Rev::new(0, "a"), Rev::new(0, "z")];
        assert_eq!(t.merge_path(&path, LIVE, 1000), MergeOutcome::NewLeaf);
        assert_eq!(shape(&t), ["0-a", "1-b<0-a"]);
        // the largest positions do not overflow
        let mut t = RevTree::new();
        let top = vec![Rev::new(u64::MAX, "b"), Rev::new(u64::MAX - 1, "a")];
        assert_eq!(t.merge_path(&top, LIVE, 1), MergeOutcome::NewLeaf);
        assert_eq!(
            strs(&t.all_revs().into_iter().map(|x| x.0).collect::<Vec<_>>()),
            [format!("{}-b", u64::MAX)]
        );
    }

    #[test]
    fn duplicate_ids_are_repaired_when_stemming() {
        // 2-b ends up under 1-a and as its own root; stemming rebuilds
        // the tree from leaf paths, as couch_key_tree:repair_tree does
        let mut t = RevTree::new();
        t.merge_chain(1, &[("a", LIVE)]);
        t.merge_chain(2, &[("b", MISSING), ("c", LIVE)]);
        assert_eq!(shape(&t), ["1-a", "2-b", "3-c<2-b"]);
        assert_eq!(
            t.merge_chain(1, &[("a", MISSING), ("b", LIVE)]),
            MergeOutcome::NewLeaf
        );
        assert_eq!(shape(&t), ["1-a", "2-b<1-a", "2-b", "3-c<2-b"]);
        t.stem(1000);
        assert_eq!(shape(&t), ["1-a", "2-b<1-a", "3-c<2-b"]);
        assert_eq!(t.get(&r("2-b")), Some(LIVE));
        // merge_path does the same in one step
        let mut t = tree(&["1-a", "3-c 2-b"]);
        assert_eq!(
            t.merge_path(&p("2-b 1-a"), LIVE, 1000),
            MergeOutcome::NewLeaf
        );
        assert_eq!(shape(&t), ["1-a", "2-b<1-a", "3-c<2-b"]);
        // repairing truncates every leaf path to the limit
        let mut t = RevTree::new();
        t.merge_chain(1, &[("a", LIVE), ("b", LIVE), ("c", LIVE)]);
        t.merge_chain(3, &[("c", LIVE)]);
        t.merge_chain(1, &[("x", LIVE), ("c", LIVE)]);
        t.stem(1);
        assert_eq!(shape(&t), ["2-c", "3-c"]);
    }

    #[test]
    fn merging_is_not_idempotent_when_stemming_repairs() {
        // Checked against couch_key_tree itself. With revs_limit 1, 1-d and
        // 2-b end up as separate roots; 3-a 2-b 1-d then extends the 1-d
        // leaf, duplicating 2-b, and the repair that follows keeps the leaf
        // paths: 2-b and 3-a. Merging the path again makes 2-b internal, so
        // the repair drops it; only the third merge changes nothing.
        let mut t = RevTree::new();
        let path = p("3-a 2-b 1-d");
        assert_eq!(t.merge_path(&p("2-b 1-d"), LIVE, 1), MergeOutcome::NewLeaf);
        assert_eq!(t.merge_path(&p("1-d"), LIVE, 1), MergeOutcome::NewBranch);
        assert_eq!(shape(&t), ["1-d", "2-b"]);
        assert_eq!(t.merge_path(&path, LIVE, 1), MergeOutcome::NewLeaf);
        assert_eq!(shape(&t), ["2-b", "3-a"]);
        assert_eq!(t.merge_path(&path, LIVE, 1), MergeOutcome::NewLeaf);
        assert_eq!(shape(&t), ["3-a"]);
        assert_eq!(t.merge_path(&path, LIVE, 1), MergeOutcome::AlreadyPresent);
        assert_eq!(shape(&t), ["3-a"]);
    }

    #[test]
    fn results_checked_against_couch_key_tree() {
        use MergeOutcome::*;
        // Outcomes, trees, leaf order and find_missing as the real
        // couch_key_tree:merge/2 + stem/2 give them.
        let mut t = RevTree::new();
        let steps = [
            ("3-c 2-b 1-a", LIVE, NewLeaf),
            ("3-c 2-x", GONE, NewBranch),
            ("4-e 3-d 2-x 1-a", LIVE, NewBranch),
            ("5-f 4-e", LIVE, NewLeaf),
        ];
        for (path, info, outcome) in steps {
            assert_eq!(t.merge_path(&p(path), info, 3), outcome, "{path}");
        }
        // repair leaves 3-c twice: under 2-b, and under the 2-x root
        assert_eq!(
            shape(&t),
            ["1-a", "2-b<1-a", "3-c<2-b", "2-x", "3-c<2-x", "3-d", "4-e<3-d", "5-f<4-e"]
        );
        assert_eq!(
            t.leaves(),
            [(r("5-f"), LIVE), (r("3-c"), LIVE), (r("3-c"), GONE)]
        );
        let (missing, anc) = t.missing(&p("3-c 3-c 2-q 6-z"));
        assert_eq!(strs(&missing), ["2-q", "6-z"]);
        assert_eq!(strs(&anc), ["5-f", "3-c", "3-c"]);
        assert_eq!(t.history(&r("2-x")), Some(vec![(r("2-x"), MISSING)]));

        let mut t = RevTree::new();
        let steps = [
            ("4-d 3-c 2-b 1-a", LIVE, NewLeaf),
            ("4-e 3-c", LIVE, NewBranch),
            ("2-b 1-a", GONE, NewBranch),
            ("5-f 4-d 3-c 2-b", LIVE, NewLeaf),
        ];
        for (path, info, outcome) in steps {
            assert_eq!(t.merge_path(&p(path), info, 2), outcome, "{path}");
        }
        assert_eq!(shape(&t), ["3-c", "4-d<3-c", "5-f<4-d", "4-e<3-c"]);
        assert!(t.leaves_under(&r("1-a")).is_empty());
    }

    // ---- couch_key_tree_tests, positions shifted by one ----

    #[test]
    fn key_tree_merges() {
        use MergeOutcome::*;
        let cases: &[(&[&str], &str, &[&str], MergeOutcome)] = &[
            // should_merge_with_empty_tree, _reflexive, _prefix_of_a_tree_with_tree
            (&[], "1-1", &["1-1"], NewLeaf),
            (&["1-1"], "1-1", &["1-1"], AlreadyPresent),
            (&["1-1", "1-2"], "1-1", &["1-1", "1-2"], AlreadyPresent),
            // should_produce_conflict_on_merge_with_unrelated_branch
            (&["1-1", "1-2"], "1-3", &["1-1", "1-2", "1-3"], NewBranch),
            // should_merge_reflexive_for_child_nodes
            (
                &["3-1aa 2-1a 1-1"],
                "3-1aa 2-1a 1-1",
                &["1-1", "2-1a<1-1", "3-1aa<2-1a"],
                AlreadyPresent,
            ),
            // should_merge_tree_of_odd_length
            (
                &["2-1a 1-1", "2-1b 1-1"],
                "3-1aa 2-1a 1-1",
                &["1-1", "2-1a<1-1", "3-1aa<2-1a", "2-1b<1-1"],
                NewLeaf,
            ),
            // should_merge_tree_with_stem
            (
                &["2-1a 1-1", "2-1b 1-1"],
                "2-1a",
                &["1-1", "2-1a<1-1", "2-1b<1-1"],
                AlreadyPresent,
            ),
            // should_merge_with_stem_at_deeper_level
            (
                &["2-1a 1-1", "3-1bb 2-1b 1-1"],
                "3-1bb",
                &["1-1", "2-1a<1-1", "2-1b<1-1", "3-1bb<2-1b"],
                AlreadyPresent,
            ),
            // should_merge_with_stem_at_deeper_level_with_deeper_paths
            (
                &["2-1a", "3-1bb 2-1b"],
                "3-1bb",
                &["2-1a", "2-1b", "3-1bb<2-1b"],
                AlreadyPresent,
            ),
            // should_merge_single_tree_with_deeper_stem, _with_large_stem
            (
                &["3-1aa 2-1a 1-1"],
                "3-1aa",
                &["1-1", "2-1a<1-1", "3-1aa<2-1a"],
                AlreadyPresent,
            ),
            (
                &["3-1aa 2-1a 1-1"],
                "3-1aa 2-1a",
                &["1-1", "2-1a<1-1", "3-1aa<2-1a"],
                AlreadyPresent,
            ),
            // should_merge_stems
            (
                &["3-1aa 2-1a"],
                "3-1aa",
                &["2-1a", "3-1aa<2-1a"],
                AlreadyPresent,
            ),
            // should_create_conflicts_on_merge
            (
                &["2-1a 1-1"],
                "3-1aa",
                &["1-1", "2-1a<1-1", "3-1aa"],
                NewBranch,
            ),
            // should_create_no_conflicts_on_merge
            (
                &["2-1a 1-1", "3-1aa"],
                "3-1aa 2-1a 1-1",
                &["1-1", "2-1a<1-1", "3-1aa<2-1a"],
                NewLeaf,
            ),
            // should_ignore_conflicting_branch (COUCHDB-902)
            (
                &["2-foo2 1-foo", "2-foo3 1-foo"],
                "3-foo4 2-foo3 1-foo",
                &["1-foo", "2-foo2<1-foo", "2-foo3<1-foo", "3-foo4<2-foo3"],
                NewLeaf,
            ),
        ];
        for (start, path, want, outcome) in cases {
            let mut t = tree(start);
            assert_eq!(
                t.merge_path(&p(path), LIVE, 10),
                *outcome,
                "{start:?} + {path}"
            );
            assert_eq!(shape(&t), *want, "{start:?} + {path}");
        }
    }

    #[test]
    fn key_tree_find_missing() {
        let two_sibs = tree(&["2-1a 1-1", "2-1b 1-1"]);
        assert_eq!(two_sibs.missing(&p("1-1 2-1a")).0, vec![]);
        let (missing, _) = two_sibs.missing(&p("101-x 1-1 2-1a 1-10"));
        assert_eq!(strs(&missing), ["1-10", "101-x"]);
        let stemmed1 = tree(&["3-1aa 2-1a"]);
        assert_eq!(
            strs(&stemmed1.missing(&p("1-1 2-1a 101-x")).0),
            ["1-1", "101-x"]
        );
        let stemmed2 = tree(&["3-1aa"]);
        assert_eq!(
            strs(&stemmed2.missing(&p("1-1 2-1a 101-x")).0),
            ["1-1", "2-1a", "101-x"]
        );
    }

    #[test]
    fn key_tree_lookups() {
        let t = tree(&["2-1a 1-1", "2-1b 1-1"]);
        // get_key_leafs
        let under = |rev: &str| -> Vec<String> {
            t.leaves_under(&r(rev))
                .iter()
                .map(|(r, _)| r.to_string())
                .collect()
        };
        assert_eq!(under("1-1"), ["2-1a", "2-1b"]);
        assert_eq!(under("2-1a"), ["2-1a"]);
        assert!(under("1-x").is_empty());
        // get_full_key_paths
        let hist = t.history(&r("2-1a")).map(|h| {
            h.into_iter()
                .map(|(r, _)| r.to_string())
                .collect::<Vec<_>>()
        });
        assert_eq!(hist, Some(vec!["2-1a".to_string(), "1-1".to_string()]));
        // stem
        let chain = tree(&["3-1aa 2-1a 1-1"]);
        let mut s = chain.clone();
        s.stem(3);
        assert_eq!(s, chain);
        s.stem(2);
        assert_eq!(shape(&s), ["2-1a", "3-1aa<2-1a"]);
        s.stem(1);
        assert_eq!(shape(&s), ["3-1aa"]);
    }

    #[test]
    fn get_set_and_leaf_checks() {
        let mut t = tree(&["3-c 2-b 1-a", "2-x 1-a"]);
        assert!(t.is_leaf(&r("3-c")));
        assert!(t.is_leaf(&r("2-x")));
        assert!(!t.is_leaf(&r("2-b")));
        assert!(!t.is_leaf(&r("4-c")));
        assert!(!t.is_leaf(&r("3-x")));
        assert_eq!(t.get(&r("2-b")), Some(MISSING));
        assert!(t.set_info(&r("2-b"), GONE));
        assert_eq!(t.get(&r("2-b")), Some(GONE));
        assert!(!t.set_info(&r("9-z"), GONE));
        // upper-case hex names the same revision
        let hex = "ab".repeat(16);
        let mut t = tree(&[&format!("1-{hex}")]);
        let upper = Rev::new(1, hex.to_uppercase());
        assert_eq!(t.get(&upper), Some(LIVE));
        assert!(t.set_info(&upper, GONE));
        assert!(t.is_leaf(&upper));
    }

    #[test]
    fn history_leaves_under_and_all_revs() {
        let t = tree(&["4-d 3-c 2-b", "3-x 2-b"]);
        let hist = t.history(&r("4-d")).unwrap_or_default();
        assert_eq!(
            hist,
            vec![(r("4-d"), LIVE), (r("3-c"), MISSING), (r("2-b"), MISSING)]
        );
        assert_eq!(t.history(&r("1-a")), None);
        let under: Vec<Rev> = t.leaves_under(&r("2-b")).into_iter().map(|x| x.0).collect();
        assert_eq!(strs(&under), ["4-d", "3-x"]);
        let under: Vec<Rev> = t.leaves_under(&r("3-c")).into_iter().map(|x| x.0).collect();
        assert_eq!(strs(&under), ["4-d"]);
        assert_eq!(strs(&t.latest(&r("2-b"))), ["4-d", "3-x"]);
        assert_eq!(strs(&t.latest(&r("3-x"))), ["3-x"]);
        assert_eq!(strs(&t.latest(&r("9-z"))), ["9-z"]);
        let all: Vec<Rev> = t.all_revs().into_iter().map(|x| x.0).collect();
        assert_eq!(strs(&all), ["2-b", "3-c", "4-d", "3-x"]);
    }

    #[test]
    fn missing_and_possible_ancestors() {
        let mut t = tree(&["3-c 2-b 1-a", "2-x 1-a"]);
        t.merge_path(&p("3-y 2-x 1-a"), GONE, 1000);
        // nothing missing
        assert_eq!(t.missing(&p("3-c 1-a")), (vec![], vec![]));
        // missing revs sorted; ancestors: leaves below the highest missing pos
        let (missing, anc) = t.missing(&p("5-q 3-c 4-z 1-zz"));
        assert_eq!(strs(&missing), ["1-zz", "4-z", "5-q"]);
        assert_eq!(strs(&anc), ["3-c", "3-y"]);
        let (missing, anc) = t.missing(&p("3-q"));
        assert_eq!(strs(&missing), ["3-q"]);
        assert!(anc.is_empty());
        // a known revision listed twice is reported once (find_missing/2)
        let (missing, _) = t.missing(&p("2-b 2-b 1-a"));
        assert_eq!(strs(&missing), ["2-b"]);
        // missing revs sort by id bytes within a position
        let hex = format!("2-{}", "f".repeat(32));
        let (missing, _) = t.missing(&[r(&hex), r("2-g")]);
        assert_eq!(strs(&missing), ["2-g".to_string(), hex.clone()]);
        // a document that does not exist: everything, as given
        let (missing, anc) = RevTree::new().missing(&p("2-b 1-a 2-b"));
        assert_eq!(strs(&missing), ["2-b", "1-a", "2-b"]);
        assert!(anc.is_empty());
    }

    #[test]
    fn serializes() {
        let t = tree(&["3-c 2-b 1-a", "2-x 1-a", "7-q"]);
        let bytes = bincode::serialize(&t).unwrap_or_default();
        assert_eq!(
            bincode::deserialize::<RevTree>(&bytes).ok(),
            Some(t.clone())
        );
        let text = serde_json::to_string(&t).unwrap_or_default();
        assert_eq!(serde_json::from_str::<RevTree>(&text).ok(), Some(t));
    }

    #[test]
    fn corrupt_parent_links_do_not_panic() {
        let text = r#"{"nodes":[
            {"rev":{"pos":2,"id":"b"},"info":{"deleted":false,"available":true},"parent":1},
            {"rev":{"pos":1,"id":"a"},"info":{"deleted":false,"available":true},"parent":0},
            {"rev":{"pos":3,"id":"c"},"info":{"deleted":false,"available":true},"parent":2},
            {"rev":{"pos":3,"id":"d"},"info":{"deleted":false,"available":true},"parent":99}
        ]}"#;
        let Ok(mut t) = serde_json::from_str::<RevTree>(text) else {
            panic!("test tree does not parse");
        };
        let a = r("1-a");
        let _ = (t.leaves(), t.winner(), t.conflicts(), t.deleted_conflicts());
        let _ = (t.history(&r("3-c")), t.leaves_under(&a), t.all_revs());
        let _ = (
            t.get(&a),
            t.is_leaf(&a),
            t.missing(std::slice::from_ref(&a)),
        );
        t.merge_path(&p("2-z 1-a"), LIVE, 2);
        t.stem(1);
        assert!(!t.leaves().is_empty());
    }

    // ---- properties ----

    /// A ground-truth forest: node `i > 0` has parent `parents[i]` (an
    /// earlier node) or is a root; ids are unique; some nodes are deleted.
    #[derive(Debug, Clone)]
    struct Truth {
        ids: Vec<String>,
        parents: Vec<Option<usize>>,
        deleted: Vec<bool>,
    }

    impl Truth {
        fn pos(&self, mut i: usize) -> u64 {
            let mut pos = 1;
            while let Some(p) = self.parents[i] {
                pos += 1;
                i = p;
            }
            pos
        }

        /// The path ending at `end`, `len` revisions long at most.
        fn path(&self, end: usize, len: usize) -> (Vec<Rev>, RevInfo) {
            let mut path = Vec::new();
            let mut at = Some(end);
            while let Some(i) = at.filter(|_| path.len() < len) {
                path.push(Rev::new(self.pos(i), self.ids[i].clone()));
                at = self.parents[i];
            }
            let info = RevInfo {
                deleted: self.deleted[end],
                available: true,
            };
            (path, info)
        }
    }

    fn truth() -> impl Strategy<Value = Truth> {
        (1usize..24).prop_flat_map(|n| {
            (
                proptest::collection::hash_set("[0-9a-f]{1,3}", n),
                proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), n),
                proptest::collection::vec(any::<bool>(), n),
            )
                .prop_map(|(ids, links, deleted)| {
                    let parents = links
                        .iter()
                        .enumerate()
                        .map(|(i, (idx, roll))| (i > 0 && *roll > 0).then(|| idx.index(i)))
                        .collect();
                    Truth {
                        ids: ids.into_iter().collect(),
                        parents,
                        deleted,
                    }
                })
        })
    }

    /// A ground truth and some paths through it (end node, length).
    fn truth_and_paths() -> impl Strategy<Value = (Truth, Vec<(usize, usize)>)> {
        truth().prop_flat_map(|t| {
            let n = t.ids.len();
            let paths = proptest::collection::vec((0..n, 1usize..8), 1..12);
            (Just(t), paths)
        })
    }

    fn build(t: &Truth, paths: &[(usize, usize)], limit: usize) -> RevTree {
        let mut tree = RevTree::new();
        for &(end, len) in paths {
            let (path, info) = t.path(end, len);
            tree.merge_path(&path, info, limit);
        }
        tree
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Without stemming, the tree depends only on the set of paths.
        #[test]
        fn merge_order_does_not_matter(
            (t, paths) in truth_and_paths(),
            seed in any::<u64>(),
        ) {
            let forward = build(&t, &paths, 1000);
            let mut shuffled = paths.clone();
            // a deterministic shuffle from the seed
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let backward: Vec<_> = paths.iter().rev().copied().collect();
            for other in [shuffled, backward] {
                let tree = build(&t, &other, 1000);
                prop_assert_eq!(&tree, &forward);
                prop_assert_eq!(tree.leaves(), forward.leaves());
                prop_assert_eq!(tree.winner(), forward.winner());
            }
        }

        /// Stemming keeps exactly the `limit` newest revisions of every
        /// leaf's path, so never a leaf.
        #[test]
        fn stemming_keeps_the_newest_of_every_leaf(
            (t, paths) in truth_and_paths(),
            limit in 1usize..6,
        ) {
            let tree = build(&t, &paths, 1000);
            let mut expected: Vec<Rev> = Vec::new();
            for (leaf, _) in tree.leaves() {
                let hist = tree.history(&leaf).unwrap_or_default();
                expected.extend(hist.into_iter().take(limit).map(|(r, _)| r));
            }
            expected.sort();
            expected.dedup();
            let mut stemmed = tree.clone();
            stemmed.stem(limit);
            let mut kept: Vec<Rev> = stemmed.all_revs().into_iter().map(|(r, _)| r).collect();
            kept.sort();
            prop_assert_eq!(kept, expected);
            prop_assert_eq!(stemmed.leaves(), tree.leaves());
            for (leaf, _) in stemmed.leaves() {
                let hist = stemmed.history(&leaf).unwrap_or_default();
                prop_assert!(hist.len() >= limit.min(tree.history(&leaf).map_or(0, |h| h.len())));
            }
            // stemming again changes nothing
            let mut again = stemmed.clone();
            again.stem(limit);
            prop_assert_eq!(again, stemmed);
        }

        /// Without stemming, merging the same path twice changes nothing
        /// the second time. (With stemming CouchDB's merge is not always
        /// idempotent: see `merging_is_not_idempotent_when_stemming_repairs`.)
        #[test]
        fn merge_is_idempotent((t, paths) in truth_and_paths()) {
            let mut tree = build(&t, &paths[1..], 1000);
            let (path, info) = t.path(paths[0].0, paths[0].1);
            tree.merge_path(&path, info, 1000);
            let once = tree.clone();
            prop_assert_eq!(tree.merge_path(&path, info, 1000), MergeOutcome::AlreadyPresent);
            prop_assert_eq!(tree, once);
        }

        /// The winner is the greatest leaf by (live, pos, id), and every
        /// path's leaf is in the tree.
        #[test]
        fn winner_and_membership(
            (t, paths) in truth_and_paths(),
            limit in prop_oneof![1usize..6, Just(1000usize)],
        ) {
            let tree = build(&t, &paths, limit);
            let leaves = tree.leaves();
            let best = leaves.iter().max_by(|(ra, ia), (rb, ib)| {
                (!ia.deleted).cmp(&!ib.deleted).then_with(|| ra.couch_cmp(rb))
            });
            let winner = tree.winner();
            prop_assert_eq!(winner.as_ref(), best);
            if limit == 1000 {
                for &(end, len) in &paths {
                    let (path, _) = t.path(end, len);
                    for rev in &path {
                        prop_assert!(tree.get(rev).is_some());
                    }
                }
            }
            let (missing, _) = tree.missing(&tree.all_revs().into_iter().map(|(r, _)| r).collect::<Vec<_>>());
            prop_assert!(missing.is_empty());
        }
    }
}
