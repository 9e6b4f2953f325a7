//! How many by-sequence entries lie above a sequence, without walking them.
//!
//! `_changes` reports `pending`: the changes after the last one it sent.
//! The by-sequence index holds one entry per document (at its latest
//! sequence), so that number is a count of index keys above a sequence —
//! too slow to count key by key when a replicator pages through a large
//! database 100 changes at a time. [`SeqCounts`] keeps, in memory, the
//! number of entries in each block of [`BLOCK`] consecutive sequences;
//! a count is then a sum over whole blocks plus a scan of at most one
//! partial block. Writers move entries between blocks as documents change.

/// Sequences per block (a power of two).
pub const BLOCK: u64 = 1024;

/// Entries of the by-sequence index per block of [`BLOCK`] sequences.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeqCounts {
    blocks: Vec<u32>,
}

impl SeqCounts {
    fn block(seq: u64) -> usize {
        usize::try_from(seq / BLOCK).unwrap_or(usize::MAX)
    }

    /// Records a new entry at `seq`.
    pub fn add(&mut self, seq: u64) {
        let b = Self::block(seq);
        if b >= self.blocks.len() {
            self.blocks.resize(b + 1, 0);
        }
        self.blocks[b] += 1;
    }

    /// Forgets the entry at `seq` (its document moved to a newer sequence).
    pub fn remove(&mut self, seq: u64) {
        if let Some(n) = self.blocks.get_mut(Self::block(seq)) {
            *n = n.saturating_sub(1);
        }
    }

    /// Entries in the blocks wholly after the one holding `seq`.
    pub fn after_block_of(&self, seq: u64) -> u64 {
        let from = Self::block(seq).saturating_add(1);
        self.blocks.iter().skip(from).map(|&n| u64::from(n)).sum()
    }

    /// Entries in the blocks wholly before the one holding `seq`.
    pub fn before_block_of(&self, seq: u64) -> u64 {
        self.blocks
            .iter()
            .take(Self::block(seq))
            .map(|&n| u64::from(n))
            .sum()
    }

    /// The last sequence of the block holding `seq`.
    pub fn block_end(seq: u64) -> u64 {
        seq | (BLOCK - 1)
    }

    /// The first sequence of the block holding `seq`.
    pub fn block_start(seq: u64) -> u64 {
        seq & !(BLOCK - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Counting by blocks plus a partial scan equals counting one by one.
        #[test]
        fn block_counts_match_a_plain_count(
            seqs in proptest::collection::btree_set(1u64..10_000, 0..300),
            removed in proptest::collection::vec(any::<prop::sample::Index>(), 0..50),
            probe in 0u64..11_000,
        ) {
            let mut live: Vec<u64> = seqs.into_iter().collect();
            let mut counts = SeqCounts::default();
            for &s in &live {
                counts.add(s);
            }
            for idx in removed {
                if live.is_empty() {
                    break;
                }
                let s = live.remove(idx.index(live.len()));
                counts.remove(s);
            }
            let partial_after = live.iter().filter(|&&s| s > probe && s <= SeqCounts::block_end(probe)).count() as u64;
            let want_after = live.iter().filter(|&&s| s > probe).count() as u64;
            prop_assert_eq!(counts.after_block_of(probe) + partial_after, want_after);
            let partial_before = live.iter().filter(|&&s| s < probe && s >= SeqCounts::block_start(probe)).count() as u64;
            let want_before = live.iter().filter(|&&s| s < probe).count() as u64;
            prop_assert_eq!(counts.before_block_of(probe) + partial_before, want_before);
        }
    }

    #[test]
    fn block_bounds() {
        assert_eq!(SeqCounts::block_end(0), BLOCK - 1);
        assert_eq!(SeqCounts::block_end(BLOCK), 2 * BLOCK - 1);
        assert_eq!(SeqCounts::block_start(BLOCK + 5), BLOCK);
    }
}
