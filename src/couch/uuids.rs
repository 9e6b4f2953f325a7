//! Server-generated ids (`GET /_uuids`, documents POSTed without `_id`),
//! made exactly as CouchDB's `couch_uuids` makes them, by `[uuids]
//! algorithm`:
//!
//! - `random`: 16 random bytes in hex;
//! - `sequential` (CouchDB's default): a random 26-hex-digit prefix and a
//!   6-hex-digit counter that grows by a random 1..=0xffd per id; past
//!   0xfff000 a new prefix and counter start;
//! - `utc_random`: microseconds since the epoch in 14 hex digits, then 18
//!   random hex digits;
//! - `utc_id`: the same time prefix, then `[uuids] utc_id_suffix`.
//!
//! The time prefix never goes back nor repeats: when the clock has not
//! advanced past the last one used, the last one plus one is used.
//! Time and randomness are passed in, so the rules are tested as they are.

use rand::RngCore;

/// `[uuids] algorithm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Algorithm {
    Random,
    Sequential,
    UtcRandom,
    /// `utc_id` with its `utc_id_suffix`.
    UtcId(String),
}

impl Algorithm {
    /// The algorithm a `[uuids] algorithm` value names, `None` for one
    /// CouchDB does not know.
    pub fn parse(name: &str, utc_id_suffix: &str) -> Option<Algorithm> {
        Some(match name {
            "random" => Algorithm::Random,
            "sequential" => Algorithm::Sequential,
            "utc_random" => Algorithm::UtcRandom,
            "utc_id" => Algorithm::UtcId(utc_id_suffix.to_string()),
            _ => return None,
        })
    }
}

/// The generator's state (`couch_uuids`' gen_server state).
#[derive(Debug, Clone)]
enum State {
    Random,
    Sequential { prefix: String, seq: u32 },
    UtcRandom { clock_seq: u64 },
    UtcId { suffix: String, clock_seq: u64 },
}

/// Makes ids by one algorithm; a new one is made whenever `[uuids]`
/// changes, as CouchDB restarts its state then.
#[derive(Debug, Clone)]
pub struct Generator {
    state: State,
}

/// Counter of sequential ids past which a new prefix starts.
const SEQUENTIAL_LIMIT: u32 = 0xfff000;

