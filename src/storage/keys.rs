//! The sled key layout. Everything lives in one sled tree so that a write
//! batch touching a document record, its body, the by-sequence index and
//! the database counters is applied atomically.
//!
//! ```text
//! C <db name>                                  -> DbMeta        (catalog)
//! X <db id:8>                                  -> ()            (dropped db, range not yet reclaimed)
//! D <db id:8> d <doc id>                       -> DocRecord     (revision tree + seq)
//! D <db id:8> b <len:4> <doc id> <pos:8> <rev id> -> body JSON  (one per stored revision)
//! D <db id:8> s <seq:8>                        -> doc id        (by-sequence index)
//! D <db id:8> l <local id>                     -> local doc JSON
//! D <db id:8> m                                -> DbStats
//! D <db id:8> a <md5:16>                       -> BlobEntry     (attachment body by digest)
//! D <db id:8> c <blob id:8> <chunk:4>          -> 64 KiB of attachment body
//! D <db id:8> i <sig:16> <key> <doc id>       -> IndexRow      (Mango index entry)
//! D <db id:8> j <sig:16> <doc id>             -> <key> <doc id> (entry of a doc, to replace it;
//!                                                 empty: none, whatever a page says)
//! D <db id:8> p <sig:16> <first doc id>       -> BackPage      (the `j` values of a run of docs,
//!                                                 written by an index's initial build)
//! D <db id:8> k <sig:16>                      -> IndexMeta     (seq the index is built to)
//! D <db id:8> t <partition> :                 -> PartStats     (counters of one partition of a
//!                                                 partitioned database)
//! ```
//! Integers are big-endian so keys sort numerically; doc ids are raw UTF-8,
//! so `d` keys sort in code-point order, which is `_all_docs` order.

use crate::couch::rev::Rev;

pub const CATALOG: u8 = b'C';
pub const DROPPED: u8 = b'X';
const DATA: u8 = b'D';
const DOC: u8 = b'd';
const BODY: u8 = b'b';
const SEQ: u8 = b's';
const LOCAL: u8 = b'l';
const STATS: u8 = b'm';
const BLOB: u8 = b'a';
const CHUNK: u8 = b'c';
const INDEX: u8 = b'i';
const INDEX_BACK: u8 = b'j';
const INDEX_META: u8 = b'k';
const INDEX_PAGE: u8 = b'p';
const PART_STATS: u8 = b't';

pub fn catalog_key(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + name.len());
    k.push(CATALOG);
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn dropped_key(db: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = DROPPED;
    k[1..].copy_from_slice(&db.to_be_bytes());
    k
}

/// Prefix of every key of one database.
pub fn db_prefix(db: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = DATA;
    k[1..].copy_from_slice(&db.to_be_bytes());
    k
}

fn table_prefix(db: u64, table: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.extend_from_slice(&db_prefix(db));
    k.push(table);
    k
}

pub fn doc_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, DOC)
}

pub fn doc_key(db: u64, id: &str) -> Vec<u8> {
    let mut k = doc_prefix(db);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The doc id of a `d` key, given the table prefix length.
pub fn doc_id_of(key: &[u8]) -> Option<&str> {
    key.get(10..).and_then(|b| std::str::from_utf8(b).ok())
}

/// Prefix of every stored revision body of a database.
pub fn body_table_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, BODY)
}

pub fn body_prefix(db: u64, id: &str) -> Vec<u8> {
    let mut k = table_prefix(db, BODY);
    k.extend_from_slice(&(id.len() as u32).to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn body_key(db: u64, id: &str, rev: &Rev) -> Vec<u8> {
    let mut k = body_prefix(db, id);
    k.extend_from_slice(&rev.pos.to_be_bytes());
    k.extend_from_slice(rev.id.as_bytes());
    k
}

pub fn seq_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, SEQ)
}

pub fn seq_key(db: u64, seq: u64) -> Vec<u8> {
    let mut k = seq_prefix(db);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number of an `s` key.
pub fn seq_of(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(10..18)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

pub fn local_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, LOCAL)
}

pub fn local_key(db: u64, id: &str) -> Vec<u8> {
    let mut k = local_prefix(db);
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn stats_key(db: u64) -> Vec<u8> {
    table_prefix(db, STATS)
}

pub fn blob_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, BLOB)
}

pub fn blob_key(db: u64, md5: &[u8; 16]) -> Vec<u8> {
    let mut k = blob_prefix(db);
    k.extend_from_slice(md5);
    k
}

pub fn chunks_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, CHUNK)
}

