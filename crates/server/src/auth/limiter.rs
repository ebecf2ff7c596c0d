//! Login throttling: failed attempts are counted per account and per client address in a
//! sliding window; past the limit, further attempts are refused before any password is
//! checked. In memory, per server: enough for one node; a shared store joins with the
//! PostgreSQL wave.
use rampart_domain::timestamp::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

/// Failed logins per account within the window before the account is throttled.
pub const PER_ACCOUNT: usize = 5;
/// Failed logins per client address within the window.
pub const PER_ADDRESS: usize = 20;
/// The window, in microseconds (15 minutes).
pub const WINDOW_MICROS: i64 = 15 * 60 * 1_000_000;
/// Most keys tracked; beyond it the oldest are dropped, so a spray of made-up names cannot
/// grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// Failure times per key.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Timestamp>>>,
}

fn account_key(username: &str) -> String {
    format!("u:{}", username.to_lowercase())
}

fn address_key(addr: &str) -> String {
    format!("a:{addr}")
}

impl LoginLimiter {
    /// Seconds until another attempt is allowed, or `None` if one is allowed now.
    pub fn blocked(&self, username: &str, addr: &str, now: Timestamp) -> Option<i64> {
        let mut map = self.failures.lock().ok()?;
        let mut wait = None;
        for (key, limit) in [
            (account_key(username), PER_ACCOUNT),
            (address_key(addr), PER_ADDRESS),
        ] {
            if let Some(times) = map.get_mut(&key) {
                times.retain(|t| now.micros() - t.micros() < WINDOW_MICROS);
                if times.len() >= limit {
                    let oldest = times.iter().map(|t| t.micros()).min().unwrap_or(0);
                    let secs = (oldest + WINDOW_MICROS - now.micros()) / 1_000_000 + 1;
                    wait = Some(wait.map_or(secs, |w: i64| w.max(secs)));
                }
            }
        }
        wait
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, addr: &str, now: Timestamp) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_KEYS {
            map.retain(|_, v| v.iter().any(|t| now.micros() - t.micros() < WINDOW_MICROS));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for key in [account_key(username), address_key(addr)] {
            map.entry(key).or_default().push(now);
        }
    }

    /// Clears an account's failures after a successful login (the address keeps its count:
    /// one good password must not reset a spray from that address).
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&account_key(username));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_the_account_until_the_window_passes() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_secs(1_000_000);
        for _ in 0..PER_ACCOUNT {
            assert!(l.blocked("Alice", "1.2.3.4", t0).is_none());
            l.failed("alice", "1.2.3.4", t0);
        }
        assert!(l.blocked("ALICE", "5.6.7.8", t0).is_some(), "per account");
        assert!(l.blocked("bob", "5.6.7.8", t0).is_none());
        let later = t0.plus_micros(WINDOW_MICROS);
        assert!(l.blocked("alice", "1.2.3.4", later).is_none());
    }

    #[test]
    fn an_address_spraying_many_accounts_is_blocked() {
        let l = LoginLimiter::default();
        let t0 = Timestamp::from_secs(1_000_000);
        for i in 0..PER_ADDRESS {
            l.failed(&format!("user{i}"), "9.9.9.9", t0);
        }
        assert!(l.blocked("someone-else", "9.9.9.9", t0).is_some());
        l.succeeded("someone-else");
        assert!(l.blocked("someone-else", "9.9.9.9", t0).is_some());
    }
}