fn hex_random(rng: &mut impl RngCore, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// `rand:uniform(16#ffd)`: 1..=0xffd.
fn increment(rng: &mut impl RngCore) -> u32 {
    rng.next_u32() % 0xffd + 1
}

/// `utc_suffix/3`: the id for `now_micros` after `clock_seq`, and the new
/// clock sequence.
fn utc_suffix(suffix: &str, clock_seq: u64, now_micros: u64) -> (String, u64) {
    let next = if now_micros <= clock_seq {
        clock_seq + 1
    } else {
        now_micros
    };
    (format!("{next:014x}{suffix}"), next)
}

impl Generator {
    /// A fresh generator; `now_micros` is the time since the epoch.
    pub fn new(algorithm: &Algorithm, now_micros: u64, rng: &mut impl RngCore) -> Generator {
        let state = match algorithm {
            Algorithm::Random => State::Random,
            Algorithm::Sequential => State::Sequential {
                prefix: hex_random(rng, 13),
                seq: increment(rng),
            },
            Algorithm::UtcRandom => State::UtcRandom {
                clock_seq: now_micros,
            },
            Algorithm::UtcId(suffix) => State::UtcId {
                suffix: suffix.clone(),
                clock_seq: now_micros,
            },
        };
        Generator { state }
    }

    /// The next id.
    pub fn next_id(&mut self, now_micros: u64, rng: &mut impl RngCore) -> String {
        match &mut self.state {
            State::Random => hex_random(rng, 16),
            State::Sequential { prefix, seq } => {
                let id = format!("{prefix}{:06x}", *seq);
                if *seq >= SEQUENTIAL_LIMIT {
                    *prefix = hex_random(rng, 13);
                    *seq = increment(rng);
                } else {
                    *seq += increment(rng);
                }
                id
            }
            State::UtcRandom { clock_seq } => {
                let suffix = hex_random(rng, 9);
                let (id, next) = utc_suffix(&suffix, *clock_seq, now_micros);
                *clock_seq = next;
                id
            }
            State::UtcId { suffix, clock_seq } => {
                let (id, next) = utc_suffix(suffix, *clock_seq, now_micros);
                *clock_seq = next;
                id
            }
        }
    }
}

/// Microseconds since the epoch, as `os:timestamp()` gives them.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn random_ids_are_32_hex_digits() {
        let mut r = rng();
        let mut g = Generator::new(&Algorithm::Random, 0, &mut r);
        let a = g.next_id(0, &mut r);
        let b = g.next_id(0, &mut r);
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn sequential_ids_share_a_prefix_and_grow() {
        let mut r = rng();
        let mut g = Generator::new(&Algorithm::Sequential, 0, &mut r);
        let ids: Vec<String> = (0..1000).map(|_| g.next_id(0, &mut r)).collect();
        for pair in ids.windows(2) {
            assert_eq!(pair[0].len(), 32);
            assert_eq!(pair[0][..26], pair[1][..26]);
            let step = u32::from_str_radix(&pair[1][26..], 16).expect("hex")
                - u32::from_str_radix(&pair[0][26..], 16).expect("hex");
            assert!((1..=0xffd).contains(&step), "{step}");
            assert!(pair[0] < pair[1]);
        }
    }

    #[test]
    fn sequential_starts_a_new_prefix_past_the_limit() {
        let mut r = rng();
        let mut g = Generator {
            state: State::Sequential {
                prefix: "p".repeat(26),
                seq: SEQUENTIAL_LIMIT,
            },
        };
        assert_eq!(g.next_id(0, &mut r), format!("{}fff000", "p".repeat(26)));
        let next = g.next_id(0, &mut r);
        assert_ne!(&next[..26], "p".repeat(26));
        assert!(u32::from_str_radix(&next[26..], 16).expect("hex") <= 0xffd);
    }

    /// couch_uuids' utc_id_time_does_not_advance_test and
    /// utc_id_time_advanced_test.
    #[test]
    fn utc_ids_never_repeat_or_go_back() {
        let mut r = rng();
        let seq0 = 3_000_004_000_005;
        let (a, seq1) = utc_suffix("", seq0, 1_000_002);
        assert_eq!(seq1, seq0 + 1);
        let (b, seq2) = utc_suffix("", seq1, 1_000_002);
        assert_ne!(a, b);
        assert_eq!(seq2, seq1 + 1);
        let (_, seq3) = utc_suffix("", seq2, 9_000_009_000_009);
        assert_eq!(seq3, 9_000_009_000_009);

        let mut g = Generator::new(&Algorithm::UtcId("frog".into()), 0x10, &mut r);
        assert_eq!(g.next_id(0x20, &mut r), "00000000000020frog");
        assert_eq!(g.next_id(0x20, &mut r), "00000000000021frog");
        assert_eq!(g.next_id(0x05, &mut r), "00000000000022frog");
    }

    #[test]
    fn utc_random_ids() {
        let mut r = rng();
        let future = now_micros() + 10_000_000;
        let mut g = Generator::new(&Algorithm::UtcRandom, future, &mut r);
        let id = g.next_id(now_micros(), &mut r);
        assert_eq!(id.len(), 32);
        assert_eq!(id[..14], format!("{:014x}", future + 1));
        let later = g.next_id(future + 100, &mut r);
        assert_eq!(later[..14], format!("{:014x}", future + 100));
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::parse("random", ""), Some(Algorithm::Random));
        assert_eq!(
            Algorithm::parse("utc_id", "x"),
            Some(Algorithm::UtcId("x".into()))
        );
        assert_eq!(Algorithm::parse("Random", ""), None);
    }
}