pub fn chunk_prefix(db: u64, blob: u64) -> Vec<u8> {
    let mut k = chunks_prefix(db);
    k.extend_from_slice(&blob.to_be_bytes());
    k
}

pub fn chunk_key(db: u64, blob: u64, chunk: u32) -> Vec<u8> {
    let mut k = chunk_prefix(db, blob);
    k.extend_from_slice(&chunk.to_be_bytes());
    k
}

/// The blob id of a `c` key.
pub fn blob_of_chunk(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(10..18)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Prefix of the entries of one Mango index (by signature).
pub fn index_prefix(db: u64, sig: &[u8; 16]) -> Vec<u8> {
    let mut k = table_prefix(db, INDEX);
    k.extend_from_slice(sig);
    k
}

/// Key of the back-reference from a document to its entry in an index.
pub fn index_back_key(db: u64, sig: &[u8; 16], id: &str) -> Vec<u8> {
    let mut k = table_prefix(db, INDEX_BACK);
    k.extend_from_slice(sig);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Prefix of all back-references of one index.
pub fn index_back_prefix(db: u64, sig: &[u8; 16]) -> Vec<u8> {
    let mut k = table_prefix(db, INDEX_BACK);
    k.extend_from_slice(sig);
    k
}

/// Key of a page of back-references written by an index's initial build,
/// named by the first doc id it holds.
pub fn index_page_key(db: u64, sig: &[u8; 16], first_id: &str) -> Vec<u8> {
    let mut k = index_page_prefix(db, sig);
    k.extend_from_slice(first_id.as_bytes());
    k
}

/// Prefix of all back-reference pages of one index.
pub fn index_page_prefix(db: u64, sig: &[u8; 16]) -> Vec<u8> {
    let mut k = table_prefix(db, INDEX_PAGE);
    k.extend_from_slice(sig);
    k
}

/// Key of an index's metadata (the update sequence it is built to).
pub fn index_meta_key(db: u64, sig: &[u8; 16]) -> Vec<u8> {
    let mut k = table_prefix(db, INDEX_META);
    k.extend_from_slice(sig);
    k
}

/// Prefix of the counters of every partition of a database.
pub fn part_stats_prefix(db: u64) -> Vec<u8> {
    table_prefix(db, PART_STATS)
}

/// Key of one partition's counters: the partition and its `:`, so the
/// keys sort as the partitions' documents do in the `d` table (all ids of
/// partition `p` start with `p:`).
pub fn part_stats_key(db: u64, partition: &str) -> Vec<u8> {
    let mut k = part_stats_prefix(db);
    k.extend_from_slice(partition.as_bytes());
    k.push(b':');
    k
}

/// The partition's id prefix (`partition:`) of a `t` key.
pub fn part_prefix_of(key: &[u8]) -> Option<&str> {
    key.get(10..).and_then(|b| std::str::from_utf8(b).ok())
}

/// The smallest key greater than every key that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seq_keys_sort_numerically(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), seq_key(7, a).cmp(&seq_key(7, b)));
            prop_assert_eq!(seq_of(&seq_key(7, a)), Some(a));
        }

        #[test]
        fn doc_keys_sort_by_code_point(a in "\\PC{0,8}", b in "\\PC{0,8}") {
            let by_chars = a.chars().cmp(b.chars());
            prop_assert_eq!(by_chars, doc_key(3, &a).cmp(&doc_key(3, &b)));
            let key = doc_key(3, &a);
            prop_assert_eq!(doc_id_of(&key), Some(a.as_str()));
        }

        #[test]
        fn databases_do_not_overlap(a: u64, b: u64, id in "\\PC{0,8}") {
            prop_assume!(a != b);
            prop_assert!(!doc_key(a, &id).starts_with(&db_prefix(b)));
        }
    }

    #[test]
    fn partition_counters_sort_as_their_documents() {
        // "a0:x" < "a:x" in id order, so "a0" counts before "a".
        let (a, a0) = (part_stats_key(1, "a"), part_stats_key(1, "a0"));
        assert!(a0 < a);
        assert!(doc_key(1, "a0:x") < doc_key(1, "a:x"));
        assert_eq!(part_prefix_of(&a), Some("a:"));
    }

    #[test]
    fn prefix_end_bounds_prefix() {
        let p = doc_prefix(1);
        let end = prefix_end(&p);
        assert!(doc_key(1, "\u{10ffff}zzzz") < end);
        assert!(seq_key(1, 0) > end || seq_key(1, 0) < p);
    }
}
