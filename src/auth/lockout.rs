//! Throttling of repeated failed logins, as CouchDB 3.4's
//! `couch_auth_lockout`: failures are counted per (client address, user
//! name, salt) for `max_lifetime` from the first one; at `threshold`
//! failures, `enforce` refuses further attempts with `403 forbidden`
//! before checking the password (so guessing costs no PBKDF2 and learns
//! nothing), `warn` only logs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `[chttpd_auth_lockout] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Warn,
    Enforce,
}

/// `403 forbidden` while locked out.
pub const LOCKED_OUT: &str =
    "Account is temporarily locked due to multiple authentication failures";

type Key = (IpAddr, String, String);

/// Failure counts.
pub struct Lockout {
    mode: Mode,
    threshold: u32,
    lifetime: Duration,
    max_objects: usize,
    failures: Mutex<HashMap<Key, (u32, Instant)>>,
}

impl Lockout {
    pub fn new(mode: Mode, threshold: u32, lifetime: Duration, max_objects: usize) -> Lockout {
        Lockout {
            mode,
            threshold,
            lifetime,
            max_objects: max_objects.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether attempts for this user from this address are refused now.
    pub fn is_locked_out(&self, peer: Option<IpAddr>, name: &str, salt: &str) -> bool {
        let Some(peer) = peer else { return false };
        if self.mode == Mode::Off {
            return false;
        }
        let key = (peer, name.to_string(), salt.to_string());
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = match map.get(&key) {
            Some((_, first)) if first.elapsed() > self.lifetime => {
                map.remove(&key);
                return false;
            }
            Some((count, _)) => *count,
            None => return false,
        };
        if count < self.threshold {
            return false;
        }
        match self.mode {
            Mode::Enforce => true,
            Mode::Warn => {
                tracing::warn!(user = %name, peer = %peer, "authentication failure threshold reached");
                false
            }
            Mode::Off => false,
        }
    }

    /// Counts one failure.
    pub fn record_failure(&self, peer: Option<IpAddr>, name: &str, salt: &str) {
        let Some(peer) = peer else { return };
        if self.mode == Mode::Off {
            return;
        }
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_objects {
            let lifetime = self.lifetime;
            map.retain(|_, (_, first)| first.elapsed() <= lifetime);
            if map.len() >= self.max_objects {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, first))| *first)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map
            .entry((peer, name.to_string(), salt.to_string()))
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() > self.lifetime {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn locks_after_threshold_per_address_user_and_salt() {
        let l = Lockout::new(Mode::Enforce, 3, Duration::from_secs(300), 100);
        for _ in 0..3 {
            assert!(!l.is_locked_out(ip(1), "jan", "s"));
            l.record_failure(ip(1), "jan", "s");
        }
        assert!(l.is_locked_out(ip(1), "jan", "s"));
        assert!(!l.is_locked_out(ip(2), "jan", "s"), "another client");
        assert!(!l.is_locked_out(ip(1), "joe", "s"), "another user");
        assert!(!l.is_locked_out(ip(1), "jan", "t"), "a new password (salt)");
        assert!(!l.is_locked_out(None, "jan", "s"));
    }

    #[test]
    fn expires_and_modes() {
        let l = Lockout::new(Mode::Enforce, 1, Duration::from_millis(20), 100);
        l.record_failure(ip(1), "jan", "s");
        assert!(l.is_locked_out(ip(1), "jan", "s"));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!l.is_locked_out(ip(1), "jan", "s"));
        let warn = Lockout::new(Mode::Warn, 1, Duration::from_secs(60), 100);
        warn.record_failure(ip(1), "jan", "s");
        assert!(!warn.is_locked_out(ip(1), "jan", "s"));
        let off = Lockout::new(Mode::Off, 1, Duration::from_secs(60), 1);
        off.record_failure(ip(1), "jan", "s");
        assert!(!off.is_locked_out(ip(1), "jan", "s"));
    }
}
