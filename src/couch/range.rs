//! Intersecting key ranges given as pairs of `std::ops::Bound`s.

use std::ops::Bound;

/// The higher (narrower) of two lower bounds.
pub fn max_lower<T: Ord>(a: Bound<T>, b: Bound<T>) -> Bound<T> {
    fn rank<T>(x: &Bound<T>) -> Option<(&T, u8)> {
        match x {
            Bound::Unbounded => None,
            Bound::Included(v) => Some((v, 0)),
            Bound::Excluded(v) => Some((v, 1)),
        }
    }
    if rank(&a) >= rank(&b) {
        a
    } else {
        b
    }
}

/// The lower (narrower) of two upper bounds.
pub fn min_upper<T: Ord>(a: Bound<T>, b: Bound<T>) -> Bound<T> {
    fn rank<T>(x: &Bound<T>) -> (u8, Option<&T>, u8) {
        match x {
            Bound::Unbounded => (1, None, 0),
            Bound::Included(v) => (0, Some(v), 1),
            Bound::Excluded(v) => (0, Some(v), 0),
        }
    }
    if rank(&a) <= rank(&b) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Bound::{Excluded, Included, Unbounded};

    #[test]
    fn intersections_keep_the_narrower_bound() {
        assert_eq!(max_lower(Unbounded, Included("a")), Included("a"));
        assert_eq!(max_lower(Included("a"), Excluded("a")), Excluded("a"));
        assert_eq!(max_lower(Included("b"), Excluded("a")), Included("b"));
        assert_eq!(min_upper(Unbounded, Excluded("z")), Excluded("z"));
        assert_eq!(min_upper(Included("z"), Excluded("z")), Excluded("z"));
        assert_eq!(min_upper(Included("y"), Excluded("z")), Included("y"));
        assert_eq!(min_upper::<&str>(Unbounded, Unbounded), Unbounded);
    }
}
